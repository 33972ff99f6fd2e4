"""Parity: the XOR of a random bit string, given at its end.

Bits are +-1 inputs; lengths uniform in [min_length, L]; the target (at the end only) is 1
if the number of +1 bits is odd. A sequence is right if the arg-max of the two outputs is
the parity. Formal-language benchmark (Beck et al. 2024, xLSTM, Fig. 4 / App. D: trained on
lengths 3-40, tested on 40-256; accuracy reported normalised, (acc - 1/2) / (1 - 1/2), so
that 0 is chance and 1 perfect).
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
    """Parity of strings of length min_length..L; tested on the same range, or on
    test_min..test_max (length extrapolation, the xLSTM paper's setting: train 3-40,
    test 40-256).

    Args:
        L: longest training string. min_length: shortest training string.
        test_min, test_max: the test lengths (None: the training range).
        test_size: strings in the final test (default 2,560).

    Example:
        >>> import numpy as np
        >>> Parity(L=20).sample(3, np.random.default_rng(0)).y.tolist() != []
        True
        >>> t = Parity(L=40, min_length=3, test_min=40, test_max=256)
        >>> int(t.sample_test(50, np.random.default_rng(0)).lengths.min()) >= 40
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

    def __init__(self, L: int = 50, min_length: int = 1, test_min: int | None = None,
                 test_max: int | None = None, test_size: int | None = None) -> None:
        if test_size is not None:
            self.test_size = check_positive_int("test_size", test_size)
        self.L = check_positive_int("L", L, 2)
        self.min_length = check_positive_int("min_length", min_length)
        if self.min_length > self.L:
            raise ValueError(f"min_length must be <= L ({self.L}), got {min_length}")
        if (test_min is None) != (test_max is None):
            raise ValueError("give both test_min and test_max, or neither")
        if test_min is not None:
            check_positive_int("test_min", test_min)
            check_positive_int("test_max", test_max)
            if test_min > test_max:
                raise ValueError(f"test_min must be <= test_max, got {test_min} > {test_max}")
            self.criterion = (f"99% of training strings ({min_length}-{L}) right; the test reads strings of "
                              f"{test_min}-{test_max}")
        self.test_min, self.test_max = test_min, test_max

    def config(self):
        c = {"name": self.name, "L": self.L}
        if self.min_length != 1:
            c["min_length"] = self.min_length
        if self.test_min is not None:
            c.update(test_min=self.test_min, test_max=self.test_max)
        return c

    def sample(self, batch_size, rng):
        x, lengths, y = parity_batch(batch_size, self.L, rng, self.min_length)
        return Batch(x, y, lengths)

    def sample_test(self, n, rng):
        if self.test_min is None:
            return self.sample(n, rng)
        x, lengths, y = parity_batch(n, self.test_max, rng, self.test_min)
        return Batch(x, y, lengths)

    def sequence_loss(self, out, batch):
        return F.cross_entropy(out, batch.y, reduction="none")

    def judge(self, out, batch):
        return {"right": out.argmax(-1) == batch.y}

    def solved(self, m):
        return m["right"] >= 0.99

    @staticmethod
    def normalised_accuracy(right: float) -> float:
        """The xLSTM paper's score: (accuracy - 1/2) / (1 - 1/2), 0 at chance, 1 perfect.

        Example:
            >>> Parity.normalised_accuracy(0.75)
            0.5
        """
        return (right - 0.5) / 0.5

    def chance_loss(self):
        return float(np.log(2.0))
