r"""Recurrent policy gradients: REINFORCE with a learned baseline, GAE and PPO, through an
LSTM (or any registered family's) policy over whole episodes (Wierstra, Foerster, Peters
& Schmidhuber 2007).

A :class:`RecurrentPolicy` reads the observation history with a recurrent layer found in
the registry (``"lstm"``, a variant such as ``"vanilla"``, ``"gru"``, ``"elman"``, ...) or
with a memoryless layer (``"mlp"``), and heads for the action distribution (categorical
logits, or a Gaussian's mean with a learned log standard deviation for continuous
actions) and a value baseline :math:`V(h_t)`.

Episodes are collected with the policy's stepper (no autograd graph), then the whole
observation sequences are run through the policy again, with gradients, and the loss
backpropagated through time over each whole episode. With the return
:math:`G_t = \sum_{k \ge t} \gamma^{k-t} r_k` the methods are

* ``"reinforce"``: :math:`-\sum_t \log\pi(a_t|h_t)\,(G_t - V(h_t))` plus
  :math:`\tfrac{c}{2}(G_t - V(h_t))^2` for the baseline (``baseline=False``: no baseline);
* ``"gae"``: the advantage is the generalised advantage estimate
  :math:`A_t = \sum_k (\gamma\lambda)^k \delta_{t+k}`,
  :math:`\delta_t = r_t + \gamma V(h_{t+1}) - V(h_t)` (Schulman et al. 2016);
* ``"ppo"``: GAE advantages and the clipped surrogate
  :math:`\min(\rho_t A_t, \mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon) A_t)` over
  several epochs of the same episodes (Schulman et al. 2017).

A truncated episode (time limit) is bootstrapped with the value of its last observation.
Environments follow Gymnasium's API (``reset(seed=...) -> (obs, info)``,
``step(a) -> (obs, reward, terminated, truncated, info)``); an environment that reports
``info["success"]`` at the end of an episode has its success rate recorded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..families import resolve_model
from .config import ConfigDict, check_fields

__all__ = ["RecurrentPolicy", "Episodes", "PGConfig", "collect_episodes", "policy_gradient_loss",
           "discounted_returns", "gae_advantages", "train_policy", "evaluate_policy", "METHODS"]

METHODS = ("reinforce", "gae", "ppo")


class _Trunk(nn.Module):
    """The history reader of a policy or a baseline: a registered recurrent layer or,
    for ``cell="mlp"``, a memoryless tanh layer."""

    def __init__(self, obs_size: int, hidden_size: int, cell: str, forget_bias: float | None) -> None:
        super().__init__()
        if cell == "mlp":
            self.rnn = None
            self.mlp = nn.Sequential(nn.Linear(obs_size, hidden_size), nn.Tanh())
            self.description = "MLP (memoryless)"
            return
        family, variant = resolve_model(cell, feature_axes=1, what="cell")
        import inspect

        options = inspect.signature(family.module).parameters
        kw = {}
        if "variant" in options and variant is not None:
            kw["variant"] = variant
        if "forget_bias" in options and forget_bias is not None:
            kw["forget_bias"] = forget_bias
        self.rnn = family.module(obs_size, hidden_size, **kw)
        self.mlp = None
        self.description = family.describe(variant)

    def forward(self, obs: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.rnn is None:
            return self.mlp(obs)
        return self.rnn(obs, lengths=lengths)[0]

    def stepper(self) -> Callable:
        if self.rnn is None:
            return lambda obs_t, state=None: (self.mlp(obs_t), None)
        return self.rnn.stepper()


class RecurrentPolicy(nn.Module):
    r"""A policy over observation histories: a recurrent (or memoryless) layer, an action
    head and a learned value baseline.

    :math:`h_t = \mathrm{cell}(o_t, h_{t-1})` (``cell="mlp"``: :math:`h_t = \tanh(W o_t + b)`,
    no memory); discrete actions: :math:`\pi(\cdot|h_t) = \mathrm{softmax}(U h_t + c)`;
    continuous: :math:`\pi(\cdot|h_t) = \mathcal N(s \odot (U h_t + c), (s \odot e^{\ell})^2)`
    with :math:`s` half the action range and :math:`\ell` learned. The baseline
    :math:`V_t = v^\top h_t + d` reads the policy's own features (``shared_baseline=False``:
    a layer of its own, :math:`h'_t`). Shared, the baseline's error trains the memory too:
    on the T-maze (corridor 10, PPO, 3 seeds) the LSTM policy solved in 960-2,800 episodes
    with it and stayed at 50% for 6,000 episodes without; scale large returns down
    (``PGConfig.reward_scale``), or the baseline's gradient swamps the policy's.

    Args:
        obs_size: O, observation entries.
        action_size: the number of actions (discrete) or the action dimension (continuous).
        hidden_size: H, units of the recurrent (or memoryless) layer.
        cell: ``"mlp"`` (memoryless) or any registered vector family or variant
            (``"lstm"``, ``"vanilla"``, ``"gru"``, ``"elman"``, ...).
        continuous: a Gaussian head instead of a categorical one.
        action_scale: s, half the action range per dimension (continuous only).
        init_log_std: the initial :math:`\ell` (continuous only).
        forget_bias: initial forget-gate bias (families with a forget gate; None: default).
        obs_scale: observations are multiplied by this (one number or O) before the
            layer: CartPole's angle is ~0.05 rad, and the velocity a memory must infer
            from it is a difference of ~0.005 per step.
        shared_baseline: the baseline reads the policy's features (False: its own layer).

    Example:
        >>> import torch
        >>> pi = RecurrentPolicy(3, 4, hidden_size=8, cell="lstm")
        >>> head, value = pi(torch.zeros(5, 2, 3))
        >>> head.shape, value.shape
        (torch.Size([5, 2, 4]), torch.Size([5, 2]))
    """

    def __init__(self, obs_size: int, action_size: int, hidden_size: int = 16, cell: str = "lstm",
                 continuous: bool = False, action_scale=1.0, init_log_std: float = 0.0,
                 forget_bias: float | None = None, obs_scale=1.0, shared_baseline: bool = True) -> None:
        super().__init__()
        for name, v in (("obs_size", obs_size), ("action_size", action_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name, v in (("continuous", continuous), ("shared_baseline", shared_baseline)):
            if not isinstance(v, bool):
                raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
        self.obs_size, self.action_size, self.hidden_size = obs_size, action_size, hidden_size
        self.cell, self.continuous = cell, continuous
        self.actor = _Trunk(obs_size, hidden_size, cell, forget_bias)
        self.critic = None if shared_baseline else _Trunk(obs_size, hidden_size, cell, forget_bias)
        self.description = self.actor.description
        scale = torch.as_tensor(obs_scale, dtype=torch.float32).flatten()
        if scale.numel() not in (1, obs_size) or not bool(torch.isfinite(scale).all()):
            raise ValueError(f"obs_scale must be finite, one number or {obs_size}, got {obs_scale!r}")
        self.register_buffer("obs_scale", scale.expand(obs_size).clone())
        self.head = nn.Linear(hidden_size, action_size)
        self.value = nn.Linear(hidden_size, 1)
        with torch.no_grad():  # small initial head: a near-uniform first policy
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
        if continuous:
            scale = torch.as_tensor(action_scale, dtype=torch.float32).flatten()
            if scale.numel() == 1:
                scale = scale.expand(action_size)
            if scale.numel() != action_size or not bool((scale > 0).all()):
                raise ValueError(f"action_scale must be positive, one number or {action_size}, got {action_scale!r}")
            self.register_buffer("action_scale", scale.clone())
            self.log_std = nn.Parameter(torch.full((action_size,), float(init_log_std)))
        else:
            self.action_scale = None
            self.log_std = None

    # ---- whole sequences, with gradients ---------------------------------------------
    def forward(self, obs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(head (T, B, A), value (T, B))``: logits (discrete) or means (continuous)."""
        obs = obs * self.obs_scale
        f = self.actor(obs, lengths)
        fv = f if self.critic is None else self.critic(obs, lengths)
        return self._head(f), self.value(fv).squeeze(-1)

    def _head(self, f: Tensor) -> Tensor:
        out = self.head(f)
        return out * self.action_scale if self.continuous else out

    def distribution(self, head: Tensor):
        """The action distribution of a head's output (one draw per leading index)."""
        if self.continuous:
            std = (self.log_std.exp() * self.action_scale).expand_as(head)
            return torch.distributions.Independent(torch.distributions.Normal(head, std), 1)
        return torch.distributions.Categorical(logits=head)

    # ---- one step at a time, without gradients ---------------------------------------
    def stepper(self) -> Callable:
        """``step(obs_t (B, O), state) -> (head (B, A), state)``: the policy alone, no gradients."""
        inner = self.actor.stepper()

        def step(obs_t, state=None):
            with torch.no_grad():
                f, state = inner(obs_t * self.obs_scale, state)
                return self._head(f), state
        return step


