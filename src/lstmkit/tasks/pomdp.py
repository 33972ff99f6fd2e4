"""Gymnasium control tasks made partially observable: velocities hidden by a wrapper.

Gymnasium's CartPole-v1 observes ``(x, x_dot, theta, theta_dot)``; with the velocities
removed a policy sees ``(x, theta)`` only and must infer the velocities from the history
(Wierstra et al. 2007; Gomez & Schmidhuber 2005 did the same for the double pole).
Pendulum-v1 observes ``(cos theta, sin theta, theta_dot)``; with the velocity removed
it sees the angle only, and its action is continuous (a torque in [-2, 2]).
"""

from __future__ import annotations

import numpy as np

__all__ = ["HideVelocities", "VELOCITY_ENTRIES", "make_env", "ENVIRONMENTS"]

VELOCITY_ENTRIES = {"CartPole-v1": (1, 3), "Pendulum-v1": (2,)}
"""Indices of the velocity entries of each environment's observation."""


def _gym():
    try:
        import gymnasium
    except ImportError as e:  # pragma: no cover - gymnasium is in the evolve extra
        raise ImportError("control tasks need gymnasium: pip install 'lstmkit[evolve]'") from e
    return gymnasium


def HideVelocities(env, drop=None):
    """``env`` with the observation entries ``drop`` removed (default: the velocities
    of CartPole-v1 or Pendulum-v1, :data:`VELOCITY_ENTRIES`).

    Returns a :class:`gymnasium.ObservationWrapper` whose observation space is the Box of
    the kept entries.

    Args:
        env: a Gymnasium environment with a 1-D Box observation space.
        drop: indices to remove (None: the velocities of a known environment).

    Raises:
        ValueError: ``drop`` is None for an environment without known velocity entries,
            or an index is out of range.

    Example:
        >>> import gymnasium
        >>> env = HideVelocities(gymnasium.make("CartPole-v1"))
        >>> obs, _ = env.reset(seed=0)
        >>> obs.shape, env.observation_space.shape
        ((2,), (2,))
    """
    gym = _gym()
    if drop is None:
        env_id = env.spec.id if env.spec is not None else None
        if env_id not in VELOCITY_ENTRIES:
            raise ValueError(f"drop must be given for environment {env_id!r}; known: {sorted(VELOCITY_ENTRIES)}")
        drop = VELOCITY_ENTRIES[env_id]
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"env must have a 1-D Box observation space, got {space}")
    n = space.shape[0]
    drop = tuple(int(i) for i in drop)
    if any(not 0 <= i < n for i in drop):
        raise ValueError(f"drop indices must lie in [0, {n}), got {drop}")
    keep = np.array([i for i in range(n) if i not in drop], dtype=np.int64)
    if keep.size == 0:
        raise ValueError("drop removes every observation entry")

    return _wrapper_class()(env, drop, keep, space)


_CLASS = []


def _wrapper_class():
    """The wrapper class, made once on first use (gymnasium is imported only then)."""
    if _CLASS:
        return _CLASS[0]
    gym = _gym()

    class _Hide(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
        def __init__(self, env, drop, keep, space):
            gym.utils.RecordConstructorArgs.__init__(self, drop=drop)
            gym.ObservationWrapper.__init__(self, env)
            self.keep = keep
            self.observation_space = gym.spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype)

        def observation(self, observation):
            return np.asarray(observation)[self.keep]

    # gymnasium recreates a wrapper from its module and name: this module's HideVelocities
    _Hide.__name__ = _Hide.__qualname__ = "HideVelocities"
    _Hide.__module__ = __name__
    _CLASS.append(_Hide)
    return _Hide


ENVIRONMENTS = ("tmaze", "CartPole-v1-novel", "Pendulum-v1-angle", "DoublePole-novel", "CartPole-v1", "Pendulum-v1",
                "DoublePole")
"""The environment names :func:`make_env` builds."""


def make_env(name: str, **kw):
    """An environment by name: ``"tmaze"`` (:class:`lstmkit.tasks.tmaze.TMaze`, keywords
    ``length``, ``max_steps``), ``"CartPole-v1-novel"`` / ``"Pendulum-v1-angle"`` (the
    Gymnasium task with its velocities hidden), ``"DoublePole-novel"`` / ``"DoublePole"``
    (:class:`lstmkit.tasks.double_pole.DoublePole` without / with velocities; keywords
    ``max_steps``, ``start_noise``, ...), or the plain Gymnasium ids.

    Example:
        >>> make_env("Pendulum-v1-angle").observation_space.shape
        (2,)
    """
    gym = _gym()
    if name == "tmaze":
        from .tmaze import TMaze

        return TMaze(**kw)
    if name in ("DoublePole-novel", "DoublePole"):
        from .double_pole import DoublePole

        return DoublePole(velocities=name == "DoublePole", **kw)
    if name.endswith("-novel") or name.endswith("-angle"):
        base = name.rsplit("-", 1)[0]
        return HideVelocities(gym.make(base, **kw))
    if name in ENVIRONMENTS:
        return gym.make(name, **kw)
    raise ValueError(f"unknown environment {name!r}; expected one of {ENVIRONMENTS}")
