"""Free-running generation tasks (lstmkit.tasks.generation): the series, the windows, and
the free-running evaluation's alignment (an oracle scores NRMSE 0, a constant ~1)."""

import numpy as np
import pytest
import torch
from torch import nn

from lstmkit.tasks import get_task
from lstmkit.tasks.generation import SINE_FREQUENCIES, mackey_glass, nrmse, superimposed_sines


def test_superimposed_sines_formula():
    t = np.arange(50)
    ref = np.sin(0.2 * t) + np.sin(0.311 * t) + np.sin(0.42 * t)
    np.testing.assert_allclose(superimposed_sines(3, 50), ref)
    assert SINE_FREQUENCIES == (0.2, 0.311, 0.42, 0.51, 0.74)
    with pytest.raises(ValueError, match="k"):
        superimposed_sines(6, 10)


def test_mackey_glass_against_a_fine_euler_integration():
    """RK4 at dt 0.1 and Euler at dt 0.001 agree over the first 40 samples (chaos separates them later)."""
    rk = mackey_glass(40, discard=0)
    dt, lag = 0.001, 17000
    n = 40 * 1000 + 1
    x = np.empty(n + lag)
    x[: lag + 1] = 1.2
    for i in range(lag, n + lag - 1):
        xd = x[i - lag]
        x[i + 1] = x[i] + dt * (0.2 * xd / (1 + xd ** 10) - 0.1 * x[i])
    euler = x[lag::1000][:40]
    np.testing.assert_allclose(rk, euler, atol=2e-3)


class Oracle(nn.Module):
    """Knows the series; its state is the step count, so its free run is exact."""

    def __init__(self, series):
        super().__init__()
        self.s = torch.as_tensor(series)

    def forward(self, x, lengths=None, state=None):
        t0 = 0 if state is None else int(state)
        T = x.shape[0]
        y = self.s[t0 + 1: t0 + 1 + T].reshape(T, 1, 1).expand(T, x.shape[1], 1)
        return y, t0 + T


class Constant(nn.Module):
    def forward(self, x, lengths=None, state=None):
        return torch.zeros_like(x), state


@pytest.mark.parametrize("kind,params", [("sines", {"k": 2}), ("mackey_glass", {"train_end": 300, "washout": 50})])
def test_free_running_evaluation_alignment(kind, params):
    task = get_task(kind, **params)
    perfect = task.evaluate(Oracle(task.series), None, test=True)
    assert perfect["nrmse"] < 1e-6 and perfect["solved"]
    check = task.evaluate(Oracle(task.series), None)
    assert check["nrmse"] < 1e-6
    blind = task.evaluate(Constant(), None, test=True)
    goal = task.series[task.train_end: task.train_end + task.test_steps]
    assert blind["nrmse"] == pytest.approx(nrmse(np.zeros_like(goal), goal), rel=1e-6)
    assert not blind["solved"]
    if kind == "mackey_glass":
        assert perfect["nrmse84"] < 1e-6


def test_windows_are_teacher_forced_pairs():
    task = get_task("sines", k=2, window=150, washout=20)
    b = task.sample(4, np.random.default_rng(0))
    assert b.x.shape == (149, 4, 1) and b.per_step
    torch.testing.assert_close(b.x[1:], b.y[:-1])  # the next input is this step's target
    assert not b.mask[:20].any() and b.mask[20:].all()
    with pytest.raises(ValueError, match="window"):
        get_task("sines", k=2, window=500)