@dataclass
class Episodes:
    """A batch of whole episodes, time-major and padded.

    Attributes:
        obs: (T + 1, B, O) observations; ``obs[lengths[b], b]`` is episode b's last one
            (seen after its last action; its value bootstraps a truncated episode).
        actions: (T, B) int64 (discrete) or (T, B, A) float.
        rewards: (T, B); zero past each length.
        lengths: (B,) actions per episode.
        truncated: (B,) bool, ended by a time limit (not a terminal state).
        success: (B,) bool, ``info["success"]`` at the end (False where not reported).
    """

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    lengths: Tensor
    truncated: Tensor
    success: Tensor

    @property
    def size(self) -> int:
        return int(self.lengths.shape[0])

    def mask(self) -> Tensor:
        """(T, B) bool: the steps each episode has."""
        T = self.rewards.shape[0]
        return torch.arange(T)[:, None] < self.lengths[None, :]

    def returns(self) -> Tensor:
        """(B,) undiscounted total reward of each episode."""
        return self.rewards.sum(0)


def collect_episodes(policy: RecurrentPolicy, envs, seeds=None, greedy: bool = False,
                     generator: torch.Generator | None = None, options=None) -> Episodes:
    """Run one episode in each of ``envs`` (Gymnasium environments) with ``policy``.

    Args:
        policy: the policy (stepped without gradients).
        envs: a list of environments; episode b runs in ``envs[b]``.
        seeds: per-environment reset seeds (None: each continues its own generator).
        greedy: take the most probable action (the mean, continuous) instead of sampling.
        generator: the torch generator for the action draws.
        options: per-environment ``reset`` options (a list, or one dict for all).

    Example:
        >>> from lstmkit.tasks.tmaze import TMaze
        >>> ep = collect_episodes(RecurrentPolicy(3, 4, 8), [TMaze(2), TMaze(2)], seeds=[0, 1])
        >>> ep.obs.shape[1], ep.lengths.shape
        (2, torch.Size([2]))
    """
    B = len(envs)
    if B == 0:
        raise ValueError("envs must hold at least one environment")
    if options is None or isinstance(options, dict):
        options = [options] * B
    obs_list = []
    for b, env in enumerate(envs):
        o, _ = env.reset(seed=None if seeds is None else int(seeds[b]), options=options[b])
        obs_list.append(np.asarray(o, dtype=np.float32))
    step = policy.stepper()
    state = None
    done = np.zeros(B, dtype=bool)
    truncated = np.zeros(B, dtype=bool)
    success = np.zeros(B, dtype=bool)
    lengths = np.zeros(B, dtype=np.int64)
    obs_t = torch.from_numpy(np.stack(obs_list))
    all_obs, all_actions, all_rewards = [obs_t], [], []
    while not done.all():
        head, state = step(obs_t, state)
        with torch.no_grad():
            if greedy:
                a = head if policy.continuous else head.argmax(-1)
            elif policy.continuous:
                a = head + policy.distribution(head).base_dist.scale * torch.randn(head.shape, generator=generator)
            else:
                a = torch.multinomial(torch.softmax(head, -1), 1, generator=generator).squeeze(-1)
        rewards = np.zeros(B, dtype=np.float32)
        next_obs = obs_t.clone()
        a_np = a.numpy()
        for b in np.flatnonzero(~done):
            if policy.continuous:
                act = a_np[b]
                space = envs[b].action_space
                if hasattr(space, "low"):
                    act = np.clip(act, space.low, space.high).astype(space.dtype)
            else:
                act = int(a_np[b])
            o, r, term, trunc, info = envs[b].step(act)
            rewards[b] = float(r)
            next_obs[b] = torch.as_tensor(np.asarray(o, dtype=np.float32))
            lengths[b] += 1
            if term or trunc:
                done[b] = True
                truncated[b] = bool(trunc and not term)
                success[b] = bool(info.get("success", False))
        all_actions.append(a)
        all_rewards.append(torch.from_numpy(rewards))
        obs_t = next_obs  # finished episodes keep repeating their last observation (masked)
        all_obs.append(obs_t)
    T = len(all_actions)
    actions = torch.stack(all_actions)
    rewards = torch.stack(all_rewards)
    lengths_t = torch.from_numpy(lengths)
    mask = torch.arange(T)[:, None] < lengths_t[None, :]
    rewards = rewards * mask
    return Episodes(torch.stack(all_obs), actions, rewards, lengths_t, torch.from_numpy(truncated),
                    torch.from_numpy(success))


