"""Counting languages a^n b^n and a^n b^n c^n (Gers & Schmidhuber 2001).

Strings ``S a^n b^n T`` and ``S a^n b^n c^n T`` (n >= 1), one-hot. At every step the net
predicts the SET of legal next symbols (sigmoid outputs, thresholded at 0.5); a string is
accepted only if every prediction is right. After S: {a}; after an a: {a, b}; after the
k-th b: {b} while k < n, then {T} (a^n b^n) or {c} (a^n b^n c^n); after the k-th c: {c}
while k < n, then {T}. Training uses n <= 10; generalisation is the largest M such that
every n in [1, M] is accepted.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Batch, Published, Task, check_positive_int

__all__ = ["counting_batch", "accepts_counting", "CountingLanguage"]

_ALPHABET = {2: "SabT", 3: "SabcT"}


def _targets(n: int, k: int) -> tuple[list[int], list[list[int]]]:
    """Input symbols (S, a.., b.., [c..]) and the legal-next set after each."""
    T = k + 1
    syms = [0] + [1] * n + [2] * n + ([3] * n if k == 3 else [])
    legal = [[1]]
    legal += [[1, 2]] * n
    legal += [[2]] * (n - 1) + [[3] if k == 3 else [T]]
    if k == 3:
        legal += [[3]] * (n - 1) + [[T]]
    return syms, legal


def counting_batch(ns, letters: int = 3):
    """Strings for the given n's: ``(x (T, B, K), lengths (B,), legal (T, B, K) bool)``.

    K = letters + 2 symbols (S, a, b, [c], T); T (the end) is never an input.

    Example:
        >>> x, lengths, legal = counting_batch([1, 2], letters=2)
        >>> lengths.tolist(), legal[:3, 0].int().tolist()
        ([3, 5], [[0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]])
    """
    if letters not in _ALPHABET:
        raise ValueError(f"letters must be 2 (a^n b^n) or 3 (a^n b^n c^n), got {letters!r}")
    ns = [check_positive_int("n", int(n)) for n in ns]
    K = letters + 2
    lengths = np.array([letters * n + 1 for n in ns])
    T = int(lengths.max())
    x = np.zeros((T, len(ns), K), dtype=np.float32)
    legal = np.zeros((T, len(ns), K), dtype=bool)
    for b, n in enumerate(ns):
        syms, leg = _targets(n, letters)
        x[np.arange(len(syms)), b, syms] = 1.0
        for t, s in enumerate(leg):
            legal[t, b, s] = True
    return torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(legal)


def accepts_counting(s: str, letters: int = 3) -> bool:
    """Whether ``s`` is ``S a^n b^n [c^n] T`` with n >= 1 (an independent check).

    Example:
        >>> accepts_counting("SaabbccT"), accepts_counting("SaabbcT"), accepts_counting("SabT", 2)
        (True, False, True)
    """
    if not (s.startswith("S") and s.endswith("T")):
        return False
    body = s[1:-1]
    n = len(body) // letters
    return n >= 1 and body == "".join(ch * n for ch in "abc"[:letters])


class CountingLanguage(Task):
    """a^n b^n (``letters=2``) or a^n b^n c^n (``letters=3``), n in [1, train_max].

    Training minibatches draw n uniformly from [1, ``train_max``]. The periodic check
    accepts every n in [1, train_max]; the final test reports the generalisation M over
    n in [1, ``test_max``].

    Example:
        >>> import numpy as np
        >>> t = CountingLanguage(3)
        >>> t.input_size, t.sample(2, np.random.default_rng(0)).y.shape[-1]
        (5, 5)
    """

    name = "anbncn"
    readout = "every"
    paper = "Gers & Schmidhuber 2001"
    criterion = "every n in [1, 10] accepted (all legal-next sets right); report the largest M with all n <= M accepted"

    def __init__(self, letters: int = 3, train_max: int = 10, test_max: int = 1000) -> None:
        if letters not in _ALPHABET:
            raise ValueError(f"letters must be 2 or 3, got {letters!r}")
        self.letters = letters
        self.train_max = check_positive_int("train_max", train_max)
        self.test_max = check_positive_int("test_max", test_max)
        self.name = "anbn" if letters == 2 else "anbncn"
        self.title = "a^n b^n" if letters == 2 else "a^n b^n c^n"
        self.input_size = self.output_size = letters + 2
        self.check_size = self.train_max
        self.test_size = self.test_max
        self.published = (
            (Published("peephole LSTM + forget gates, n <= 10", "", "", "generalises to n ~ 1,000 (R)"),)
            if letters == 2 else
            (Published("peephole LSTM + forget gates, n <= 10", "", "", "generalises to several hundred (R)"),
             Published("same, Kalman-filter (DEKF) training", "", "", "n <= 10 -> n = 1,000 and more"))
        )

    def config(self):
        return {"name": self.name, "letters": self.letters, "train_max": self.train_max, "test_max": self.test_max}

    def _batch(self, ns) -> Batch:
        x, lengths, legal = counting_batch(ns, self.letters)
        return Batch(x, legal.float(), lengths, per_step=True, extra={"ns": list(ns)})

    def sample(self, batch_size, rng):
        return self._batch(rng.integers(1, self.train_max + 1, size=batch_size).tolist())

    def sequence_loss(self, out, batch):
        bce = F.binary_cross_entropy_with_logits(out, batch.y, reduction="none").sum(-1)  # (T, B)
        m = batch.step_mask().to(bce.dtype)
        return (bce * m).sum(0) / m.sum(0)

    def judge(self, out, batch):
        ok = ((out > 0) == (batch.y > 0.5)).all(-1) | ~batch.step_mask()
        return {"right": ok.all(0)}

    @torch.no_grad()
    def accepted(self, model, n_max: int, chunk: int = 250, with_loss: bool = False):
        """(n_max,) bool: whether the string with n = 1..n_max is accepted (and, with
        ``with_loss``, the (n_max,) per-string losses too)."""
        was = model.training
        model.eval()
        out_ok, losses = [], []
        try:
            for lo in range(1, n_max + 1, chunk):
                batch = self._batch(list(range(lo, min(lo + chunk, n_max + 1))))
                out, _ = model(batch.x, batch.lengths)
                out_ok.append(self.judge(out, batch)["right"].numpy())
                losses.append(self.sequence_loss(out, batch).numpy())
        finally:
            model.train(was)
        ok = np.concatenate(out_ok)
        return (ok, np.concatenate(losses)) if with_loss else ok

    @staticmethod
    def generalisation(ok: np.ndarray) -> int:
        """The largest M with ok[0..M-1] all True."""
        bad = np.nonzero(~ok)[0]
        return int(bad[0]) if len(bad) else int(len(ok))

    def evaluate(self, model, rng, n=None, test=False):
        """Check (``test=False``): every n in [1, train_max]; test: n in [1, test_max]."""
        n_max = (self.test_max if test else self.train_max) if n is None else n
        ok, losses = self.accepted(model, n_max, with_loss=True)
        M = self.generalisation(ok)
        res = {"n": n_max, "wrong": int((~ok).sum()), "right": float(ok.mean()), "generalisation": M,
               "loss": float(losses[: self.train_max].mean()),
               "accepted_in_train_range": bool(ok[: self.train_max].all()) if n_max >= self.train_max else None}
        res["solved"] = M >= min(self.train_max, n_max)
        return res

    def chance_loss(self):
        # Blind to the count: the b->T/c and c->T transitions cannot be predicted. A rough
        # bound: the initial all-0.5 output pays K log 2 per step.
        return float(self.output_size * np.log(2.0))
