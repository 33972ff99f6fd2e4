"""Every score lstmkit reports, in one place (the bottom of the house: numpy and torch only).

Forecasting (:func:`mae`, :func:`mase`, :func:`smape`, :func:`interval_coverage`),
classification (:func:`accuracy`, :func:`balanced_accuracy`, :func:`confusion_matrix`,
:func:`per_class_recall`, :func:`classification_report`), sequence labelling
(:func:`label_error_rate`, :func:`sequence_accuracy`), language modelling
(:func:`bits_per_character`) and translation (:func:`bleu`, :func:`chrf`: sacrebleu's, with
its signature; sacrebleu is imported inside them, extra ``translate``). Each takes plain sequences or arrays (torch tensors work too)
and returns a Python float (or a JSON-ready value), raising a ValueError naming the argument
when a score is undefined for its inputs.

Example:
    >>> accuracy([0, 1, 1, 2], [0, 1, 0, 2])
    0.75
    >>> round(mase([3, 4], [3, 5], insample=[1, 2, 3, 4], season=1), 3)
    0.5
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "mae", "mase", "smape", "interval_coverage",
    "accuracy", "balanced_accuracy", "confusion_matrix", "per_class_recall", "classification_report",
    "label_error_rate", "sequence_accuracy", "bits_per_character", "bleu", "chrf", "edit_operations",
]


def _values(v, name: str) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor
        v = v.detach().cpu().numpy()
    a = np.asarray(v, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {tuple(a.shape)}")
    return a


def _same_length(**named: np.ndarray) -> None:
    sizes = {k: v.shape[0] for k, v in named.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError("must have the same length: " + ", ".join(f"{k} {n}" for k, n in sizes.items()))


# ---------------------------------------------------------------------------- forecasting

def mae(actual, forecast) -> float:
    """Mean absolute error: ``MAE = 1/H sum_h |A_h - F_h|``.

    Args:
        actual, forecast: (H,) numbers, H >= 1.

    Example:
        >>> mae([1, 2, 4], [1, 3, 2])
        1.0
    """
    a, f = _values(actual, "actual"), _values(forecast, "forecast")
    _same_length(actual=a, forecast=f)
    if a.size == 0:
        raise ValueError("actual is empty: the mean absolute error is undefined")
    return float(np.mean(np.abs(f - a)))


def mase(actual, forecast, insample, season: int) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006): the forecast's MAE over the
    in-sample MAE of the seasonal naive forecast ``y_t = y_{t-s}`` (``s = 1``: the naive one):

    ``MASE = (1/H sum_h |A_h - F_h|) / (1/(n-s) sum_{t>s} |y_t - y_{t-s}|)``

    Below 1: better than the seasonal naive forecast was in sample.

    Args:
        actual, forecast: (H,) the held-out values and their forecast.
        insample: (n,) the history the forecast was made from, n > season.
        season: the season's length s (1 or less: no season).

    Example:
        >>> mase([3, 4], [3, 5], insample=[1, 2, 3, 4], season=1)  # MAE 0.5 / naive MAE 1
        0.5
    """
    a, f, x = _values(actual, "actual"), _values(forecast, "forecast"), _values(insample, "insample")
    s = max(int(season), 1)
    if len(x) <= s:
        raise ValueError(f"mase needs more than season={s} in-sample points, got {len(x)}")
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.mean(np.abs(x[s:] - x[:-s]))
    if not np.isfinite(scale):
        raise ValueError("mase: the in-sample seasonal naive error overflows float64 (values near 1e308); "
                         "rescale the series")
    if scale == 0:
        raise ValueError("mase: the in-sample seasonal naive error is 0 (a periodic series); use another metric")
    return float(np.mean(np.abs(a - f)) / scale)


def smape(actual, forecast) -> float:
    """Symmetric mean absolute percentage error, in percent (0-200), as in the M3/M4
    competitions: ``sMAPE = 100/H sum_h 2|F_h - A_h| / (|A_h| + |F_h|)`` (a term with
    A = F = 0 counts 0).

    Args:
        actual, forecast: (H,) numbers.

    Example:
        >>> round(smape([100, 200], [110, 200]), 3)  # 100/2 * (20/210 + 0)
        4.762
    """
    a, f = _values(actual, "actual"), _values(forecast, "forecast")
    den = np.abs(a) + np.abs(f)
    return float(100 * np.mean(np.where(den == 0, 0.0, 2 * np.abs(f - a) / np.where(den == 0, 1, den))))


