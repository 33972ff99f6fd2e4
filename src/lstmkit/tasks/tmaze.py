"""The T-maze (Bakker 2001), a Gymnasium environment with a long-term dependency.

The agent starts at the left end of a corridor of ``length`` cells. Only there does it
see the signal that says where the goal is: north or south of the T-junction at the
corridor's right end. In the corridor and at the junction it sees the same observation
whatever the signal, so a policy without memory reaches the goal half the time at best;
one with memory must carry one bit over ``length`` steps (Bakker 2001: "Reinforcement
learning with long short-term memory", NIPS 14; Wierstra et al. 2007 used the same maze
for recurrent policy gradients).

Observations (3 bits, as in Bakker 2001): ``011`` at the start with the goal north,
``110`` at the start with the goal south, ``101`` in the corridor, ``010`` at the
junction. Actions: 0 north, 1 east, 2 south, 3 west. Rewards: +4 for the goal (the
episode ends, ``info["success"] = True``), -0.1 for the wrong arm (the episode ends),
-0.1 for a move into a wall (the agent stands still), 0 otherwise. The episode is
truncated after ``max_steps`` steps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TMaze", "TMAZE_OBS", "tmaze_env"]

# The observations of Bakker 2001, by place.
TMAZE_OBS = {
    "start_north": (0.0, 1.0, 1.0),
    "start_south": (1.0, 1.0, 0.0),
    "corridor": (1.0, 0.0, 1.0),
    "junction": (0.0, 1.0, 0.0),
}

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3


def _gym():
    try:
        import gymnasium
    except ImportError as e:  # pragma: no cover - gymnasium is in the evolve extra
        raise ImportError("the T-maze needs gymnasium: pip install 'lstmkit[evolve]'") from e
    return gymnasium


def _base():
    return _gym().Env


class TMaze(_base()):
    """The T-maze of Bakker 2001 as a :class:`gymnasium.Env`.

    Args:
        length: N, cells from the start to the junction (the corridor length: the
            signal must be remembered for at least N steps). At least 1.
        max_steps: steps before truncation (default ``4 * length + 20``).
        goal_reward, wrong_reward, wall_reward: the rewards (Bakker 2001: 4, -0.1, -0.1).

    Example:
        >>> env = TMaze(length=3)
        >>> obs, info = env.reset(seed=0)
        >>> goal = info["goal"]
        >>> for _ in range(3):
        ...     obs, r, term, trunc, info = env.step(1)  # east, to the junction
        >>> obs.tolist()
        [0.0, 1.0, 0.0]
        >>> obs, r, term, trunc, info = env.step(0 if goal == "north" else 2)
        >>> r, term, info["success"]
        (4.0, True, True)
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, length: int = 10, max_steps: int | None = None, goal_reward: float = 4.0,
                 wrong_reward: float = -0.1, wall_reward: float = -0.1, render_mode: str | None = None) -> None:
        gym = _gym()
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive int, got {length!r}")
        if max_steps is None:
            max_steps = 4 * length + 20
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < length + 1:
            raise ValueError(f"max_steps must be an int >= length + 1 ({length + 1}), got {max_steps!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.length = length
        self.max_steps = max_steps
        self.rewards = (float(goal_reward), float(wrong_reward), float(wall_reward))
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self._pos = 0
        self._goal_north = True
        self._t = 0

    def _obs(self) -> np.ndarray:
        if self._pos == 0:
            key = "start_north" if self._goal_north else "start_south"
        elif self._pos < self.length:
            key = "corridor"
        else:
            key = "junction"
        return np.array(TMAZE_OBS[key], dtype=np.float32)

    def _info(self, **kw) -> dict:
        return {"goal": "north" if self._goal_north else "south", "position": self._pos, **kw}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new episode; ``options={"goal": "north"|"south"}`` fixes the signal."""
        super().reset(seed=seed)
        goal = (options or {}).get("goal")
        if goal is None:
            self._goal_north = bool(self.np_random.integers(2))
        elif goal in ("north", "south"):
            self._goal_north = goal == "north"
        else:
            raise ValueError(f"options['goal'] must be 'north' or 'south', got {goal!r}")
        self._pos = 0
        self._t = 0
        return self._obs(), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (north), 1 (east), 2 (south) or 3 (west), got {action!r}")
        action = int(action)
        goal_r, wrong_r, wall_r = self.rewards
        self._t += 1
        reward, terminated, success = 0.0, False, False
        if self._pos == self.length and action in (NORTH, SOUTH):
            terminated = True
            success = (action == NORTH) == self._goal_north
            reward = goal_r if success else wrong_r
        elif action == EAST and self._pos < self.length:
            self._pos += 1
        elif action == WEST and self._pos > 0:
            self._pos -= 1
        else:
            reward = wall_r  # into a wall: the agent stands still
        truncated = not terminated and self._t >= self.max_steps
        return self._obs(), reward, terminated, truncated, self._info(success=success)

    def render(self):
        if self.render_mode != "ansi":
            return None
        arm = "G" if self._goal_north else "."
        low = "." if self._goal_north else "G"
        row = "".join("A" if k == self._pos else "-" for k in range(self.length + 1))
        pad = " " * self.length
        return f"{pad}{arm}\n{row}\n{pad}{low}\n"


def tmaze_env(length: int = 10, **kw):
    """A :class:`TMaze` (the factory the experiments and ``gymnasium.make`` use).

    Example:
        >>> tmaze_env(5).length
        5
    """
    return TMaze(length=length, **kw)
