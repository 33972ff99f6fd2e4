"""The copy task (Arjovsky, Shah & Bengio 2016).

Alphabet of 10: 0 = blank, 1..8 data, 9 = delimiter. Input (length T + 20): 10 data
symbols uniform from 1..8, T - 1 blanks, the delimiter, 10 blanks. Target: T + 10 blanks,
then the 10 data symbols. Loss: cross-entropy averaged over all T + 20 steps; a network
that remembers nothing pays 10 log 8 / (T + 20). We call a sequence right when all ten
symbols are reproduced (arg-max).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Batch, Published, Task, check_positive_int, cross_entropy_steps

__all__ = ["copy_batch", "CopyTask"]


def copy_batch(batch: int, T: int, rng: np.random.Generator):
    """``(x (T+20, B, 10) one-hot, target (T+20, B) ids)``.

    Example:
        >>> import numpy as np
        >>> x, y = copy_batch(2, 5, np.random.default_rng(0))
        >>> bool((x[:10].argmax(-1) == y[-10:]).all()), int(x[14].argmax(-1)[0])
        (True, 9)
    """
    check_positive_int("T", T)
    data = rng.integers(1, 9, size=(10, batch))
    inp = np.zeros((T + 20, batch), dtype=np.int64)
    inp[:10] = data
    inp[T + 9] = 9
    tgt = np.zeros((T + 20, batch), dtype=np.int64)
    tgt[T + 10:] = data
    return F.one_hot(torch.from_numpy(inp), 10).float(), torch.from_numpy(tgt)


class CopyTask(Task):
    """Copy 10 symbols after T blanks.

    Example:
        >>> import numpy as np
        >>> t = CopyTask(T=20)
        >>> round(t.chance_loss(), 4)
        0.5199
    """

    name = "copy"
    title = "Copy task"
    paper = "Arjovsky, Shah & Bengio 2016"
    input_size = output_size = 10
    readout = "every"
    check_size = 500
    test_size = 1000
    criterion = "99% of sequences with all ten symbols copied"

    def __init__(self, T: int = 50) -> None:
        self.T = check_positive_int("T", T)
        self.published = (Published(f"memoryless baseline, T={T}", "", "",
                                    f"cross-entropy 10 log 8 / (T + 20) = {self.chance_loss():.4f}"),)

    def config(self):
        return {"name": self.name, "T": self.T}

    def sample(self, batch_size, rng):
        x, y = copy_batch(batch_size, self.T, rng)
        return Batch(x, y, None, per_step=True)

    def sequence_loss(self, out, batch):
        return cross_entropy_steps(out, batch.y).mean(0)

    def judge(self, out, batch):
        hit = out[-10:].argmax(-1) == batch.y[-10:]
        return {"right": hit.all(0), "symbols_right": hit.double().mean(0)}

    def solved(self, m):
        return m["right"] >= 0.99

    def chance_loss(self):
        return float(10 * np.log(8.0) / (self.T + 20))
