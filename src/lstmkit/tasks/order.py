"""Temporal order (Hochreiter & Schmidhuber 1997, Experiment 6a/6b).

Eight one-hot symbols: E (start), B (end), the fillers a, b, c, d, and X, Y. A sequence
of length 100-110 starts with E and ends with B; every other symbol is a random filler,
except at t1 in [10, 20] and t2 in [50, 60] (6a), or t1 in [10, 20], t2 in [33, 43] and
t3 in [66, 76] (6b), where it is X or Y. The class (4 in 6a, 8 in 6b) is the order of
the X/Y symbols, given at the end. A sequence is right if every output's error is below
0.3 (with a softmax output: the right class has probability > 0.7).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Batch, Published, Task

__all__ = ["ORDER_SYMBOLS", "temporal_order_batch", "TemporalOrder"]

ORDER_SYMBOLS = "EBabcdXY"
_WINDOWS = {"6a": ((10, 20), (50, 60)), "6b": ((10, 20), (33, 43), (66, 76))}


def temporal_order_batch(batch: int, rng: np.random.Generator, version: str = "6a"):
    """A batch of temporal-order sequences.

    Returns:
        ``(x, lengths, label, positions)``: x (T_max, B, 8) one-hot, lengths (B,) in
        [100, 110], label (B,) in [0, 2^k) with bit j (from the most significant) = 1 if
        the j-th marked symbol is Y, positions (B, k) the marked steps.

    Example:
        >>> import numpy as np
        >>> x, lengths, label, pos = temporal_order_batch(3, np.random.default_rng(0))
        >>> x.shape[-1], bool((x.sum(-1)[:100] == 1).all()), int(label.max()) < 4
        (8, True, True)
    """
    if version not in _WINDOWS:
        raise ValueError(f"version must be '6a' or '6b', got {version!r}")
    windows = _WINDOWS[version]
    lengths = rng.integers(100, 111, size=batch)
    T = int(lengths.max())
    sym = np.full((T, batch), -1, dtype=np.int64)
    label = np.zeros(batch, dtype=np.int64)
    positions = np.zeros((batch, len(windows)), dtype=np.int64)
    for b, n in enumerate(lengths):
        sym[:n, b] = rng.integers(2, 6, size=n)
        sym[0, b] = 0
        sym[n - 1, b] = 1
        for j, (lo, hi) in enumerate(windows):
            t = int(rng.integers(lo, hi + 1))
            which = int(rng.integers(2))
            sym[t, b] = 6 + which
            positions[b, j] = t
            label[b] = label[b] * 2 + which
    x = np.zeros((T, batch, 8), dtype=np.float32)
    t, b = np.nonzero(sym >= 0)
    x[t, b, sym[t, b]] = 1.0
    return torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(label), positions


class TemporalOrder(Task):
    """Temporal order 6a (4 classes) or 6b (8 classes), the class read at the end.

    Success (the paper's stopping rule, on fresh data): mean cross-entropy small and all
    2,000 sequences right (right class probability > 0.7); then 2,560 test sequences.

    Example:
        >>> import numpy as np
        >>> t = TemporalOrder("6b")
        >>> t.output_size, t.sample(2, np.random.default_rng(0)).y.shape
        (8, torch.Size([2]))
    """

    name = "order"
    title = "Temporal order"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 6"
    input_size = 8
    readout = "last"
    check_size = 2000
    criterion = "every output's error < 0.3 on the last 2,000 sequences"

    def __init__(self, version: str = "6a") -> None:
        if version not in _WINDOWS:
            raise ValueError(f"version must be '6a' or '6b', got {version!r}")
        self.version = version
        self.output_size = 2 ** len(_WINDOWS[version])
        self.published = (
            (Published("6a, 1997 LSTM, online", "", "31,390", "1/2560 test wrong"),)
            if version == "6a"
            else (Published("6b, 1997 LSTM, online", "", "571,100", "2/2560 test wrong"),)
        )

    def config(self):
        return {"name": self.name, "version": self.version}

    def sample(self, batch_size, rng):
        x, lengths, label, _ = temporal_order_batch(batch_size, rng, self.version)
        return Batch(x, label, lengths)

    def sequence_loss(self, out, batch):
        return F.cross_entropy(out, batch.y, reduction="none")

    def judge(self, out, batch):
        p = torch.softmax(out, -1)
        err = (p - F.one_hot(batch.y, self.output_size).to(p.dtype)).abs().amax(-1)
        return {"right": err < 0.3, "max_error": err}

    def chance_loss(self):
        return float(np.log(self.output_size))
