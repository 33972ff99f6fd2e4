"""Double pole balancing (Wieland 1991): the equations against gymnasium's CartPole, the
integrator, the episode's rules and the environment's misuse errors."""

import math

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="the control tasks need gymnasium (pip install 'lstmkit[evolve]')")

from lstmkit.tasks.double_pole import POLE_CONSTANTS, DoublePole, double_pole_derivatives, rk4_step  # noqa: E402
from lstmkit.tasks.pomdp import make_env  # noqa: E402


def _gym_cartpole_accelerations(theta, theta_dot, force, M=1.0, m=0.1, l=0.5, g=9.8):
    """gymnasium's CartPole-v1 equations (Florian 2007's frictionless form, as gymnasium
    writes them): (x'', theta'') for one pole of half-length l."""
    total = M + m
    temp = (force + m * l * theta_dot**2 * math.sin(theta)) / total
    tacc = (g * math.sin(theta) - math.cos(theta) * temp) / (l * (4.0 / 3.0 - m * math.cos(theta) ** 2 / total))
    return temp - m * l * tacc * math.cos(theta) / total, tacc


@pytest.mark.parametrize("theta,theta_dot,force", [(0.1, 0.0, 0.0), (-0.3, 1.2, 10.0), (0.5, -2.0, -7.5)])
def test_one_pole_without_friction_is_gymnasiums_cartpole(theta, theta_dot, force):
    c = {**POLE_CONSTANTS, "m2": 0.0, "mu_p": 0.0, "mu_c": 0.0}
    d = double_pole_derivatives(np.array([0.3, 0.7, theta, theta_dot, 0.0, 0.0]), force, c)
    xacc, tacc = _gym_cartpole_accelerations(theta, theta_dot, force)
    assert d[0] == 0.7 and d[2] == theta_dot
    assert d[1] == pytest.approx(xacc, rel=1e-12) and d[3] == pytest.approx(tacc, rel=1e-12)


def test_the_short_pole_falls_faster_and_friction_damps():
    s = np.array([0.0, 0.0, 0.1, 0.0, 0.1, 0.0])
    d = double_pole_derivatives(s, 0.0)
    assert d[5] > 5 * d[3] > 0  # angular acceleration ~ 1/l: the 0.1 m pole falls ~10x faster
    spinning = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    with_friction = double_pole_derivatives(spinning, 0.0, {**POLE_CONSTANTS, "mu_p": 0.1})
    assert with_friction[3] < double_pole_derivatives(spinning, 0.0)[3]  # the hinge slows the pole


def test_rk4_is_fourth_order():
    s0 = np.array([0.0, 0.0, 0.2, 0.0, -0.05, 0.0])
    smooth = {**POLE_CONSTANTS, "mu_c": 0.0}  # the cart's Coulomb friction sgn(x') is not smooth at rest

    def run(dt, n):
        s = s0.copy()
        for _ in range(n):
            s = rk4_step(s, 3.0, dt, smooth)
        return s

    ref = run(0.0005, 400)  # 0.2 s
    e1 = np.abs(run(0.01, 20) - ref).max()
    e2 = np.abs(run(0.005, 40) - ref).max()
    assert e2 < e1 / 10  # halving the step cuts the error ~16x


def test_episode_rules_and_observations():
    env = DoublePole(max_steps=5)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.tolist() == pytest.approx([0.0, 0.0785 / (36 * math.pi / 180), 0.0])
    total, trunc = 0.0, False
    # a constant push that keeps the long pole from falling for 5 steps
    for _ in range(5):
        obs, r, term, trunc, info = env.step(np.array([0.4], dtype=np.float32))
        total += r
        assert not term
    assert trunc and total == 5.0 and info["steps"] == 5
    env = make_env("DoublePole", max_steps=1000)
    assert env.observation_space.shape == (6,) and make_env("DoublePole-novel").observation_space.shape == (3,)
    env.reset(seed=0)
    steps = 0
    while True:  # full force one way: the cart leaves the track or a pole falls, reward 0 then
        _, r, term, trunc, _ = env.step(np.array([5.0], dtype=np.float32))  # clipped to 1
        steps += 1
        if term or trunc:
            break
    assert term and not trunc and r == 0.0 and steps < 200


def test_noisy_starts_follow_the_seed():
    env = DoublePole(start_noise=0.1)
    a, _ = env.reset(seed=3)
    b, _ = env.reset(seed=3)
    c, _ = env.reset(seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kw,match", [({"max_steps": 0}, "max_steps"), ({"start_angle": 1.0}, "start_angle"),
                                      ({"start_noise": 1.5}, "start_noise"), ({"cart_friction": -1.0}, "cart_friction"),
                                      ({"start_angle": float("nan")}, "start_angle")])
def test_bad_arguments_fail_in_one_line(kw, match):
    with pytest.raises(ValueError, match=match):
        DoublePole(**kw)
    with pytest.raises(TypeError, match="velocities"):
        DoublePole(velocities="yes")


def test_the_experiment_is_listed_and_runs_quick():
    from lstmkit.apps.reinforcement import run_control
    from lstmkit.apps.runners import RUNNERS

    assert RUNNERS["double-pole-novel"].kwargs["env_name"] == "DoublePole-novel"
    s = run_control("DoublePole-novel", ["mlp"], quick=True, out_dir=None, episodes=32, seconds=30, log=None)
    row = s["rows"][0]
    assert row["model"] == "mlp" and row["success"] == "0/1" and s["threshold"] == 1000.0
    assert any("Gomez" in p["who"] for p in s["paper"])