def discounted_returns(rewards: Tensor, mask: Tensor, gamma: float, bootstrap: Tensor | None = None) -> Tensor:
    r""":math:`G_t = r_t + \gamma G_{t+1}` over each episode's steps ((T, B) -> (T, B)),
    starting from ``bootstrap`` (B,) after the last step (None: 0).

    Example:
        >>> import torch
        >>> discounted_returns(torch.tensor([[1.0], [1.0]]), torch.ones(2, 1, dtype=torch.bool), 0.5)[:, 0].tolist()
        [1.5, 1.0]
    """
    T, B = rewards.shape
    g = torch.zeros(B) if bootstrap is None else bootstrap.clone()
    out = torch.zeros_like(rewards)
    m = mask.to(rewards.dtype)
    for t in range(T - 1, -1, -1):
        # past an episode's end g stays at its bootstrap value, so the last step sees it
        g = torch.where(mask[t], rewards[t] + gamma * g, g)
        out[t] = g * m[t]
    return out


def gae_advantages(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float,
                   bootstrap: Tensor) -> Tensor:
    r"""Generalised advantage estimates (T, B): :math:`A_t = \delta_t + \gamma\lambda A_{t+1}`,
    :math:`\delta_t = r_t + \gamma V_{t+1} - V_t`, with :math:`V` after each episode's last
    step = ``bootstrap`` (B,) (0 for a terminal state).

    Example:
        >>> import torch
        >>> m = torch.ones(2, 1, dtype=torch.bool)
        >>> gae_advantages(torch.tensor([[0.0], [1.0]]), torch.zeros(2, 1), m, 1.0, 1.0, torch.zeros(1))[:, 0].tolist()
        [1.0, 1.0]
    """
    T, B = rewards.shape
    lengths = mask.sum(0)
    next_v = torch.zeros(B)
    a = torch.zeros(B)
    out = torch.zeros_like(rewards)
    for t in range(T - 1, -1, -1):
        last = lengths == t + 1
        nv = torch.where(last, bootstrap, next_v)
        delta = rewards[t] + gamma * nv - values[t]
        a_new = delta + gamma * lam * torch.where(last, torch.zeros_like(a), a)
        a = torch.where(mask[t], a_new, a)
        out[t] = a * mask[t]
        next_v = values[t]
    return out


