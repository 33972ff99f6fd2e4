"""Sequence classification on the user's own files: metrics, report, and the pipeline behind
``lstmkit classify train`` / ``predict``.

The metrics are :mod:`lstmkit.metrics`' (:func:`~lstmkit.metrics.classification_report`
and its text table :func:`format_report`, shared with the text classifier); the baselines
are :mod:`lstmkit.models.baselines`'.

The pipeline (:func:`train_classifier`, :func:`predict_file`): optional averaging of
``downsample`` consecutive frames, per-channel standardisation fitted on the training part,
a stratified validation split of the training file (it picks the number of epochs; small
training files are then refit on all their sequences), a bidirectional LSTM whose outputs are averaged over each sequence's valid steps (masking by
lengths: padding never changes a prediction), class-weighted cross entropy, and a test
report beside two baselines: the majority class and a 1-nearest-neighbour classifier on
per-channel summary statistics.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..metrics import accuracy, balanced_accuracy, classification_report, confusion_matrix  # noqa: F401 (imported from here too)
from ..models.baselines import majority_class, nearest_neighbour_baseline

__all__ = ["format_report", "train_classifier", "predict_file", "predict_proba", "downsample", "EXAMPLE_DEFAULTS",
           "DEFAULTS", "FCN_FILTERS", "series_normalize", "auto_downsample", "verdict", "TIME_MODES", "elapsed_times"]


def format_report(report: dict) -> str:
    """A compact text table of a :func:`classification_report` result.

    Example:
        >>> print(format_report(classification_report([0, 1, 1], [0, 1, 0], ["no", "yes"])))
        class  precision  recall     f1  support
        no         0.500   1.000  0.667        1
        yes        1.000   0.500  0.667        2
        accuracy 0.667  balanced accuracy 0.750  macro F1 0.667  (n=3)
    """
    rows = report["per_class"]
    w = max([len("class")] + [len(r["name"]) for r in rows])
    lines = [f"{'class':<{w}}  precision  recall     f1  support"]
    for r in rows:
        lines.append(f"{r['name']:<{w}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:5.3f}  {r['support']:7d}")
    lines.append(f"accuracy {report['accuracy']:.3f}  balanced accuracy {report['balanced_accuracy']:.3f}  "
                 f"macro F1 {report['macro_f1']:.3f}  (n={report['n']})")
    return "\n".join(lines)


# ============================================================================ pipeline

DEFAULTS = {"epochs": None, "max_updates": 1000, "patience": 1000, "hidden_size": 64, "num_layers": 2, "lr": 3e-3,
            "batch_size": None, "dropout": 0.2, "downsample": "auto", "max_steps": 256, "normalize": "global",
            "head": "lstm", "val_fraction": 0.15, "test_fraction": 0.2, "refit": "auto"}
"""Training defaults for the user's own files, chosen on the whole classification benchmark
(docs/classification.md): training length by weight updates (``max_updates``, stopped
early after ``patience`` updates without a better validation score) rather than epochs;
``epochs`` given explicitly trains that many epochs instead. ``batch_size`` None: by
updates 16 below 1000 training sequences, else 32; by epochs 32. ``downsample`` "auto": average blocks of
``ceil(longest / max_steps)`` steps. ``normalize``: "global" (per-channel mean and
standard deviation of the training set) or "series" (each series per channel first).
``head``: "lstm" (the BiLSTM's mean over steps) or "lstm-fcn" (plus a convolutional block
beside it, :class:`lstmkit.models.recognizers.ConvBlock`)."""

FCN_FILTERS = (128, 256, 128)
"""The convolutional block of ``head="lstm-fcn"`` (Karim et al. 2017's filters)."""

ROUND_UPDATES = 20
"""Training by updates evaluates (and checkpoints) at most once per this many weight updates."""

REFIT_BELOW = 1000
"""``refit="auto"`` retrains on the whole training file when it has fewer sequences than this."""

EXAMPLE_DEFAULTS = {
    "japanese-vowels": {"epochs": 60},
    "watch": {"epochs": 100, "downsample": 5},
    "peptides": {"epochs": 20, "batch_size": 64},
}
"""Per-example overrides of :data:`DEFAULTS` (any explicit argument wins)."""


def downsample(seqs: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Average every ``k`` consecutive frames (the last block may be shorter).

    Example:
        >>> downsample([np.arange(5.).reshape(5, 1)], 2)[0][:, 0].tolist()
        [0.5, 2.5, 4.0]
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"downsample must be a positive int, got {k!r}")
    if k == 1:
        return [np.asarray(s, dtype=np.float32) for s in seqs]
    out = []
    for s in seqs:
        n = s.shape[0]
        m = -(-n // k)
        pad = np.zeros((m * k - n, s.shape[1]), dtype=np.float64)
        full = np.concatenate([s.astype(np.float64), pad]).reshape(m, k, s.shape[1]).sum(1)
        counts = np.full(m, k, dtype=np.float64)
        counts[-1] = n - (m - 1) * k
        out.append((full / counts[:, None]).astype(np.float32))
    return out


TIME_MODES = ("ignore", "feature", "tlstm")
"""What ``--time-mode`` does with a CSV's ``--time-column`` beyond sorting the steps:
``ignore`` (the steps in order, no more), ``feature`` (the elapsed time Δt before each step
as one more input channel of the LSTM) or ``tlstm`` (Δt discounts a time-aware LSTM's
short-term memory, :class:`lstmkit.TLSTM`). Δt is divided by the median positive Δt of the
training file (stored with the model), so a typical step is 1."""


def elapsed_times(times: list[np.ndarray], k: int = 1) -> list[np.ndarray]:
    """The elapsed time Δt before each step (0 before the first), after averaging blocks of
    ``k`` steps as :func:`downsample` does (a block's time is its steps' mean time).

    Example:
        >>> [d.tolist() for d in elapsed_times([np.array([0.0, 1.0, 5.0, 6.0])])]
        [[0.0, 1.0, 4.0, 1.0]]
        >>> [d.tolist() for d in elapsed_times([np.array([0.0, 1.0, 5.0, 6.0])], 2)]
        [[0.0, 5.0]]
    """
    out = []
    for t in times:
        t = np.asarray(t, dtype=np.float64)
        if k > 1:
            m = -(-len(t) // k)
            t = np.array([t[j * k:(j + 1) * k].mean() for j in range(m)])
        out.append(np.concatenate([[0.0], np.diff(t)]).astype(np.float32))
    return out


def _with_dt(X: list[np.ndarray], dts: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate([x, d[:, None].astype(np.float32)], axis=1) for x, d in zip(X, dts)]


def predict_proba(model, seqs: list, batch_size: int = 128, pad=None, progress: bool = False,
                  desc: str = "predict"):
    """Class probabilities (N, K) of already preprocessed sequences, batched by length
    (sequences of similar length together), returned in the input order. ``pad`` turns a
    list of sequences into ``(x, lengths)``: default :func:`lstmkit.train.supervised.pad_sequences`
    for (n, features) arrays; the text classifier passes its token-id padder. ``progress``:
    a bar over the batches (shown when there are more than 4 of them).

    Example:
        >>> import torch
        >>> from lstmkit.models import SequenceClassifier
        >>> m = SequenceClassifier(2, 3, hidden_size=4).eval()
        >>> p = predict_proba(m, [np.ones((5, 2), np.float32), np.ones((2, 2), np.float32)])
        >>> p.shape, bool(np.allclose(p.sum(1), 1))
        ((2, 3), True)
    """
    import torch

    if pad is None:
        from ..train.supervised import pad_sequences as pad

    order = np.argsort([len(s) for s in seqs], kind="stable")
    out = np.empty((len(seqs), model.config["num_classes"]), dtype=np.float64)
    was = model.training
    model.eval()
    from ..progress import progress_bar

    n_batches = -(-len(seqs) // batch_size)
    bar = progress_bar(n_batches, desc, "batch", enabled=progress and n_batches > 4, leave=False)
    with torch.no_grad():
        for k in range(0, len(seqs), batch_size):
            idx = order[k : k + batch_size]
            x, n = pad([seqs[i] for i in idx])
            out[idx] = torch.softmax(model(x, n).double(), -1).numpy()
            if bar:
                bar.update()
    if bar:
        bar.close()
    model.train(was)
    return out


def _labels_to_index(y, classes, source, what="label") -> np.ndarray:
    pos = {c: i for i, c in enumerate(classes)}
    missing = [v for v in y if v not in pos]
    if missing:
        raise ValueError(f"{source}: {what} {str(missing[0])!r} does not occur in the training data "
                         f"(classes: {', '.join(map(str, classes))}); remove those sequences or add training examples")
    return np.array([pos[v] for v in y], dtype=np.int64)


def series_normalize(seqs: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Z-normalise each sequence per channel (its own mean and standard deviation), as the
    UCR archive's series are; a constant channel becomes zeros.

    Example:
        >>> series_normalize([np.array([[1.], [3.]])])[0][:, 0].tolist()
        [-1.0, 1.0]
    """
    out = []
    for s in seqs:
        s64 = np.asarray(s, dtype=np.float64)
        sd = s64.std(0)
        out.append(((s64 - s64.mean(0)) / np.where(sd > eps, sd, 1.0)).astype(np.float32))
    return out


def auto_downsample(lengths, max_steps: int) -> int:
    """The block size of ``downsample="auto"``: ``ceil(longest / max_steps)`` (1 when the
    longest sequence has at most ``max_steps`` steps).

    Example:
        >>> auto_downsample([1460, 1460], 512), auto_downsample([29], 512)
        (3, 1)
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
    return max(1, -(-int(max(lengths)) // max_steps))


class _StopEarly(Exception):
    """Raised by the validation hook to end a training whose score stopped improving."""


def _baseline_scores(names, Xfit, yfit, Xval, yval, Xall, yall, Xte, yte, K, seed) -> dict:
    """The field's baselines for the report: fitted on the fit part and scored on the
    validation part, then fitted on the whole training set and scored on the test set."""
    from ..models.baselines import tsc_baseline

    out = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            pv = tsc_baseline(name, Xfit, yfit, Xval, seed=seed)
            pt = tsc_baseline(name, Xall, yall, Xte, seed=seed)
        except (ImportError, ValueError, RuntimeError) as e:
            out[name] = {"error": " ".join(str(e).split())[:200]}
            continue
        out[name] = {"validation_accuracy": accuracy(yval, pv), "validation_balanced_accuracy": balanced_accuracy(yval, pv, K),
                     "accuracy": accuracy(yte, pt), "balanced_accuracy": balanced_accuracy(yte, pt, K),
                     "seconds": time.perf_counter() - t0}
    return out


def train_classifier(
    train,
    test=None,
    *,
    model_dir: str | os.PathLike | None,
    epochs: int | None = None,
    max_updates: int | None = None,
    patience: int | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    variant: str = "vanilla",
    seed: int = 0,
    class_weights: str = "balanced",
    downsample_by: int | str | None = None,
    normalize: str | None = None,
    head: str | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    refit: str | None = None,
    compare=None,
    example: str | None = None,
    read_options: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    time_mode: str = "ignore",
) -> dict:
    """Train a BiLSTM classifier (with a convolutional block beside it by default) on
    ``train``, report on ``test`` beside the field's baselines.

    Args:
        train: a :class:`lstmkit.data.sequences.LabelledSequences` with labels.
        test: the test sequences (labelled); ``None``: a stratified ``test_fraction`` of
            ``train`` is held out (seeded).
        model_dir: where the model directory goes (config.json, model.safetensors,
            report.json, confusion.png); ``None``: nowhere. Per-epoch checkpoints go to
            ``<model_dir>.checkpoints`` while training (``resume`` continues from them);
            once the model is saved only lstmkit's checkpoint files are removed (an
            interrupted run keeps them). The model directory is held for the whole run:
            a second training into it refuses at once.
        epochs: train exactly this many epochs (the best on validation kept); ``None``
            (default): train for ``max_updates`` weight updates, stopped early after
            ``patience`` updates without a better validation score.
        class_weights: ``"balanced"`` (cross entropy weighted by ``n / (K n_k)``) or ``"none"``.
        refit: ``"yes"``: after the validation split has picked the training length, train
            a fresh model (same seed) on the whole training file for that many weight
            updates; ``"no"``: keep the best model trained without the validation part;
            ``"auto"`` (default): yes below :data:`REFIT_BELOW` training sequences, where the
            held-out sixth matters and the second run is cheap.
        downsample_by: average this many consecutive frames first (``"auto"``: see :data:`DEFAULTS`).
        normalize: ``"global"`` or ``"series"`` (see :data:`DEFAULTS`).
        head: ``"lstm"`` or ``"lstm-fcn"`` (see :data:`DEFAULTS`).
        compare: the baselines of :data:`lstmkit.models.baselines.TSC_BASELINES` to run for
            the report, on validation and test (``None``: all of them when aeon is
            installed; ``()``: none).
        example: name of a shipped example whose :data:`EXAMPLE_DEFAULTS` apply.
        read_options: how the file was read (format, csv columns); stored for ``predict``.
        time_mode: what the CSV's time column does besides ordering the steps (see
            :data:`TIME_MODES`): ``"ignore"``, ``"feature"`` (Δt as an input channel) or
            ``"tlstm"`` (a bidirectional :class:`lstmkit.TLSTM` fed Δt).
        Other arguments default to :data:`DEFAULTS`.

    Returns:
        the report dict (also saved as report.json).
    """
    import torch
    import torch.nn.functional as F

    from ..data.sequences import check_label_counts, sort_labels, stratified_split
    from ..models import SequenceClassifier, save_model
    from ..models.baselines import TSC_BASELINES
    from ..models.io import check_model_dir_target
    from ..train.supervised import fit_supervised, pad_sequences
    from ..families import get_family

    variants = get_family("lstm").variants  # the registry's LSTM variants
    from ..viz.confusion import confusion_matrix_png
    from .common import fit_standardizer, standardize
    from .runfiles import model_dir_scope, run_dir_scope

    cfg = dict(DEFAULTS)
    cfg.update(EXAMPLE_DEFAULTS.get(example, {}))
    for k, v in (("epochs", epochs), ("max_updates", max_updates), ("patience", patience),
                 ("hidden_size", hidden_size), ("num_layers", num_layers), ("lr", lr),
                 ("batch_size", batch_size), ("downsample", downsample_by), ("val_fraction", val_fraction),
                 ("test_fraction", test_fraction), ("refit", refit), ("normalize", normalize), ("head", head)):
        if v is not None:
            cfg[k] = v
    if time_mode not in TIME_MODES:
        raise ValueError(f"--time-mode must be one of {', '.join(TIME_MODES)}, got {time_mode!r}")
    if time_mode == "tlstm" and cfg["head"] != "lstm":
        raise ValueError("--time-mode tlstm goes with --head lstm (the convolutional block has no elapsed times)")
    if variant not in variants:
        raise ValueError(f"--variant {variant!r} is not an LSTM preset; choose one of {', '.join(sorted(variants))}")
    if cfg["refit"] not in ("auto", "yes", "no"):
        raise ValueError(f"--refit must be auto, yes or no, got {cfg['refit']!r}")
    if class_weights not in ("balanced", "none"):
        raise ValueError(f"--class-weights must be 'balanced' or 'none', got {class_weights!r}")
    if cfg["normalize"] not in ("global", "series"):
        raise ValueError(f"--normalize must be 'global' or 'series', got {cfg['normalize']!r}")
    if cfg["head"] not in ("lstm", "lstm-fcn"):
        raise ValueError(f"--head must be 'lstm' or 'lstm-fcn', got {cfg['head']!r}")
    for k in ("epochs", "max_updates", "patience", "hidden_size", "num_layers", "batch_size"):
        if cfg[k] is not None and (isinstance(cfg[k], bool) or not isinstance(cfg[k], int) or cfg[k] < 1):
            raise ValueError(f"--{k.replace('_size', '').replace('_', '-')} must be >= 1, got {cfg[k]}")
    if cfg["downsample"] != "auto" and (isinstance(cfg["downsample"], bool) or not isinstance(cfg["downsample"], int)
                                        or cfg["downsample"] < 1):
        raise ValueError(f"--downsample must be 'auto' or an int >= 1, got {cfg['downsample']!r}")
    if compare is None:
        import importlib.util

        compare = TSC_BASELINES if importlib.util.find_spec("aeon") is not None else ()
    compare = tuple(compare)
    if any(c not in TSC_BASELINES for c in compare):
        raise ValueError(f"compare must hold names of {', '.join(TSC_BASELINES)}, got {', '.join(compare)}")
    model_dir = Path(model_dir) if model_dir is not None else None
    if model_dir is not None:
        check_model_dir_target(model_dir)
    check_label_counts(train.y, train.source)
    split_note = test.info.get("split") if test is not None else None
    if test is None:
        keep, held = stratified_split(train.y, cfg["test_fraction"], seed)
        train, test = train.subset(keep), train.subset(held)
        split_note = f"held-out stratified {cfg['test_fraction']:.0%} of {train.source} (seed {seed})"
    elif test.y is None:
        raise ValueError(f"{test.source}: the test file has no labels; give a labelled test file "
                         f"(or use classify predict for unlabelled data)")
    if test.n_channels != train.n_channels:
        raise ValueError(f"{test.source}: {test.n_channels} channels but the training file {train.source} has "
                         f"{train.n_channels}; the test file needs the same channels")
    classes = sort_labels(set(train.y))
    y_train = _labels_to_index(train.y, classes, train.source)
    y_test = _labels_to_index(test.y, classes, test.source, "test label")
    fit_idx, val_idx = stratified_split(train.y, cfg["val_fraction"], seed + 1)
    if len(val_idx) == 0:
        raise ValueError(f"{train.source}: too few sequences for a validation split; add examples")

    k = auto_downsample(train.lengths, cfg["max_steps"]) if cfg["downsample"] == "auto" else cfg["downsample"]
    Xtr, Xte = downsample(train.X, k), downsample(test.X, k)
    if cfg["normalize"] == "series":
        Xtr, Xte = series_normalize(Xtr), series_normalize(Xte)
    time_cfg = None
    if time_mode != "ignore":
        for part in (train, test):
            if part.times is None:
                raise ValueError(f"{part.source}: --time-mode {time_mode} needs the steps' times: a CSV with a "
                                 f"time column (--time-column NAME)")
        dtr, dte = elapsed_times(train.times, k), elapsed_times(test.times, k)
        gaps = np.concatenate([d[1:] for d in dtr] + [np.zeros(0, np.float32)])
        gaps = gaps[gaps > 0]
        scale = float(np.median(gaps)) if len(gaps) else 1.0
        dtr, dte = [d / scale for d in dtr], [d / scale for d in dte]
        time_cfg = {"mode": time_mode, "scale": scale, "column": train.info.get("time_column")}
        if time_mode == "feature":  # one more channel, standardised with the others
            Xtr, Xte = _with_dt(Xtr, dtr), _with_dt(Xte, dte)
    norm = fit_standardizer(Xtr, eps=1e-6)
    Xtr, Xte = standardize(Xtr, norm), standardize(Xte, norm)
    if time_mode == "tlstm":  # the T-LSTM's Δt rides last, not standardised (g needs Δt >= 0)
        Xtr, Xte = _with_dt(Xtr, dtr), _with_dt(Xte, dte)
    n_in = train.n_channels + (1 if time_mode == "feature" else 0)
    K = len(classes)
    refit = {"yes": True, "no": False}.get(cfg["refit"], len(train) < REFIT_BELOW)
    labels = torch.as_tensor(y_train)
    by_updates = cfg["epochs"] is None
    # by updates: batches of 16 below REFIT_BELOW sequences (more updates per pass on a small set);
    # by epochs (the examples, --epochs): 32, as before
    bs = cfg["batch_size"] or (16 if by_updates and len(train) < REFIT_BELOW else 32)
    # by updates, one round (an evaluation, a checkpoint) is at least ROUND_UPDATES updates: on a
    # set of 20 sequences an epoch is one update, and 1000 evaluations and checkpoints would
    # cost more than the training; a round then holds every sequence r times, shuffled.
    def repeats(n):
        return max(1, -(-ROUND_UPDATES * bs // n)) if by_updates else 1

    r_fit = repeats(len(fit_idx))
    per_epoch_fit = -(-len(fit_idx) * r_fit // bs)
    if by_updates:
        n_epochs = max(1, -(-cfg["max_updates"] // per_epoch_fit))
    else:
        n_epochs = cfg["epochs"]
    conv = list(FCN_FILTERS) if cfg["head"] == "lstm-fcn" else None

    def new_model():
        torch.manual_seed(seed)
        if time_mode == "tlstm":
            from ..models.time_aware import TimeAwareClassifier

            return TimeAwareClassifier(train.n_channels, K, hidden_size=cfg["hidden_size"],
                                       num_layers=cfg["num_layers"], bidirectional=True,
                                       dropout=cfg["dropout"] if cfg["num_layers"] > 1 else 0.0)
        return SequenceClassifier(n_in, K, hidden_size=cfg["hidden_size"],
                                  num_layers=cfg["num_layers"], variant=variant, bidirectional=True,
                                  dropout=cfg["dropout"] if cfg["num_layers"] > 1 else 0.0, pooling="mean",
                                  conv_filters=conv)

    def make_loss(part):
        counts = np.bincount(y_train[part], minlength=K)
        w = torch.as_tensor(len(part) / (K * np.maximum(counts, 1)) if class_weights == "balanced" else np.ones(K),
                            dtype=torch.float32)

        def loss_fn(m, idx):
            ids = part[np.asarray(idx) % len(part)]
            x, n = pad_sequences([Xtr[i] for i in ids])
            return F.cross_entropy(m(x, n), labels[ids], weight=w)
        return loss_fn

    val_x, val_y = [Xtr[i] for i in val_idx], y_train[val_idx]
    raw_scores: list[float] = []
    val_loss: list[float] = []
    track = {"best": -np.inf, "epoch": 0, "state": None, "stopped": False}

    def evaluate(m):
        # A validation set of a few dozen sequences moves by one sequence from epoch to epoch; the
        # balanced accuracy averaged over the last 5 epochs picks a stable epoch (ties: the later;
        # then the lower validation cross entropy, a hair's weight).
        p = predict_proba(m, val_x)
        raw_scores.append(balanced_accuracy(val_y, p.argmax(1), K))
        val_loss.append(float(-np.mean(np.log(np.clip(p[np.arange(len(val_y)), val_y], 1e-12, 1.0)))))
        score = float(np.mean(raw_scores[-5:]) - 1e-4 * min(np.mean(val_loss[-5:]), 10.0))
        epoch = len(raw_scores)
        if score >= track["best"]:
            track.update(best=score, epoch=epoch, state={k_: v.detach().clone() for k_, v in m.state_dict().items()})
        elif by_updates and (epoch - track["epoch"]) * per_epoch_fit >= cfg["patience"]:
            track["stopped"] = True
            raise _StopEarly
        return score

    run_dir = model_dir.with_name(model_dir.name + ".checkpoints") if model_dir is not None else None
    # the model directory is held for the whole run; the checkpoint folder is claimed before
    # training and loses only lstmkit's checkpoints once the model is written
    with model_dir_scope(model_dir), run_dir_scope(run_dir, ["select", "refit"], what="checkpoint folder") as run_dir:
        desc = f"classify {example or Path(train.source).name}"
        t0 = time.perf_counter()
        model = new_model()
        try:
            fit = fit_supervised(model, make_loss(fit_idx), len(fit_idx) * r_fit, epochs=n_epochs,
                                 batch_size=bs, lr=cfg["lr"], seed=seed, evaluate=evaluate,
                                 run_dir=run_dir / "select" if run_dir else None, resume=resume, progress=progress,
                                 desc=desc + (" (pick the length)" if refit else ""))
            history = fit["history"]
            best_epoch, best_score = fit["best_epoch"], fit["best_score"]  # the model holds that epoch
        except _StopEarly:
            history = [{"epoch": e + 1, "score": sc} for e, sc in enumerate(raw_scores)]
            model.load_state_dict(track["state"])
            best_epoch, best_score = track["epoch"], track["best"]
        model.eval()
        fit_summary = {"best_epoch": best_epoch, "best_validation_score": best_score,
                       "updates": best_epoch * per_epoch_fit, "updates_per_round": per_epoch_fit, "epochs_run": len(raw_scores) or n_epochs,
                       "stopped_early": track["stopped"], "batch_size": bs,
                       "validation_balanced_accuracy": raw_scores, "validation_loss": val_loss,
                       "history": history, "refit": None}
        val_pred = predict_proba(model, val_x).argmax(1)
        fit_summary["validation_accuracy"] = accuracy(val_y, val_pred)
        fit_summary["validation_balanced_accuracy_best"] = balanced_accuracy(val_y, val_pred, K)
        if refit:
            all_idx = np.arange(len(train))
            r_all = repeats(len(all_idx))
            per_epoch_all = -(-len(all_idx) * r_all // bs)
            # the same number of weight updates (by_updates) or of epochs as picked on validation
            re_epochs = max(1, round(best_epoch * per_epoch_fit / per_epoch_all)) if by_updates else best_epoch
            model = new_model()
            re = fit_supervised(model, make_loss(all_idx), len(all_idx) * r_all, epochs=re_epochs,
                                batch_size=bs, lr=cfg["lr"], seed=seed,
                                run_dir=run_dir / "refit" if run_dir else None, resume=resume, progress=progress,
                                desc=desc + " (refit on all)")
            fit_summary["refit"] = {"epochs": re_epochs, "updates": re_epochs * per_epoch_all,
                                    "n_train": len(all_idx), "history": re["history"]}
        train_seconds = time.perf_counter() - t0
        proba = predict_proba(model, Xte, progress=progress, desc=desc + " (test set)")
        pred = proba.argmax(1)
        report = classification_report(y_test, pred, classes)
        majority = majority_class(y_train, K)
        knn = nearest_neighbour_baseline(Xtr, y_train, Xte)
        baselines = {
            "majority_class": {"class": classes[majority],
                               "accuracy": accuracy(y_test, np.full_like(y_test, majority))},
            "nearest_neighbour_summary": {"accuracy": accuracy(y_test, knn),
                                          "balanced_accuracy": balanced_accuracy(y_test, knn, K),
                                          "what": "1-NN, Euclidean, on per-channel mean/std/min/max/first/last"}}
        if compare:
            # the field's baselines on the raw series (before downsampling and normalisation)
            raw_tr = [np.asarray(x, np.float32) for x in train.X]
            raw_te = [np.asarray(x, np.float32) for x in test.X]
            baselines.update(_baseline_scores(compare, [raw_tr[i] for i in fit_idx], y_train[fit_idx],
                                              [raw_tr[i] for i in val_idx], val_y, raw_tr, y_train, raw_te, y_test,
                                              K, seed))
        result = {
            "task": "sequence classification",
            "data": {"train": train.source, "test": test.source, "example": example, "split": split_note,
                     "classes": classes, "channels": train.channels, "n_train": int(len(fit_idx)),
                     "n_val": int(len(val_idx)), "n_test": len(test),
                     "train_lengths": [int(train.lengths.min()), int(train.lengths.max())],
                     "train_class_counts": {c: int(n) for c, n in zip(classes, np.bincount(y_train, minlength=K))}},
            "config": {**model.config, "epochs": cfg["epochs"], "max_updates": cfg["max_updates"] if by_updates else None,
                       "patience": cfg["patience"] if by_updates else None, "lr": cfg["lr"], "batch_size": bs,
                       "downsample": k, "normalize": cfg["normalize"], "head": cfg["head"],
                       "val_fraction": cfg["val_fraction"], "class_weights": class_weights, "refit": refit,
                       "seed": seed, "threads": torch.get_num_threads(), "time": time_cfg,
                       "variant": model.config.get("variant", "tlstm")},
            "test": report,
            "baselines": baselines,
            "fit": fit_summary,
            "train_seconds": train_seconds,
        }
        result["verdict"] = verdict(result)
        if model_dir is not None:
            title = f"{example or Path(train.source).name}: test accuracy {report['accuracy']:.1%}"
            png = confusion_matrix_png(np.array(report["confusion_matrix"]), classes, title)
            channels = train.channels + ([f"dt({time_cfg['column']})"] if time_mode == "feature" else [])
            extra = {"classes": classes, "norm": norm, "downsample": k, "channels": channels,
                     "read_options": read_options or {}, "example": example}
            if cfg["normalize"] != "global":
                extra["normalize"] = cfg["normalize"]
            if time_cfg is not None:
                extra["time"] = time_cfg
            save_model(model, model_dir, extra=extra,
                       files={"report.json": json.dumps(result, indent=2), "confusion.png": png})
            result["model_dir"] = str(model_dir)
        return result


def verdict(r: dict) -> list[str]:
    """Plain sentences on how the LSTM did against each of the field's baselines in a
    :func:`train_classifier` report, on validation and on test; says so when a baseline wins.

    Example:
        >>> r = {"test": {"accuracy": 0.8}, "fit": {"validation_accuracy": 0.9},
        ...      "baselines": {"1nn-dtw": {"accuracy": 0.85, "validation_accuracy": 0.7}}}
        >>> verdict(r)[0]
        '1nn-dtw beats the LSTM on the test set: 85.00% vs 80.00% (validation: LSTM 90.00%, 1nn-dtw 70.00%)'
    """
    out = []
    ours, ours_val = r["test"]["accuracy"], r["fit"].get("validation_accuracy")
    for name, b in r.get("baselines", {}).items():
        if "validation_accuracy" not in b:
            continue
        val = f" (validation: LSTM {ours_val:.2%}, {name} {b['validation_accuracy']:.2%})" if ours_val is not None else ""
        if b["accuracy"] > ours + 1e-12:
            out.append(f"{name} beats the LSTM on the test set: {b['accuracy']:.2%} vs {ours:.2%}{val}")
        elif b["accuracy"] < ours - 1e-12:
            out.append(f"the LSTM beats {name} on the test set: {ours:.2%} vs {b['accuracy']:.2%}{val}")
        else:
            out.append(f"the LSTM ties {name} on the test set: {ours:.2%}{val}")
    return out


def format_train_report(r: dict) -> str:
    """The one-screen summary printed by ``lstmkit classify train``."""
    d, c, t, b = r["data"], r["config"], r["test"], r["baselines"]
    lines = [
        f"{d['example'] or d['train']}: {len(d['classes'])} classes, {len(d['channels'])} channels, "
        f"lengths {d['train_lengths'][0]}-{d['train_lengths'][1]}"
        + (f" (averaged in blocks of {c['downsample']} steps)" if c["downsample"] > 1 else ""),
        f"split: {d['split']}; {d['n_train']} train, {d['n_val']} validation, {d['n_test']} test",
        (f"model: BiT-LSTM {c['num_layers']}x{c['hidden_size']} fed the elapsed times of column "
         f"{c['time']['column']!r}, mean over steps" if (c.get("time") or {}).get("mode") == "tlstm" else
         f"model: BiLSTM ({c['variant']}) {c['num_layers']}x{c['hidden_size']}, mean over steps"
         + (f", the elapsed times of column {c['time']['column']!r} as an input channel"
            if (c.get("time") or {}).get("mode") == "feature" else ""))
        + (" + convolutional block (LSTM-FCN)" if c.get("head") == "lstm-fcn" else "") + "; "
        + (f"{c['epochs']} epochs, best {r['fit']['best_epoch']} on validation" if c.get("epochs") else
           f"up to {c['max_updates']} updates of {c['batch_size']}, best after {r['fit']['updates']} on validation"
           + (" (stopped early)" if r["fit"].get("stopped_early") else ""))
        + (f", then refit on all {r['fit']['refit']['n_train']} training sequences" if r["fit"]["refit"] else "")
        + f"; class weights {c['class_weights']}; seed {c['seed']}; {r['train_seconds']:.0f} s on "
        f"{c['threads']} thread(s)",
        "",
        format_report(t),
        "",
        f"test accuracy   LSTM {t['accuracy']:.2%}   1-NN on summary stats "
        f"{b['nearest_neighbour_summary']['accuracy']:.2%}   majority class {b['majority_class']['accuracy']:.2%}",
    ]
    field = [(n, v) for n, v in b.items() if "validation_accuracy" in v]
    if field:
        va = r["fit"].get("validation_accuracy")
        lines += ["", "against the field's baselines (aeon; raw series; validation: fitted without the validation "
                      "part; test: fitted on the whole training set):",
                  f"  {'':14} {'validation':>10} {'test':>8}",
                  f"  {'LSTM':14} {va:>10.2%} {t['accuracy']:>8.2%}" if va is not None else f"  LSTM test {t['accuracy']:.2%}"]
        lines += [f"  {n:14} {v['validation_accuracy']:>10.2%} {v['accuracy']:>8.2%}" for n, v in field]
        lines += [f"  {n:14} failed: {v['error']}" for n, v in b.items() if "error" in v]
        lines += ["  " + v for v in r.get("verdict", [])]
        winners = [n for n, v in field if v["accuracy"] > t["accuracy"] + 1e-12]
        if winners:
            lines.append(f"  NOTE: on this test set {', '.join(winners)} did better than the LSTM; consider using it")
    if r.get("model_dir"):
        lines.append(f"model, report.json and confusion.png in {r['model_dir']}")
    return "\n".join(lines)


def load_classifier(model_dir: str | os.PathLike):
    """The :class:`~lstmkit.models.SequenceClassifier` of a model directory written by
    :func:`train_classifier` and its ``extra`` state, checked (:func:`check_classifier_extra`)."""
    from ..models import SequenceClassifier, load_model
    from ..models.io import read_model_config
    from ..models.time_aware import TimeAwareClassifier

    cls = TimeAwareClassifier if read_model_config(model_dir)["class"] == "TimeAwareClassifier" else SequenceClassifier
    model, extra = load_model(cls, model_dir)
    check_classifier_extra(extra, model.config, Path(model_dir) / "config.json")
    return model, extra


def _str_list(v, n: int | None = None) -> bool:
    return (isinstance(v, list) and all(isinstance(x, str) for x in v) and len(set(v)) == len(v)
            and (n is None or len(v) == n))


def _num_list(v, n: int, positive: bool = False) -> bool:
    return (isinstance(v, list) and len(v) == n and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        and (x > 0 or not positive) for x in v))


def check_classifier_extra(extra: dict, config: dict, where) -> None:
    """Validate the app-level part of a sequence classifier's config.json (``extra``:
    classes, standardisation, downsampling) against the model's constructor ``config``;
    one :class:`~lstmkit.io.LstmkitFileError` line naming ``where`` and the field.

    Example:
        >>> cfg = {"num_classes": 2, "input_size": 1}
        >>> try:
        ...     check_classifier_extra({"classes": ["a", "b", "c"], "norm": {"mean": [0], "std": [1]}},
        ...                            cfg, "m/config.json")
        ... except ValueError as e:
        ...     print(e)
        m/config.json: extra.classes must be 2 different class names (the model has 2 outputs), not list
    """
    from ..io import check_fields
    from .runfiles import check_finite

    where = str(where)
    check_finite(extra, where, "extra")
    K, C = config.get("num_classes"), config.get("input_size")
    check_fields({f"extra.{k}": v for k, v in extra.items()}, {
        "extra.classes": (list, lambda v: _str_list(v, K), f"{K} different class names (the model has {K} outputs)"),
        "extra.norm": (dict, None, "a table with mean and std"),
        "extra.downsample": ((int, type(None)), lambda v: v is None or v >= 1, "a whole number >= 1"),
        "extra.channels": ((list, type(None)), lambda v: v is None or (
            len(v) == C and all(isinstance(c, str) for c in v)), f"{C} channel names"),
        "extra.read_options": ((dict, type(None)), None, "a table"),
        "extra.normalize": ((str, type(None)), lambda v: v in ("global", "series"), "'global' or 'series'"),
        "extra.time": ((dict, type(None)), lambda v: v.get("mode") in TIME_MODES[1:] and isinstance(
            v.get("scale"), (int, float)) and v["scale"] > 0, "a table with mode (feature or tlstm) and a positive scale"),
    }, where)
    norm = extra["norm"]
    check_fields({f"extra.norm.{k}": v for k, v in norm.items()}, {
        "extra.norm.mean": (list, lambda v: _num_list(v, C), f"{C} numbers (one per channel)"),
        "extra.norm.std": (list, lambda v: _num_list(v, C, positive=True), f"{C} positive numbers (one per channel)"),
    }, where)


def predict_file(model_dir: str | os.PathLike, path: str | os.PathLike, out: str | os.PathLike | None = None,
                 format: str | None = None, overwrite: bool = False, **read_options) -> dict:
    """Classify every sequence of a .ts/.npz/.csv file with a model from :func:`train_classifier`.

    The file is read like the training file (the CSV column names stored in the model are
    used unless given); its labels, if any, are scored. Writes ``out`` (CSV: id,
    predicted, one probability column per class, and ``label`` when the file has labels)
    atomically. An existing ``out`` is replaced only with ``overwrite``; a file of an
    lstmkit directory never (checked before any work).

    Returns:
        ``{"n", "out", "accuracy" (None without labels), "report", "predictions"}``.
    """
    from ..data.sequences import read_sequences
    from ..io import atomic_write_text
    from .common import standardize
    from .runfiles import check_output_file

    if out is not None:
        check_output_file(out, overwrite)
    model_dir = Path(model_dir)
    model, extra = load_classifier(model_dir)
    saved = dict(extra.get("read_options") or {})
    fmt = format or None
    opts = {k: saved.get(k) for k in ("id_column", "time_column", "label_column", "channels") if saved.get(k)}
    opts.update({k: v for k, v in read_options.items() if v is not None})
    path = Path(path)
    if (fmt or path.suffix.lower().lstrip(".")) != "csv":
        opts = {}
    data = read_sequences(path, fmt, **opts)
    time_cfg = extra.get("time")
    C = model.config["input_size"] - (1 if time_cfg and time_cfg["mode"] == "feature" else 0)
    if data.n_channels != C:
        raise ValueError(f"{path}: {data.n_channels} channels but the model in {model_dir} was trained on {C} "
                         f"({', '.join(extra.get('channels', []))}); give a file with the same channels")
    classes = extra["classes"]
    X = downsample(data.X, int(extra.get("downsample", 1)))
    if extra.get("normalize") == "series":
        X = series_normalize(X)
    if time_cfg:
        if data.times is None:
            raise ValueError(f"{path}: the model in {model_dir} reads the elapsed times of column "
                             f"{time_cfg.get('column')!r}; give a CSV with that time column")
        dts = [d / time_cfg["scale"] for d in elapsed_times(data.times, int(extra.get("downsample", 1)))]
        if time_cfg["mode"] == "feature":
            X = _with_dt(X, dts)
    X = standardize(X, extra["norm"])
    if time_cfg and time_cfg["mode"] == "tlstm":
        X = _with_dt(X, dts)
    proba = predict_proba(model, X)
    pred = proba.argmax(1)
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "predicted"] + [f"p_{c}" for c in classes] + (["label"] if data.y is not None else []))
    for i in range(len(data)):
        w.writerow([data.ids[i], classes[pred[i]]] + [f"{p:.6f}" for p in proba[i]]
                   + ([data.y[i]] if data.y is not None else []))
    if out is not None:
        atomic_write_text(out, buf.getvalue())
    result = {"n": len(data), "out": str(out) if out is not None else None, "accuracy": None, "report": None,
              "predictions": [classes[p] for p in pred], "ids": data.ids}
    if data.y is not None:
        known = {c: i for i, c in enumerate(classes)}
        truth = np.array([known.get(v, -1) for v in data.y])
        result["accuracy"] = accuracy(truth, pred) if len(truth) else None
        result["unknown_labels"] = sorted({v for v in data.y if v not in known})
        ok = truth >= 0
        if ok.any():
            result["report"] = classification_report(truth[ok], pred[ok], classes)
    return result