@pytest.mark.parametrize("velocities", [False, True])
def test_passes_gymnasium_env_checker(velocities):
    from gymnasium.utils.env_checker import check_env

    check_env(DoublePole(velocities=velocities, start_noise=0.05), skip_render_check=True)


def test_a_start_state_from_the_options_and_the_625_starts():
    from lstmkit.tasks.double_pole import generalisation_starts

    starts = generalisation_starts()
    assert starts.shape == (625, 6) and len({tuple(s) for s in starts}) == 625
    assert np.allclose(np.unique(starts[:, 1]), [-1.215, -0.675, 0.0, 0.675, 1.215])
    env = DoublePole(velocities=True)
    obs, _ = env.reset(seed=0, options={"state": starts[7].tolist()})
    assert np.array_equal(env.state, starts[7]) and obs[0] == pytest.approx(starts[7][0] / 2.4)
    with pytest.raises(ValueError, match="options"):
        env.reset(options={"state": [0.0, 1.0]})
    env = DoublePole(max_steps=3)
    env.reset(seed=0)
    infos = [env.step(np.array([0.1], dtype=np.float32))[-1] for _ in range(3)]
    assert [i["success"] for i in infos] == [False, False, True]  # held for the whole episode


def test_solved_policies_get_the_long_and_the_generalisation_test():
    import torch

    from lstmkit.apps.reinforcement import _double_pole_tests, format_control
    from lstmkit.train.reinforce import RecurrentPolicy

    torch.manual_seed(0)
    policy = RecurrentPolicy(3, 1, 8, cell="lstm", continuous=True, action_scale=1.0)
    t = _double_pole_tests(policy, "DoublePole-novel", quick=True)
    assert t["long_test"]["of"] == 5000 and 0 < t["long_test"]["steps"] < 5000  # an untrained policy drops the poles
    assert t["generalisation"] == {"passed": 0, "of": 25}
    summary = {"title": "T", "criterion": "c", "paper": [],
               "rows": [{"description": "LSTM", "success": "1/1", "episodes_to_success": 10, "best_check_return": [1000.0],
                         "median_seconds": 3.0, **{k: [v] for k, v in t.items()}}]}
    table = format_control(summary)
    assert "generalisation" in table and f"{t['long_test']['steps']:,} of 5,000" in table and "0 of 25" in table


@pytest.mark.parametrize("cell", ["lstm", "mlp"])
def test_neuroevolution_of_the_whole_policy_improves_on_its_start(cell):
    import torch

    from lstmkit.apps.reinforcement import _ActingPolicy, evolve_policy
    from lstmkit.train.reinforce import RecurrentPolicy, evaluate_policy

    torch.manual_seed(0)
    policy = RecurrentPolicy(3, 1, 4, cell=cell, continuous=True, action_scale=1.0)
    acting = _ActingPolicy(policy)
    searched = {id(p) for p in acting.parameters()}
    assert id(policy.value.weight) not in searched and id(policy.head.weight) in searched  # actor + head only
    start = evaluate_policy(policy, lambda: make_env("DoublePole-novel", max_steps=300), episodes=1)["mean_return"]
    r = evolve_policy(policy, lambda: make_env("DoublePole-novel", max_steps=300), episodes=120, seconds=60,
                      seed=0)
    best = max(c["mean_return"] for c in r["checks"])
    after = evaluate_policy(policy, lambda: make_env("DoublePole-novel", max_steps=300), episodes=1)["mean_return"]
    assert r["episodes"] >= 1 and r["steps"] > 0 and r["dim"] == sum(p.numel() for p in acting.parameters())
    assert after == best > start  # the best individual, written back, replays its fitness episode greedily


def test_cmaes_is_refused_where_it_is_not_built():
    from lstmkit.apps.reinforcement import run_control

    with pytest.raises(ValueError, match="cmaes"):
        run_control("CartPole-v1-novel", ["mlp"], quick=True, out_dir=None, episodes=2, method="cmaes", log=None)


def test_a_batch_of_carts_steps_as_each_cart_alone():
    from lstmkit.tasks.double_pole import advance, observe

    rng = np.random.default_rng(3)
    starts = rng.uniform(-0.01, 0.01, (5, 6))
    actions = rng.uniform(-1.5, 1.5, (40, 5)).astype(np.float32)  # outside [-1, 1] too: clipped the same way
    envs = [DoublePole(max_steps=40) for _ in range(5)]
    for e, st in zip(envs, starts):
        e.reset(options={"state": st})
    states, down, compared = starts.copy(), np.zeros(5, dtype=bool), 0
    for a in actions:
        states, failed = advance(states, a)
        for b, e in enumerate(envs):
            if down[b]:
                continue
            obs, r, term, _, _ = e.step(a[b:b + 1])
            np.testing.assert_allclose(states[b], e.state, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(observe(states[b:b + 1])[0], obs)
            assert bool(failed[b]) == term and r == (0.0 if term else 1.0)
            compared += 1
        down |= failed
    assert down.any() and compared > 30  # steps up and the steps that fail were compared
