"""Long time lags (Hochreiter & Schmidhuber 1997, Experiments 2a and 2c).

2a (noise-free, no local regularities): p + 1 one-hot symbols x, y, a_1..a_{p-1}; the two
training sequences are (y, a_1, ..., a_{p-1}, y) and (x, a_1, ..., a_{p-1}, x); the net
predicts the next symbol at every step, so the last prediction needs the first symbol.
Success: maximal absolute output error < 0.25 on both sequences (the paper: over 10,000
successive sequences; the two sequences are the only ones, so checking both suffices).

2c (very long lags): p + 4 inputs (distractors a_1..a_p, e, b, x, y), two outputs. A
sequence is b, then x or y, then q distractors; then each step is e with probability
1/10, else a distractor; after e the net must output the x or y it saw at position 2.
Minimal length q + 4 (counting the final x/y, which is the target and not an input).
Success: both outputs' error < 0.2. With ``indices=True`` the task yields the symbols
as (T, B) int64 indices instead of one-hot vectors (the same sequences for the same
seed), for a model that embeds them (:class:`lstmkit.models.SequenceModel` ``embed``):
at p = 1000 a one-hot batch is T x B x 1,004 floats.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Batch, Published, Task, check_positive_int, cross_entropy_steps, masked_sequence_mean

__all__ = ["NoiseFreeLongLag", "VeryLongLag", "very_long_lag_batch"]


class NoiseFreeLongLag(Task):
    """Experiment 2a: ``(x|y, a_1, ..., a_{p-1}, x|y)``, next-symbol prediction.

    Symbols: 0 = x, 1 = y, 2.. = a_1..a_{p-1}. Softmax outputs, cross-entropy loss.

    Example:
        >>> import numpy as np
        >>> b = NoiseFreeLongLag(p=10).sample(2, np.random.default_rng(0))
        >>> b.x.shape, b.y.shape
        (torch.Size([10, 2, 11]), torch.Size([10, 2]))
    """

    name = "longlag2a"
    title = "Noise-free long time lag (2a)"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 2a"
    readout = "every"
    check_size = 2
    test_size = 2
    criterion = "maximal absolute output error < 0.25 at every step of both sequences"
    published = (
        Published("p=100, LSTM", "100%", "5,040"),
        Published("p>=10, RTRL / BPTT", "0%", ""),
    )

    def __init__(self, p: int = 100) -> None:
        self.p = check_positive_int("p", p, 2)
        self.input_size = self.output_size = p + 1

    def config(self):
        return {"name": self.name, "p": self.p}

    def _batch(self, first: np.ndarray) -> Batch:
        p, B = self.p, len(first)
        seq = np.empty((p + 1, B), dtype=np.int64)
        seq[0] = first
        seq[1:p] = np.arange(2, p + 1)[:, None]
        seq[p] = first
        x = F.one_hot(torch.from_numpy(seq[:p]), p + 1).float()
        return Batch(x, torch.from_numpy(seq[1:]), None, per_step=True)

    def sample(self, batch_size, rng):
        return self._batch(rng.integers(2, size=batch_size))

    def sample_test(self, n, rng):
        return self._batch(np.arange(n) % 2)

    def evaluate(self, model, rng, n=None, test=False):
        return super().evaluate(model, rng, 2, test=True)

    def sequence_loss(self, out, batch):
        return masked_sequence_mean(cross_entropy_steps(out, batch.y), batch.step_mask())

    def judge(self, out, batch):
        p = torch.softmax(out, -1)
        err = (p - F.one_hot(batch.y, self.output_size).to(p.dtype)).abs().amax(-1)  # (T, B)
        return {"right": (err < 0.25).all(0), "max_error": err.amax(0), "last_step_error": err[-1]}

    def chance_loss(self):
        # Only the last step is uncertain without memory: log 2 over p steps.
        return float(np.log(2.0) / self.p)


def very_long_lag_batch(batch: int, q: int, p: int, rng: np.random.Generator, indices: bool = False):
    """A batch of 2c sequences: ``(x (T_max, B, p+4), lengths (B,), label (B,) 0=x 1=y)``.

    Inputs: 0..p-1 distractors, p = e, p+1 = b, p+2 = x, p+3 = y. The last input of each
    sequence is e. With ``indices=True``, x is the (T_max, B) int64 symbols instead
    (padding: 0; the same sequences as the one-hot form for the same ``rng`` state).

    Example:
        >>> import numpy as np
        >>> x, lengths, y = very_long_lag_batch(3, 10, 5, np.random.default_rng(0))
        >>> bool((lengths >= 13).all()), bool((x[0, :, 6] == 1).all())
        (True, True)
        >>> very_long_lag_batch(3, 10, 5, np.random.default_rng(0), indices=True)[0][:2].tolist()
        [[6, 6, 6], [8, 8, 8]]
    """
    check_positive_int("q", q)
    check_positive_int("p", p)
    label = rng.integers(2, size=batch)
    seqs = []
    for b in range(batch):
        s = [p + 1, p + 2 + int(label[b])]
        s.extend(rng.integers(0, p, size=q).tolist())
        while True:
            if rng.random() < 0.1:
                s.append(p)
                break
            s.append(int(rng.integers(0, p)))
        seqs.append(s)
    lengths = np.array([len(s) for s in seqs])
    sym = np.zeros((int(lengths.max()), batch), dtype=np.int64)
    for b, s in enumerate(seqs):
        sym[: len(s), b] = s
    if indices:
        return torch.from_numpy(sym), torch.from_numpy(lengths), torch.from_numpy(label)
    x = np.zeros((int(lengths.max()), batch, p + 4), dtype=np.float32)
    for b, s in enumerate(seqs):
        x[np.arange(len(s)), b, s] = 1.0
    return torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(label)


class VeryLongLag(Task):
    """Experiment 2c: recall x/y after q (and more) distractors; read out after e.

    Example:
        >>> import numpy as np
        >>> VeryLongLag(q=10, p=10).sample(2, np.random.default_rng(0)).x.shape[-1]
        14
        >>> VeryLongLag(q=10, p=10, indices=True).sample(2, np.random.default_rng(0)).x.dtype
        torch.int64
    """

    name = "longlag2c"
    title = "Very long time lags (2c)"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 2c"
    output_size = 2
    readout = "last"
    check_size = 1000
    criterion = "both outputs' error < 0.2 on every sequence"
    _PUBLISHED = {(50, 50): "30,000", (100, 100): "31,000", (200, 200): "33,000", (500, 500): "38,000",
                  (1000, 1000): "49,000", (1000, 500): "49,000", (1000, 200): "75,000",
                  (1000, 100): "135,000", (1000, 50): "203,000"}

    def __init__(self, q: int = 100, p: int = 100, indices: bool = False) -> None:
        self.q = check_positive_int("q", q)
        self.p = check_positive_int("p", p)
        if not isinstance(indices, bool):
            raise TypeError(f"indices must be a bool, got {type(indices).__name__} {indices!r}")
        self.indices = indices
        self.input_size = p + 4
        rows = self._PUBLISHED if (q, p) not in self._PUBLISHED else {(q, p): self._PUBLISHED[(q, p)]}
        self.published = tuple(Published(f"q={a}, p={b}, 2 cells, lr 0.01", "100% (20 trials)", s)
                               for (a, b), s in rows.items())

    def config(self):
        d = {"name": self.name, "q": self.q, "p": self.p}
        return {**d, "indices": True} if self.indices else d

    def sample(self, batch_size, rng):
        x, lengths, y = very_long_lag_batch(batch_size, self.q, self.p, rng, indices=self.indices)
        return Batch(x, y, lengths)

    def sequence_loss(self, out, batch):
        return F.cross_entropy(out, batch.y, reduction="none")

    def judge(self, out, batch):
        prob = torch.softmax(out, -1)
        err = (prob - F.one_hot(batch.y, 2).to(prob.dtype)).abs().amax(-1)
        return {"right": err < 0.2, "max_error": err}

    def chance_loss(self):
        return float(np.log(2.0))