def interval_coverage(actual, lower, upper) -> float:
    """Share of the actual values inside their prediction interval (bounds included):
    ``1/H sum_h [L_h <= A_h <= U_h]``. For a 10%-90% interval, 0.8 is calibrated.

    Args:
        actual, lower, upper: (H,) numbers.

    Example:
        >>> interval_coverage([1, 5, 3, 9], lower=[0, 0, 3, 0], upper=[2, 4, 4, 8])
        0.5
    """
    a, lo, hi = _values(actual, "actual"), _values(lower, "lower"), _values(upper, "upper")
    _same_length(actual=a, lower=lo, upper=hi)
    if a.size == 0:
        raise ValueError("actual is empty: the interval coverage is undefined")
    return float(((a >= lo) & (a <= hi)).mean())


# ------------------------------------------------------------------------- classification

def _as_labels(y, name: str) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {tuple(y.shape)}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.size} and {p.size}")
    return t, p


def accuracy(y_true, y_pred) -> float:
    """Share of examples predicted right: ``1/N sum_i [ŷ_i = y_i]``.

    Args:
        y_true, y_pred: (N,) integer class indices, N >= 1.

    Example:
        >>> accuracy([0, 1, 1, 2], [0, 1, 0, 2])
        0.75
    """
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("y_true is empty: the accuracy is undefined")
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts ``cm[i, j]`` = number of examples of true class ``i`` predicted as ``j``.

    Args:
        y_true, y_pred: integer class indices in ``[0, n_classes)``, same length.
        n_classes: number of classes (rows and columns of the matrix).

    Returns:
        an int64 array of shape (n_classes, n_classes); rows = true class.

    Example:
        >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 3).tolist()
        [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    t, p = _pair(y_true, y_pred)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    for name, y in (("y_true", t), ("y_pred", p)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds class indices outside [0, {n_classes}): "
                             f"min {y.min()}, max {y.max()}; pass the right n_classes")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _recall(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1)
    return np.where(support > 0, tp / np.maximum(support, 1), 0.0)


def per_class_recall(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Recall of each class, ``cm[k, k] / sum_j cm[k, j]`` (the per-class accuracy; 0 for a
    class that does not occur in ``y_true``).

    Args:
        y_true, y_pred: integer class indices in ``[0, n_classes)``. n_classes: K.

    Returns:
        a float64 array of shape (K,).

    Example:
        >>> per_class_recall([0, 0, 1, 1], [0, 1, 1, 1], 3).tolist()
        [0.5, 1.0, 0.0]
    """
    return _recall(confusion_matrix(y_true, y_pred, n_classes))


def balanced_accuracy(y_true, y_pred, n_classes: int | None = None) -> float:
    """Mean recall over the classes that occur in ``y_true`` (Brodersen et al. 2010;
    scikit-learn's ``balanced_accuracy_score``): ``1/|C| sum_{k in C} cm[k, k] / n_k``.
    Chance level is ``1/|C|`` however unbalanced the classes are.

    Args:
        y_true, y_pred: (N,) integer class indices, N >= 1.
        n_classes: K (default: one more than the largest index seen).

    Example:
        >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])  # recall 1 and 0; accuracy 0.75
        0.5
    """
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("y_true is empty: the balanced accuracy is undefined")
    k = int(max(t.max(), p.max())) + 1 if n_classes is None else n_classes
    cm = confusion_matrix(t, p, k)
    return float(_recall(cm)[cm.sum(1) > 0].mean())


def classification_report(y_true, y_pred, class_names) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall/F1/support and macro F1.

    With ``cm`` the :func:`confusion_matrix`: precision_k = cm[k,k] / sum_i cm[i,k],
    recall_k = cm[k,k] / sum_j cm[k,j], F1_k = 2 P R / (P + R). Precision, recall or F1
    with a zero denominator count as 0 (as scikit-learn's ``zero_division=0``). Balanced
    accuracy is the mean recall over classes that occur in ``y_true``
    (:func:`balanced_accuracy`); macro F1 is the mean F1 over all ``class_names``.

    Args:
        y_true, y_pred: integer class indices into ``class_names``.
        class_names: one name per class (strings or anything ``str()`` accepts).

    Returns:
        a JSON-ready dict: ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``n``,
        ``per_class`` (list of dicts: name, precision, recall, f1, support) and
        ``confusion_matrix`` (list of lists). With no examples the scores are 0.

    Example:
        >>> r = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
        >>> r["accuracy"], round(r["per_class"][1]["precision"], 3), r["per_class"][0]["recall"]
        (0.75, 0.667, 0.5)
    """
    names = [str(c) for c in class_names]
    k = len(names)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = _recall(cm)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": accuracy(y_true, y_pred) if n else 0.0,
        "balanced_accuracy": balanced_accuracy(y_true, y_pred, k) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": [{"name": names[i], "precision": float(precision[i]), "recall": float(recall[i]),
                       "f1": float(f1[i]), "support": int(support[i])} for i in range(k)],
        "confusion_matrix": cm.tolist(),
    }


