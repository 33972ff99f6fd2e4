"""Sequence classification: metrics, the three file readers, bad input via the CLI, masking,
a quick training run that must beat chance, and the predict round trip."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch

from lstmkit.apps.classify import (classification_report, confusion_matrix, format_report, predict_proba,
                                   downsample)
from lstmkit.cli import main
from lstmkit.data.sequences import read_csv_long, read_npz, read_sequences, read_ts, stratified_split

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- metrics


def test_confusion_matrix_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 1, 0, 1, 2, 2]
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 0], 3)
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0], 3)


def test_classification_report_by_hand():
    # class a: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 0.8
    # class b: tp 1, fp 1, fn 1 -> P 1/2, R 1/2, F1 1/2
    # class c: tp 1, fp 1, fn 0 -> P 1/2, R 1, F1 2/3
    # class d: never true, never predicted -> all 0, support 0
    r = classification_report([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], ["a", "b", "c", "d"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    pc = {c["name"]: c for c in r["per_class"]}
    assert (pc["a"]["precision"], pc["a"]["recall"], pc["a"]["f1"]) == pytest.approx((1.0, 2 / 3, 0.8))
    assert (pc["b"]["precision"], pc["b"]["recall"], pc["b"]["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (pc["c"]["precision"], pc["c"]["recall"], pc["c"]["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert (pc["d"]["f1"], pc["d"]["support"]) == (0.0, 0)
    assert [c["support"] for c in r["per_class"]] == [3, 2, 1, 0]
    assert r["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)  # classes present in y_true
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3 + 0.0) / 4)
    text = format_report(r)
    assert "0.800" in text and "macro F1 0.492" in text and len(text.splitlines()) == 6


def test_report_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    r = classification_report(t, p, list("wxyz"))
    assert r["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(t, p))
    assert r["macro_f1"] == pytest.approx(sk.f1_score(t, p, average="macro"))
    np.testing.assert_array_equal(r["confusion_matrix"], sk.confusion_matrix(t, p))


# ----------------------------------------------------------------------------- readers

SEQS = [np.array([[0.5, 1.0], [1.5, -2.0], [2.5, 3.25]], np.float32),
        np.array([[4.0, 5.0]], np.float32),
        np.array([[6.0, 7.0], [8.0, 9.0]], np.float32)]
LABELS = ["up", "down", "up"]


def _write_ts(path, seqs, labels, extra_line=None):
    lines = ["# test", "@problemName t", "@timeStamps false", "@univariate false",
             f"@dimensions {seqs[0].shape[1]}", "@equalLength false",
             "@classLabel true " + " ".join(sorted(set(labels))), "@data"]
    for s, lab in zip(seqs, labels):
        lines.append(":".join(",".join(repr(float(v)) for v in s[:, c]) for c in range(s.shape[1])) + f":{lab}")
    if extra_line:
        lines.append(extra_line)
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_csv(path, seqs, labels, shuffle=True):
    rows = []
    for k, (s, lab) in enumerate(zip(seqs, labels)):
        for t, v in enumerate(s):
            rows.append([f"seq{k}", t, float(v[0]), float(v[1]), lab])
    if shuffle:
        rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "time", "x", "y", "label"])
        w.writerows(rows)
    return path


def _write_npz(path, seqs, labels, padded=False):
    n = np.array([len(s) for s in seqs])
    if padded:
        X = np.zeros((len(seqs), n.max(), seqs[0].shape[1]), np.float32)
        for k, s in enumerate(seqs):
            X[k, : len(s)] = s
    else:
        X = np.concatenate(seqs)
    np.savez(path, X=X, lengths=n, y=np.array(labels))
    return path


def test_readers_agree(tmp_path):
    ts = read_ts(_write_ts(tmp_path / "a.ts", SEQS, LABELS))
    npz = read_npz(_write_npz(tmp_path / "a.npz", SEQS, LABELS))
    pad = read_npz(_write_npz(tmp_path / "b.npz", SEQS, LABELS, padded=True))
    csv_ = read_csv_long(_write_csv(tmp_path / "a.csv", SEQS, LABELS))  # rows shuffled: sorted by id order + time
    for d in (ts, npz, pad):
        assert d.y == LABELS
        for a, b in zip(d.X, SEQS):
            np.testing.assert_array_equal(a, b)
    order = [int(i[3:]) for i in csv_.ids]
    assert [csv_.y[k] for k in np.argsort(order)] == LABELS
    for k, i in enumerate(order):
        np.testing.assert_array_equal(csv_.X[k], SEQS[i])
    assert csv_.channels == ["x", "y"]
    from lstmkit.data.sequences import _parse_ts

    X, y = _parse_ts(tmp_path / "a.ts", (tmp_path / "a.ts").read_text())  # the reader used without aeon
    assert y == LABELS and all(np.array_equal(a, b) for a, b in zip(X, SEQS))
    assert read_sequences(tmp_path / "a.csv", channels=["y"]).n_channels == 1


def test_stratified_split_and_downsample():
    y = ["a"] * 10 + ["b"] * 5 + ["c"] * 2
    keep, held = stratified_split(y, 0.2, seed=3)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(17))
    assert [np.asarray(y)[held].tolist().count(c) for c in "abc"] == [2, 1, 1]
    assert downsample([np.arange(6.).reshape(3, 2)], 2)[0].tolist() == [[1.0, 2.0], [4.0, 5.0]]


# ----------------------------------------------------------------------------- synthetic data


def _synthetic(n, seed):
    """Three classes: slow sine, fast sine, rising ramp; 2 channels, lengths 8..30."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n):
        c = k % 3
        T = int(rng.integers(8, 31))
        t = np.arange(T)[:, None]
        if c == 0:
            s = np.sin(0.3 * t + rng.uniform(0, 6))
        elif c == 1:
            s = np.sin(1.8 * t + rng.uniform(0, 6))
        else:
            s = (t / T) * 2 - 1
        x = np.concatenate([s, -s], 1) + 0.2 * rng.standard_normal((T, 2))
        X.append(x.astype(np.float32))
        y.append(["slow", "fast", "ramp"][c])
    return X, y


