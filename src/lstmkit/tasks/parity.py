"""Parity: the XOR of a random bit string, given at its end.

Bits are +-1 inputs; lengths uniform in [1, L]; the target (at the end only) is 1 if the
number of +1 bits is odd. A sequence is right if the arg-max of the two outputs is the
parity. Formal-language benchmark (e.g. Beck et al. 2024, xLSTM: LSTM solves it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Batch, Published, Task, check_positive_int

__all__ = ["parity_batch", "Parity"]


def parity_batch(batch: int, L: int, rng: np.random.Generator, min_length: int = 1):
    """``(x (T_max, B, 1) in {-1, +1}, lengths (B,), parity (B,) in {0, 1})``.

    Example:
        >>> import numpy as np
        >>> x, lengths, y = parity_batch(5, 8, np.random.default_rng(0))
        >>> bool(all(int((x[:n, b, 0] > 0).sum()) % 2 == y[b] for b, n in enumerate(lengths.tolist())))
        True
    """
    check_positive_int("L", L)
    lengths = rng.integers(min_length, L + 1, size=batch)
    bits = rng.integers(2, size=(int(lengths.max()), batch))
    bits[np.arange(bits.shape[0])[:, None] >= lengths[None, :]] = 0
    x = np.where(np.arange(bits.shape[0])[:, None] < lengths[None, :], 2.0 * bits - 1.0, 0.0)
    return (torch.from_numpy(x[..., None].astype(np.float32)), torch.from_numpy(lengths),
            torch.from_numpy(bits.sum(0) % 2))


class Parity(Task):
    """Parity of strings of length 1..L (trained and tested on the same range).

    Example:
        >>> import numpy as np
        >>> Parity(L=20).sample(3, np.random.default_rng(0)).y.tolist() != []
        True
    """

    name = "parity"
    title = "Parity"
    paper = "Beck et al. 2024 (xLSTM), formal languages"
    input_size = 1
    output_size = 2
    readout = "last"
    check_size = 1000
    criterion = "99% of sequences right"
    published = (Published("xLSTM paper: LSTM (accuracy, length generalisation)", "100", ""),
                 Published("xLSTM paper: mLSTM", "53", ""))

    def __init__(self, L: int = 50) -> None:
        self.L = check_positive_int("L", L, 2)

    def config(self):
        return {"name": self.name, "L": self.L}

    def sample(self, batch_size, rng):
        x, lengths, y = parity_batch(batch_size, self.L, rng)
        return Batch(x, y, lengths)

    def sequence_loss(self, out, batch):
        return F.cross_entropy(out, batch.y, reduction="none")

    def judge(self, out, batch):
        return {"right": out.argmax(-1) == batch.y}

    def solved(self, m):
        return m["right"] >= 0.99

    def chance_loss(self):
        return float(np.log(2.0))
