"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology"; the xLSTM paper's
App. D memory-capacity test).

A sequence of T symbols starts with P key-value pairs ``k_1 v_1 ... k_P v_P`` (distinct
keys from the first half of the vocabulary, values from the second half); every key is
asked again once, at a random later position, in random order; the other positions hold
the filler symbol 0. At each query the model must output the value bound to that key
(per-step targets there, nothing elsewhere). Storing P associations and reading them by
key is what a matrix memory (mLSTM) does in one step and a vector state (sLSTM, LSTM)
must squeeze into its H numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Batch, Published, Task, check_positive_int, cross_entropy_steps, masked_sequence_mean

__all__ = ["mqar_batch", "MQAR"]


def mqar_batch(batch: int, T: int, pairs: int, vocab: int, rng: np.random.Generator):
    """``(x (T, B) int64 symbols, target (T, B) int64, -1 where nothing is asked)``.

    Args:
        batch: B. T: sequence length (>= 3 * pairs). pairs: P key-value pairs.
        vocab: V symbols (0 the filler; keys 1..V/2-1, values V/2..V-1).
        rng: the generator.

    Example:
        >>> import numpy as np
        >>> x, y = mqar_batch(3, 24, 4, 32, np.random.default_rng(0))
        >>> asked = y >= 0
        >>> int(asked.sum()), bool((x[asked] < 16).all() and (y[asked] >= 16).all())
        (12, True)
    """
    check_positive_int("T", T)
    check_positive_int("pairs", pairs)
    check_positive_int("vocab", vocab, 4)
    n_keys = vocab // 2 - 1
    if pairs > n_keys:
        raise ValueError(f"pairs must be <= vocab // 2 - 1 = {n_keys} (distinct keys), got {pairs}")
    if T < 3 * pairs:
        raise ValueError(f"T must be >= 3 * pairs = {3 * pairs} (the pairs, then one query per key), got {T}")
    keys = np.argsort(rng.random((batch, n_keys)), axis=1)[:, :pairs] + 1  # distinct, (B, P)
    values = rng.integers(vocab // 2, vocab, size=(batch, pairs))
    x = np.zeros((batch, T), dtype=np.int64)
    y = np.full((batch, T), -1, dtype=np.int64)
    x[:, 0:2 * pairs:2] = keys
    x[:, 1:2 * pairs:2] = values
    free = T - 2 * pairs
    pos = np.sort(np.argsort(rng.random((batch, free)), axis=1)[:, :pairs], axis=1) + 2 * pairs  # (B, P)
    order = np.argsort(rng.random((batch, pairs)), axis=1)
    rows = np.arange(batch)[:, None]
    x[rows, pos] = keys[rows, order]
    y[rows, pos] = values[rows, order]
    return torch.from_numpy(x.T.copy()), torch.from_numpy(y.T.copy())


class MQAR(Task):
    """Multi-query associative recall: P key-value pairs, then each key asked once.

    Args:
        T: sequence length. pairs: P. vocab: V symbols (inputs are symbol indices; the
            model embeds them).

    Example:
        >>> import numpy as np
        >>> t = MQAR(T=32, pairs=4, vocab=32)
        >>> b = t.sample(5, np.random.default_rng(0))
        >>> tuple(b.x.shape), t.input_size, t.output_size, round(t.chance_loss(), 3)
        ((32, 5), 32, 32, 2.773)
    """

    name = "mqar"
    title = "Multi-query associative recall"
    paper = "Arora et al. 2023 (Zoology); Beck et al. 2024 (xLSTM), App. D"
    readout = "every"
    check_size = 512
    test_size = 2048
    criterion = "99% of the queries answered right"

    def __init__(self, T: int = 64, pairs: int = 8, vocab: int = 64) -> None:
        self.T = check_positive_int("T", T)
        self.pairs = check_positive_int("pairs", pairs)
        self.vocab = check_positive_int("vocab", vocab, 4)
        mqar_batch(1, T, pairs, vocab, np.random.default_rng(0))  # checks the combination
        self.input_size = self.output_size = vocab
        self.published = (
            Published("xLSTM paper, Fig. (MQAR, App. D): mLSTM-containing models (xLSTM[1:1], [1:0]) beat "
                      "sLSTM-only and the LSTM at every model size, the gap growing with the key-value pairs "
                      "(unverified: the figure's numbers were not read)", "", ""),
            Published(f"chance: a value guessed among {vocab - vocab // 2}", f"{100 / (vocab - vocab // 2):.1f}% of queries", ""),
        )

    def config(self):
        return {"name": self.name, "T": self.T, "pairs": self.pairs, "vocab": self.vocab}

    def sample(self, batch_size, rng):
        x, y = mqar_batch(batch_size, self.T, self.pairs, self.vocab, rng)
        return Batch(x, y, None, mask=y >= 0, per_step=True)

    def sequence_loss(self, out, batch):
        # the mean over the queries of each sequence (steps without a query carry no loss)
        return masked_sequence_mean(cross_entropy_steps(out, batch.y), batch.y >= 0)

    def judge(self, out, batch):
        asked = batch.y >= 0
        hit = (out.argmax(-1) == batch.y) & asked
        frac = hit.sum(0).double() / asked.sum(0).clamp_min(1).double()
        return {"right": frac == 1.0, "query_accuracy": frac}

    def solved(self, m):
        return m["query_accuracy"] >= 0.99

    def chance_loss(self):
        return float(np.log(self.vocab - self.vocab // 2))
