"""The adding problem (Hochreiter & Schmidhuber 1997, Experiment 4).

Each step is a pair (value, marker). Values are U[-1, 1]. Sequences have random lengths
in [T, T + T/10]. One of the first ten pairs is marked (marker 1.0; its value is X1),
then one of the first T/2 - 1 still unmarked pairs (X2). All other markers are 0 except
the first and the last pair's, which are -1. If the first pair is the one marked, X1 is
taken as 0. The target, given at the end only, is 0.5 + (X1 + X2) / 4. A sequence is
right if the absolute error at its end is below 0.04.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["adding_batch", "CRITERION"]

CRITERION = 0.04
"""A sequence is right if |output - target| < CRITERION (the paper's threshold)."""


def adding_batch(batch: int, T: int, rng: np.random.Generator, dtype=torch.float32):
    """A batch of adding-problem sequences, padded, time-major.

    Args:
        batch: B, number of sequences.
        T: minimal length (T >= 20, so that the marking windows make sense).
        rng: the random generator (seed it for reproducibility).

    Returns:
        ``(x, lengths, target)``: x (T_max, B, 2) zero-padded, lengths (B,) int64,
        target (B,) in [0, 1].

    Example:
        >>> import numpy as np
        >>> x, lengths, y = adding_batch(4, 20, np.random.default_rng(0))
        >>> x.shape[1:], bool((lengths >= 20).all() and (lengths <= 22).all())
        (torch.Size([4, 2]), True)
        >>> bool(((x[:, :, 1] == 1).sum(0) == 2).all())
        True
    """
    if not isinstance(T, int) or T < 20:
        raise ValueError(f"T must be an int >= 20, got {T!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    lengths = rng.integers(T, T + T // 10 + 1, size=batch)
    T_max = int(lengths.max())
    x = np.zeros((T_max, batch, 2))
    target = np.zeros(batch)
    for b, n in enumerate(lengths):
        x[:n, b, 0] = rng.uniform(-1.0, 1.0, size=n)
        x[0, b, 1] = x[n - 1, b, 1] = -1.0
        first = rng.integers(0, 10)
        second = rng.choice([k for k in range(T // 2 - 1) if k != first])
        x[first, b, 1] = x[second, b, 1] = 1.0
        x1 = 0.0 if first == 0 else x[first, b, 0]
        target[b] = 0.5 + (x1 + x[second, b, 0]) / 4.0
    return (
        torch.as_tensor(x, dtype=dtype),
        torch.as_tensor(lengths, dtype=torch.long),
        torch.as_tensor(target, dtype=dtype),
    )
