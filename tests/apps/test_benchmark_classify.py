"""lstmkit benchmark classify: the harness (rank statistics by hand, the field's baselines on
hand-made series, the data sets and their splits, the output folder's rules) and the
classifier's benchmark-chosen pieces (the convolutional block's masking, update-based
training with early stopping, the honest report)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstmkit.apps.benchmark import format_summary, mean_ranks, run_classify_benchmark, win_tie_loss
from lstmkit.cli import main

aeon = pytest.importorskip("aeon")


def test_win_tie_loss_and_mean_ranks_by_hand():
    assert win_tie_loss([0.9, 0.8, 0.5, 0.7], [0.8, 0.8, 0.6, 0.1]) == {"win": 2, "tie": 1, "loss": 1}
    assert win_tie_loss([2.0, 1.0], [1.0, 1.5], higher_is_better=False) == {"win": 1, "tie": 0, "loss": 1}
    # set 1: a > b > c -> 1, 2, 3; set 2: a = b < c -> 2.5, 2.5, 1
    assert mean_ranks({"a": [0.9, 0.5], "b": [0.8, 0.5], "c": [0.1, 0.9]}) == {"a": 1.75, "b": 2.25, "c": 2.0}
    assert mean_ranks({"a": [1.0], "b": [2.0]}, higher_is_better=False) == {"a": 1.0, "b": 2.0}
    with pytest.raises(ValueError, match="same length"):
        win_tie_loss([1, 2], [1])


def test_field_baselines_on_hand_made_series():
    from lstmkit.models.baselines import resample_to_length, tsc_baseline

    assert resample_to_length([np.array([[0.0], [2.0]])], 5)[0, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    # a bump early vs late: Euclidean to a shifted bump fails where DTW warps it back
    t = np.arange(40)
    bump = lambda c: np.exp(-0.5 * ((t - c) / 2.0) ** 2)[:, None]
    train = [bump(10), bump(30), np.zeros((40, 1)) + 0.05]
    y = np.array([0, 1, 2])
    probe = [bump(14)]  # nearest in Euclidean terms: the flat line? no: the class-0 bump, 4 steps off
    assert tsc_baseline("1nn-dtw", train, y, probe).tolist() == [0]
    far = [bump(20)]  # halfway: Euclidean ties are broken to the flat series, DTW warps to a bump
    assert tsc_baseline("1nn-euclidean", train, y, far).tolist() == [2]
    assert tsc_baseline("1nn-dtw", train, y, far).tolist() in ([0], [1])
    # unequal lengths: DTW on the series as they are
    assert tsc_baseline("1nn-dtw", [bump(10)[:25], bump(30)], y[:2], [bump(12)[:30]]).tolist() == [0]
    rng = np.random.default_rng(0)
    X = [np.sin(np.arange(30) * f)[:, None] + 0.05 * rng.standard_normal((30, 1)) for f in (0.2, 1.5) * 10]
    yy = np.array([0, 1] * 10)
    assert (tsc_baseline("minirocket", X[:14], yy[:14], X[14:]) == yy[14:]).all()
    with pytest.raises(ValueError, match="name must be one of"):
        tsc_baseline("knn", X, yy, X)


def test_data_sets_and_official_splits():
    from lstmkit.data.benchmark_sets import classification_set_names, load_classification_set

    names = classification_set_names()
    for n in ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels", "OSULeaf",
              "PickupGestureWiimoteZ"):
        assert n in names
    assert not [n for n in names if n.endswith("_eq") or n in ("CardanoSentiment", "Covid3Month")]  # regression
    tr, te, info = load_classification_set("GunPoint")
    assert (len(tr), len(te), info["classes"], info["lengths"]) == (50, 150, 2, [150, 150])
    with pytest.raises(ValueError, match="unknown data set"):
        load_classification_set("NoSuchSet")


def test_quick_benchmark_command_writes_tables_and_never_touches_a_user_folder(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main(["benchmark", "classify", "--quick", "--threads", "1", "--no-progress", "--out", str(mine)]) == 1
    assert "refusing" in capsys.readouterr().err and [p.name for p in mine.iterdir()] == ["notes.txt"]
    out = tmp_path / "bench"
    assert main(["benchmark", "classify", "--quick", "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| baseline | win | tie | loss |" in text and "1nn-dtw" in text
    s = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in s["sets"]] == ["UnitTest", "ItalyPowerDemand"]
    assert s["methods"] == ["lstm", "1nn-euclidean", "1nn-dtw", "minirocket"]
    for row in s["sets"]:
        assert all(0 <= row["accuracy"][m] <= 1 for m in s["methods"])
    assert row["accuracy"]["lstm"] > 0.6  # ItalyPowerDemand: 2 balanced classes, chance 0.5
    assert sum(s["win_tie_loss"]["1nn-dtw"].values()) == 2
    assert (out / "ranks.png").read_bytes()[:4] == b"\x89PNG"
    assert "| ItalyPowerDemand |" in (out / "summary.md").read_text()
    one = json.loads((out / "UnitTest.json").read_text())
    assert one["info"]["split"] == "official TRAIN/TEST files" and one["methods"]["lstm"]["config"]["head"]
    # 1-NN Euclidean on ItalyPowerDemand: the UCR archive's published 95.5%
    assert s["sets"][1]["accuracy"]["1nn-euclidean"] == pytest.approx(0.9553, abs=5e-4)
    # resume: nothing recomputed (the files are kept as they are)
    before = (out / "UnitTest.json").read_text()
    s2 = run_classify_benchmark(out, quick=True, resume=True, progress=False, log=None)
    assert (out / "UnitTest.json").read_text() == before and s2["mean_accuracy"] == s["mean_accuracy"]
    assert "mean rank" in format_summary(s2)


def test_conv_block_ignores_padding_and_saves_with_the_model(tmp_path):
    from lstmkit.apps.classify import predict_proba
    from lstmkit.models import SequenceClassifier, load_model, save_model

    torch.manual_seed(0)
    m = SequenceClassifier(2, 3, hidden_size=4, num_layers=1, conv_filters=(4, 8, 4))
    # train a step so that the batch-norm statistics are not the initial ones
    x = torch.randn(12, 5, 2)
    n = torch.tensor([12, 9, 5, 3, 1])
    torch.nn.functional.cross_entropy(m(x, n), torch.tensor([0, 1, 2, 0, 1])).backward()
    m.eval()
    seqs = [np.random.default_rng(k).standard_normal((L, 2)).astype(np.float32) for k, L in enumerate([12, 9, 5, 3, 1])]
    together = predict_proba(m, seqs, batch_size=5)
    alone = np.concatenate([predict_proba(m, [s]) for s in seqs])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    save_model(m, tmp_path / "m")
    m2, _ = load_model(SequenceClassifier, tmp_path / "m")
    np.testing.assert_allclose(predict_proba(m2, seqs), together, atol=1e-6)
    with pytest.raises(ValueError, match="filters"):
        SequenceClassifier(2, 3, conv_filters=(4, 8))


def test_update_budget_early_stopping_and_honest_report(tmp_path, capsys):
    from lstmkit.apps.classify import train_classifier, verdict
    from lstmkit.data.benchmark_sets import load_classification_set

    tr, te, _ = load_classification_set("UnitTest")
    r = train_classifier(tr, te, model_dir=None, max_updates=600, patience=20, hidden_size=8, num_layers=1,
                         head="lstm", progress=False, compare=("1nn-dtw",))
    f = r["fit"]
    # rounds of >= 20 updates (an epoch of these 17 sequences is 2 updates), stopped before the budget
    k = f["updates_per_round"]
    assert 20 <= k <= 21 and f["stopped_early"] and f["epochs_run"] * k < 600
    assert f["updates"] == f["best_epoch"] * k and abs(f["refit"]["updates"] - f["updates"]) <= k
    assert r["config"]["max_updates"] == 600 and r["config"]["epochs"] is None
    b = r["baselines"]["1nn-dtw"]
    assert b["accuracy"] == pytest.approx(21 / 22)  # UnitTest's 1-NN DTW, fitted on all 20 training series
    assert len(r["verdict"]) == 1 and "1nn-dtw" in r["verdict"][0]
    fake = {"test": {"accuracy": 0.5}, "fit": {"validation_accuracy": 0.6},
            "baselines": {"minirocket": {"accuracy": 0.7, "validation_accuracy": 0.65}}}
    assert verdict(fake)[0].startswith("minirocket beats the LSTM on the test set: 70.00% vs 50.00%")
    from lstmkit.apps.classify import format_train_report

    text = format_train_report(r)
    assert "1nn-dtw" in text and "validation" in text
