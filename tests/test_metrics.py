"""lstmkit.metrics against values computed by hand (and, where it is installed, against
scikit-learn and a plain dynamic-programming edit distance)."""

import math

import numpy as np
import pytest
import torch

from lstmkit import metrics as M


# ---------------------------------------------------------------- forecasting

def test_mae_and_mase_by_hand():
    assert M.mae([1, 2, 4], [2, 2, 1]) == pytest.approx((1 + 0 + 3) / 3)
    # in-sample seasonal naive (s=2) errors of [1, 2, 4, 8]: |4-1|, |8-2| -> mean 4.5
    assert M.mase([10, 20], [11, 17], [1, 2, 4, 8], season=2) == pytest.approx(((1 + 3) / 2) / 4.5)
    # season <= 1 is the naive forecast: |2-1|, |4-2|, |8-4| -> 7/3
    assert M.mase([5], [6], [1, 2, 4, 8], season=0) == pytest.approx(1 / (7 / 3))
    assert M.mae(torch.tensor([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(1.5)


def test_mase_undefined_inputs_name_the_problem():
    with pytest.raises(ValueError, match="more than season=4"):
        M.mase([1], [1], [1, 2, 3, 4], season=4)
    with pytest.raises(ValueError, match="periodic"):
        M.mase([1], [1], [1, 2, 1, 2], season=2)
    with pytest.raises(ValueError, match="same length: actual 2, forecast 3"):
        M.mae([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="actual must be a 1-D"):
        M.mae([[1, 2]], [[1, 2]])


def test_smape_by_hand():
    # terms 2|F-A|/(|A|+|F|): 2*10/210, 2*50/250, 0 (A=F=0 counts 0)
    assert M.smape([100, 100, 0], [110, 150, 0]) == pytest.approx(100 * (20 / 210 + 100 / 250 + 0) / 3)
    assert M.smape([1, -1], [-1, 1]) == pytest.approx(200.0)  # opposite signs: the maximum


def test_interval_coverage_by_hand():
    assert M.interval_coverage([1, 2, 3, 4], [1, 0, 4, 0], [1, 1, 5, 9]) == 0.5  # bounds included
    with pytest.raises(ValueError, match="same length"):
        M.interval_coverage([1, 2], [0], [3])


# ---------------------------------------------------------------- classification

def test_accuracy_and_balanced_accuracy_by_hand():
    t = [0, 0, 0, 0, 1, 1, 2]
    p = [0, 0, 0, 1, 1, 0, 0]
    assert M.accuracy(t, p) == pytest.approx(4 / 7)
    # recalls: 3/4, 1/2, 0/1 -> mean 5/12
    assert M.balanced_accuracy(t, p) == pytest.approx((3 / 4 + 1 / 2 + 0) / 3)
    # a class absent from y_true does not count (only predicted)
    assert M.balanced_accuracy([0, 0, 1], [0, 2, 1], n_classes=3) == pytest.approx((1 / 2 + 1) / 2)
    assert M.per_class_recall(t, p, 4).tolist() == [0.75, 0.5, 0.0, 0.0]
    assert M.accuracy(torch.tensor([1, 2]), np.array([1.0, 0.0])) == 0.5


def test_classification_errors_name_the_argument():
    with pytest.raises(ValueError, match="same length"):
        M.accuracy([0, 1], [0])
    with pytest.raises(TypeError, match="y_pred must hold integer"):
        M.accuracy([0, 1], [0.5, 1])
    with pytest.raises(ValueError, match="y_true is empty"):
        M.accuracy([], [])
    with pytest.raises(ValueError, match="outside \\[0, 2\\)"):
        M.confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="n_classes must be a positive int"):
        M.confusion_matrix([0], [0], True)


def test_classification_report_by_hand():
    r = M.classification_report([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["a", "b"])
    # cm = [[1, 1], [1, 2]]: precision a 1/2, b 2/3; recall a 1/2, b 2/3
    assert r["confusion_matrix"] == [[1, 1], [1, 2]]
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert r["per_class"][1]["precision"] == pytest.approx(2 / 3)
    assert r["per_class"][0]["f1"] == pytest.approx(0.5)
    assert r["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    empty = M.classification_report([], [], ["a"])
    assert empty["n"] == 0 and empty["accuracy"] == 0.0 and empty["balanced_accuracy"] == 0.0


def test_classification_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert M.accuracy(t, p) == pytest.approx(sk.accuracy_score(t, p))
    assert M.balanced_accuracy(t, p) == pytest.approx(sk.balanced_accuracy_score(t, p))
    np.testing.assert_array_equal(M.confusion_matrix(t, p, 4), sk.confusion_matrix(t, p))


# ---------------------------------------------------------------- sequences and text

def _edit_distance(a, b) -> int:
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


def test_label_error_rate_by_hand_and_by_dynamic_programming():
    pytest.importorskip("rapidfuzz")
    # "kitten" -> "sitting": 3 edits over 7 target labels
    assert M.label_error_rate([list("kitten")], [list("sitting")]) == pytest.approx(3 / 7)
    assert M.label_error_rate([[], [1, 2]], [[3], [1, 2]]) == pytest.approx(1 / 3)
    rng = np.random.default_rng(1)
    preds = [list(rng.integers(0, 3, rng.integers(0, 6))) for _ in range(30)]
    targs = [list(rng.integers(0, 3, rng.integers(1, 6))) for _ in range(30)]
    want = sum(_edit_distance(p, t) for p, t in zip(preds, targs)) / sum(map(len, targs))
    assert M.label_error_rate(preds, targs) == pytest.approx(want)
    with pytest.raises(ValueError, match="all empty"):
        M.label_error_rate([[1]], [[]])


def test_sequence_accuracy_by_hand():
    assert M.sequence_accuracy([[1, 2], [3], []], [[1, 2], [3, 3], []]) == pytest.approx(2 / 3)
    assert M.sequence_accuracy([(1, 2)], [[1, 2]]) == 1.0  # a tuple and a list of the same labels
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        M.sequence_accuracy([[1], [2]], [[1]])


def test_bits_per_character_by_hand():
    # p = 1/2, 1/4, 1/8: 1, 2 and 3 bits -> 2 bits per character
    nll = [math.log(2), math.log(4), math.log(8)]
    assert M.bits_per_character(nll) == pytest.approx(2.0)
    assert M.bits_per_character(torch.tensor(nll)) == pytest.approx(2.0)
    assert M.bits_per_character(sum(nll), count=3) == pytest.approx(2.0)
    # the same as torch's cross entropy converted to bits
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 3, 6, 2, 2])
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    want = -torch.log2(torch.softmax(logits, -1)[torch.arange(5), target]).mean()
    assert M.bits_per_character(ce) == pytest.approx(float(want), rel=1e-6)
    with pytest.raises(ValueError, match="count must be a positive int"):
        M.bits_per_character(1.0, count=0)
    with pytest.raises(TypeError, match="nll must be a number"):
        M.bits_per_character([1.0], count=1)


def test_every_metric_has_one_definition():
    """The apps, the CTC module and the baselines use the metrics module's own functions."""
    from lstmkit.apps import classify, common, forecast, fsdd, text
    from lstmkit.models import baselines
    from lstmkit.train import ctc

    assert forecast.mase is M.mase and forecast.smape is M.smape and forecast.mae is M.mae
    assert classify.classification_report is M.classification_report
    assert classify.confusion_matrix is M.confusion_matrix
    assert ctc.label_error_rate is M.label_error_rate and common.label_error_rate is M.label_error_rate
    assert fsdd.accuracy is M.accuracy and baselines.accuracy is M.accuracy and text.accuracy is M.accuracy
    assert forecast.seasonal_naive is baselines.seasonal_naive


# ---- translation (sacrebleu) ----------------------------------------------------------------
def test_bleu_and_chrf_against_sacrebleu_directly():
    import sacrebleu

    from lstmkit.metrics import bleu, chrf

    hyps = ["the cat sat on a mat", "a dog barked loudly today", "hello"]
    refs = ["the cat sat on the mat", "the dog barked loudly", "hello there"]
    r = bleu(hyps, refs)
    assert abs(r["score"] - sacrebleu.corpus_bleu(hyps, [refs]).score) < 1e-9
    assert 0 < r["score"] < 100 and r["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    c = chrf(hyps, refs)
    assert abs(c["score"] - sacrebleu.corpus_chrf(hyps, [refs]).score) < 1e-9 and "nc:6" in c["signature"]
    import pytest

    with pytest.raises(ValueError, match="2 hypotheses but 3 references"):
        bleu(hyps[:2], refs)
    with pytest.raises(TypeError, match="strings"):
        chrf([1], ["a"])
