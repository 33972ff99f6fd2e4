"""The T-maze and the velocity-hiding wrappers follow Gymnasium's API."""

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from lstmkit.tasks.pomdp import HideVelocities, make_env  # noqa: E402
from lstmkit.tasks.tmaze import TMAZE_OBS, TMaze  # noqa: E402


def test_tmaze_passes_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(TMaze(length=4), skip_render_check=True)


def _walk(env, goal, actions):
    obs, info = env.reset(seed=0, options={"goal": goal})
    out = [(obs.tolist(), 0.0, False, False, info)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.tolist(), r, term, trunc, info))
    return out


@pytest.mark.parametrize("goal", ["north", "south"])
def test_tmaze_signal_only_at_the_start(goal):
    env = TMaze(length=3)
    steps = _walk(env, goal, [1, 1, 1, 0 if goal == "north" else 2])
    assert steps[0][0] == list(TMAZE_OBS["start_" + goal])
    assert steps[1][0] == steps[2][0] == list(TMAZE_OBS["corridor"])  # the same whatever the goal
    assert steps[3][0] == list(TMAZE_OBS["junction"])
    assert steps[-1][1] == 4.0 and steps[-1][2] and steps[-1][4]["success"]


def test_tmaze_wrong_arm_walls_and_time_limit():
    env = TMaze(length=2, max_steps=6)
    s = _walk(env, "north", [1, 1, 2])
    assert s[-1][1] == pytest.approx(-0.1) and s[-1][2] and not s[-1][4]["success"]
    s = _walk(env, "north", [3, 0, 1, 1, 1, 3])  # west and north at the start, east at the junction: walls
    rewards = [x[1] for x in s[1:]]
    assert rewards == pytest.approx([-0.1, -0.1, 0.0, 0.0, -0.1, 0.0])
    assert s[-1][3] and not s[-1][2]  # truncated after max_steps, not terminated
    with pytest.raises(ValueError, match="length"):
        TMaze(length=0)
    with pytest.raises(ValueError, match="action"):
        TMaze(2).step(7)


def test_hide_velocities_cartpole_keeps_position_and_angle():
    full = gymnasium.make("CartPole-v1")
    hidden = HideVelocities(gymnasium.make("CartPole-v1"))
    a, _ = full.reset(seed=3)
    b, _ = hidden.reset(seed=3)
    assert hidden.observation_space.shape == (2,)
    np.testing.assert_array_equal(b, a[[0, 2]])
    for action in (0, 1, 1, 0, 1):
        a, *_ = full.step(action)
        b, *_ = hidden.step(action)
        np.testing.assert_array_equal(b, a[[0, 2]])
        assert hidden.observation_space.contains(b)


def test_hide_velocities_pendulum_observes_the_angle_only():
    env = make_env("Pendulum-v1-angle")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2,)
    np.testing.assert_allclose(obs[0] ** 2 + obs[1] ** 2, 1.0, rtol=1e-5)  # (cos, sin): no velocity left
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)
    with pytest.raises(ValueError, match="drop"):
        HideVelocities(gymnasium.make("MountainCar-v0"))
