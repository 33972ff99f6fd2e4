"""Free-running time-series generation: superimposed sines and Mackey-Glass (Evolino 2007).

A net is fed the true value s_t (teacher forcing) and predicts s_{t+1} over the training
steps ``[0, train_end)``; it is then tested RUNNING FREE: after the training steps its own
output is its next input, for ``test_steps`` steps. The error is the normalised root mean
squared error, ``NRMSE = sqrt(mean((y - s)^2)) / std(s)`` over the free-running steps
(Mackey-Glass: also NRMSE84, the error 84 steps ahead, Jaeger's measure).

The tasks fit the trainer (:meth:`FreeRunningTask.sample` draws teacher-forced windows of
the training steps, so gradient-trained nets learn from exactly the data Evolino sees)
and Evolino (:attr:`FreeRunningTask.series`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .base import Batch, Published, Task, check_positive_int

__all__ = ["SINE_FREQUENCIES", "superimposed_sines", "mackey_glass", "nrmse", "FreeRunningTask",
           "SuperimposedSines", "MackeyGlass"]

SINE_FREQUENCIES = (0.2, 0.311, 0.42, 0.51, 0.74)
"""The frequencies of the superimposed-sines task (Schmidhuber et al. 2007): the first k for k sines."""


def superimposed_sines(k: int, length: int) -> np.ndarray:
    """``s_t = sum_{j<k} sin(f_j t)``, t = 0 .. length-1, with :data:`SINE_FREQUENCIES`.

    Example:
        >>> superimposed_sines(2, 3).round(3).tolist()
        [0.0, 0.505, 0.972]
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(SINE_FREQUENCIES):
        raise ValueError(f"k (the number of sines) must be an int in [1, {len(SINE_FREQUENCIES)}], got {k!r}")
    t = np.arange(check_positive_int("length", length), dtype=np.float64)
    return sum(np.sin(f * t) for f in SINE_FREQUENCIES[:k])


def mackey_glass(length: int, tau: float = 17.0, dt: float = 0.1, x0: float = 1.2, discard: int = 1000,
                 subsample: int = 1) -> np.ndarray:
    """The Mackey-Glass series ``dx/dt = 0.2 x(t-tau) / (1 + x(t-tau)^10) - 0.1 x(t)``.

    Integrated with 4th-order Runge-Kutta at step ``dt`` (the delayed term held at its
    grid values), from the constant history ``x0``; sampled every ``subsample`` time
    units; the first ``discard`` samples (the transient) dropped.

    Example:
        >>> s = mackey_glass(500)
        >>> s.shape, bool(0.2 < s.min() < s.max() < 1.5)
        ((500,), True)
    """
    check_positive_int("length", length)
    per = int(round(1.0 / dt))
    lag = int(round(tau / dt))
    n = (length + discard) * subsample * per + 1
    x = np.empty(n + lag)
    x[: lag + 1] = x0

    def f(xt, xd):
        return 0.2 * xd / (1.0 + xd ** 10) - 0.1 * xt

    for i in range(lag, n + lag - 1):
        xd, xd1 = x[i - lag], x[i - lag + 1]
        xm = 0.5 * (xd + xd1)
        k1 = f(x[i], xd)
        k2 = f(x[i] + 0.5 * dt * k1, xm)
        k3 = f(x[i] + 0.5 * dt * k2, xm)
        k4 = f(x[i] + dt * k3, xd1)
        x[i + 1] = x[i] + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    samples = x[lag::per * subsample]
    return samples[discard: discard + length].copy()


def nrmse(y, target) -> float:
    """``sqrt(mean((y - target)^2)) / std(target)``.

    Example:
        >>> nrmse([1.0, 2.0], [1.0, 3.0])
        0.7071067811865476
    """
    y, target = np.asarray(y, dtype=np.float64), np.asarray(target, dtype=np.float64)
    return float(np.sqrt(np.mean((y - target) ** 2)) / max(float(np.std(target)), 1e-12))