def _one_line_error(capsys, argv, *words):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 1, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    return err


def test_train_beats_chance_and_predict_roundtrip(tmp_path, capsys):
    X, y = _synthetic(90, 0)
    Xt, yt = _synthetic(30, 1)
    tr, te = _write_npz(tmp_path / "train.npz", X, y), _write_npz(tmp_path / "test.npz", Xt, yt)
    model = tmp_path / "model"
    rc = main(["classify", "train", str(tr), "--test", str(te), "--epochs", "12", "--hidden", "16", "--layers", "1",
               "--threads", "1", "--seed", "0", "--no-progress", "--model", str(model)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "test accuracy" in out and "majority class" in out
    rep = json.loads((model / "report.json").read_text())
    assert rep["test"]["accuracy"] >= 0.8  # chance is 1/3
    assert (model / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "model.checkpoints").exists()
    # predict on the same file: same accuracy as the report, a CSV row per sequence
    pred = tmp_path / "pred.csv"
    assert main(["classify", "predict", "--model", str(model), str(te), "--out", str(pred)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {rep['test']['accuracy']:.2%}" in out
    rows = list(csv.DictReader(open(pred)))
    assert len(rows) == 30 and set(rows[0]) == {"id", "predicted", "p_fast", "p_ramp", "p_slow", "label"}
    p = np.array([[float(r[f"p_{c}"]) for c in ("fast", "ramp", "slow")] for r in rows])
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    assert np.mean([r["predicted"] == r["label"] for r in rows]) == pytest.approx(rep["test"]["accuracy"])
    # unlabelled CSV in long format: read with the same columns, no accuracy line
    csv_path = tmp_path / "new.csv"
    with open(csv_path, "w") as f:
        f.write("id,time,ch0,ch1\n")
        for k, x in enumerate(Xt[:4]):
            for t, v in enumerate(x):
                f.write(f"s{k},{t},{v[0]},{v[1]}\n")
    assert main(["classify", "predict", "--model", str(model), str(csv_path), "--out", str(tmp_path / "p2.csv")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" not in out
    rows2 = list(csv.DictReader(open(tmp_path / "p2.csv")))
    assert [r["predicted"] for r in rows2] == [r["predicted"] for r in rows[:4]]
    # a file with other channels is refused
    np.savez(tmp_path / "three.npz", X=np.ones((2, 5, 3)), y=["fast", "slow"])
    _one_line_error(capsys, ["classify", "predict", "--model", str(model), str(tmp_path / "three.npz"),
                     "--out", str(tmp_path / "p3.csv")],
                    "three.npz", "3 channels", "trained on 2")


def test_masking_padding_does_not_change_predictions():
    from lstmkit.models import SequenceClassifier

    torch.manual_seed(0)
    m = SequenceClassifier(2, 3, hidden_size=8, num_layers=2).eval()
    X, _ = _synthetic(12, 5)
    together = predict_proba(m, X, batch_size=12)  # one padded batch, lengths 8..30
    alone = np.concatenate([predict_proba(m, [x]) for x in X])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # and padding with large values past the length changes nothing either
    from lstmkit.train.supervised import pad_sequences

    x, n = pad_sequences(X)
    mask = (torch.arange(x.shape[0])[:, None] >= n[None, :])[..., None]
    with torch.no_grad():
        a, b = m(x, n), m(x.masked_fill(mask, 1e3), n)
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- bad input via the CLI


def _train_argv(path, model, *more):
    return ["classify", "train", str(path), "--epochs", "1", "--hidden", "4", "--layers", "1", "--threads", "1",
            "--no-progress", "--model", str(model), *more]


def _nothing_written(tmp_path):
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.checkpoints").exists()


def _csv(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


GOOD_CSV = "id,time,a,b,label\n" + "".join(f"s{k},{t},{k + t},{k - t},{'xy'[k % 2]}\n"
                                          for k in range(6) for t in range(3))


def test_bad_csv_inputs(tmp_path, capsys):
    m = tmp_path / "m"
    p = _csv(tmp_path / "nolabel.csv", GOOD_CSV.replace("label", "klass"))
    _one_line_error(capsys, _train_argv(p, m), "nolabel.csv", "'label' not found", "--label-column")
    p = _csv(tmp_path / "noid.csv", GOOD_CSV)
    _one_line_error(capsys, _train_argv(p, m, "--id-column", "seq"), "noid.csv", "'seq' not found", "id, time")
    p = _csv(tmp_path / "text.csv", GOOD_CSV.replace("s2,1,3,1,x", "s2,1,abc,1,x"))
    _one_line_error(capsys, _train_argv(p, m), "text.csv", "line 9", "'a'", "'abc'")
    p = _csv(tmp_path / "once.csv", GOOD_CSV + "s9,0,1,1,z\n")
    _one_line_error(capsys, _train_argv(p, m), "once.csv", "label 'z' occurs only once", "remove")
    p = _csv(tmp_path / "empty.csv", "")
    _one_line_error(capsys, _train_argv(p, m), "empty.csv", "empty")
    p = _csv(tmp_path / "header.csv", "id,time,a,label\n")
    _one_line_error(capsys, _train_argv(p, m), "header.csv", "no data rows")
    p = _csv(tmp_path / "latin.csv", GOOD_CSV.replace("s3,0", "s\u00e93,0"), encoding="latin-1")
    _one_line_error(capsys, _train_argv(p, m), "latin.csv", "line 11", "UTF-8")
    p = _csv(tmp_path / "two.csv", GOOD_CSV.replace("s1,2,3,-1,y", "s1,2,3,-1,x"))
    _one_line_error(capsys, _train_argv(p, m), "two.csv", "more than one label", "s1")
    _one_line_error(capsys, _train_argv(tmp_path / "missing.csv", m), "missing.csv", "no such file")
    _one_line_error(capsys, _train_argv(tmp_path / "x.txt", m), "--format")
    _nothing_written(tmp_path)


def test_bad_ts_and_npz_inputs(tmp_path, capsys):
    m = tmp_path / "m"
    seqs = SEQS * 2
    labels = ["up", "down", "up", "down", "up", "down"]
    p = _write_ts(tmp_path / "chan.ts", seqs, labels, extra_line="1,2,3:down")
    _one_line_error(capsys, _train_argv(p, m), "chan.ts", "line 15", "1 channels", "same channels")
    p = _write_ts(tmp_path / "word.ts", seqs, labels, extra_line="1,2:1,x:down")
    _one_line_error(capsys, _train_argv(p, m), "word.ts", "line 15", "'x'")
    p = _write_ts(tmp_path / "zero.ts", seqs, labels, extra_line="::down")
    _one_line_error(capsys, _train_argv(p, m), "zero.ts", "0 steps")
    p = tmp_path / "zero.npz"
    np.savez(p, X=np.ones((6, 2)), lengths=[2, 0, 1, 1, 1, 1], y=labels)
    _one_line_error(capsys, _train_argv(p, m), "zero.npz", "sequence 1 has 0 steps")
    p = tmp_path / "obj.npz"
    np.savez(p, X=np.array([np.ones((2, 2)), np.ones((3, 2))], dtype=object), y=["a", "b"])
    _one_line_error(capsys, _train_argv(p, m), "obj.npz", "pickled", "lengths")
    p = tmp_path / "flat.npz"
    np.savez(p, X=np.ones((6, 2)), y=labels)
    _one_line_error(capsys, _train_argv(p, m), "flat.npz", "give lengths")
    p = tmp_path / "once.npz"
    np.savez(p, X=np.ones((5, 4, 2)), y=["a", "a", "b", "b", "c"])
    _one_line_error(capsys, _train_argv(p, m), "once.npz", "label 'c' occurs only once")
    (tmp_path / "empty.npz").write_bytes(b"")
    _one_line_error(capsys, _train_argv(tmp_path / "empty.npz", m), "empty.npz", "empty")
    _nothing_written(tmp_path)
    # a test file with other channels than the training file
    _write_npz(tmp_path / "ok.npz", seqs, labels)
    np.savez(tmp_path / "t3.npz", X=np.ones((2, 4, 3)), y=["up", "down"])
    _one_line_error(capsys, _train_argv(tmp_path / "ok.npz", m, "--test", str(tmp_path / "t3.npz")),
                    "t3.npz", "3 channels")
    _nothing_written(tmp_path)
    # a non-model directory is refused before training
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    _one_line_error(capsys, _train_argv(tmp_path / "ok.npz", tmp_path / "busy"), "busy", "not a model directory")
    assert os.listdir(tmp_path / "busy") == ["notes.txt"]


# ----------------------------------------------------------------------------- shipped examples


def test_examples_load_with_their_splits():
    from lstmkit.data.sequences import load_example

    pytest.importorskip("aeon")
    tr, te, info = load_example("japanese-vowels")
    assert (len(tr), len(te), tr.n_channels, len(tr.classes)) == (270, 370, 12, 9)
    assert 7 <= tr.lengths.min() and max(tr.lengths.max(), te.lengths.max()) <= 29
    pytest.importorskip("seglearn")
    tr, te, info = load_example("watch")
    assert (len(tr) + len(te), tr.n_channels, len(tr.classes)) == (140, 6, 7)
    assert not {i.split("-")[0] for i in tr.ids} & {i.split("-")[0] for i in te.ids}  # split by subject
    pytest.importorskip("modlamp")
    tr, te, info = load_example("peptides")
    assert (len(tr), len(te), tr.n_channels, tr.classes) == (4160, 1040, 20, ["AMP", "UniProt"])
    assert all(np.allclose(x.sum(1), 1) for x in tr.X[:50])  # one-hot amino acids
    with pytest.raises(ValueError, match="unknown example"):
        load_example("nope")


@pytest.mark.slow
def test_japanese_vowels_default_command_reaches_97(tmp_path, capsys):
    pytest.importorskip("aeon")
    assert main(["classify", "train", "--example", "japanese-vowels", "--threads", "1", "--no-progress",
                 "--model", str(tmp_path / "jv")]) == 0
    rep = json.loads((tmp_path / "jv" / "report.json").read_text())
    assert rep["test"]["accuracy"] >= 0.97, rep["test"]["accuracy"]


# ----------------------------------------------------------------------------- files and arguments
QUICK = ["--epochs", "2", "--hidden-size", "4", "--layers", "1", "--no-progress"]


def _small(tmp_path, n=30):
    X, y = _synthetic(n, 0)
    return _write_npz(tmp_path / "train.npz", X, y)


def test_checkpoint_folder_of_the_user_is_refused_before_training(tmp_path, capsys):
    tr = _small(tmp_path)
    ck = tmp_path / "model.checkpoints"
    ck.mkdir()
    (ck / "mine.txt").write_text("mine")
    err = _one_line_error(capsys, ["classify", "train", str(tr), *QUICK, "--model", str(tmp_path / "model")],
                          "refusing", str(ck))
    assert "checkpoint" in err
    assert [f.name for f in ck.iterdir()] == ["mine.txt"] and not (tmp_path / "model").exists()


def test_retrain_keeps_user_files_and_predict_never_overwrites(tmp_path, capsys, monkeypatch):
    tr = _small(tmp_path)
    model = tmp_path / "model"
    assert main(["classify", "train", str(tr), *QUICK, "--model", str(model)]) == 0
    assert not (tmp_path / "model.checkpoints").exists()
    (model / "NOTES.md").write_text("my notes")
    assert main(["classify", "train", str(tr), *QUICK, "--model", str(model)]) == 0
    assert (model / "NOTES.md").read_text() == "my notes"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "predictions.csv").write_text("precious")
    capsys.readouterr()
    _one_line_error(capsys, ["classify", "predict", "--model", str(model), str(tr)], "predictions.csv", "--overwrite")
    assert (tmp_path / "predictions.csv").read_text() == "precious"
    assert main(["classify", "predict", "--model", str(model), str(tr), "--overwrite"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    assert {"predicted", "label"} <= set(rows[0]) and len(rows) == 30
    _one_line_error(capsys, ["classify", "predict", "--model", str(model), str(tr), "--out",
                             str(model / "report.json"), "--overwrite"], "lstmkit.json")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text('{"class": "SequenceClassifier"}')
    _one_line_error(capsys, ["classify", "train", str(tr), *QUICK, "--model", str(fake)], "not a model directory")
    assert [f.name for f in fake.iterdir()] == ["config.json"]



@pytest.mark.parametrize("edit, field", [
    (lambda d: d["extra"].update(classes=["fast", "ramp", "slow", "extra"]), "extra.classes"),
    (lambda d: d["extra"].update(classes=["fast", "fast", "slow"]), "extra.classes"),
    (lambda d: d["extra"]["norm"].update(std=[1.0, 0.0]), "extra.norm.std"),
    (lambda d: d["extra"]["norm"].update(mean=[0.0]), "extra.norm.mean"),
    (lambda d: d["extra"]["norm"]["mean"].__setitem__(0, float("nan")), "extra.norm.mean[0]"),
    (lambda d: d["extra"].update(downsample=0), "extra.downsample"),
])
def test_edited_app_config_is_one_line_naming_the_field(tmp_path, capsys, edit, field, edit_model_config):
    tr = _small(tmp_path)
    model = tmp_path / "model"
    assert main(["classify", "train", str(tr), *QUICK, "--model", str(model)]) == 0
    edit_model_config(model, edit)
    capsys.readouterr()
    _one_line_error(capsys, ["classify", "predict", "--model", str(model), str(tr), "--out", str(tmp_path / "p.csv")],
                    "config.json", field)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("args, expect", [
    (["--threads", "0"], "argument --threads"), (["--epochs", "0"], "argument --epochs"),
    (["--hidden", "0"], "argument --hidden-size/--hidden"), (["--layers", "-2"], "argument --layers"),
    (["--lr", "inf"], "argument --lr"), (["--val-fraction", "1"], "argument --val-fraction"),
    (["--test-fraction", "0"], "argument --test-fraction"), (["--downsample", "0"], "argument --downsample"),
    (["--seed", "x"], "argument --seed"), (["--channels", "a,,b"], "argument --channels"),
])
def test_arguments_checked_at_parse_time(tmp_path, capsys, args, expect):
    with pytest.raises(SystemExit) as e:
        main(["classify", "train", str(tmp_path / "x.npz"), "--model", str(tmp_path / "m"), *args])
    assert e.value.code == 2 and expect in capsys.readouterr().err
    from lstmkit.cli import build_parser

    a = build_parser().parse_args(["classify", "train", "x.npz", "--quiet"])
    assert a.threads == 1 and a.no_progress and a.hidden_size is None


def test_unknown_test_label_message_has_no_numpy_repr(tmp_path, capsys):
    X, y = _synthetic(30, 0)
    tr = _write_npz(tmp_path / "train.npz", X, y)
    te = _write_npz(tmp_path / "test.npz", X[:4], ["slow", "odd", "fast", "ramp"])
    err = _one_line_error(capsys, ["classify", "train", str(tr), "--test", str(te), *QUICK, "--model",
                                   str(tmp_path / "m")], "'odd'")
    assert "np.str_" not in err


def test_second_training_into_a_held_model_refuses_at_once(tmp_path, capsys):
    from lstmkit.models.io import model_dir_lock

    tr = _small(tmp_path)
    with model_dir_lock(tmp_path / "model"):
        _one_line_error(capsys, ["classify", "train", str(tr), *QUICK, "--model", str(tmp_path / "model")],
                        "another lstmkit process")
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.checkpoints").exists()


def test_interrupt_keeps_checkpoints_and_resume_finishes(tmp_path, capsys, monkeypatch):
    import lstmkit.apps.classify as app

    tr = _small(tmp_path)
    real, calls = app.predict_proba, []

    def interrupt_at_second_validation(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(app, "predict_proba", interrupt_at_second_validation)
    argv = ["classify", "train", str(tr), *QUICK, "--epochs", "3", "--model", str(tmp_path / "model")]
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    ck = tmp_path / "model.checkpoints"
    assert (ck / "select" / "checkpoint.json").is_file()
    monkeypatch.setattr(app, "predict_proba", real)
    assert main(argv + ["--resume"]) == 0
    assert (tmp_path / "model" / "model.safetensors").is_file() and not ck.exists()
