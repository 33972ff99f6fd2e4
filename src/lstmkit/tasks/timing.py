"""Precise timing (Gers, Schraudolph & Schmidhuber 2002): measuring and generating delays.

Spike times follow T(n) = T(n-1) + F + I(n), with T(0) = 0 and I(n) uniform in
{0, ..., I_max}. Our parameterisation (F, I_max and the input code are ours; the paper
varies them):

- MSD, measuring spike delays: the input is 1 at every spike time, else 0. At each T(n),
  n >= 1, the (linear) output must equal I(n); a spike is right if the error is < 0.49.
- GTS, generating timed spikes: at T(n-1) the input carries a cue (channel 0 = 1) and the
  delay I(n) / I_max (channel 1); the output must spike (1) at T(n) and stay at 0
  elsewhere; a step is right if the error is < 0.49.

Training sequences chain ``intervals`` intervals; the test chains ``test_intervals``
(the paper's continual version: 100). Passing = 1,000 consecutive spikes right.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Batch, Published, Task, check_positive_int

__all__ = ["spike_train", "MeasureSpikeDelays", "GenerateTimedSpikes"]


def spike_train(batch: int, intervals: int, F: int, I_max: int, rng: np.random.Generator):
    """Spike times: ``(times (B, intervals + 1), delays (B, intervals))``; times[:, 0] = 0.

    Example:
        >>> import numpy as np
        >>> t, d = spike_train(2, 3, 10, 4, np.random.default_rng(0))
        >>> bool((np.diff(t, axis=1) == 10 + d).all())
        True
    """
    check_positive_int("intervals", intervals)
    check_positive_int("F", F)
    check_positive_int("I_max", I_max, 0)
    delays = rng.integers(0, I_max + 1, size=(batch, intervals))
    times = np.zeros((batch, intervals + 1), dtype=np.int64)
    times[:, 1:] = np.cumsum(F + delays, axis=1)
    return times, delays


class _Timing(Task):
    readout = "every"
    check_size = 100
    test_size = 10

    def __init__(self, F: int = 10, I_max: int = 4, intervals: int = 10, test_intervals: int = 100) -> None:
        self.F = check_positive_int("F", F)
        self.I_max = check_positive_int("I_max", I_max, 1)
        self.intervals = check_positive_int("intervals", intervals)
        self.test_intervals = check_positive_int("test_intervals", test_intervals)

    def config(self):
        return {"name": self.name, "F": self.F, "I_max": self.I_max, "intervals": self.intervals,
                "test_intervals": self.test_intervals}

    def sample(self, batch_size, rng):
        return self._make(batch_size, self.intervals, rng)

    def sample_test(self, n, rng):
        return self._make(n, self.test_intervals, rng)

    def solved(self, m):
        return m["wrong"] == 0


class MeasureSpikeDelays(_Timing):
    """MSD: output the delay I(n) at each spike.

    Example:
        >>> import numpy as np
        >>> b = MeasureSpikeDelays(F=5, I_max=2, intervals=3).sample(2, np.random.default_rng(0))
        >>> b.x.shape[-1], int(b.mask.sum()) == 6
        (1, True)
    """

    name = "msd"
    title = "Measuring spike delays (MSD)"
    paper = "Gers, Schraudolph & Schmidhuber 2002"
    input_size = 1
    output_size = 1
    criterion = "every spike's delay within 0.49 (1,000 consecutive spikes right)"
    published = (Published("1 block, 1 cell, with or without peepholes", "solved", "",
                           "peepholes tell 50 from 49 steps"),)

    def _make(self, batch, intervals, rng):
        times, delays = spike_train(batch, intervals, self.F, self.I_max, rng)
        T = int(times[:, -1].max()) + 1
        lengths = times[:, -1] + 1
        x = np.zeros((T, batch, 1), dtype=np.float32)
        y = np.zeros((T, batch), dtype=np.float32)
        mask = np.zeros((T, batch), dtype=bool)
        for b in range(batch):
            x[times[b], b, 0] = 1.0
            y[times[b, 1:], b] = delays[b]
            mask[times[b, 1:], b] = True
        return Batch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lengths),
                     mask=torch.from_numpy(mask), per_step=True)

    def sequence_loss(self, out, batch):
        m = batch.step_mask().to(out.dtype)
        return (((out.squeeze(-1) - batch.y) ** 2) * m).sum(0) / m.sum(0)

    def judge(self, out, batch):
        m = batch.step_mask()
        err = (out.squeeze(-1) - batch.y).abs()
        ok = (err < 0.49) | ~m
        return {"right": ok.all(0), "spikes_wrong": (~ok).sum(0).double()}

    def chance_loss(self):
        return float(((self.I_max + 1) ** 2 - 1) / 12)  # variance of a uniform delay


class GenerateTimedSpikes(_Timing):
    """GTS: spike F + I(n) steps after a cue that carries I(n).

    Example:
        >>> import numpy as np
        >>> b = GenerateTimedSpikes(F=5, I_max=2, intervals=3).sample(2, np.random.default_rng(0))
        >>> b.x.shape[-1], int(b.y.sum()) == 6
        (2, True)
    """

    name = "gts"
    title = "Generating timed spikes (GTS)"
    paper = "Gers, Schraudolph & Schmidhuber 2002"
    input_size = 2
    output_size = 1
    criterion = "every output step within 0.49 of its target (1,000 consecutive spikes right)"
    published = (Published("1 block, 1 cell", "needs peepholes", "", "GTS effectively needs peepholes"),)

    def _make(self, batch, intervals, rng):
        times, delays = spike_train(batch, intervals, self.F, self.I_max, rng)
        T = int(times[:, -1].max()) + 1
        lengths = times[:, -1] + 1
        x = np.zeros((T, batch, 2), dtype=np.float32)
        y = np.zeros((T, batch), dtype=np.float32)
        for b in range(batch):
            x[times[b, :-1], b, 0] = 1.0
            x[times[b, :-1], b, 1] = delays[b] / self.I_max
            y[times[b, 1:], b] = 1.0
        return Batch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lengths), per_step=True)

    def sequence_loss(self, out, batch):
        m = batch.step_mask().to(out.dtype)
        # Spikes are rare: weight a spike step like all the silent steps of its interval.
        w = 1.0 + batch.y * (self.F + self.I_max / 2)
        return (((torch.sigmoid(out.squeeze(-1)) - batch.y) ** 2) * w * m).sum(0) / (w * m).sum(0)

    def judge(self, out, batch):
        m = batch.step_mask()
        err = (torch.sigmoid(out.squeeze(-1)) - batch.y).abs()
        ok = (err < 0.49) | ~m
        spikes_wrong = ((~ok) & (batch.y > 0.5)).sum(0).double()
        return {"right": ok.all(0), "steps_wrong": (~ok).sum(0).double(), "spikes_missed": spikes_wrong}

    def chance_loss(self):
        return 0.25