@dataclass
class PGConfig(ConfigDict):
    """How a policy is trained (:func:`train_policy`).

    Attributes:
        method: ``"reinforce"``, ``"gae"`` or ``"ppo"`` (:data:`METHODS`).
        gamma: discount. lam: GAE's lambda (``"gae"``, ``"ppo"``).
        lr: Adam's learning rate. batch_episodes: episodes per update.
        baseline: subtract the learned value (``"reinforce"``; False: plain REINFORCE).
        value_coef: weight of the baseline's squared error.
        entropy: weight of the entropy bonus.
        normalize_advantages: scale each batch's advantages to mean 0, std 1.
        epochs, minibatches, clip: PPO's passes over a batch, its split, and epsilon.
        clip_norm: gradient-norm clipping (None: none).
        reward_scale: rewards are multiplied by this in the loss (a baseline sharing the
            policy's layer must not see returns in the hundreds: CartPole uses 0.01).
        max_episodes, max_seconds: the budget. eval_every: updates between greedy
            checks (0: none). eval_episodes: episodes per check.
        seed: seeds torch and the environments.
    """

    method: str = "reinforce"
    gamma: float = 0.99
    lam: float = 0.95
    lr: float = 0.01
    batch_episodes: int = 16
    baseline: bool = True
    value_coef: float = 0.5
    entropy: float = 0.01
    normalize_advantages: bool = True
    epochs: int = 4
    minibatches: int = 2
    clip: float = 0.2
    clip_norm: float | None = 1.0
    reward_scale: float = 1.0
    max_episodes: int = 10_000
    max_seconds: float = 60.0
    eval_every: int = 5
    eval_episodes: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        check_fields(self, "positive int", "batch_episodes", "epochs", "minibatches", "max_episodes", "eval_episodes")
        check_fields(self, "[0, 1]", "gamma", "lam")
        check_fields(self, "positive", "lr", "max_seconds", "clip")
        check_fields(self, "int >= 0", "eval_every")


