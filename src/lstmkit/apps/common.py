"""Pieces the CTC applications (speech, handwriting) share: feature standardisation,
batched decoding, the decoder comparison table (Graves et al. 2006, Table 1 style) and the
CTC training recipe. The guard around a training run's outputs is
:func:`lstmkit.apps.runfiles.training_outputs`; the scores are :mod:`lstmkit.metrics`'."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..metrics import label_error_rate, sequence_accuracy
from ..models import CTCRecognizer
from ..progress import progress_bar
from ..train.ctc import ctc_loss
from ..train.supervised import fit_supervised, pad_sequences

__all__ = ["check_input_size", "fit_standardizer", "standardize", "decode_batch", "compare_decoders", "train_ctc"]

def check_input_size(model: CTCRecognizer, extra: dict, directory, n_features: int, inputs: str) -> None:
    """Raise a one-line ValueError if the model in ``directory`` was trained on another
    number of features per frame than the app makes (a speech model given to handwriting).

    Example:
        >>> m = CTCRecognizer(78, num_labels=10, hidden_size=4)
        >>> check_input_size(m, {"sample_rate": 16000}, "speech-model", 17, "handwriting lines")
        Traceback (most recent call last):
        ...
        ValueError: speech-model was trained on 78 features per frame (speech?), these inputs have 17 (handwriting lines): pass the matching --model
    """
    want = int(model.config["input_size"])
    if want != n_features:
        kind = "speech" if "sample_rate" in extra else "handwriting" if "line_height" in extra else "another app"
        raise ValueError(f"{directory} was trained on {want} features per frame ({kind}?), these inputs have "
                         f"{n_features} ({inputs}): pass the matching --model")


def fit_standardizer(feats: list[np.ndarray], eps: float = 1e-3) -> dict:
    """Per-feature mean and standard deviation (+ ``eps``, so constant features stay finite)
    of the training frames, computed in float64 (JSON-ready).

    Example:
        >>> import numpy as np
        >>> s = fit_standardizer([np.array([[0., 2.], [2., 2.]])])
        >>> s["mean"], [round(v, 3) for v in s["std"]]
        ([1.0, 2.0], [1.001, 0.001])
    """
    frames = np.concatenate(feats).astype(np.float64)
    return {"mean": frames.mean(0).tolist(), "std": (frames.std(0) + eps).tolist()}


def standardize(feats: list[np.ndarray], norm: dict) -> list[np.ndarray]:
    """Apply a :func:`fit_standardizer` result to every sequence."""
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    return [((f - mean) / std).astype(np.float32) for f in feats]


def decode_batch(model: CTCRecognizer, feats: list[np.ndarray], method: str = "best_path", batch: int = 128,
                 bar=None, **kw) -> list[list[int]]:
    """Decode many sequences; model outputs 1..10 are returned as the digits 0..9.
    ``bar`` (a :func:`lstmkit.progress.progress_bar`) advances by one per sequence."""
    out = []
    for k in range(0, len(feats), batch):
        x, n = pad_sequences(feats[k : k + batch])
        out.extend(model.decode(x, n, method=method, on_sequence=bar.update if bar is not None else None, **kw))
    return [[d - 1 for d in s] for s in out]


def compare_decoders(model: CTCRecognizer, feats, strings, beam_width: int = 8, progress: bool = False,
                     desc: str = "") -> dict:
    """Label error rate, share of sequences right, and time, for best path, prefix search
    and beam search on the same inputs; with ``progress``, one bar per decoder."""
    rows = {}
    for method, kw in (("best_path", {}), ("prefix", {}), ("beam", {"beam_width": beam_width})):
        bar = progress_bar(len(feats), f"{desc}{' ' if desc else ''}decoding: {method}", "seq", enabled=progress)
        t0 = time.perf_counter()
        try:
            pred = decode_batch(model, feats, method, bar=bar, **kw)
        finally:
            if bar is not None:
                bar.close()
        rows[method] = {
            "label_error_rate": label_error_rate(pred, strings),
            "sequence_accuracy": sequence_accuracy(pred, strings),
            "seconds": time.perf_counter() - t0,
        }
    return {"decoders": rows, "n_sequences": len(strings)}


def train_ctc(model: CTCRecognizer, train: tuple[list, list], val: tuple[list, list], *, epochs: int, seed: int,
              run_dir: str | os.PathLike | None, resume: bool, progress: bool, desc: str, lr: float = 3e-3,
              batch_size: int = 32, augment=None) -> dict:
    """Train a digit recognizer with CTC (Adam, default 3e-3, batches of 32), keeping the epoch with
    the lowest best-path label error rate on ``val``; see :func:`fit_supervised`.

    ``train`` and ``val`` are (standardised feature sequences, digit lists). ``augment``:
    ``augment(frames, rng) -> frames`` applied to each training sequence of each batch
    (e.g. :func:`lstmkit.data.augment.spec_augment`), with a generator seeded by ``seed``
    and the batch's indices (so a batch is augmented the same way in a rerun).
    """
    tr_x, tr_y = train
    va_x, va_y = val

    def loss_fn(m, idx):
        seqs = [tr_x[i] for i in idx]
        if augment is not None:
            rng = np.random.default_rng([seed, *map(int, idx)])
            seqs = [augment(f, rng) for f in seqs]
        x, n = pad_sequences(seqs)
        # a model that subsamples time (the MDLSTM recognizer) says how long its output is
        out_n = m.output_lengths(n) if hasattr(m, "output_lengths") else n
        return ctc_loss(m(x, n), [[d + 1 for d in tr_y[i]] for i in idx], out_n)

    return fit_supervised(model, loss_fn, len(tr_x), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                          evaluate=lambda m: -label_error_rate(decode_batch(m, va_x, "best_path"), va_y),
                          run_dir=Path(run_dir) / "checkpoints" if run_dir else None, resume=resume,
                          progress=progress, desc=desc)
