"""The two-sequence problem (Hochreiter & Schmidhuber 1997, Experiment 3a).

One real input. The first N values are +1 (class 1) or -1 (class 2); every later value
is Gaussian noise with mean 0 and variance 0.2. Lengths are uniform in [T, 1.1 T]. The
target, at the end only, is 1.0 for class 1 and 0.0 for class 2. A sequence is right if
the absolute error is below 0.2. ST1: none of 256 test sequences wrong; ST2: ST1 and
mean absolute error below 0.01.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Batch, Published, Task, check_positive_int

__all__ = ["two_sequence_batch", "TwoSequence"]


def two_sequence_batch(batch: int, T: int, N: int, rng: np.random.Generator):
    """``(x (T_max, B, 1), lengths (B,), target (B,) in {0., 1.})``.

    Example:
        >>> import numpy as np
        >>> x, lengths, y = two_sequence_batch(4, 100, 3, np.random.default_rng(0))
        >>> bool((x[:3, :, 0] == (2 * y - 1)).all())
        True
    """
    check_positive_int("T", T, 2)
    check_positive_int("N", N)
    if N >= T:
        raise ValueError(f"N must be smaller than T, got N={N}, T={T}")
    lengths = rng.integers(T, T + T // 10 + 1, size=batch)
    T_max = int(lengths.max())
    cls = rng.integers(2, size=batch)
    x = np.zeros((T_max, batch, 1), dtype=np.float32)
    for b, n in enumerate(lengths):
        x[:n, b, 0] = rng.normal(0.0, np.sqrt(0.2), size=n)
        x[:N, b, 0] = 1.0 if cls[b] == 1 else -1.0
    return torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(cls.astype(np.float32))


class TwoSequence(Task):
    """Experiment 3a; the run stops when ST2 holds on 256 fresh sequences.

    Example:
        >>> import numpy as np
        >>> TwoSequence(T=100).sample(2, np.random.default_rng(0)).x.shape[1:]
        torch.Size([2, 1])
    """

    name = "twoseq"
    title = "Two-sequence problem (3a)"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 3a"
    input_size = 1
    output_size = 1
    readout = "last"
    check_size = 256
    test_size = 2560
    criterion = "ST2: none of 256 sequences wrong (|error| < 0.2) and mean absolute error < 0.01"
    _PUBLISHED = {
        (100, 3): Published("T=100, N=3", "ST1/ST2", "27,380 / 39,850"),
        (100, 1): Published("T=100, N=1", "ST1/ST2", "58,370 / 64,330"),
        (1000, 3): Published("T=1000, N=3", "ST1/ST2", "446,850 / 452,460"),
    }

    def __init__(self, T: int = 100, N: int = 3) -> None:
        self.T = check_positive_int("T", T, 2)
        self.N = check_positive_int("N", N)
        self.published = (self._PUBLISHED[(T, N)],) if (T, N) in self._PUBLISHED else tuple(self._PUBLISHED.values())

    def config(self):
        return {"name": self.name, "T": self.T, "N": self.N}

    def sample(self, batch_size, rng):
        x, lengths, y = two_sequence_batch(batch_size, self.T, self.N, rng)
        return Batch(x, y, lengths)

    def sequence_loss(self, out, batch):
        return (torch.sigmoid(out.squeeze(-1)) - batch.y) ** 2

    def judge(self, out, batch):
        err = (torch.sigmoid(out.squeeze(-1)) - batch.y).abs()
        return {"right": err < 0.2, "abs_error": err}

    def solved(self, m):
        return m["wrong"] == 0 and m["abs_error"] < 0.01

    def chance_loss(self):
        return 0.25
