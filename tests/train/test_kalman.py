"""The decoupled extended Kalman filter (lstmkit.train.kalman): the update against a
hand-computed EKF step, the RTRL Jacobian against autograd through the whole sequence,
the fast and generic paths against each other, and learning on a tiny task."""

import numpy as np
import pytest
import torch

from lstmkit.models import SequenceModel
from lstmkit.tasks import get_task
from lstmkit.train.evolution import ParameterSpace
from lstmkit.train.kalman import DEKF, DEKFConfig, anneal, decoupled_groups, ekf_update


def test_ekf_update_equals_a_hand_computed_step_on_a_linear_model():
    """y = H w (linear measurement, two outputs), two groups: the textbook equations in numpy."""
    rng = np.random.default_rng(0)
    W, K = 5, 2
    w = rng.normal(size=W)
    H = rng.normal(size=(K, W))
    d = rng.normal(size=K)
    groups = [np.array([0, 1, 2]), np.array([3, 4])]
    P = [np.diag([1.0, 2.0, 3.0]), np.array([[2.0, 0.5], [0.5, 1.0]])]
    r, q = 0.7, 1e-3
    e = d - H @ w
    # by hand: the block-diagonal P of the decoupled filter, as one matrix
    Pfull = np.zeros((W, W))
    Pfull[:3, :3], Pfull[3:, 3:] = P
    A = np.linalg.inv(r * np.eye(K) + H @ Pfull @ H.T)
    gain = Pfull @ H.T @ A
    w_ref = w + gain @ e
    P_ref = Pfull - gain @ H @ Pfull + q * np.eye(W)
    w_new, P_new = ekf_update(torch.tensor(w), [torch.tensor(p) for p in P], [torch.tensor(g) for g in groups],
                              torch.tensor(H), torch.tensor(e), r, q)
    np.testing.assert_allclose(w_new.numpy(), w_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(P_new[0].numpy(), P_ref[:3, :3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(P_new[1].numpy(), P_ref[3:, 3:], rtol=1e-12, atol=1e-12)


def test_global_ekf_on_a_linear_model_is_recursive_least_squares():
    """With q = 0 and one group, the EKF on y = x.w is RLS: after N samples it equals the
    ridge solution (X^T X + r/p0 I)^-1 X^T y."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=30)
    p0, r = 10.0, 0.5
    w, P = torch.zeros(3, dtype=torch.float64), [p0 * torch.eye(3, dtype=torch.float64)]
    for x_n, y_n in zip(X, y):
        Hn = torch.tensor(x_n)[None]
        w, P = ekf_update(w, P, [torch.arange(3)], Hn, torch.tensor([y_n]) - Hn @ w, r, 0.0)
    ref = np.linalg.solve(X.T @ X + (r / p0) * np.eye(3), X.T @ y)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-8)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rtrl_jacobian_equals_autograd_through_the_sequence(cell):
    """H_t from RTRL (no weight updates) == d y_t / d w by backpropagation through all steps."""
    torch.manual_seed(0)
    model = SequenceModel(3, 2, 2, cell=cell)
    f = DEKF(model, DEKFConfig(output="identity"))
    x = torch.randn(5, 3)
    s, dS = f.reset(x[:1, None])
    for t in range(5):
        y, H, s, dS = f.forward_step(s, dS, x[t:t + 1, None])
    space = ParameterSpace(model)
    from torch.func import functional_call, jacrev

    def last_output(w):
        params = {k: v[0] for k, v in space.split(w[None]).items()}
        return functional_call(model, params, (x[:, None],))[0][-1, 0]

    J = jacrev(last_output)(space.vector())
    torch.testing.assert_close(H.float(), J, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell,variant", [("lstm", "vanilla"), ("gru", None), ("lstm", "cifg")])
def test_fast_path_equals_the_generic_path(cell, variant):
    task = get_task("counting", letters=2, train_max=3, test_max=5)
    b = task.sample(1, np.random.default_rng(0))
    ws = []
    for fast in (True, False):
        torch.manual_seed(0)
        m = SequenceModel(4, 2, 4, cell=cell, variant=variant or "vanilla")
        f = DEKF(m, DEKFConfig(), fast=fast)
        assert (f._fast is not None) == fast
        T = int(b.lengths[0])
        f.train_sequence(b.x[:T, 0], b.y[:T, 0])
        ws.append(f.w)
    torch.testing.assert_close(ws[0], ws[1], atol=1e-6, rtol=1e-5)


def test_decoupled_groups_partition_the_weights():
    m = SequenceModel(4, 3, 2)
    space = ParameterSpace(m)
    groups = decoupled_groups(m, space)
    assert len(groups) == 3 + 2  # three cells, two output units
    allidx = torch.cat(groups).sort().values
    assert torch.equal(allidx, torch.arange(space.dim))


@pytest.mark.parametrize("cell", ["lstm", pytest.param("slstm", marks=pytest.mark.slow)])
def test_dekf_reduces_the_loss_on_a_tiny_task(cell):
    """a^n b^n with n <= 3, 60 strings online: the training error falls and the strings are learnt."""
    torch.manual_seed(0)
    task = get_task("counting", letters=2, train_max=3, test_max=6)
    m = SequenceModel(4, 2 if cell == "lstm" else 4, 4, cell=cell)
    f = DEKF(m, DEKFConfig(p0=10.0, r_start=1.0, r_end=0.1, q_start=1e-3, q_end=1e-6, anneal_steps=5000,
                           max_sequences=60, eval_every=0))
    before = task.evaluate(m, np.random.default_rng(0))["loss"]
    r = f.fit(task)
    after = task.evaluate(m, np.random.default_rng(0))["loss"]
    assert r["sequences"] == 60 and r["updates"] > 60
    assert after < 0.5 * before
    assert r["history"][-1]["loss"] < 0.5 * r["history"][0]["loss"]


def test_anneal_and_config_errors():
    assert anneal(1.0, 1e-4, 0, 4) == 1.0
    assert anneal(1.0, 1e-4, 2, 4) == pytest.approx(1e-2)
    assert anneal(1.0, 1e-4, 9, 4) == 1e-4
    with pytest.raises(ValueError, match="output"):
        DEKFConfig(output="softmax")
    with pytest.raises(ValueError, match="p0"):
        DEKFConfig(p0=0)
