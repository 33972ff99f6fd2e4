"""Training by the decoupled extended Kalman filter (DEKF; Puskorius & Feldkamp 1994), as
Pérez-Ortiz, Gers, Eck & Schmidhuber (2003) trained LSTM: online, one step at a time.

The weights w are the state of a filter whose measurement at step t is the network's
output ``h_t(w)``. With the Jacobian ``H_t = dh_t/dw`` (K x W), the error
``e_t = d_t - h_t`` and the weights split into groups g (decoupled: one group per hidden
unit, holding the weights into it, and one per output unit), each step is::

    A   = (R_t + sum_g H_g P_g H_g^T)^-1          (K x K)
    K_g = P_g H_g^T A                               (W_g x K)
    w_g = w_g + K_g e_t
    P_g = P_g - K_g H_g P_g + Q_t                   (W_g x W_g)

``R_t`` (measurement noise, ``r * I``) and ``Q_t`` (process noise, ``q * I``) are
annealed from a start to an end value: large R and Q early (small cautious steps that
still explore), small late. The Jacobian through time is carried forward exactly by
real-time recurrent learning (RTRL): with the state s_t = f(s_{t-1}, x_t; w),
``dS_t/dw = df/ds dS_{t-1}/dw + df/dw`` (Williams & Zipser 1989); the one-step
Jacobians come from ``torch.func.jacrev`` of the model's own forward, so every
registered family works unchanged (under the transform the fused kernels run through
their torch ops, :mod:`lstmkit.kernels.ops`, with vmap rules).

Cost: O(W_g^2) per group and step, plus (K + S) backward passes of one step for the
Jacobians: meant for the small nets of the classic experiments.

Example:
    >>> import numpy as np, torch
    >>> from lstmkit.train.kalman import ekf_update
    >>> w, P = ekf_update(torch.zeros(2), [torch.eye(2)], [torch.tensor([0, 1])],
    ...                   torch.tensor([[1., 2.]]), torch.tensor([1.]), r=1.0, q=0.0)
    >>> [round(v, 4) for v in w.tolist()]  # P H^T / (R + H P H^T) e = [1, 2] / 6
    [0.1667, 0.3333]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .config import ConfigDict, check_fields
from .evolution import ParameterSpace

__all__ = ["DEKFConfig", "DEKF", "ekf_update", "decoupled_groups", "anneal"]


def ekf_update(w: Tensor, P: Sequence[Tensor], groups: Sequence[Tensor], H: Tensor, e: Tensor, r: float,
               q: float) -> tuple[Tensor, list[Tensor]]:
    """One decoupled EKF step (the module docstring's equations); returns ``(w, P)``.

    Args:
        w: (W,) weights. P: one (W_g, W_g) error covariance per group.
        groups: one (W_g,) long index tensor into w per group (disjoint).
        H: (K, W) the Jacobian of the K measured outputs with respect to w.
        e: (K,) the error d - h. r: measurement noise variance (R = r I).
        q: process noise variance (Q = q I).
    """
    idx = [np.asarray(g, dtype=np.int64) for g in groups]
    w_np, P_np = _ekf_numpy(w.detach().double().numpy().copy(), [np.asarray(p, dtype=np.float64) for p in P], idx,
                            H.detach().double().numpy(), e.detach().double().numpy(), float(r), float(q))
    return torch.from_numpy(w_np).to(w.dtype), [torch.from_numpy(p) for p in P_np]


def _ekf_numpy(w: np.ndarray, P: list, groups: list, H: np.ndarray, e: np.ndarray, r: float, q: float):
    """:func:`ekf_update` on float64 numpy arrays (small matrices: numpy's per-call cost
    is a tenth of torch's); ``w`` is updated in place."""
    K = H.shape[0]
    Hg = [H[:, idx] for idx in groups]
    PHt = [p @ h.T for p, h in zip(P, Hg)]  # (W_g, K)
    S = r * np.eye(K)
    for h, ph in zip(Hg, PHt):
        S += h @ ph
    A = np.linalg.inv(S)
    newP = []
    for idx, p, ph in zip(groups, P, PHt):
        gain = ph @ A  # (W_g, K)
        w[idx] += gain @ e
        p = p - gain @ ph.T
        p = 0.5 * (p + p.T)  # keep it symmetric against round-off
        if q:
            p.flat[:: p.shape[0] + 1] += q
        newP.append(p)
    return w, newP


def anneal(start: float, end: float, step: int, steps: int) -> float:
    """Geometric interpolation from ``start`` (step 0) to ``end`` (step >= ``steps``).

    Example:
        >>> anneal(100.0, 1.0, 1, 2), anneal(100.0, 1.0, 5, 2)
        (10.0, 1.0)
    """
    if steps <= 0 or step >= steps:
        return float(end)
    if start <= 0 or end <= 0:
        return float(start + (end - start) * step / steps)
    return float(start * (end / start) ** (step / steps))


def decoupled_groups(model: nn.Module, space: ParameterSpace) -> list[Tensor]:
    """DEKF's groups: one per hidden unit of each recurrent layer in ``model`` (the
    weights into that unit, :func:`lstmkit.train.evolution.unit_groups`'s rule) and one
    per output unit of every other layer (row o of its weights and entry o of its bias).

    Example:
        >>> from lstmkit.models import SequenceModel
        >>> m = SequenceModel(3, 2, 4)
        >>> [len(g) for g in decoupled_groups(m, ParameterSpace(m))]  # 2 cells, 4 outputs
        [31, 31, 3, 3, 3, 3]
    """
    recurrent = {name: mod for name, mod in model.named_modules()
                 if hasattr(mod, "hidden_size") and hasattr(mod, "specs")}
    keys: list[tuple] = []
    for name, shape, size in zip(space.names, space.shapes, space.sizes):
        owner = next((m for m in recurrent if name.startswith(m + ".") or m == ""), None)
        if owner is not None:
            H = recurrent[owner].hidden_size
            if shape and shape[0] % H == 0:
                rows = [(owner, "unit", r % H) for r in range(shape[0])]
                keys += [k for k in rows for _ in range(size // shape[0])]
            else:
                keys += [(owner, "unit", i * H // size) for i in range(size)]
        else:
            prefix = name.rsplit(".", 1)[0] if "." in name else ""
            rows = shape[0] if shape else 1
            keys += [(prefix, "row", i // max(size // rows, 1)) for i in range(size)]
    index: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        index.setdefault(k, []).append(i)
    return [torch.tensor(v, dtype=torch.long) for v in index.values()]


@dataclass
class DEKFConfig(ConfigDict):
    """The filter's settings.

    Attributes:
        p0: initial error covariance ``P_g = p0 I``.
        r_start, r_end: measurement noise variance, annealed (geometrically) over
            ``anneal_steps`` steps. q_start, q_end: process noise variance, likewise.
        output: the measured output: ``"sigmoid"`` of the model's outputs (the paper's
            sigmoid output units; targets in [0, 1]) or ``"identity"``.
        decoupled: one group per unit (DEKF) or a single group (global EKF).
        max_sequences, max_seconds: the budget. eval_every: sequences between checks of
            the task's criterion (0: none). stop_on_success: stop at the first success.
        seed: the data's seed.
    """

    p0: float = 100.0
    r_start: float = 100.0
    r_end: float = 3.0
    q_start: float = 1e-2
    q_end: float = 1e-6
    anneal_steps: int = 100_000
    output: str = "sigmoid"
    decoupled: bool = True
    max_sequences: int = 10_000
    max_seconds: float | None = None
    eval_every: int = 100
    stop_on_success: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.output not in ("sigmoid", "identity"):
            raise ValueError(f"output must be 'sigmoid' or 'identity', got {self.output!r}")
        check_fields(self, "positive", "p0", "r_start", "r_end")
        check_fields(self, ">= 0", "q_start", "q_end")


class DEKF:
    """Train ``model`` online with the decoupled extended Kalman filter.

    ``model(x, lengths=None, state=None) -> (y, state)`` with per-step outputs (a
    :class:`lstmkit.models.SequenceModel` with ``readout="every"``, any registered
    family). :meth:`step` does one filter step; :meth:`fit` trains on a task's
    sequences one at a time (the state reset at each), with the task's checks.

    Args:
        model: the network (its weights are updated in place).
        config: :class:`DEKFConfig`.
        fast: for a plain one-layer "recurrent layer + linear head" model, compute each
            step from the cell spec's math directly (the same function; ``False``: always
            the model's own forward, for tests).

    Example:
        >>> import numpy as np, torch
        >>> from lstmkit.models import SequenceModel
        >>> from lstmkit.tasks import get_task
        >>> torch.manual_seed(0) and None
        >>> task = get_task("counting", letters=2, train_max=3, test_max=5)
        >>> f = DEKF(SequenceModel(4, 2, 4), DEKFConfig(max_sequences=20, eval_every=0))
        >>> r = f.fit(task)
        >>> r["sequences"], r["updates"] > 20
        (20, True)
    """

    def __init__(self, model: nn.Module, config: DEKFConfig | None = None, fast: bool = True) -> None:
        self.model = model
        self.config = config or DEKFConfig()
        self.space = ParameterSpace(model)
        groups = decoupled_groups(model, self.space) if self.config.decoupled else [torch.arange(self.space.dim)]
        self.groups = groups
        self.w = self.space.vector().double()
        self.P = [self.config.p0 * np.eye(len(g)) for g in groups]  # numpy float64: see _ekf_numpy
        self._groups_np = [g.numpy() for g in groups]
        self.updates = 0
        self._template = None
        self._fast = self._fast_step() if fast else None

    # ---- the state as one vector ----------------------------------------------------
    def _state_template(self, x_t: Tensor):
        from torch.utils._pytree import tree_flatten

        with torch.no_grad():
            _, state = self.model(x_t)
        leaves, spec = tree_flatten(state)
        self._template = (spec, [tuple(t.shape) for t in leaves])

    def _unflat_state(self, s: Tensor):
        from torch.utils._pytree import tree_unflatten

        spec, shapes = self._template
        sizes = [int(np.prod(sh)) for sh in shapes]
        parts = [c.reshape(sh) for c, sh in zip(torch.split(s, sizes), shapes)]
        return tree_unflatten(parts, spec)

    def _flat_state(self, state) -> Tensor:
        from torch.utils._pytree import tree_flatten

        return torch.cat([t.reshape(-1) for t in tree_flatten(state)[0]])

    def reset(self, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """The zero state and zero sensitivity dS/dw for a new sequence."""
        if self._fast is not None:
            S = self._fast[1]
            return torch.zeros(S, dtype=torch.float64), torch.zeros(S, self.space.dim, dtype=torch.float64)
        if self._template is None:
            self._state_template(x_t)
        S = sum(int(np.prod(sh)) for sh in self._template[1])
        return torch.zeros(S, dtype=torch.float64), torch.zeros(S, self.space.dim, dtype=torch.float64)

    def _fast_step(self):
        """The one-step function of a plain "recurrent layer + linear head" model, straight
        from the cell spec's math (the layer's per-call checks and plans are ~5x the cost
        of one step of a tiny net); None for any other model (then the model's own forward
        serves, through ``functional_call``)."""
        m = self.model
        rnn, head = getattr(m, "rnn", None), getattr(m, "head", None)
        if (rnn is None or not isinstance(head, nn.Linear) or getattr(m, "skip", None) is not None
                or getattr(m, "embed", None) is not None or getattr(rnn, "num_layers", 0) != 1
                or getattr(rnn, "num_directions", 0) != 1 or not hasattr(rnn, "specs")
                or rnn.specs[0].side_inputs or rnn.specs[0].feature_axes != 1
                or getattr(m, "readout", "every") != "every" or getattr(rnn, "truncated_gradient", False)):
            return None
        prefix = next(n for n, mod in m.named_modules() if mod is rnn)
        spec = rnn.specs[0]
        cell_names = [(short, f"{prefix}.{full}") for short, full in rnn._names[0]]
        head_names = [f"{n}.{k}" for n, mod in m.named_modules() if mod is head for k in ("weight", "bias")]
        if set(self.space.names) != {f for _, f in cell_names} | set(head_names):
            return None
        sizes = [int(np.prod(sh)) for sh in spec.state_shapes()]
        shapes = spec.state_shapes()
        space, has_bias = self.space, head.bias is not None

        def one(w, s, x_t):
            p = {k: v[0] for k, v in space.split(w[None]).items()}
            cp = {short: p[full] for short, full in cell_names}
            state = tuple(c.reshape(1, *sh) for c, sh in zip(torch.split(s, sizes), shapes))
            xp = spec.input_projection(x_t.reshape(1, -1), cp)
            new = spec.step(xp, state, cp)
            y = new[0] @ p[head_names[0]].T
            if has_bias:
                y = y + p[head_names[1]]
            return y.reshape(-1), torch.cat([t.reshape(-1) for t in new])

        return one, sum(sizes)

    def _one_step(self, w: Tensor, s: Tensor, x_t: Tensor):
        if self._fast is not None:
            y, new = self._fast[0](w.to(torch.float32), s.to(torch.float32), x_t)
            if self.config.output == "sigmoid":
                y = torch.sigmoid(y)
            y, new = y.double(), new.double()
            return (y, new), (y, new)
        from torch.func import functional_call

        params = {k: v[0].to(torch.float32) for k, v in self.space.split(w[None]).items()}
        state = self._unflat_state(s.to(torch.float32))
        y, new = functional_call(self.model, params, (x_t,), {"state": state})
        y = y.reshape(-1)
        if self.config.output == "sigmoid":
            y = torch.sigmoid(y)
        y, new = y.double(), self._flat_state(new).double()
        return (y, new), (y, new)

    def forward_step(self, s: Tensor, dS: Tensor, x_t: Tensor):
        """Outputs, their Jacobian H (K x W), the new state and its sensitivity (RTRL)."""
        if self._fast is not None:
            # plain autograd, all K + S rows in one batched backward (the cell spec's torch
            # ops have batching rules; torch.func.jacrev costs about twice as much here)
            w = self.w.detach().to(torch.float32).requires_grad_()
            s32 = s.detach().to(torch.float32).requires_grad_()
            with torch.enable_grad():
                y, s_new = self._fast[0](w, s32, x_t)
                if self.config.output == "sigmoid":
                    y = torch.sigmoid(y)
                out = torch.cat([y, s_new])
                n = out.shape[0]
                jw, js = torch.autograd.grad(out, (w, s32), torch.eye(n), is_grads_batched=True)
            jw, js = jw.double(), js.double()
            K = y.shape[0]
            J = jw + js @ dS  # (K + S, W): d(y, s_new)/dw through the whole history
            return y.detach().double(), J[:K], s_new.detach().double(), J[K:]
        from torch.func import jacrev

        ((jy_w, jy_s), (js_w, js_s)), (y, s_new) = jacrev(self._one_step, argnums=(0, 1), has_aux=True)(
            self.w, s, x_t)
        H = jy_w + jy_s @ dS
        dS_new = js_w + js_s @ dS
        return y, H, s_new, dS_new

    def step(self, s: Tensor, dS: Tensor, x_t: Tensor, d_t: Tensor | None):
        """One step on input ``x_t`` (1, 1, I) with target ``d_t`` (K,) or None (no
        target: the state moves on, the weights do not). Returns ``(s, dS, y)``."""
        y, H, s_new, dS_new = self.forward_step(s, dS, x_t)
        if d_t is not None:
            c = self.config
            r = anneal(c.r_start, c.r_end, self.updates, c.anneal_steps)
            q = anneal(c.q_start, c.q_end, self.updates, c.anneal_steps)
            e = (d_t.double().reshape(-1) - y).numpy()
            w, self.P = _ekf_numpy(self.w.numpy().copy(), self.P, self._groups_np, H.numpy(), e, r, q)
            self.w = torch.from_numpy(w)
            self.updates += 1
            self.space.assign(self.w.float())
        return s_new, dS_new, y

    def train_sequence(self, x: Tensor, y: Tensor, mask: Tensor | None = None) -> float:
        """Filter through one sequence x (T, I) with targets y (T, K) (``mask`` (T,) bool:
        the steps with a target). Returns the mean squared error of the outputs before
        each update."""
        s, dS = self.reset(x[:1, None])
        se, n = 0.0, 0
        for t in range(x.shape[0]):
            target = y[t] if mask is None or bool(mask[t]) else None
            s, dS, out = self.step(s, dS, x[t:t + 1, None], target)
            if target is not None:
                se += float(((out - target.double()) ** 2).sum())
                n += 1
        return se / max(n, 1)

    def fit(self, task, log=None, meta: dict | None = None) -> dict:
        """Train on ``task``'s sequences one at a time (``task.sample(1, rng)``), checking
        the task's criterion every ``eval_every`` sequences; test at the end.

        Returns a result dict shaped like :meth:`lstmkit.train.Trainer.fit`'s (units
        "sequences"; ``updates`` counts filter steps).
        """
        c = self.config
        t0 = time.perf_counter()
        rng = np.random.default_rng([c.seed, 0])
        checks, history, solved_at, reason = [], [], None, "max_sequences"
        seqs, loss_sum = 0, 0.0
        while seqs < c.max_sequences:
            b = task.sample(1, rng)
            T = int(b.lengths[0]) if b.lengths is not None else b.x.shape[0]
            mask = b.step_mask()[:T, 0]
            loss_sum += self.train_sequence(b.x[:T, 0], b.y[:T, 0], mask)
            seqs += 1
            now = time.perf_counter() - t0
            if seqs % 10 == 0:
                history.append({"sequences": seqs, "loss": loss_sum / 10, "seconds": round(now, 3)})
                loss_sum = 0.0
            if c.eval_every and seqs % c.eval_every == 0:
                m = task.evaluate(self.model, np.random.default_rng([c.seed, 1, seqs]))
                m.update(sequences=seqs, update=self.updates, seconds=round(now, 3))
                checks.append(m)
                if log is not None:
                    log(f"  {seqs} sequences: check {m.get('wrong')}/{m.get('n')} wrong, {now:.0f} s")
                if m["solved"] and solved_at is None:
                    solved_at = {"update": self.updates, "sequences": seqs, "seconds": round(now, 3)}
                    if c.stop_on_success:
                        reason = "solved"
                        break
            if c.max_seconds is not None and now >= c.max_seconds:
                reason = "max_seconds"
                break
        test = task.evaluate(self.model, np.random.default_rng([c.seed, 2]), test=True)
        return {"task": task.config(), "seed": c.seed, "config": {**c.to_dict(), "optimizer": "dekf"},
                "meta": meta or {}, "units": "sequences", "sequences": seqs, "updates": self.updates,
                "wall_seconds": round(time.perf_counter() - t0, 3), "stop_reason": reason,
                "solved": solved_at is not None, "solved_at": solved_at, "checks": checks, "test": test,
                "history": history, "parameters": self.space.dim}
