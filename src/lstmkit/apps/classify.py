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
           "DEFAULTS"]


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

DEFAULTS = {"epochs": 40, "hidden_size": 64, "num_layers": 2, "lr": 3e-3, "batch_size": 32, "dropout": 0.2,
            "downsample": 1, "val_fraction": 0.15, "test_fraction": 0.2, "refit": "auto"}
"""Training defaults for the user's own files."""

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


def train_classifier(
    train,
    test=None,
    *,
    model_dir: str | os.PathLike | None,
    epochs: int | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    variant: str = "vanilla",
    seed: int = 0,
    class_weights: str = "balanced",
    downsample_by: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    refit: str | None = None,
    example: str | None = None,
    read_options: dict | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train a BiLSTM classifier on ``train`` and report on ``test``.

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
        class_weights: ``"balanced"`` (cross entropy weighted by ``n / (K n_k)``) or ``"none"``.
        refit: ``"yes"``: after the validation split has picked the number of epochs, train
            a fresh model (same seed) on the whole training file for that many epochs;
            ``"no"``: keep the best-epoch model trained without the validation part;
            ``"auto"`` (default): yes below :data:`REFIT_BELOW` training sequences, where the
            held-out sixth matters and the second run is cheap.
        downsample_by: average this many consecutive frames first.
        example: name of a shipped example whose :data:`EXAMPLE_DEFAULTS` apply.
        read_options: how the file was read (format, csv columns); stored for ``predict``.
        Other arguments default to :data:`DEFAULTS`.

    Returns:
        the report dict (also saved as report.json).
    """
    import torch
    import torch.nn.functional as F

    from ..data.sequences import check_label_counts, sort_labels, stratified_split
    from ..models import SequenceClassifier, save_model
    from ..models.io import check_model_dir_target
    from ..train.supervised import fit_supervised, pad_sequences
    from ..families import get_family

    variants = get_family("lstm").variants  # the registry's LSTM variants
    from ..viz.confusion import confusion_matrix_png
    from .common import fit_standardizer, standardize
    from .runfiles import model_dir_scope, run_dir_scope

    cfg = dict(DEFAULTS)
    cfg.update(EXAMPLE_DEFAULTS.get(example, {}))
    for k, v in (("epochs", epochs), ("hidden_size", hidden_size), ("num_layers", num_layers), ("lr", lr),
                 ("batch_size", batch_size), ("downsample", downsample_by), ("val_fraction", val_fraction),
                 ("test_fraction", test_fraction), ("refit", refit)):
        if v is not None:
            cfg[k] = v
    if variant not in variants:
        raise ValueError(f"--variant {variant!r} is not an LSTM preset; choose one of {', '.join(sorted(variants))}")
    if cfg["refit"] not in ("auto", "yes", "no"):
        raise ValueError(f"--refit must be auto, yes or no, got {cfg['refit']!r}")
    if class_weights not in ("balanced", "none"):
        raise ValueError(f"--class-weights must be 'balanced' or 'none', got {class_weights!r}")
    for k in ("epochs", "hidden_size", "num_layers", "batch_size"):
        if cfg[k] < 1:
            raise ValueError(f"--{k.replace('_size', '').replace('_', '-')} must be >= 1, got {cfg[k]}")
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

    k = cfg["downsample"]
    Xtr, Xte = downsample(train.X, k), downsample(test.X, k)
    norm = fit_standardizer(Xtr, eps=1e-6)
    Xtr, Xte = standardize(Xtr, norm), standardize(Xte, norm)
    K = len(classes)
    refit = {"yes": True, "no": False}.get(cfg["refit"], len(train) < REFIT_BELOW)
    labels = torch.as_tensor(y_train)

    def new_model():
        torch.manual_seed(seed)
        return SequenceClassifier(train.n_channels, K, hidden_size=cfg["hidden_size"],
                                  num_layers=cfg["num_layers"], variant=variant, bidirectional=True,
                                  dropout=cfg["dropout"] if cfg["num_layers"] > 1 else 0.0, pooling="mean")

    def make_loss(part):
        counts = np.bincount(y_train[part], minlength=K)
        w = torch.as_tensor(len(part) / (K * np.maximum(counts, 1)) if class_weights == "balanced" else np.ones(K),
                            dtype=torch.float32)

        def loss_fn(m, idx):
            ids = part[idx]
            x, n = pad_sequences([Xtr[i] for i in ids])
            return F.cross_entropy(m(x, n), labels[ids], weight=w)
        return loss_fn

    val_x, val_y = [Xtr[i] for i in val_idx], y_train[val_idx]
    raw_scores: list[float] = []

    def evaluate(m):
        # A validation set of a few dozen sequences moves by one sequence from epoch to epoch; the
        # balanced accuracy averaged over the last 5 epochs picks a stable epoch (ties: the later).
        p = predict_proba(m, val_x)
        raw_scores.append(balanced_accuracy(val_y, p.argmax(1), K))
        return float(np.mean(raw_scores[-5:]))

    run_dir = model_dir.with_name(model_dir.name + ".checkpoints") if model_dir is not None else None
    # the model directory is held for the whole run; the checkpoint folder is claimed before
    # training and loses only lstmkit's checkpoints once the model is written
    with model_dir_scope(model_dir), run_dir_scope(run_dir, ["select", "refit"], what="checkpoint folder") as run_dir:
        desc = f"classify {example or Path(train.source).name}"
        t0 = time.perf_counter()
        model = new_model()
        fit = fit_supervised(model, make_loss(fit_idx), len(fit_idx), epochs=cfg["epochs"],
                             batch_size=cfg["batch_size"], lr=cfg["lr"], seed=seed, evaluate=evaluate,
                             run_dir=run_dir / "select" if run_dir else None, resume=resume, progress=progress,
                             desc=desc + (" (pick epochs)" if refit else ""))
        fit_summary = {"best_epoch": fit["best_epoch"], "best_validation_score": fit["best_score"],
                       "validation_balanced_accuracy": raw_scores, "history": fit["history"], "refit": None}
        if refit:
            all_idx = np.arange(len(train))
            model = new_model()
            re = fit_supervised(model, make_loss(all_idx), len(all_idx), epochs=fit["best_epoch"],
                                batch_size=cfg["batch_size"], lr=cfg["lr"], seed=seed,
                                run_dir=run_dir / "refit" if run_dir else None, resume=resume, progress=progress,
                                desc=desc + " (refit on all)")
            fit_summary["refit"] = {"epochs": fit["best_epoch"], "n_train": len(all_idx), "history": re["history"]}
        train_seconds = time.perf_counter() - t0
        proba = predict_proba(model, Xte, progress=progress, desc=desc + " (test set)")
        pred = proba.argmax(1)
        report = classification_report(y_test, pred, classes)
        majority = majority_class(y_train, K)
        knn = nearest_neighbour_baseline(Xtr, y_train, Xte)
        result = {
            "task": "sequence classification",
            "data": {"train": train.source, "test": test.source, "example": example, "split": split_note,
                     "classes": classes, "channels": train.channels, "n_train": int(len(fit_idx)),
                     "n_val": int(len(val_idx)), "n_test": len(test),
                     "train_lengths": [int(train.lengths.min()), int(train.lengths.max())],
                     "train_class_counts": {c: int(n) for c, n in zip(classes, np.bincount(y_train, minlength=K))}},
            "config": {**model.config, "epochs": cfg["epochs"], "lr": cfg["lr"], "batch_size": cfg["batch_size"],
                       "downsample": k, "val_fraction": cfg["val_fraction"], "class_weights": class_weights, "refit": refit,
                       "seed": seed, "threads": torch.get_num_threads()},
            "test": report,
            "baselines": {
                "majority_class": {"class": classes[majority],
                                   "accuracy": accuracy(y_test, np.full_like(y_test, majority))},
                "nearest_neighbour_summary": {"accuracy": accuracy(y_test, knn),
                                              "balanced_accuracy": balanced_accuracy(y_test, knn, K),
                                              "what": "1-NN, Euclidean, on per-channel mean/std/min/max/first/last"}},
            "fit": fit_summary,
            "train_seconds": train_seconds,
        }
        if model_dir is not None:
            title = f"{example or Path(train.source).name}: test accuracy {report['accuracy']:.1%}"
            png = confusion_matrix_png(np.array(report["confusion_matrix"]), classes, title)
            extra = {"classes": classes, "norm": norm, "downsample": k, "channels": train.channels,
                     "read_options": read_options or {}, "example": example}
            save_model(model, model_dir, extra=extra,
                       files={"report.json": json.dumps(result, indent=2), "confusion.png": png})
            result["model_dir"] = str(model_dir)
        return result


def format_train_report(r: dict) -> str:
    """The one-screen summary printed by ``lstmkit classify train``."""
    d, c, t, b = r["data"], r["config"], r["test"], r["baselines"]
    lines = [
        f"{d['example'] or d['train']}: {len(d['classes'])} classes, {len(d['channels'])} channels, "
        f"lengths {d['train_lengths'][0]}-{d['train_lengths'][1]}"
        + (f" (averaged in blocks of {c['downsample']} steps)" if c["downsample"] > 1 else ""),
        f"split: {d['split']}; {d['n_train']} train, {d['n_val']} validation, {d['n_test']} test",
        f"model: BiLSTM ({c['variant']}) {c['num_layers']}x{c['hidden_size']}, mean over steps; "
        f"{c['epochs']} epochs, best {r['fit']['best_epoch']} on validation"
        + (f", then refit on all {r['fit']['refit']['n_train']} training sequences" if r["fit"]["refit"] else "")
        + f"; class weights {c['class_weights']}; seed {c['seed']}; {r['train_seconds']:.0f} s on "
        f"{c['threads']} thread(s)",
        "",
        format_report(t),
        "",
        f"test accuracy   LSTM {t['accuracy']:.2%}   1-NN on summary stats "
        f"{b['nearest_neighbour_summary']['accuracy']:.2%}   majority class {b['majority_class']['accuracy']:.2%}",
    ]
    if r.get("model_dir"):
        lines.append(f"model, report.json and confusion.png in {r['model_dir']}")
    return "\n".join(lines)


def load_classifier(model_dir: str | os.PathLike):
    """The :class:`~lstmkit.models.SequenceClassifier` of a model directory written by
    :func:`train_classifier` and its ``extra`` state, checked (:func:`check_classifier_extra`)."""
    from ..models import SequenceClassifier, load_model

    model, extra = load_model(SequenceClassifier, model_dir)
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
    C = model.config["input_size"]
    if data.n_channels != C:
        raise ValueError(f"{path}: {data.n_channels} channels but the model in {model_dir} was trained on {C} "
                         f"({', '.join(extra.get('channels', []))}); give a file with the same channels")
    classes = extra["classes"]
    X = standardize(downsample(data.X, int(extra.get("downsample", 1))), extra["norm"])
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