class FreeRunningTask(Task):
    """Generate a series: teacher-forced training steps, then free-running test steps.

    Args (of subclasses): ``train_end`` training steps (the first ``washout`` of them
    only warm the state up: no target there), ``test_steps`` free-running steps after
    them, ``window`` the length of a training window drawn by :meth:`sample` (None: the
    whole training stretch), ``threshold`` the NRMSE under which a test counts as solved.

    The check during training (``evaluate(test=False)``) is the free-running NRMSE over
    the training steps after the washout (what Evolino's fitness measures); the test
    runs free after ``train_end`` (steps never trained on).
    """

    readout = "every"
    input_size = output_size = 1
    check_size = test_size = 1
    series: np.ndarray

    def _setup(self, series: np.ndarray, train_end: int, washout: int, test_steps: int, window, threshold: float):
        self.train_end = check_positive_int("train_end", train_end, 3)
        self.washout = check_positive_int("washout", washout)
        self.test_steps = check_positive_int("test_steps", test_steps)
        if not self.washout < self.train_end - 2:
            raise ValueError(f"washout must be < train_end - 2, got washout={washout}, train_end={train_end}")
        if window is not None:
            window = check_positive_int("window", window, self.washout + 2)
            if window > self.train_end:
                raise ValueError(f"window must be <= train_end={train_end}, got {window}")
        self.window = window
        if not threshold > 0:
            raise ValueError(f"threshold must be positive, got {threshold!r}")
        self.threshold = float(threshold)
        self.series = np.asarray(series, dtype=np.float32)
        self.criterion = (f"free-running NRMSE over test steps {self.train_end}-{self.train_end + self.test_steps - 1} "
                          f"< {self.threshold:g}")

    def tensor(self) -> Tensor:
        """(T, 1) the whole series as a float32 tensor."""
        return torch.from_numpy(self.series[:, None])

    def sample(self, batch_size, rng):
        """``batch_size`` teacher-forced windows of the training steps: x = s_t, y = s_{t+1};
        each window's first ``washout`` steps carry no target."""
        L = self.window or self.train_end
        starts = rng.integers(0, self.train_end - L + 1, size=batch_size) if L < self.train_end else \
            np.zeros(batch_size, dtype=np.int64)
        idx = starts[None, :] + np.arange(L - 1)[:, None]  # (L-1, B)
        x = torch.from_numpy(self.series[idx][..., None])
        y = torch.from_numpy(self.series[idx + 1][..., None])
        mask = torch.zeros(L - 1, batch_size, dtype=torch.bool)
        mask[self.washout:] = True
        return Batch(x, y, None, mask=mask, per_step=True)

    def sequence_loss(self, out, batch):
        se = ((out - batch.y) ** 2).sum(-1)
        m = batch.step_mask().to(se.dtype)
        return (se * m).sum(0) / m.sum(0).clamp_min(1.0)

    def judge(self, out, batch):  # the trainer's interface; the NRMSE is in evaluate
        return {"right": torch.ones(batch.size, dtype=torch.bool)}

    @torch.no_grad()
    def free_run_nrmse(self, model, start: int, steps: int) -> tuple[float, np.ndarray]:
        """Teacher-forced over s_0..s_{start-1}, then ``steps`` free; (NRMSE, predictions)."""
        was = model.training
        model.eval()
        try:
            warm = self.tensor()[:start, None]  # (start, 1, 1)
            y, state = model(warm)
            y = y[-1:]
            outs = []
            for _ in range(steps):
                outs.append(y)
                y, state = model(y, state=state)
            pred = torch.cat(outs)[:, 0, 0].double().numpy()
        finally:
            model.train(was)
        goal = self.series[start: start + steps]
        pred = np.nan_to_num(pred, nan=1e6, posinf=1e6, neginf=-1e6)
        return nrmse(pred, goal), pred

    def evaluate(self, model, rng, n=None, test=False):
        if test:
            e, pred = self.free_run_nrmse(model, self.train_end, self.test_steps)
        else:
            e, pred = self.free_run_nrmse(model, self.washout, self.train_end - self.washout)
        res = {"n": 1, "nrmse": e, "loss": e ** 2, "solved": bool(e < self.threshold)}
        res["wrong"] = 0 if res["solved"] else 1
        res["right"] = 1.0 - res["wrong"]
        res.update(self._extra_metrics(pred, test))
        return res

    def _extra_metrics(self, pred, test: bool) -> dict:
        return {}

    def chance_loss(self):
        return float(np.var(self.series[: self.train_end]))


