"""Polyphonic music models over piano rolls, and the baselines they are measured against.

:class:`PolyphonicRNN` is a recurrent network with a **per-step multi-label output** (not an
NADE): at step t it reads the previous frame ``x_{t-1}`` (a zero frame at t = 0) and gives
every key an independent probability,

    p(x_t | x_{<t}) = prod_k sigmoid(a_{t,k})^{x_{t,k}} (1 - sigmoid(a_{t,k}))^{1 - x_{t,k}},
    a_t = W h_t + b,  h_t = recurrence(h_{t-1}, x_{t-1}),

the "RNN" row of Boulanger-Lewandowski et al. (2012), with any registered vector family as
the recurrence (``cell="lstm"`` with a variant, ``"elman"``, ``"gru"``, ...; found through
:mod:`lstmkit.families` by :class:`~lstmkit.models.SequenceModel`). The keys of one frame
are independent given the past; an NADE output would model them jointly.

Baselines (fitted on the training rolls, scored with the same NLL per time step):

- :class:`PitchMarginal`: every key independently on with its training frequency (add-1/2
  smoothing), the same at every step.
- :class:`ChordNGram`: an n-gram model over whole frames ("chords": the set of sounding
  keys), interpolated recursively with Dirichlet smoothing down to the marginal model:
  ``p_j(c | h_j) = (N(h_j, c) + beta p_{j-1}(c | h_{j-1})) / (N(h_j) + beta)`` with
  ``p_0 = PitchMarginal``, ``h_j`` the last j - 1 frames (j = 1: no history). Each level
  sums to one over all 2^88 frames, so an unseen chord has a finite, proper probability.

NLL per time step is ``-log p(x_t | x_{<t})`` in nats, summed over keys, averaged over
every frame of every sequence (each frame weighs the same: Boulanger-Lewandowski's rule).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sequence import SequenceModel

__all__ = ["PolyphonicRNN", "PitchMarginal", "ChordNGram", "shift_frames", "pad_rolls", "frame_nll"]


def pad_rolls(rolls: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """(T, B, P) float32 zero-padded rolls and (B,) lengths.

    Example:
        >>> x, n = pad_rolls([np.ones((3, 2)), np.ones((1, 2))])
        >>> x.shape, n.tolist(), float(x[2, 1].sum())
        (torch.Size([3, 2, 2]), [3, 1], 0.0)
    """
    if not len(rolls):
        raise ValueError("rolls is empty; expected at least one piano roll")
    P = rolls[0].shape[1]
    T = max(len(r) for r in rolls)
    x = torch.zeros(T, len(rolls), P)
    for b, r in enumerate(rolls):
        if r.ndim != 2 or r.shape[1] != P:
            raise ValueError(f"rolls[{b}] must be (T, {P}), got shape {r.shape}")
        x[: len(r), b] = torch.as_tensor(np.asarray(r, dtype=np.float32))
    return x, torch.tensor([len(r) for r in rolls])


def shift_frames(x: Tensor) -> Tensor:
    """The inputs of next-frame prediction: ``x`` delayed by one step, a zero frame first."""
    return torch.cat([torch.zeros_like(x[:1]), x[:-1]], 0)


def frame_nll(logits: Tensor, target: Tensor, lengths: Tensor | None = None) -> Tensor:
    """(T, B) negative log-likelihood of each frame in nats (Bernoulli per key, summed over
    keys); zero past each length.

    Example:
        >>> abs(float(frame_nll(torch.zeros(1, 1, 2), torch.ones(1, 1, 2))[0, 0]) - 2 * math.log(2)) < 1e-6
        True
    """
    nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    if lengths is not None:
        T = nll.shape[0]
        mask = torch.arange(T, device=nll.device).unsqueeze(1) < lengths.to(nll.device).unsqueeze(0)
        nll = nll * mask
    return nll


class PolyphonicRNN(nn.Module):
    """Next-frame piano-roll model with a sigmoid (multi-label) output per key; see the
    module docstring for the equations.

    Args:
        num_pitches: P, keys per frame (88 for the piano).
        hidden_size: H, units per layer.
        num_layers: stacked layers.
        cell: a registered family with vector inputs (``"lstm"``, ``"elman"``, ``"gru"``...).
        variant: the LSTM preset (lstm only).
        input_dropout: dropout on the input frames while training.

    Inputs: ``x`` (T, B, P) piano rolls (the *targets*; the model reads them delayed by one
    step), ``lengths`` optional (B,). Output: logits (T, B, P) of ``p(x_t | x_{<t})``.

    Example:
        >>> m = PolyphonicRNN(88, 16)
        >>> x = (torch.rand(10, 2, 88) < 0.05).float()
        >>> m(x).shape, m.nll(x).shape
        (torch.Size([10, 2, 88]), torch.Size([10, 2]))
        >>> m.sample(5, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([5, 88])
    """

    def __init__(self, num_pitches: int, hidden_size: int = 128, num_layers: int = 1, cell: str = "lstm",
                 variant: str | None = "vanilla", input_dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(input_dropout, (int, float)) or isinstance(input_dropout, bool) or not 0 <= input_dropout < 1:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout!r}")
        self.net = SequenceModel(num_pitches, hidden_size, num_pitches, cell=cell,
                                 variant=variant if variant is not None else "vanilla", num_layers=num_layers)
        self.config = dict(num_pitches=num_pitches, hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                           variant=variant, input_dropout=float(input_dropout))
        self.num_pitches = num_pitches
        self.input_dropout = float(input_dropout)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.num_pitches:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be (T, B, {self.num_pitches}) piano rolls, got {got}")

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        self._check(x)
        inp = shift_frames(x)
        if self.training and self.input_dropout > 0:
            inp = F.dropout(inp, self.input_dropout)
        return self.net(inp, lengths=lengths)[0]

    @torch.no_grad()
    def init_output_bias(self, rates) -> None:
        """Start the output biases at the log-odds of each key's frequency ``rates`` (P,)
        (clipped to [1e-4, 1 - 1e-4]): the untrained model then predicts the per-pitch
        marginal instead of 1/2 for every key, ~61 nats per frame less on 88 keys.

        Example:
            >>> m = PolyphonicRNN(2, 4); m.init_output_bias([0.5, 0.1])
            >>> [round(float(v), 3) for v in torch.sigmoid(m.net.head.bias.detach())]
            [0.5, 0.1]
        """
        p = torch.as_tensor(np.asarray(rates, dtype=np.float64)).clamp(1e-4, 1 - 1e-4)
        if p.shape != (self.num_pitches,):
            raise ValueError(f"rates must hold {self.num_pitches} frequencies, got shape {tuple(p.shape)}")
        self.net.head.bias.copy_(torch.log(p / (1 - p)).to(self.net.head.bias.dtype))

    def nll(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(T, B) NLL of each frame in nats (zero past each length)."""
        return frame_nll(self(x, lengths), x, lengths)

    @torch.no_grad()
    def sample(self, n: int, prime: Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, on_step=None) -> Tensor:
        """(n, P) frames sampled one at a time (each key a Bernoulli draw of its sigmoid,
        the logits divided by ``temperature``; 0: keys above 1/2), after reading ``prime``
        (T0, P) frames if given (they are not part of the result). ``on_step(1)`` is called
        after each sampled frame (a progress bar's ``update``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a whole number >= 0, got {n!r}")
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not (
                math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        was = self.training
        self.eval()
        try:
            step = self.net.rnn.stepper()
            state = None
            prev = torch.zeros(1, self.num_pitches)
            if prime is not None:
                if prime.dim() != 2 or prime.shape[1] != self.num_pitches:
                    raise ValueError(f"prime must be (T, {self.num_pitches}) frames, got {tuple(prime.shape)}")
                for frame in prime.float():
                    _, state = step(prev, state)
                    prev = frame.unsqueeze(0)
            out = torch.zeros(n, self.num_pitches)
            for t in range(n):
                h, state = step(prev, state)
                a = self.net.head(h)[0]
                if temperature == 0:
                    frame = (a > 0).float()
                else:
                    frame = torch.bernoulli(torch.sigmoid(a / temperature), generator=generator)
                out[t] = frame
                prev = frame.unsqueeze(0)
                if on_step is not None:
                    on_step(1)
            return out
        finally:
            self.train(was)


# ---------------------------------------------------------------------- baselines

class PitchMarginal:
    """Every key on independently with its frequency in the training frames:
    ``p_k = (N_k + 1/2) / (N + 1)`` (N frames, key k on in N_k of them).

    Example:
        >>> m = PitchMarginal.fit([np.array([[1, 0], [1, 0], [0, 0]])])
        >>> m.p.tolist()
        [0.625, 0.125]
        >>> bool(abs(m.nll(np.array([[1, 0]]))[0] + math.log(0.625) + math.log(0.875)) < 1e-12)
        True
    """

    def __init__(self, p: np.ndarray) -> None:
        self.p = np.asarray(p, dtype=np.float64)
        self._log_on, self._log_off = np.log(self.p), np.log1p(-self.p)

    @classmethod
    def fit(cls, rolls: Sequence[np.ndarray]) -> "PitchMarginal":
        frames = np.concatenate([np.asarray(r) > 0.5 for r in rolls])
        return cls((frames.sum(0) + 0.5) / (len(frames) + 1.0))

    def log_prob(self, frames: np.ndarray) -> np.ndarray:
        """log p of each frame (T,) of (T, P)."""
        f = np.asarray(frames) > 0.5
        return np.where(f, self._log_on, self._log_off).sum(-1)

    def log_prob_keys(self, keys: tuple[int, ...]) -> float:
        """log p of the one frame whose sounding keys are ``keys``."""
        k = list(keys)
        return float(self._log_off.sum() + (self._log_on[k] - self._log_off[k]).sum())

    def nll(self, roll: np.ndarray) -> np.ndarray:
        """(T,) NLL of each frame in nats."""
        return -self.log_prob(roll)

    def predict(self, roll: np.ndarray) -> np.ndarray:
        """The most likely frame at every step: the keys with p > 1/2."""
        return np.broadcast_to(self.p > 0.5, np.asarray(roll).shape).astype(np.float32)


def _keys(frame: np.ndarray) -> tuple[int, ...]:
    return tuple(int(k) for k in np.flatnonzero(np.asarray(frame) > 0.5))


_START = ("<s>",)


class ChordNGram:
    """An n-gram model over whole frames, recursively Dirichlet-smoothed down to
    :class:`PitchMarginal` (see the module docstring). ``order`` n: a frame is predicted
    from the n - 1 frames before it (a start symbol before the first).

    Example:
        >>> rolls = [np.array([[1, 0], [0, 1], [1, 0], [0, 1]])]
        >>> m = ChordNGram.fit(rolls, order=2, beta=1.0)
        >>> p = math.exp(-m.nll(np.array([[1, 0], [0, 1]]))[1])  # (0,) was followed by (1,) twice
        >>> abs(p - (2 + 1.0 * m.level_prob((1,), ((0,),), 0)) / (2 + 1.0)) < 1e-12
        True
    """

    def __init__(self, order: int, beta: float, marginal: PitchMarginal, counts: list[dict], top: list) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be a whole number >= 1, got {order!r}")
        if not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"beta must be a number > 0, got {beta!r}")
        self.order, self.beta, self.marginal = order, float(beta), marginal
        self.counts = counts  # counts[j][history of length j] -> Counter(next chord)
        self.totals = [{h: sum(c.values()) for h, c in level.items()} for level in counts]
        self.top = top  # the most frequent chords (prediction candidates)

    @classmethod
    def fit(cls, rolls: Sequence[np.ndarray], order: int = 3, beta: float = 1.0,
            marginal: PitchMarginal | None = None) -> "ChordNGram":
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be a whole number >= 1, got {order!r}")
        if not len(rolls):
            raise ValueError("rolls is empty; expected at least one training piano roll")
        marginal = marginal or PitchMarginal.fit(rolls)
        counts: list[dict] = [defaultdict(Counter) for _ in range(order)]
        for r in rolls:
            seq = [_START] * (order - 1) + [_keys(f) for f in r]
            for t in range(order - 1, len(seq)):
                c = seq[t]
                for j in range(order):
                    counts[j][tuple(seq[t - j:t])][c] += 1
        counts = [dict(level) for level in counts]
        top = [c for c, _ in counts[0][()].most_common(20)]
        return cls(order, beta, marginal, counts, top)

    def level_prob(self, chord: tuple, history: tuple, j: int) -> float:
        """p_j(chord | the last j frames of history), j = 0: no history (level 1 of the
        module docstring), down to the marginal."""
        if j < 0:
            return math.exp(self.marginal.log_prob_keys(chord))
        h = tuple(history[len(history) - j:]) if j else ()
        lower = self.level_prob(chord, history, j - 1)
        level = self.counts[j].get(h)
        if level is None:
            return lower
        return (level.get(chord, 0) + self.beta * lower) / (self.totals[j][h] + self.beta)

    def _histories(self, roll: np.ndarray):
        seq = [_START] * (self.order - 1) + [_keys(f) for f in roll]
        for t in range(self.order - 1, len(seq)):
            yield seq[t], tuple(seq[t - self.order + 1:t])

    def nll(self, roll: np.ndarray) -> np.ndarray:
        """(T,) NLL of each frame in nats."""
        out = []
        for chord, hist in self._histories(roll):
            p = self.level_prob(chord, hist, self.order - 1)
            out.append(-math.log(p) if p > 0 else -self.marginal.log_prob_keys(chord))
        return np.asarray(out)

    def predict(self, roll: np.ndarray) -> np.ndarray:
        """The most probable frame at each step given the true frames before it, among the
        chords seen after this history, the 20 most frequent chords and the marginal's
        most likely frame (any other chord is less likely than those)."""
        P = np.asarray(roll).shape[1]
        mode = _keys(self.marginal.p > 0.5)
        out = np.zeros((len(roll), P), np.float32)
        for t, (_, hist) in enumerate(self._histories(roll)):
            cands = set(self.top) | {mode}
            for j in range(1, self.order):
                level = self.counts[j].get(tuple(hist[len(hist) - j:]))
                if level:
                    cands.update(level)
            cands.discard(_START)
            best = max(cands, key=lambda c: (self.level_prob(c, hist, self.order - 1), c))
            out[t, list(best)] = 1.0
        return out