def _targets(policy, ep: Episodes, cfg: PGConfig):
    """(head, values, logp, entropy, mask, advantages, value targets) of a batch, with
    gradients through head and values."""
    mask = ep.mask()
    T = ep.rewards.shape[0]
    head, values = policy(ep.obs, lengths=ep.lengths + 1)
    last_v = values.gather(0, ep.lengths[None, :]).squeeze(0)
    bootstrap = torch.where(ep.truncated, last_v.detach(), torch.zeros_like(last_v))
    head, values = head[:T], values[:T]
    dist = policy.distribution(head)
    logp = dist.log_prob(ep.actions)
    ent = dist.entropy()
    rewards = ep.rewards * cfg.reward_scale
    if cfg.method == "reinforce":
        returns = discounted_returns(rewards, mask, cfg.gamma, bootstrap)
        adv = returns - values.detach() if cfg.baseline else returns
        target = returns
    else:
        adv = gae_advantages(rewards, values.detach(), mask, cfg.gamma, cfg.lam, bootstrap)
        target = adv + values.detach()
    if cfg.normalize_advantages:
        a = adv[mask]
        if a.numel() > 1:
            adv = (adv - a.mean()) / (a.std() + 1e-8) * mask
    return logp, ent, values, mask, adv, target


def policy_gradient_loss(policy: RecurrentPolicy, ep: Episodes, cfg: PGConfig) -> tuple[Tensor, dict]:
    r"""The REINFORCE / GAE loss of a batch of episodes (the mean over episodes of the
    per-episode sums): :math:`-\sum_t \log\pi(a_t|h_t) A_t + \tfrac{c}{2}\sum_t (G_t - V_t)^2
    - \beta \sum_t H(\pi(\cdot|h_t))`; its gradient is the policy-gradient estimate.

    Example:
        >>> from lstmkit.tasks.tmaze import TMaze
        >>> pi = RecurrentPolicy(3, 4, 8)
        >>> ep = collect_episodes(pi, [TMaze(2)], seeds=[0])
        >>> loss, stats = policy_gradient_loss(pi, ep, PGConfig())
        >>> loss.requires_grad
        True
    """
    logp, ent, values, mask, adv, target = _targets(policy, ep, cfg)
    m = mask.to(logp.dtype)
    B = ep.size
    pg = -(logp * adv * m).sum() / B
    vl = 0.5 * (((values - target) ** 2) * m).sum() / B if (cfg.baseline or cfg.method != "reinforce") else 0.0 * pg
    en = (ent * m).sum() / B
    loss = pg + cfg.value_coef * vl - cfg.entropy * en
    return loss, {"policy_loss": float(pg.detach()), "value_loss": float(vl.detach()),
                  "entropy": float(en.detach()) / max(float(m.sum()) / B, 1)}


