"""Handwritten digit lines read by a BiLSTM trained with CTC (Graves et al. 2006, 2009).

Lines of 3–8 MNIST digits (:mod:`lstmkit.data.mnist_lines`) are read column by column;
the network emits a label or blank per column; decoding turns that into the digit string.
Test lines are built from images never seen in training.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.images import read_line_image
from ..data.mnist_lines import line_features, load_mnist_5k, make_lines, split_images
from ..models import CTCRecognizer, load_model, save_model
from .common import check_input_size, compare_decoders, decode_batch, fit_standardizer, standardize, train_ctc
from .runfiles import training_outputs, write_run_result

__all__ = ["train_handwriting", "evaluate_model_dir", "recognize_images", "load_recognizer",
           "PRETRAINED"]

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "handwriting"
"""The model that ships with the package (the default of ``recognize`` and ``evaluate``;
rebuilt only by the maintainers' ``lstmkit handwriting train --overwrite-shipped``)."""

DEFAULT_MODEL_DIR = "runs/handwriting/model"
"""Where ``lstmkit handwriting train`` writes its model unless told otherwise."""
DEFAULT_RUN_DIR = "runs/handwriting/run"
"""Where ``lstmkit handwriting train`` keeps its checkpoints and result.json."""

MAX_JITTER = 3
LINE_HEIGHT = 28 + 2 * MAX_JITTER
POOL = 2


def digit_lines(seed: int, n_train: int, n_test: int):
    """``(train_lines, train_strings, test_lines, test_strings)``: lines of 3-8 digits, the
    test lines from the held-out 20% of the digits, each normalised as a user's image is
    (:func:`image_to_line`: (LINE_HEIGHT, width) in [0, 1]). The data of ``handwriting
    train`` and of ``lstmkit study mdlstm``."""
    images, labels = load_mnist_5k()
    train_pool, test_pool = split_images(labels, 0.2, seed)
    tr_lines, tr_str = make_lines(images, labels, train_pool, n_train, np.random.default_rng([seed, 1]),
                                  max_jitter=MAX_JITTER)
    te_lines, te_str = make_lines(images, labels, test_pool, n_test, np.random.default_rng([seed, 2]),
                                  max_jitter=MAX_JITTER)
    return [image_to_line(x) for x in tr_lines], tr_str, [image_to_line(x) for x in te_lines], te_str


def _dataset(seed: int, n_train: int, n_val: int, n_test: int):
    tr_lines, tr_str, te_lines, te_str = digit_lines(seed, n_train + n_val, n_test)
    feats = [line_features(x, POOL) for x in tr_lines]
    test_feats = [line_features(x, POOL) for x in te_lines]
    return (feats[:n_train], tr_str[:n_train]), (feats[n_train:], tr_str[n_train:]), (test_feats, te_str)


def train_handwriting(
    out_dir: str | os.PathLike = DEFAULT_MODEL_DIR,
    epochs: int = 20,
    n_train: int = 8000,
    hidden_size: int = 96,
    num_layers: int = 2,
    variant: str = "vanilla",
    seed: int = 0,
    progress: bool = True,
    run_dir: str | os.PathLike | None = DEFAULT_RUN_DIR,
    resume: bool = False,
    overwrite_shipped: bool = False,
) -> dict:
    """Train the line recognizer and write it to ``out_dir`` (a model directory).

    ``n_train`` lines from 80% of the images; 500 validation lines (same images, other
    lines) choose the best epoch by label error rate; 1,000 test lines from the other
    20% of the images are decoded at the end. Returns the result (also written as
    ``result.json`` in ``run_dir``).

    Before any work ``out_dir`` is checked (not inside the shipped models unless
    ``overwrite_shipped``; empty, new or an lstmkit model directory) and locked for the
    run, and ``run_dir`` is claimed (see :func:`lstmkit.apps.runfiles.training_outputs`).
    """
    with training_outputs(out_dir, run_dir, overwrite_shipped):
        torch.manual_seed(seed)
        (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = _dataset(seed, n_train, 500, 1000)
        norm = fit_standardizer(tr_x)
        tr_x, va_x, te_x = (standardize(f, norm) for f in (tr_x, va_x, te_x))
        model = CTCRecognizer(tr_x[0].shape[1], num_labels=10, hidden_size=hidden_size, num_layers=num_layers,
                              variant=variant)

        fit = train_ctc(model, (tr_x, tr_y), (va_x, va_y), epochs=epochs, seed=seed, run_dir=run_dir,
                        resume=resume, progress=progress, desc="handwriting BiLSTM-CTC")
        save_model(model, out_dir, extra={"line_height": LINE_HEIGHT, "pool": POOL, "max_jitter": MAX_JITTER,
                                          "normalisation": norm, "trained_by": "lstmkit handwriting train",
                                          "seed": seed, "epochs": epochs, "n_train": n_train})
        result = {"fit": fit, **compare_decoders(model, te_x, te_y, progress=progress, desc="test lines")}
        if run_dir:
            write_run_result(run_dir, result)
    return result


def evaluate_model_dir(directory: str | os.PathLike = PRETRAINED, n_lines: int = 1000, beam_width: int = 8,
                       progress: bool = False) -> dict:
    """Decode ``n_lines`` test lines (images unseen in training, the same lines as
    ``train_handwriting`` tests on) with the model in ``directory``; see
    :func:`lstmkit.apps.common.compare_decoders` (with ``progress``, a bar per decoder)."""
    model, extra = load_recognizer(directory)
    check_input_size(model, extra, directory, LINE_HEIGHT // extra.get("pool", POOL), "handwriting lines")
    _, _, (te_x, te_y) = _dataset(int(extra.get("seed", 0)), 0, 0, n_lines)
    return compare_decoders(model, standardize(te_x, extra["normalisation"]), te_y, beam_width=beam_width,
                            progress=progress, desc="test lines")


def load_recognizer(directory: str | os.PathLike = PRETRAINED) -> tuple[CTCRecognizer, dict]:
    """The recognizer in ``directory`` (default: the one shipped with lstmkit)."""
    if not (Path(directory) / "config.json").is_file():
        raise FileNotFoundError(
            f"no handwriting model in {directory}; build one with `lstmkit handwriting train`"
        )
    return load_model(CTCRecognizer, directory)


def image_to_line(image: np.ndarray, height: int = LINE_HEIGHT) -> np.ndarray:
    """A grayscale image (2-D, values 0–255 or 0–1) -> a (height, width) line, light ink on
    dark, in [0, 1], as the recognizer was trained on.

    Dark-on-light images (paper) are inverted; the ink's bounding box is cropped and
    scaled to MNIST's ink height (20 px) with the training margin around it.
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2 or min(a.shape) < 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    if a.max() > 1.0:
        a = a / 255.0
    if np.median(a) > 0.5:  # dark ink on a light background
        a = 1.0 - a
    rows = np.flatnonzero(a.max(axis=1) > 0.2)
    cols = np.flatnonzero(a.max(axis=0) > 0.2)
    if len(rows) == 0:
        raise ValueError("the image is blank: no ink found")
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    from PIL import Image

    scale = 20.0 / a.shape[0]  # MNIST digits are ~20 px tall inside their 28 px box
    w = max(1, int(round(a.shape[1] * scale)))
    small = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize((w, 20), Image.BILINEAR),
                       dtype=np.float32) / 255.0
    out = np.zeros((height, w + 12), np.float32)
    top = (height - 20) // 2
    out[top : top + 20, 6 : 6 + w] = small
    return out


def recognize_images(paths, directory: str | os.PathLike = PRETRAINED, method: str = "best_path"):
    """Yield ``(path, digits or None, error or None)`` for each image file."""
    model, extra = load_recognizer(directory)
    check_input_size(model, extra, directory, LINE_HEIGHT // extra.get("pool", POOL), "handwriting lines")
    for p in paths:
        try:  # transparent pixels count as white paper; size cap, blank check: see read_line_image
            line = image_to_line(read_line_image(p))
        except (ValueError, OSError) as e:
            yield p, None, str(e) if str(e).startswith(str(p)) else f"{p}: {e}"
            continue
        feats = standardize([line_features(line, extra.get("pool", POOL))], extra["normalisation"])
        digits = decode_batch(model, feats, method)[0]
        yield p, "".join(map(str, digits)), None