# ---------------------------------------------------------------------- sequence labelling

def label_error_rate(predictions: Sequence[Sequence], targets: Sequence[Sequence]) -> float:
    """Label error rate (Graves et al. 2006): the total edit distance (substitutions,
    insertions, deletions) between each predicted and target labelling, over the total
    target length: ``LER = sum_i ED(p_i, t_i) / sum_i |t_i|``.

    Uses rapidfuzz's Levenshtein distance (``pip install lstmkit[train]``).

    Args:
        predictions, targets: as many label sequences each (any hashable labels).

    Example:
        >>> label_error_rate([[1, 2, 3], [4]], [[1, 3], [4, 4]])  # 1 insertion + 1 deletion / 4
        0.5
    """
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError as e:  # pragma: no cover
        raise ImportError("label_error_rate needs rapidfuzz: pip install 'lstmkit[train]'") from e
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    total = sum(len(t) for t in targets)
    if total == 0:
        raise ValueError("targets are all empty: the label error rate is undefined")
    errors = sum(Levenshtein.distance(list(p), list(t)) for p, t in zip(predictions, targets))
    return errors / total


def edit_operations(predictions: Sequence[Sequence], targets: Sequence[Sequence]) -> dict:
    """The label errors of :func:`label_error_rate` by kind, summed over the sequences:
    ``{"substitutions", "deletions" (target labels missing), "insertions" (extra labels)}``
    of one minimal alignment of each pair (rapidfuzz).

    Example:
        >>> edit_operations([[1, 2, 3], [4]], [[1, 3], [4, 4]])
        {'substitutions': 0, 'deletions': 1, 'insertions': 1}
    """
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError as e:  # pragma: no cover
        raise ImportError("edit_operations needs rapidfuzz: pip install 'lstmkit[train]'") from e
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    n = {"replace": 0, "delete": 0, "insert": 0}
    for p, t in zip(predictions, targets):
        for op in Levenshtein.editops(list(t), list(p)):  # the target turned into the prediction
            n[op.tag] += 1
    return {"substitutions": n["replace"], "deletions": n["delete"], "insertions": n["insert"]}