def _ppo_update(policy, opt, ep: Episodes, cfg: PGConfig, generator) -> dict:
    with torch.no_grad():
        logp_old, _, _, mask, adv, target = _targets(policy, ep, cfg)
    B = ep.size
    n_mb = min(cfg.minibatches, B)
    stats = {}
    for _ in range(cfg.epochs):
        perm = torch.randperm(B, generator=generator)
        for chunk in perm.chunk(n_mb):
            T = int(ep.lengths[chunk].max())
            sub = Episodes(ep.obs[: T + 1, chunk], ep.actions[:T, chunk], ep.rewards[:T, chunk], ep.lengths[chunk],
                           ep.truncated[chunk], ep.success[chunk])
            head, values = policy(sub.obs, lengths=sub.lengths + 1)
            head, values = head[:T], values[:T]
            dist = policy.distribution(head)
            logp = dist.log_prob(sub.actions)
            m = mask[:T, chunk].to(logp.dtype)
            a = adv[:T, chunk]
            ratio = torch.exp(logp - logp_old[:T, chunk])
            surr = torch.minimum(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a)
            n = m.sum().clamp_min(1.0)
            pg = -(surr * m).sum() / n
            vl = 0.5 * (((values - target[:T, chunk]) ** 2) * m).sum() / n
            en = (dist.entropy() * m).sum() / n
            loss = pg + cfg.value_coef * vl - cfg.entropy * en
            opt.zero_grad()
            loss.backward()
            if cfg.clip_norm:
                nn.utils.clip_grad_norm_(policy.parameters(), cfg.clip_norm)
            opt.step()
            stats = {"policy_loss": float(pg.detach()), "value_loss": float(vl.detach()), "entropy": float(en.detach())}
    return stats


def evaluate_policy(policy: RecurrentPolicy, make_env: Callable, episodes: int = 10, greedy: bool = True,
                    seed: int = 10_000, options=None) -> dict:
    """Success rate, mean return and mean length of ``episodes`` fresh episodes.

    Args:
        make_env: a callable returning a new environment.
        options: per-episode reset options (a list of length ``episodes``), e.g. both
            goals of the T-maze.

    Example:
        >>> from lstmkit.tasks.tmaze import TMaze
        >>> r = evaluate_policy(RecurrentPolicy(3, 4, 8), lambda: TMaze(2), episodes=2)
        >>> sorted(r)
        ['episodes', 'mean_length', 'mean_return', 'success_rate']
    """
    envs = [make_env() for _ in range(episodes)]
    g = torch.Generator().manual_seed(seed)
    ep = collect_episodes(policy, envs, seeds=[seed + k for k in range(episodes)], greedy=greedy, generator=g,
                          options=options)
    for env in envs:
        env.close()
    return {"episodes": episodes, "success_rate": float(ep.success.float().mean()),
            "mean_return": float(ep.returns().mean()), "mean_length": float(ep.lengths.float().mean())}


