"""`lstmkit music`: a quick chorale run learns, evaluate reproduces its held-out scores,
generate writes MIDI / MusicXML / PNG that music21 reads back, the blues set-up end to end,
model directories and files kept safe, one-line CLI errors."""

import json
import os

import numpy as np
import pytest

pytest.importorskip("music21")

from lstmkit.apps import music as M  # noqa: E402
from lstmkit.cli import main  # noqa: E402

NUMBERS = list(range(1, 9))


@pytest.fixture(scope="module")
def chorale_model(data_cache, tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("runs") / "chorales"
    report = M.train_chorales(d, numbers=NUMBERS, hidden_size=24, epochs=12, batch_size=2, lr=1e-2,
                              output_bias="marginal", progress=False)
    return d, report


def test_quick_chorale_run_learns_and_beats_the_marginal(chorale_model):
    d, r = chorale_model
    fit = r["fit"]["model"]["history"]
    assert fit[-1]["loss"] < fit[0]["loss"] - 1.0  # training lowered the loss
    rows = r["models"]
    # the model starts at the marginal (its output biases) and must have learned more
    assert rows["model"]["val"]["nll_per_step"] < rows["marginal"]["val"]["nll_per_step"] - 0.5
    assert rows["model"]["test"]["nll_per_step"] < rows["marginal"]["test"]["nll_per_step"]
    assert rows["model"]["test"]["frame_accuracy"] > 0.05
    assert set(rows) == {"model", "baseline_rnn", "marginal", "ngram"}
    assert "Elman" in rows["baseline_rnn"]["name"] and "LSTM" in rows["model"]["name"]
    assert sum(r["data"]["split"].values()) == 8  # chorales 1..8 are all four-part, none a duplicate
    assert sorted(os.listdir(d)) == ["baseline-rnn.safetensors", "config.json", "lstmkit.json", "model.safetensors",
                                     "report.json"]
    assert not os.path.exists(str(d) + ".checkpoints")
    extra = json.loads((d / "config.json").read_text())["extra"]
    split = extra["split"]
    assert not (set(split["train"]) & set(split["test"]) or set(split["val"]) & set(split["test"]))


def test_evaluate_reproduces_the_reported_held_out_scores(chorale_model):
    d, r = chorale_model
    e = M.evaluate_music(d, progress=False)
    for k in ("model", "baseline_rnn", "marginal", "ngram"):
        assert e["models"][k]["test"]["nll_per_step"] == pytest.approx(r["models"][k]["test"]["nll_per_step"], rel=1e-5)
        assert e["models"][k]["test"]["frames"] == r["models"][k]["test"]["frames"]


def test_generate_writes_midi_musicxml_png_that_read_back(chorale_model, tmp_path):
    from music21 import converter

    from lstmkit.data.chorales import load_chorales, stream_to_roll

    d, r = chorale_model
    info = M.generate_music(d, tmp_path / "piece", length=24, prime=8, seed=1, progress=False)
    files = {k: tmp_path / f"piece.{e}" for k, e in (("midi", "mid"), ("musicxml", "musicxml"), ("png", "png"))}
    assert info["files"] == {k: str(v) for k, v in files.items()}
    assert files["png"].read_bytes()[:4] == b"\x89PNG"
    first_test = json.loads((d / "config.json").read_text())["extra"]["split"]["test"][0]
    given = load_chorales(0.5, numbers=[first_test], progress=False).roll(0)[:8]
    for k in ("midi", "musicxml"):
        roll = stream_to_roll(converter.parse(str(files[k])), 0.5, 32)
        assert np.array_equal(roll[:8], given)  # the prime, as given
        assert roll[8:].sum() > 0
    # the same seed gives the same piece; an existing file is never replaced unless asked
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        M.generate_music(d, tmp_path / "piece", length=24, prime=8, seed=1, progress=False)
    before = files["midi"].read_bytes()
    M.generate_music(d, tmp_path / "piece", length=24, prime=8, seed=1, overwrite=True, progress=False)
    assert files["midi"].read_bytes() == before


def test_retraining_keeps_the_users_file_and_refuses_a_foreign_dir(data_cache, tmp_path):
    d = tmp_path / "m"
    kw = dict(numbers=[1, 2, 3, 4], hidden_size=4, epochs=1, progress=False)
    M.train_chorales(d, **kw)
    (d / "NOTES.md").write_text("mine")
    M.train_chorales(d, **kw)
    assert (d / "NOTES.md").read_text() == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="refusing to write"):
        M.train_chorales(foreign, **kw)
    assert os.listdir(foreign) == ["x.txt"]


