"""The adding problem (Hochreiter & Schmidhuber 1997, Experiment 4) and multiplication (Exp. 5).

Each step is a pair (value, marker). Values are U[-1, 1]. Sequences have random lengths
in [T, T + T/10]. One of the first ten pairs is marked (marker 1.0; its value is X1),
then one of the first T/2 - 1 still unmarked pairs (X2). All other markers are 0 except
the first and the last pair's, which are -1. "In the rare case where the first pair of
the sequence gets marked, we set X1 to zero": the marked first pair's VALUE is set to 0
in the input, so the target, given at the end only, is always 0.5 + (sum of the marked
values) / 4, as the paper states the task ("output the sum of the first components of
those pairs that are marked"). A sequence is right if the absolute error at its end is
below 0.04.

Multiplication is the same with values in [0, 1] and target X1 * X2; there the paper sets
X1 to 1.0 when the first pair is marked (the product's neutral element, as 0 is the sum's).
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Batch, Published, Task, check_positive_int

__all__ = ["adding_batch", "multiplication_batch", "CRITERION", "AddingProblem", "MultiplicationProblem"]

CRITERION = 0.04
"""A sequence is right if |output - target| < CRITERION (the paper's threshold)."""


def _marked_pairs(batch: int, T: int, rng: np.random.Generator, low: float, neutral: float):
    if isinstance(T, bool) or not isinstance(T, int) or T < 20:
        raise ValueError(f"T must be an int >= 20, got {T!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    lengths = rng.integers(T, T + T // 10 + 1, size=batch)
    T_max = int(lengths.max())
    x = np.zeros((T_max, batch, 2))
    x1 = np.zeros(batch)
    x2 = np.zeros(batch)
    for b, n in enumerate(lengths):
        x[:n, b, 0] = rng.uniform(low, 1.0, size=n)
        x[0, b, 1] = x[n - 1, b, 1] = -1.0
        first = rng.integers(0, 10)
        second = rng.choice([k for k in range(T // 2 - 1) if k != first])
        x[first, b, 1] = x[second, b, 1] = 1.0
        # A marked first pair (its marker replaces the -1 start marker) gets the neutral
        # value (paper: X1 = 0 for adding, 1.0 for multiplication), in the input itself, so
        # the target is always the sum / product of the marked values.
        if first == 0 or second == 0:
            x[0, b, 0] = neutral
        x1[b] = x[first, b, 0]
        x2[b] = x[second, b, 0]
    return x, lengths, x1, x2


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
    x, lengths, x1, x2 = _marked_pairs(batch, T, rng, -1.0, 0.0)
    target = 0.5 + (x1 + x2) / 4.0
    return (
        torch.as_tensor(x, dtype=dtype),
        torch.as_tensor(lengths, dtype=torch.long),
        torch.as_tensor(target, dtype=dtype),
    )


def multiplication_batch(batch: int, T: int, rng: np.random.Generator, dtype=torch.float32):
    """A batch of multiplication-problem sequences (values in [0, 1], target X1 * X2).

    Same layout and returns as :func:`adding_batch`.

    Example:
        >>> import numpy as np
        >>> x, lengths, y = multiplication_batch(3, 20, np.random.default_rng(0))
        >>> bool((x[:, :, 0] >= 0).all()), bool(((y >= 0) & (y <= 1)).all())
        (True, True)
    """
    x, lengths, x1, x2 = _marked_pairs(batch, T, rng, 0.0, 1.0)
    return (
        torch.as_tensor(x, dtype=dtype),
        torch.as_tensor(lengths, dtype=torch.long),
        torch.as_tensor(x1 * x2, dtype=dtype),
    )


class _Regression(Task):
    """One real target at the end; a sigmoid output unit trained on squared error."""

    input_size = 2
    output_size = 1
    readout = "last"

    def sequence_loss(self, out, batch):
        return (torch.sigmoid(out.squeeze(-1)) - batch.y) ** 2

    def judge(self, out, batch):
        err = (torch.sigmoid(out.squeeze(-1)) - batch.y).abs()
        return {"right": err < CRITERION, "abs_error": err, "squared_error": err**2}


class AddingProblem(_Regression):
    """Hochreiter & Schmidhuber 1997, Experiment 4: the adding problem.

    Success (the paper's stopping rule, on fresh data): mean squared error < 0.01 and
    all of ``check_size`` = 2,000 sequences right (|error| < 0.04); then a test on 2,560
    fresh sequences.

    Args:
        T: minimal sequence length (paper: 100, 500, 1000).

    Example:
        >>> import numpy as np
        >>> b = AddingProblem(T=100).sample(2, np.random.default_rng(0))
        >>> b.x.shape[1:], b.y.shape
        (torch.Size([2, 2]), torch.Size([2]))
    """

    name = "adding"
    title = "Adding problem"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 4"
    check_size = 2000
    criterion = "mean squared error < 0.01 and the last 2,000 sequences right (|error| < 0.04)"
    _PUBLISHED = {
        100: Published("2 blocks x 2 cells (93 w), lr 0.5, T=100", "10/10", "74,000", "1/2560 test wrong"),
        500: Published("2 blocks x 2 cells, lr 0.5, T=500", "10/10", "209,000", "0/2560 test wrong"),
        1000: Published("2 blocks x 2 cells, lr 0.5, T=1000", "10/10", "853,000", "1/2560 wrong; 370k-2.02M"),
    }

    def __init__(self, T: int = 100) -> None:
        self.T = check_positive_int("T", T, 20)
        self.published = (self._PUBLISHED[T],) if T in self._PUBLISHED else tuple(self._PUBLISHED.values())

    def config(self):
        return {"name": self.name, "T": self.T}

    def sample(self, batch_size, rng):
        x, lengths, y = adding_batch(batch_size, self.T, rng)
        return Batch(x, y, lengths)

    def solved(self, m):
        return m["wrong"] == 0 and m["squared_error"] < 0.01

    def chance_loss(self) -> float:
        # Var(0.5 + (X1 + X2)/4), X1 = 0 one time in ten (X2 = 0 rarely: ignored).
        return 1.9 / 3 / 16


class MultiplicationProblem(_Regression):
    """Hochreiter & Schmidhuber 1997, Experiment 5: the multiplication problem.

    Success (the paper's): fewer than ``n_seq`` of 2,000 fresh sequences with
    |error| > 0.04 (paper: n_seq = 140 and 13).

    Example:
        >>> import numpy as np
        >>> MultiplicationProblem(T=100).sample(2, np.random.default_rng(0)).y.shape
        torch.Size([2])
    """

    name = "multiplication"
    title = "Multiplication problem"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 5"
    check_size = 2000
    criterion = "fewer than n_seq = 140 of 2,000 sequences with |error| > 0.04"
    published = (
        Published("T=100, n_seq 140", "", "482,000", "139/2560 test wrong, MSE 0.0223"),
        Published("T=100, n_seq 13", "", "1,273,000", "14/2560 test wrong"),
    )

    def __init__(self, T: int = 100, n_seq: int = 140) -> None:
        self.T = check_positive_int("T", T, 20)
        self.n_seq = check_positive_int("n_seq", n_seq)

    def config(self):
        return {"name": self.name, "T": self.T, "n_seq": self.n_seq}

    def sample(self, batch_size, rng):
        x, lengths, y = multiplication_batch(batch_size, self.T, rng)
        return Batch(x, y, lengths)

    def solved(self, m):
        return m["wrong"] * 2000 < self.n_seq * m["n"]

    def chance_loss(self) -> float:
        # Var(X1 X2), X1 = 1 one time in ten: E[(X1X2)^2] = (0.9/3 + 0.1)/3, E[X1X2] = (0.9/2 + 0.1)/2.
        return (0.9 / 3 + 0.1) / 3 - ((0.9 / 2 + 0.1) / 2) ** 2
