"""Recurrent policy gradients: the estimator against the analytic gradient, the loss
pieces against hand computations, and a T-maze that an LSTM policy must learn."""

import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium")

from lstmkit.train.reinforce import (PGConfig, RecurrentPolicy, collect_episodes, discounted_returns,  # noqa: E402
                                     evaluate_policy, gae_advantages, policy_gradient_loss, train_policy)
from lstmkit.tasks.tmaze import TMaze  # noqa: E402

REWARDS = (1.0, -0.5, 2.0)


class Bandit(gymnasium.Env):
    """One step: observe 1, pick one of three arms, get its fixed reward, done."""

    observation_space = gymnasium.spaces.Box(-2.0, 2.0, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, a):
        return np.ones(1, np.float32), REWARDS[int(a)], True, False, {}


@pytest.mark.parametrize("cell, baseline", [("mlp", False), ("lstm", True)])
def test_bandit_policy_gradient_equals_the_analytic_gradient(cell, baseline):
    torch.manual_seed(0)
    pi = RecurrentPolicy(1, 3, 4, cell=cell)
    with torch.no_grad():
        pi.head.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    cfg = PGConfig(method="reinforce", baseline=baseline, normalize_advantages=False, entropy=0.0, value_coef=0.0)
    B = 4_000
    ep = collect_episodes(pi, [Bandit() for _ in range(B)], generator=torch.Generator().manual_seed(1))
    loss, _ = policy_gradient_loss(pi, ep, cfg)
    (g,) = torch.autograd.grad(loss, [pi.head.bias])
    # J = sum_a pi_a r_a; dJ/dlogit_j = pi_j (r_j - J): the estimator's loss is -J in expectation
    with torch.no_grad():
        logits, _ = pi(torch.ones(1, 1, 1))
        p = torch.softmax(logits[0, 0], -1)
    r = torch.tensor(REWARDS)
    analytic = -(p * (r - (p * r).sum()))
    # the per-sample gradient is bounded by about 1 here: 5 standard errors ~ 5 / sqrt(B) = 0.08
    torch.testing.assert_close(g, analytic, atol=0.08, rtol=0)
    assert float((g - analytic).abs().max()) < 0.5 * float(analytic.abs().max())


def test_returns_and_gae_by_hand():
    r = torch.tensor([[1.0, 1.0], [2.0, 0.0], [3.0, 0.0]])
    m = torch.tensor([[True, True], [True, False], [True, False]])
    g = discounted_returns(r, m, 0.5, bootstrap=torch.tensor([0.0, 4.0]))
    torch.testing.assert_close(g[:, 0], torch.tensor([1 + 0.5 * (2 + 0.5 * 3), 2 + 0.5 * 3, 3.0]))
    torch.testing.assert_close(g[:, 1], torch.tensor([1 + 0.5 * 4, 0.0, 0.0]))  # truncated: bootstrapped
    v = torch.tensor([[0.5, 1.0], [1.0, 0.0], [2.0, 0.0]])
    a = gae_advantages(r, v, m, 0.5, 1.0, bootstrap=torch.tensor([0.0, 4.0]))
    torch.testing.assert_close(a[:, 0], g[:, 0] - v[:, 0])  # lambda = 1: G_t - V_t
    a0 = gae_advantages(r, v, m, 0.5, 0.0, bootstrap=torch.tensor([0.0, 4.0]))
    torch.testing.assert_close(a0[0], torch.tensor([1 + 0.5 * 1.0 - 0.5, 1 + 0.5 * 4 - 1.0]))  # lambda = 0: TD


def test_episode_batch_matches_stepping_and_masks_padding():
    torch.manual_seed(0)
    pi = RecurrentPolicy(3, 4, 8, cell="lstm")
    ep = collect_episodes(pi, [TMaze(3) for _ in range(4)], seeds=[0, 1, 2, 3], generator=torch.Generator().manual_seed(0))
    head, _ = pi(ep.obs, lengths=ep.lengths + 1)
    step = pi.stepper()
    for b in range(4):
        state = None
        for t in range(int(ep.lengths[b])):
            h, state = step(ep.obs[t, b:b + 1], state)
            torch.testing.assert_close(h[0], head[t, b], atol=1e-5, rtol=1e-5)
    assert float(ep.rewards[~ep.mask()].abs().sum()) == 0.0


def test_config_and_policy_errors_name_the_argument():
    with pytest.raises(ValueError, match="method"):
        PGConfig(method="dqn")
    with pytest.raises(ValueError, match="gamma"):
        PGConfig(gamma=1.5)
    with pytest.raises(ValueError, match="cell"):
        RecurrentPolicy(3, 4, cell="transformer")
    with pytest.raises(ValueError, match="action_scale"):
        RecurrentPolicy(3, 2, continuous=True, action_scale=[1.0, 2.0, 3.0])


def test_gaussian_policy_runs_pendulum():
    from lstmkit.tasks.pomdp import make_env

    pi = RecurrentPolicy(2, 1, 8, cell="gru", continuous=True, action_scale=2.0)
    r = train_policy(pi, lambda: make_env("Pendulum-v1-angle"), PGConfig(method="gae", batch_episodes=2, max_episodes=2,
                                                                          eval_episodes=1))
    assert r["steps"] == 400 and r["checks"][0]["mean_length"] == 200


def test_lstm_policy_learns_tmaze_corridor_5_and_mlp_cannot():
    goals = [{"goal": "north"}, {"goal": "south"}]
    torch.manual_seed(0)
    pi = RecurrentPolicy(3, 4, 16, cell="lstm")
    before = evaluate_policy(pi, lambda: TMaze(5), 2, options=goals)["success_rate"]
    cfg = PGConfig(method="ppo", lr=0.003, gamma=0.98, max_episodes=4000, max_seconds=120, eval_every=5, seed=0)
    r = train_policy(pi, lambda: TMaze(5), cfg, solved=lambda c: c["success_rate"] == 1.0, eval_options=goals)
    assert before < 1.0
    assert r["solved"], r["checks"][-1]
    assert evaluate_policy(pi, lambda: TMaze(5), 2, options=goals)["success_rate"] == 1.0
    # a memoryless policy sees the same observations after the start whatever the goal:
    # its greedy policy reaches at most one of the two goals, however it is trained
    mlp = RecurrentPolicy(3, 4, 16, cell="mlp")
    train_policy(mlp, lambda: TMaze(5), PGConfig(method="ppo", lr=0.003, max_episodes=320, eval_every=0))
    assert evaluate_policy(mlp, lambda: TMaze(5), 2, options=goals)["success_rate"] <= 0.5