def train_policy(policy: RecurrentPolicy, make_env: Callable, cfg: PGConfig | None = None,
                 solved: Callable[[dict], bool] | None = None, eval_options=None,
                 progress: bool = False, log: Callable | None = None, start_episodes: int = 0) -> dict:
    """Train ``policy`` on fresh episodes of ``make_env()`` until ``solved(check)`` holds for
    a greedy check or the budget ends.

    Args:
        policy: a :class:`RecurrentPolicy` (trained in place).
        make_env: a callable returning a new Gymnasium environment.
        cfg: the :class:`PGConfig`.
        solved: ``check -> bool`` on :func:`evaluate_policy`'s dict (None: train the whole budget).
        eval_options: reset options of the check's episodes (see :func:`evaluate_policy`).
        log: called with one line per check (None: silent).
        start_episodes: added to the episode counts of the history (a curriculum's earlier stages).

    Returns:
        ``{"solved", "solved_at": {"episodes", "steps"} or None, "episodes", "steps",
        "updates", "wall_seconds", "history": [{"episodes", "steps", "mean_return",
        "success_rate", ...}], "checks": [{"episodes", "success_rate", "mean_return"}],
        "config"}``.

    Example:
        >>> from lstmkit.tasks.tmaze import TMaze
        >>> r = train_policy(RecurrentPolicy(3, 4, 8), lambda: TMaze(2), PGConfig(max_episodes=32, eval_every=1))
        >>> r["episodes"], len(r["checks"])
        (32, 2)
    """
    cfg = cfg or PGConfig()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    envs = [make_env() for _ in range(cfg.batch_episodes)]
    t0 = time.perf_counter()
    episodes = steps = updates = 0
    history, checks = [], []
    solved_at = None
    n_eval = cfg.eval_episodes if eval_options is None else len(eval_options)
    from ..progress import progress_bar

    bar = progress_bar(cfg.max_episodes, "episodes", unit="ep", enabled=progress)

    def check():
        r = evaluate_policy(policy, make_env, n_eval, greedy=True, seed=10_000 + updates, options=eval_options)
        r = {"eval_episodes": r.pop("episodes"), **r, "episodes": start_episodes + episodes, "steps": steps}
        checks.append(r)
        if log is not None:
            log(f"    {start_episodes + episodes:>7,} episodes: greedy success {r['success_rate']:.2f}, "
                f"return {r['mean_return']:.2f}, length {r['mean_length']:.1f}")
        return solved is not None and solved(r)

    while episodes < cfg.max_episodes and time.perf_counter() - t0 < cfg.max_seconds:
        n = min(cfg.batch_episodes, cfg.max_episodes - episodes)
        seeds = rng.integers(2 ** 31 - 1, size=n)
        policy.train()
        ep = collect_episodes(policy, envs[:n], seeds=seeds, generator=gen)
        if cfg.method == "ppo":
            stats = _ppo_update(policy, opt, ep, cfg, gen)
        else:
            loss, stats = policy_gradient_loss(policy, ep, cfg)
            opt.zero_grad()
            loss.backward()
            if cfg.clip_norm:
                nn.utils.clip_grad_norm_(policy.parameters(), cfg.clip_norm)
            opt.step()
        episodes += n
        steps += int(ep.lengths.sum())
        updates += 1
        history.append({"episodes": start_episodes + episodes, "steps": steps,
                        "mean_return": float(ep.returns().mean()),
                        "success_rate": float(ep.success.float().mean()),
                        "mean_length": float(ep.lengths.float().mean()), **stats})
        if bar is not None:
            bar.update(n)
        if cfg.eval_every and updates % cfg.eval_every == 0 and check():
            solved_at = {"episodes": start_episodes + episodes, "steps": steps}
            break
    else:
        if cfg.eval_every and (not checks or checks[-1]["episodes"] != start_episodes + episodes) and check():
            solved_at = {"episodes": start_episodes + episodes, "steps": steps}
    if bar is not None:
        bar.close()
    for env in envs:
        env.close()
    return {"solved": solved_at is not None, "solved_at": solved_at, "episodes": episodes, "steps": steps,
            "updates": updates, "wall_seconds": time.perf_counter() - t0, "history": history, "checks": checks,
            "config": cfg.to_dict()}