def sequence_accuracy(predictions: Sequence[Sequence], targets: Sequence[Sequence]) -> float:
    """Share of sequences whose whole labelling is right: ``1/N sum_i [p_i = t_i]``.

    Args:
        predictions, targets: as many label sequences each, N >= 1.

    Example:
        >>> sequence_accuracy([[1, 2], [3], []], [[1, 2], [3, 3], []])
        0.6666666666666666
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    if len(targets) == 0:
        raise ValueError("targets is empty: the sequence accuracy is undefined")
    return float(np.mean([list(p) == list(t) for p, t in zip(predictions, targets)]))


# ---------------------------------------------------------------------- language modelling

def bits_per_character(nll, count: int | None = None) -> float:
    """Bits per character: the mean negative log-likelihood of each character given the
    ones before it, in bits: ``BPC = -1/N sum_t log2 p(x_t | x_<t) = (sum_t nll_t) / (N ln 2)``
    with ``nll_t`` in nats (what ``torch.nn.functional.cross_entropy`` returns).

    Args:
        nll: the per-character negative log-likelihoods in nats (a sequence, array or
            tensor), or their sum (a number) when ``count`` is given.
        count: N, the number of characters summed in ``nll`` (only with a sum).

    Example:
        >>> import math
        >>> bits_per_character([math.log(4)] * 3)  # uniform over 4 symbols: 2 bits each
        2.0
        >>> bits_per_character(6 * math.log(2), count=3)
        2.0
    """
    if count is None:
        v = _values(nll, "nll")
        if v.size == 0:
            raise ValueError("nll is empty: bits per character need at least one character")
        total, n = float(v.sum()), v.size
    else:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"count must be a positive int (the characters summed in nll), got {count!r}")
        if not isinstance(nll, (int, float, np.number)) or isinstance(nll, bool):
            raise TypeError(f"nll must be a number (a sum of nats) when count is given, got {type(nll).__name__}")
        total, n = float(nll), int(count)
    return total / n / math.log(2)


def _corpus(hypotheses, references, what: str):
    try:
        import sacrebleu
    except ImportError as e:  # pragma: no cover
        raise ImportError(f"{what} needs sacrebleu: pip install 'lstmkit[translate]'") from e
    hyps, refs = list(hypotheses), list(references)
    if not all(isinstance(h, str) for h in hyps) or not all(isinstance(r, str) for r in refs):
        raise TypeError(f"{what}: hypotheses and references must be strings (detokenised sentences)")
    if len(hyps) != len(refs):
        raise ValueError(f"{what}: {len(hyps)} hypotheses but {len(refs)} references; expected one per sentence")
    if not hyps:
        raise ValueError(f"{what}: no sentences; expected at least one hypothesis and reference")
    return sacrebleu, hyps, refs


def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "13a") -> dict:
    """Corpus BLEU (Papineni et al. 2002) by sacrebleu, one reference per sentence:
    ``{"score": 0..100, "signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:..",
    "precisions": [p1..p4], "bp": brevity penalty, "sys_len", "ref_len"}``.

    Example:
        >>> r = bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
        >>> round(r["score"], 6), r["signature"].split("|")[0]
        (100.0, 'nrefs:1')
    """
    sacrebleu, hyps, refs = _corpus(hypotheses, references, "bleu")
    metric = sacrebleu.metrics.BLEU(tokenize=tokenize)
    r = metric.corpus_score(hyps, [refs])
    return {"score": float(r.score), "signature": str(metric.get_signature()),
            "precisions": [float(p) for p in r.precisions], "bp": float(r.bp), "sys_len": int(r.sys_len),
            "ref_len": int(r.ref_len)}


def chrf(hypotheses: Sequence[str], references: Sequence[str], word_order: int = 0) -> dict:
    """Corpus chrF (Popović 2015; ``word_order=2``: chrF++) by sacrebleu:
    ``{"score": 0..100, "signature": ...}``.

    Example:
        >>> chrf(["abc"], ["abc"])["score"]
        100.0
    """
    sacrebleu, hyps, refs = _corpus(hypotheses, references, "chrf")
    metric = sacrebleu.metrics.CHRF(word_order=word_order)
    r = metric.corpus_score(hyps, [refs])
    return {"score": float(r.score), "signature": str(metric.get_signature())}


# ---------------------------------------------------------------------- polyphonic music

__all__ += ["frame_accuracy"]


def frame_accuracy(predicted, actual) -> float:
    """Frame-level accuracy of piano rolls (Bay, Ehmann & Downie 2009, the measure of
    Boulanger-Lewandowski et al. 2012): ``ACC = TP / (TP + FP + FN)`` with the true
    positives, false positives and false negatives counted over every frame and pitch of
    every sequence (so a frame where both are silent counts for nothing).

    Args:
        predicted, actual: binary piano rolls of one shape (T, P) (or lists of them, one
            per sequence; each pair of one shape).

    Example:
        >>> import numpy as np
        >>> frame_accuracy(np.array([[1, 1, 0], [0, 0, 0]]), np.array([[1, 0, 1], [0, 0, 0]]))
        0.3333333333333333
    """
    if isinstance(predicted, (list, tuple)) and isinstance(actual, (list, tuple)):
        if len(predicted) != len(actual):
            raise ValueError(f"predicted and actual must hold as many rolls, got {len(predicted)} and {len(actual)}")
        pairs = list(zip(predicted, actual))
    else:
        pairs = [(predicted, actual)]
    tp = fp = fn = 0
    for k, (p, a) in enumerate(pairs):
        p = np.asarray(p.detach().cpu() if hasattr(p, "detach") else p) > 0.5
        a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a) > 0.5
        if p.shape != a.shape:
            raise ValueError(f"predicted and actual roll {k} differ in shape: {p.shape} and {a.shape}")
        tp += int((p & a).sum())
        fp += int((p & ~a).sum())
        fn += int((~p & a).sum())
    if tp + fp + fn == 0:
        raise ValueError("actual and predicted are both silent everywhere: frame accuracy is undefined")
    return tp / (tp + fp + fn)
