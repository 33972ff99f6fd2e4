"""Double pole balancing (Wieland 1991), a Gymnasium environment, with or without velocities.

Two poles of different lengths stand on one cart, hinged side by side; a force pushes the
cart along a track, and both poles must be kept up at once. Without the velocities in
the observation ("non-Markov"), a policy sees only the cart position and the two angles
and must infer the rates of change from what it saw before: the classic memory task of
neuroevolution (Gruau, Whitley & Pyeatt 1996; Gomez & Miikkulainen 1999's ESP; Gomez &
Schmidhuber 2005 with LSTM-like recurrent nets) and of recurrent policy gradients
(Wierstra et al.).

The equations of motion (Wieland 1991, in the form the neuroevolution papers use), for
poles i = 1, 2 with half-lengths l_i, masses m_i and hinge friction mu_p, cart mass M,
force F, gravity g = 9.8 m/s^2:

.. math::
    \\tilde F_i &= m_i l_i \\dot\\theta_i^2 \\sin\\theta_i
                 + \\tfrac34 m_i \\cos\\theta_i \\left(\\frac{\\mu_p \\dot\\theta_i}{m_i l_i}
                 - g \\sin\\theta_i\\right),
    \\qquad \\tilde m_i = m_i \\left(1 - \\tfrac34 \\cos^2\\theta_i\\right)\\\\
    \\ddot x &= \\frac{F - \\mu_c\\,\\mathrm{sgn}(\\dot x) + \\sum_i \\tilde F_i}{M + \\sum_i \\tilde m_i},
    \\qquad
    \\ddot\\theta_i = -\\frac{3}{4 l_i}\\left(\\ddot x \\cos\\theta_i - g\\sin\\theta_i
                 + \\frac{\\mu_p \\dot\\theta_i}{m_i l_i}\\right)

(θ measured from the upright, positive in the direction of positive x; a pole leaning
forward falls forward and pushes the cart back; with one pole and no friction these are
gymnasium's CartPole equations, a test checks it). Constants, as in those papers: M = 1 kg; pole 1: 1 m long (l_1 =
0.5), 0.1 kg; pole 2: 0.1 m (l_2 = 0.05), 0.01 kg; mu_p = 2e-6; mu_c = 5e-4 (Wieland's
cart friction; the NEAT code leaves it out: ``cart_friction=0``); |F| <= 10 N. Integrated
by 4th-order Runge-Kutta with a 0.01 s step, two steps per action (the policy acts every
0.02 s). The episode fails when the cart leaves the 4.8 m track (|x| > 2.4 m) or a pole
leans more than 36 degrees; the literature's success is 100,000 steps (about 33 minutes
of simulated time), the episodes here are truncated at ``max_steps`` (default 1,000 = 20 s).

Observations: (x / 2.4, θ_1 / 0.628, θ_2 / 0.628) without velocities (the default), or
(x / 2.4, ẋ / 1.5, θ_1 / 0.628, θ̇_1 / 2, θ_2 / 0.628, θ̇_2 / 2) with them (Markov). The
action is a force in [-1, 1] x 10 N (a Box of one continuous value; outside values are
clipped). Reward +1 per step both poles stay up. The start: the long pole at 4.5 degrees
(0.0785 rad, the papers' 1 to 4.5 degree starts vary), everything else 0; ``start_noise``
> 0 adds uniform noise of that many times the failure bounds to every state variable
(from the reset's seed).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DoublePole", "double_pole_derivatives", "rk4_step", "advance", "observe", "POLE_CONSTANTS",
           "generalisation_starts"]

#: The physical constants (SI units); l1, l2 are half-lengths.
POLE_CONSTANTS = {"g": 9.8, "M": 1.0, "m1": 0.1, "l1": 0.5, "m2": 0.01, "l2": 0.05, "mu_p": 2e-6, "mu_c": 5e-4,
                  "force": 10.0}

_X_LIMIT = 2.4
_ANGLE_LIMIT = 36.0 * math.pi / 180.0  # 0.628 rad
_TAU = 0.01


def double_pole_derivatives(state: np.ndarray, force, c: dict = POLE_CONSTANTS) -> np.ndarray:
    """d/dt of the state (x, ẋ, θ_1, θ̇_1, θ_2, θ̇_2) under ``force`` (N): the module's equations.

    ``state`` is one state (6,) or a batch (..., 6) with ``force`` a number or one per
    state (...,): the population of a neuroevolution run is stepped at once. A pole of
    zero mass contributes nothing, so ``m2=0`` is the single pole on a cart.

    Example:
        >>> s = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
        >>> d = double_pole_derivatives(s, 0.0)
        >>> bool(d[3] > 0 and d[1] < 0)   # leaning forward, the long pole falls forward, the cart goes back
        True
        >>> batch = double_pole_derivatives(np.stack([s, -s]), np.array([0.0, 0.0]))
        >>> bool(np.allclose(batch[0], d) and np.allclose(batch[1], -d))
        True
    """
    state = np.asarray(state, dtype=np.float64)
    one = state.ndim == 1  # one state: Python floats (math is ~10x faster than numpy on scalars)
    sin, cos, sign = (math.sin, math.cos, _sign) if one else (np.sin, np.cos, np.sign)
    x, xd, t1, t1d, t2, t2d = state.tolist() if one else np.moveaxis(state, -1, 0)
    g, M = c["g"], c["M"]
    mu_p, mu_c = c["mu_p"], c["mu_c"]
    fsum, msum = 0.0, 0.0
    poles = []
    for theta, thetad, m, l in ((t1, t1d, c["m1"], c["l1"]), (t2, t2d, c["m2"], c["l2"])):
        s, co = sin(theta), cos(theta)
        hinge = mu_p * thetad / (m * l) if m != 0.0 else 0.0 * thetad
        poles.append((thetad, s, co, hinge, l))
        if m != 0.0:
            fsum = fsum + m * l * thetad * thetad * s + 0.75 * m * co * (hinge - g * s)
            msum = msum + m * (1.0 - 0.75 * co * co)
    xdd = (force - mu_c * sign(xd) + fsum) / (M + msum)
    out = [xd, xdd]
    for thetad, s, co, hinge, l in poles:
        out += [thetad, -0.75 * (xdd * co - g * s + hinge) / l]
    return np.array(out) if one else np.stack(np.broadcast_arrays(*out), -1)


def _sign(v: float) -> float:
    return (v > 0) - (v < 0)


def rk4_step(state: np.ndarray, force, dt: float = _TAU, c: dict = POLE_CONSTANTS) -> np.ndarray:
    """One 4th-order Runge-Kutta step of :func:`double_pole_derivatives` (force held);
    one state (6,) or a batch (..., 6) with one force per state.

    Example:
        >>> s = rk4_step(np.zeros(6), 10.0)
        >>> bool(s[1] > 0 and s[3] < 0)   # the cart speeds up, the poles lean back
        True
    """
    k1 = double_pole_derivatives(state, force, c)
    k2 = double_pole_derivatives(state + 0.5 * dt * k1, force, c)
    k3 = double_pole_derivatives(state + 0.5 * dt * k2, force, c)
    k4 = double_pole_derivatives(state + dt * k3, force, c)
    return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def advance(states: np.ndarray, actions, c: dict = POLE_CONSTANTS) -> tuple[np.ndarray, np.ndarray]:
    """One environment step (0.02 s: two RK4 steps of 0.01 s) of a batch of states (..., 6)
    under actions in [-1, 1] (clipped; x 10 N): returns (new states, failed) where failed
    means the cart left the track or a pole fell past 36 degrees. :meth:`DoublePole.step`
    is this on one state; neuroevolution steps its whole population with it.

    Example:
        >>> s, failed = advance(np.zeros((2, 6)), np.array([1.0, -1.0]))
        >>> bool(s[0, 1] > 0 > s[1, 1]), failed.tolist()
        (True, [False, False])
    """
    force = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0) * c["force"]
    for _ in range(2):  # the policy acts every 0.02 s; RK4 steps of 0.01 s
        states = rk4_step(states, force, _TAU, c)
    failed = ((np.abs(states[..., 0]) > _X_LIMIT) | (np.abs(states[..., 2]) > _ANGLE_LIMIT)
              | (np.abs(states[..., 4]) > _ANGLE_LIMIT))
    return states, failed


def observe(states: np.ndarray, velocities: bool = False) -> np.ndarray:
    """The policy's view of a batch of states (..., 6), float32: (x / 2.4, θ_1 / 0.628,
    θ_2 / 0.628) or, with ``velocities``, (x / 2.4, ẋ / 1.5, θ_1 / 0.628, θ̇_1 / 2,
    θ_2 / 0.628, θ̇_2 / 2).

    Example:
        >>> observe(np.array([1.2, 3.0, 0.0, 0.0, 0.0, 0.0])).tolist()
        [0.5, 0.0, 0.0]
    """
    s = np.asarray(states, dtype=np.float64)
    if velocities:
        v = s / np.array([_X_LIMIT, 1.5, _ANGLE_LIMIT, 2.0, _ANGLE_LIMIT, 2.0])
    else:
        v = s[..., (0, 2, 4)] / np.array([_X_LIMIT, _ANGLE_LIMIT, _ANGLE_LIMIT])
    return v.astype(np.float32)


def generalisation_starts() -> np.ndarray:
    """The 625 starting states of the double-pole generalisation test (Gruau, Whitley &
    Pyeatt 1996, as the neuroevolution papers run it): every combination of 5 values
    (5%, 25%, 50%, 75%, 95% of the range) of x in [-2.16, 2.16] m, x' in [-1.35, 1.35]
    m/s, the long pole's angle in [-3.6, 3.6] degrees and its rate in [-8.6, 8.6] deg/s;
    the short pole upright and still. A network passes a start when it balances 1,000
    steps from it; the papers count the starts passed (out of 625) by a network that
    first balanced 100,000 steps from the standard start. (The ranges are from those
    papers' descriptions as we recall them: unverified.) Returns (625, 6) states.

    Example:
        >>> s = generalisation_starts()
        >>> s.shape, round(float(s[:, 0].max()), 3), bool((s[:, 4:] == 0).all())
        ((625, 6), 1.944, True)
    """
    frac = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    ranges = (2.16, 1.35, 3.6 * math.pi / 180.0, 8.6 * math.pi / 180.0)
    vals = [(2 * frac - 1) * r for r in ranges]
    grid = np.stack(np.meshgrid(*vals, indexing="ij"), -1).reshape(-1, 4)
    out = np.zeros((len(grid), 6))
    out[:, :4] = grid
    return out


def _gym():
    try:
        import gymnasium
    except ImportError as e:  # pragma: no cover - gymnasium is in the evolve extra
        raise ImportError("double pole balancing needs gymnasium: pip install 'lstmkit[evolve]'") from e
    return gymnasium


class DoublePole(_gym().Env):
    """Double pole balancing (Wieland 1991) as a :class:`gymnasium.Env` (module docstring).

    Args:
        velocities: observe the velocities too (Markov) or not (the default, non-Markov).
        max_steps: steps (0.02 s each) before truncation; at least 1.
        start_angle: the long pole's starting angle in radians (0.0785 = 4.5 degrees).
        start_noise: uniform noise on the start, as a fraction of each variable's bound
            (x: 2.4 m, angles: 36 degrees, velocities: 1 unit); 0 (the default) starts
            every episode the same.
        cart_friction: mu_c (5e-4, Wieland's; 0 as in the NEAT code).

    Example:
        >>> env = DoublePole(max_steps=50)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, env.action_space.shape
        ((3,), (1,))
        >>> steps = 0
        >>> while True:                      # no force: the poles fall
        ...     obs, r, term, trunc, info = env.step(np.zeros(1, dtype=np.float32))
        ...     steps += 1
        ...     if term or trunc:
        ...         break
        >>> term, steps < 50
        (True, True)
    """

    metadata = {"render_modes": []}

    def __init__(self, velocities: bool = False, max_steps: int = 1000, start_angle: float = 0.0785,
                 start_noise: float = 0.0, cart_friction: float = POLE_CONSTANTS["mu_c"]) -> None:
        gym = _gym()
        if not isinstance(velocities, bool):
            raise TypeError(f"velocities must be a bool, got {type(velocities).__name__}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        for name, v in (("start_angle", start_angle), ("start_noise", start_noise), ("cart_friction", cart_friction)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if abs(start_angle) >= _ANGLE_LIMIT:
            raise ValueError(f"start_angle must be within the failure bound ±{_ANGLE_LIMIT:.3f} rad, got {start_angle!r}")
        if not 0 <= start_noise < 1:
            raise ValueError(f"start_noise must be in [0, 1), got {start_noise!r}")
        if cart_friction < 0:
            raise ValueError(f"cart_friction must be >= 0, got {cart_friction!r}")
        self.velocities, self.max_steps = velocities, max_steps
        self.start_angle, self.start_noise = float(start_angle), float(start_noise)
        self.constants = {**POLE_CONSTANTS, "mu_c": float(cart_friction)}
        n = 6 if velocities else 3
        big = np.finfo(np.float32).max  # as gymnasium's CartPole: velocities have no bound
        self.observation_space = gym.spaces.Box(-big, big, shape=(n,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.state = np.zeros(6)
        self.steps = 0

    def _obs(self) -> np.ndarray:
        return observe(self.state, self.velocities)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``options={"state": (x, x', th1, th1', th2, th2')}`` starts
        from that state (the generalisation test, :func:`generalisation_starts`)."""
        super().reset(seed=seed)
        self.state = np.array([0.0, 0.0, self.start_angle, 0.0, 0.0, 0.0])
        if options and options.get("state") is not None:
            st = np.asarray(options["state"], dtype=np.float64)
            if st.shape != (6,) or not np.isfinite(st).all():
                raise ValueError(f"options['state'] must be 6 finite numbers (x, x', th1, th1', th2, th2'), "
                                 f"got shape {st.shape}")
            self.state = st.copy()
        elif self.start_noise > 0:
            bounds = np.array([_X_LIMIT, 1.0, _ANGLE_LIMIT, 1.0, _ANGLE_LIMIT, 1.0])
            self.state = self.state + self.np_random.uniform(-1, 1, 6) * self.start_noise * bounds
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        a = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        self.state, failed = advance(self.state, a, self.constants)
        failed = bool(failed)
        self.steps += 1
        truncated = not failed and self.steps >= self.max_steps
        # success: the poles stayed up for the whole episode
        return self._obs(), 0.0 if failed else 1.0, failed, bool(truncated), {"steps": self.steps,
                                                                              "success": bool(truncated)}