def test_blues_end_to_end(tmp_path):
    import torch

    torch.set_num_threads(1)
    d = tmp_path / "blues"
    r = M.train_blues(d, hidden_size=8, epochs=2, pieces=4, choruses=1, test_pieces=1, test_choruses=2,
                      output_bias="marginal", progress=False)
    for k in ("model", "baseline_rnn"):
        s = r["models"][k]["structure"]
        assert s["choruses"] == 2 and 0.0 <= s["bar_accuracy"] <= 1.0 and len(s["pieces"]) == 1
    assert r["models"]["model"]["test"]["nll_per_step"] < r["models"]["marginal"]["test"]["nll_per_step"] + 5
    info = M.generate_music(d, tmp_path / "b", length=96, progress=False)
    assert info["prime_frames"] == 96 and info["structure"]["bars"] == 12
    from music21 import converter

    from lstmkit.data.chorales import stream_to_roll
    from lstmkit.tasks.blues import PITCHES, blues_piece

    roll = stream_to_roll(converter.parse(str(tmp_path / "b.mid")), 0.5, 192, pitches=PITCHES)
    assert np.array_equal(roll[:96], blues_piece(1, seed=20_000))
    e = M.evaluate_music(d, progress=False, test_pieces=1, test_choruses=1)
    assert set(e["models"]) == {"model", "baseline_rnn"}
    with pytest.raises(ValueError, match="--chorale is for chorale models"):
        M.generate_music(d, tmp_path / "c", chorale=3, progress=False)


def test_a_damaged_model_directory_is_one_line(chorale_model, tmp_path):
    import shutil

    d, _ = chorale_model
    copy = tmp_path / "copy"
    shutil.copytree(d, copy)
    with open(copy / "baseline-rnn.safetensors", "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match="baseline-rnn.safetensors was changed"):
        M.load_music_model(copy)


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # usage errors: argparse exits with 2
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_errors_are_one_line(capsys, tmp_path, chorale_model):
    code, _, err = run_cli(capsys, "music", "generate", "--model", str(tmp_path / "none"), "--out",
                           str(tmp_path / "p"))
    assert code == 1 and err.count("\n") == 1 and "lstmkit music generate: error:" in err and "no such" in err
    code, _, err = run_cli(capsys, "music", "generate", "--model", str(chorale_model[0]), "--out",
                           str(tmp_path / "p"), "--temperature", "-1")
    assert code == 2 and "temperature" in err
    code, _, err = run_cli(capsys, "music", "train", "--task", "jazz")
    assert code == 2 and "invalid choice" in err
    code, _, err = run_cli(capsys, "music", "evaluate", "--model", str(chorale_model[0] / "config.json"))
    assert code == 1 and err.count("\n") == 1 and "is a file" in err
    code, out, err = run_cli(capsys, "music", "generate", "--model", str(chorale_model[0]), "--out",
                             str(tmp_path / "ok"), "--length", "8", "--no-progress")
    assert code == 0 and "ok.mid" in out and (tmp_path / "ok.musicxml").is_file()
    code, _, err = run_cli(capsys, "music", "generate", "--model", str(chorale_model[0]), "--out",
                           str(tmp_path / "ok"), "--length", "8", "--no-progress")
    assert code == 1 and err.count("\n") == 1 and "--overwrite" in err


def test_interrupt_keeps_checkpoints_and_resume_finishes(data_cache, tmp_path, capsys,
                                                         interrupt_after_first_checkpoint):
    argv = ["music", "train", "--limit", "4", "--epochs", "2", "--hidden", "4", "--no-progress",
            "--model", str(tmp_path / "m")]
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "m.checkpoints" / "model" / "checkpoint.json").is_file() and not (tmp_path / "m").exists()
    assert main(argv + ["--resume"]) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file() and not (tmp_path / "m.checkpoints").exists()


@pytest.mark.slow
def test_full_chorale_run_lstm_beats_elman_and_marginal(tmp_path):
    """The documented run (docs/music.md), all 328 chorales: minutes, not in CI."""
    r = M.train_chorales(tmp_path / "m", progress=False)
    t = {k: v["test"] for k, v in r["models"].items()}
    assert t["model"]["nll_per_step"] < t["baseline_rnn"]["nll_per_step"] < t["marginal"]["nll_per_step"]
    assert t["model"]["frame_accuracy"] > t["baseline_rnn"]["frame_accuracy"]


@pytest.mark.slow
def test_full_blues_run_the_lstm_keeps_the_progression(tmp_path):
    r = M.train_blues(tmp_path / "b", progress=False)
    assert r["models"]["model"]["structure"]["bar_accuracy"] > 0.95
