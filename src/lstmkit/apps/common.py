"""Pieces the CTC applications share: feature standardisation, batched decoding, the
decoder comparison table (Graves et al. 2006, Table 1 style), and the guard around a
training run's outputs (the shipped models are never a training target; the model
directory is checked and locked, the run directory claimed, before any work)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..io import claim_dir, dir_lock, register_files, write_json
from ..models import CTCRecognizer
from ..models.io import check_model_dir_target
from ..progress import progress_bar
from ..train.ctc import ctc_loss, label_error_rate
from ..train.supervised import fit_supervised, pad_sequences
from .runfiles import model_dir_scope

__all__ = ["check_input_size", "fit_standardizer", "standardize", "decode_batch", "compare_decoders", "train_ctc", "SHIPPED",
           "check_not_shipped", "training_outputs", "write_run_result"]

SHIPPED = Path(__file__).resolve().parent.parent / "pretrained"
"""The installed package's pretrained/ directory: the models that ship with lstmkit."""


def check_not_shipped(directory: str | os.PathLike, overwrite_shipped: bool = False) -> Path:
    """Refuse (one line) a training output inside the installed package's ``pretrained/``
    directory, unless ``overwrite_shipped`` (the maintainers' reproduction of the shipped
    models, ``--overwrite-shipped``). Returns the path.

    Example:
        >>> try:
        ...     check_not_shipped(SHIPPED / "speech")
        ... except ValueError as e:
        ...     print(str(e).split(":")[0])
        --model
    """
    d = Path(directory)
    resolved = d.resolve()
    if (resolved == SHIPPED or SHIPPED in resolved.parents) and not overwrite_shipped:
        raise ValueError(f"--model: {d} is inside the models that ship with lstmkit ({SHIPPED}); expected a "
                         f"directory of your own (the training commands' default is under runs/)")
    return d


@contextlib.contextmanager
def training_outputs(model_dir: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                     overwrite_shipped: bool = False) -> Iterator[None]:
    """Everything a training command checks before its first step, held for the whole run:
    ``model_dir`` is not a shipped model (:func:`check_not_shipped`) and is a directory
    :func:`lstmkit.models.save_model` may write; a second process training into it (or
    into ``run_dir``) refuses at once (:func:`lstmkit.models.io.model_dir_lock`);
    ``run_dir`` is claimed as an lstmkit run directory (a non-empty foreign one is
    refused now, not after the training).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> with training_outputs(os.path.join(d, "model"), os.path.join(d, "run")):
        ...     pass
        >>> sorted(os.listdir(d))
        ['run']
    """
    check_not_shipped(model_dir, overwrite_shipped)
    check_model_dir_target(model_dir)
    if run_dir is not None and Path(run_dir).resolve() == Path(model_dir).resolve():
        raise ValueError(f"--run-dir: {run_dir} is also the --model directory; expected another directory")
    with contextlib.ExitStack() as stack:
        if run_dir is not None:  # first: the model's lock file may lie inside the run directory
            stack.enter_context(dir_lock(run_dir, "--run-dir directory"))
            claim_dir(run_dir, "run", "run directory")
        stack.enter_context(model_dir_scope(model_dir))
        yield


def write_run_result(run_dir: str | os.PathLike, result: dict, name: str = "result.json") -> None:
    """Write ``result`` as JSON into the (claimed) ``run_dir`` and register it there."""
    claim_dir(run_dir, "run", "run directory")
    write_json(Path(run_dir) / name, result, indent=2)
    register_files(run_dir, [name])


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
            "sequence_accuracy": float(np.mean([p == s for p, s in zip(pred, strings)])),
            "seconds": time.perf_counter() - t0,
        }
    return {"decoders": rows, "n_sequences": len(strings)}


def train_ctc(model: CTCRecognizer, train: tuple[list, list], val: tuple[list, list], *, epochs: int, seed: int,
              run_dir: str | os.PathLike | None, resume: bool, progress: bool, desc: str) -> dict:
    """Train a digit recognizer with CTC (Adam 3e-3, batches of 32), keeping the epoch with
    the lowest best-path label error rate on ``val``; see :func:`fit_supervised`.

    ``train`` and ``val`` are (standardised feature sequences, digit lists).
    """
    tr_x, tr_y = train
    va_x, va_y = val

    def loss_fn(m, idx):
        x, n = pad_sequences([tr_x[i] for i in idx])
        return ctc_loss(m(x, n), [[d + 1 for d in tr_y[i]] for i in idx], n)

    return fit_supervised(model, loss_fn, len(tr_x), epochs=epochs, batch_size=32, lr=3e-3, seed=seed,
                          evaluate=lambda m: -label_error_rate(decode_batch(m, va_x, "best_path"), va_y),
                          run_dir=Path(run_dir) / "checkpoints" if run_dir else None, resume=resume,
                          progress=progress, desc=desc)