class SuperimposedSines(FreeRunningTask):
    """k superimposed sines (frequencies :data:`SINE_FREQUENCIES`), free-running generation.

    Example:
        >>> import numpy as np
        >>> t = SuperimposedSines(2)
        >>> b = t.sample(3, np.random.default_rng(0))
        >>> b.x.shape, t.train_end, t.test_steps
        (torch.Size([399, 3, 1]), 400, 300)
    """

    name = "sines"
    paper = "Schmidhuber, Wierstra, Gagliolo & Gomez 2007"

    def __init__(self, k: int = 2, train_end: int = 400, washout: int = 100, test_steps: int = 300,
                 window: int | None = None, threshold: float = 0.1) -> None:
        self.k = k
        s = superimposed_sines(k, train_end + test_steps + 1)
        self._setup(s, train_end, washout, test_steps, window, threshold)
        self.title = f"{k} superimposed sines"
        self.published = _SINES_PUBLISHED.get(k, ())

    def config(self):
        return {"name": self.name, "k": self.k, "train_end": self.train_end, "washout": self.washout,
                "test_steps": self.test_steps, "window": self.window, "threshold": self.threshold}


class MackeyGlass(FreeRunningTask):
    """Mackey-Glass tau=17, values minus 1 (centred near 0), free-running prediction.

    The test reports the NRMSE over the free-running steps and ``nrmse84``: the error
    84 steps after the last teacher-forced input, normalised by the series' standard
    deviation (Jaeger 2004's measure, there averaged over 100 runs).

    Example:
        >>> t = MackeyGlass(train_end=300, washout=50, test_steps=84)
        >>> t.series.shape, round(float(t.series.std()), 2)
        ((385,), 0.23)
    """

    name = "mackey_glass"
    paper = "Schmidhuber, Wierstra, Gagliolo & Gomez 2007 (Jaeger 2004's setting)"

    def __init__(self, train_end: int = 1100, washout: int = 100, test_steps: int = 84, window: int | None = None,
                 threshold: float = 0.1, tau: float = 17.0) -> None:
        self.tau = float(tau)
        s = mackey_glass(train_end + test_steps + 1, tau=tau) - 1.0
        self._setup(s, train_end, washout, test_steps, window, threshold)
        self.title = f"Mackey-Glass tau={tau:g}"
        self.published = _MG_PUBLISHED

    def _extra_metrics(self, pred, test):
        if not test or len(pred) < 84:
            return {}
        goal = self.series[self.train_end + 83]
        return {"nrmse84": float(abs(pred[83] - goal) / np.std(self.series))}

    def config(self):
        return {"name": self.name, "tau": self.tau, "train_end": self.train_end, "washout": self.washout,
                "test_steps": self.test_steps, "window": self.window, "threshold": self.threshold}


# The papers' figures (Schmidhuber et al. 2007, Neural Computation 19(3), Table 2 and Sec. 5.3),
# quoted from memory of the paper: UNVERIFIED (the text could not be checked in this session).
_SINES_PUBLISHED = {
    2: (Published("Evolino LSTM, 10 cells", "", "", "test NRMSE 4.15e-3 (unverified)"),
        Published("gradient LSTM", "", "", "could not learn the task (unverified)")),
    3: (Published("Evolino LSTM, 15 cells", "", "", "test NRMSE 8.04e-3 (unverified)"),),
    4: (Published("Evolino LSTM, 20 cells", "", "", "test NRMSE 0.110 (unverified)"),),
    5: (Published("Evolino LSTM, 20 cells", "", "", "test NRMSE 0.167 (unverified)"),),
}
_MG_PUBLISHED = (Published("Evolino LSTM, 30 cells", "", "", "NRMSE84 1.9e-3 (unverified)"),
                 Published("echo state network (Jaeger 2004)", "", "", "NRMSE84 10^-4.2 (unverified)"))
