"""Fast paths. Each computes exactly what :func:`lstmkit.recurrent.run_recurrence` computes.

The one door is :func:`plan`: for a module's cell specs and configuration it returns a
:class:`Plan` holding, per (layer, direction), a :class:`Runner` or None (then the
reference loop runs), and optionally a whole-stack inference call and a streaming step.
A runner may still decline a call (returns None) for what only the call shows: a dtype,
a device, an unavailable extension. Runners come from planners registered per cell-spec
type (:func:`register_runner`; the family registry registers them); this package holds

- the fused CPU kernels (:mod:`lstmkit.kernels.fused`: the whole time loop and its
  hand-written backward in C++, every LSTMVariant, GRU, Elman), built on first use;
- torch's own LSTM kernel (:mod:`lstmkit.kernels.torch_lstm`) for the "standard" variant,
  on CPU where it measures faster than ours (see :func:`prefer_torch`) and always on CUDA
  (cuDNN).
- the xLSTM's runners, registered by their families: the sLSTM's fused CPU time loop with
  a hand-written backward (:mod:`lstmkit.kernels.slstm`, ``csrc/slstm.h``) and the
  mLSTM's parallel and chunkwise forms (:mod:`lstmkit.kernels.mlstm`).

The fused LSTM kernel also serves the recurrent mask (variational dropout on h_{t-1}),
zoneout and the 1997 truncated gradient. The reference loop serves everything else: a
GRU's or Elman net's recurrent mask, zoneout or truncated gradient, CUDA tensors of other
variants, other dtypes, or when the extension cannot be built (one warning).

Where two fast paths compute the same thing (MKL's or our matrix product; torch's LSTM
kernel or ours for standard inference), the choice is measured on this machine at first
use and cached (:mod:`lstmkit.kernels.choose`).

Under ``torch.compile`` a runner calls the kernels' torch operators (:mod:`lstmkit.kernels.ops`),
decided once per compilation (:func:`compile_backend`), never torch's own LSTM kernel (its
choice is a measurement); under torch.func transforms the lean C++ calls step aside
for the operators too, and inside a forward-mode transform (``jvp``, ``jacfwd``,
``hessian``), which the kernels cannot differentiate, the reference loop runs.

The environment variable ``LSTMKIT_BACKEND`` overrides the choice: ``auto`` (default),
``fused`` (our kernel wherever it applies, never torch's; an error if it cannot be built),
``reference`` (always the reference loop; one warning). Runners read it on every call; a
:class:`Plan`'s streaming step reads it once, when the stepper is made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

from ..recurrent import run_recurrence
from . import choose, fused
from ._build import load_extension, warn_once
from .torch_lstm import is_standard_lstm, run_torch_lstm

__all__ = [
    "plan",
    "Plan",
    "RunConfig",
    "Runner",
    "register_runner",
    "plan_fused",
    "run_direction",
    "backend",
    "prefer_torch",
    "own_gemm",
    "BACKENDS",
    "compile_backend",
]

BACKENDS = ("auto", "fused", "reference")


def backend() -> str:
    """The backend requested by ``LSTMKIT_BACKEND`` (``auto`` when unset).

    Raises:
        ValueError: the variable holds something other than one of :data:`BACKENDS`.
    """
    value = os.environ.get("LSTMKIT_BACKEND")
    if value is None:
        return "auto"
    value = value.strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"LSTMKIT_BACKEND must be one of {BACKENDS}, got {value!r}")
    return value


def own_gemm() -> bool:
    """The old CPU rule's choice of the fused kernels' float32 matrix product: our own
    packed AVX2 product (CPUs with AVX2 and without AVX-512; ``LSTMKIT_OWN_GEMM=0/1``
    forces it) rather than MKL's. False when the extension is unavailable. What runs is
    measured per shape class at first use (:func:`lstmkit.kernels.choose.setup_gemm`;
    ``choose.gemm_decisions()`` says what was chosen and why); this rule is the default
    a measurement must beat, and what runs under ``LSTMKIT_CALIBRATE=0``.

    Example:
        >>> isinstance(own_gemm(), bool)
        True
    """
    ext = load_extension()
    if ext is None:
        return False
    cached = _own_gemm_cache.get(id(ext))
    if cached is None:
        cached = _own_gemm_cache[id(ext)] = bool(getattr(ext, "own_gemm", lambda: False)())
    return cached


_own_gemm_cache: dict[int, bool] = {}


def prefer_torch(spec, x, lengths, needs_grad: bool) -> bool:
    """Whether torch's own kernel runs this "standard" LSTM call on CPU rather than ours.

    Only full-length inference batches of more than one step without a projection are
    candidates: ours wins or ties the training step at every shape measured (oneDNN has
    no fused backward), single steps (torch pays a set-up cost per call), variable
    lengths (torch needs a packed sequence) and projections (which oneDNN does not
    support). For a candidate the choice is measured on this machine at first use per
    dtype and shape class (:func:`lstmkit.kernels.choose.standard_choice`: cached,
    announced; ``LSTMKIT_PREFER_TORCH=0/1`` forces it). Under ``LSTMKIT_CALIBRATE=0`` the
    old rule from ``lstmkit bench`` decides: torch's kernel except for float32 where our
    loops use our own product (:func:`own_gemm`).
    """
    if needs_grad or not is_standard_lstm(spec) or spec.proj_size > 0:
        return False
    if x.shape[0] == 1 or lengths is not None:
        return False
    rule = not (x.dtype == torch.float32 and own_gemm())
    d = choose._decisions.get(("standard", choose.shape_class(x.shape[1], spec.hidden_size),
                               "float64" if x.dtype == torch.float64 else "float32"))
    if d is not None:
        return d.choice == "torch"
    ext = load_extension() if choose.calibration_enabled() else None
    return choose.standard_choice(ext, x.shape[1], spec.hidden_size, x.dtype, rule)


def _needs_grad(params, x, state) -> bool:
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or any(p.requires_grad for p in params.values()) or any(s.requires_grad for s in state)


# ---- the runner contract ----------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    """What a module's configuration says about how its recurrences will run.

    Attributes:
        recurrent_mask: a variational-dropout mask on h_{t-1} will be given (training).
        zoneout: zoneout is active (some rate > 0).
        truncate_gradient: the 1997 truncated gradient (``LSTM(truncated_gradient=True)``).
    """

    recurrent_mask: bool = False
    zoneout: bool = False
    truncate_gradient: bool = False


class Runner:
    """A fast path for one (layer, direction) of one cell spec.

    ``runner(params, x, state, lengths=None, reverse=False)`` returns what
    :func:`~lstmkit.recurrent.run_recurrence` returns for the same arguments, or None
    when it declines this call (then the reference loop runs). A runner planned for a
    :class:`RunConfig` with ``recurrent_mask=True`` is also given ``recurrent_mask=``
    (the (B, *h_shape) mask), one planned with ``zoneout=True`` ``zoneout=`` (the rates
    per state entry) and ``training=``; one planned with ``truncate_gradient=True`` must
    compute the truncated gradient or decline. :meth:`lean` optionally
    gives a call without per-call argument processing for whole-stack inference and
    streaming (:class:`Plan`).
    """

    def __init__(self, spec) -> None:
        self.spec = spec

    def __call__(self, params, x, state, lengths=None, reverse=False):
        raise NotImplementedError

    def lean(self, names: Mapping[str, str]):
        """``run(ext, P, x, state, reverse) -> (output, final_state)`` over a module's
        parameter dict ``P`` (full names via ``names``), inference only, or None."""
        return None


_PLANNERS: dict[type, Callable[..., "Runner | None"]] = {}


def register_runner(spec_type: type, planner: Callable[..., "Runner | None"]) -> None:
    """Register ``planner(spec, config) -> Runner | None`` for cell specs of exactly ``spec_type``.

    A subclass of a registered spec type gets no runner (it may change the step).

    Example:
        >>> from lstmkit.cells import GRUCellSpec
        >>> GRUCellSpec in _PLANNERS
        True
    """
    if not isinstance(spec_type, type):
        raise TypeError(f"spec_type must be a class, got {type(spec_type).__name__}")
    if not callable(planner):
        raise TypeError(f"planner must be callable, got {type(planner).__name__}")
    _PLANNERS[spec_type] = planner


class _FusedRunner(Runner):
    """LSTM (every variant), GRU and Elman: the fused CPU kernels, torch's LSTM kernel for
    the "standard" variant where it measures faster (and on CUDA)."""

    def __init__(self, spec, config: RunConfig) -> None:
        super().__init__(spec)
        self.truncate_gradient = config.truncate_gradient
        self.is_lstm = type(spec) is fused.LSTMCellSpec

    def __call__(self, params, x, state, lengths=None, reverse=False, recurrent_mask=None, zoneout=None,
                 training=False):
        spec = self.spec
        zoned = zoneout is not None and any(r > 0 for r in zoneout)
        if zoned and (not self.is_lstm or len(zoneout) != len(state) or any(r > 0 for r in zoneout[2:])):
            return None
        truncate = self.truncate_gradient and torch.is_grad_enabled()
        if truncate and not self.is_lstm:
            # GRU/Elman: the truncated gradient (no error back in time at all) has no fused
            # backward: the reference loop. Without a gradient the forward is the same.
            return None
        if recurrent_mask is not None and (
            not self.is_lstm or recurrent_mask.requires_grad and torch.is_grad_enabled()
            or recurrent_mask.dtype != x.dtype or recurrent_mask.device != x.device
            or tuple(recurrent_mask.shape) != (x.shape[1] if x.dim() == 3 else -1, spec.output_size)
        ):
            return None
        if _forward_mode():
            return None  # the kernels have no forward-mode derivative (jvp, jacfwd, hessian): the loop
        if torch.compiler.is_compiling():
            return self._compiled(params, x, state, lengths, reverse, recurrent_mask, zoneout if zoned else None,
                                  training, truncate)
        mode = backend()
        if mode == "reference":
            warn_once("env", "lstmkit: LSTMKIT_BACKEND=reference: every recurrence runs on the reference loop")
            return None
        device = x.device.type
        if device == "cuda":
            # cuDNN has none of the options (mask, zoneout, truncated gradient): the loop then
            if is_standard_lstm(spec) and recurrent_mask is None and not zoned and not truncate:
                return run_torch_lstm(spec, params, x, state, lengths=lengths, reverse=reverse)
            return None
        if device != "cpu" or not fused.supports(spec, x):
            return None
        if (mode == "auto" and recurrent_mask is None and not zoned and is_standard_lstm(spec) and not _traced()
                and prefer_torch(spec, x, lengths, truncate or _needs_grad(params, x, state))):
            return run_torch_lstm(spec, params, x, state, lengths=lengths, reverse=reverse)
        ext = load_extension()
        if ext is None:
            if mode == "fused":
                from ._build import extension_error

                raise RuntimeError(
                    f"LSTMKIT_BACKEND=fused but the fused CPU extension is unavailable: {extension_error()}"
                )
            return None
        state = tuple(state)
        if len(state) != len(spec.state_sizes()):
            raise ValueError(
                f"state must have {len(spec.state_sizes())} entries ({spec.state_names}), got {len(state)}"
            )
        return fused.run_checked(ext, spec, params, x, state, lengths, reverse, recurrent_mask, truncate,
                                 zoneout if zoned else None, training)

    def _compiled(self, params, x, state, lengths, reverse, recurrent_mask, zoneout, training, truncate):
        """The call as torch.compile traces it: the fused kernels' ops (kernels/ops.py: their
        fake implementations give the graph its shapes), decided once per compilation
        (:func:`compile_backend`). torch's own LSTM kernel is not chosen here (its choice is
        a measurement, which a trace cannot make); CUDA runs the reference loop."""
        if x.device.type != "cpu" or not fused.supports(self.spec, x) or compile_backend() != "fused":
            return None
        state = tuple(state)
        if len(state) != len(self.spec.state_sizes()):
            raise ValueError(
                f"state must have {len(self.spec.state_sizes())} entries ({self.spec.state_names}), got {len(state)}"
            )
        return fused.run_checked(None, self.spec, params, x, state, lengths, reverse, recurrent_mask, truncate,
                                 zoneout, training)

    def lean(self, names):
        return fused.infer_runner(self.spec, names)


def _assume_constant_result(fn):
    """:func:`torch.compiler.assume_constant_result` without importing ``torch._dynamo``
    when lstmkit is imported (1.5-3 s of every ``import lstmkit`` and CLI start): the
    decorator only marks the function, and dynamo reads the mark when it traces a call.
    ``tests/kernels/test_import_cost.py`` checks that the mark is the one torch's decorator sets."""
    fn._dynamo_marked_constant = True
    return fn


@_assume_constant_result
def compile_backend() -> str:
    """What a recurrence traced by ``torch.compile`` runs: ``"fused"`` (the kernels' torch
    ops, :mod:`lstmkit.kernels.ops`) or ``"reference"`` (``LSTMKIT_BACKEND=reference``, or
    the extension cannot be built: the loop of pure torch ops). Read once per compilation
    (a constant of the graph), building the extension if needed.

    Raises:
        RuntimeError: ``LSTMKIT_BACKEND=fused`` and the extension cannot be built.

    Example:
        >>> compile_backend() in ("fused", "reference")
        True
    """
    mode = backend()
    if mode == "reference":
        return "reference"
    if load_extension() is None:
        if mode == "fused":
            from ._build import extension_error

            raise RuntimeError(f"LSTMKIT_BACKEND=fused but the fused CPU extension is unavailable: {extension_error()}")
        return "reference"
    return "fused"


def plan_fused(spec, config: RunConfig) -> Runner | None:
    """The planner of the LSTM, GRU and Elman specs: a fused-kernel runner unless the
    configuration needs the reference loop (a recurrent mask or zoneout on GRU/Elman).

    The LSTM kernel computes the recurrent mask (variational dropout on h_{t-1} in
    R h_{t-1}), zoneout of h and c (training: the same random draws as the reference
    loop's; evaluation: the rate's mix) and the 1997 truncated gradient (its backward
    cuts dL/dh_{t-1} through R h_{t-1}) as the reference loop does."""
    if (config.recurrent_mask or config.zoneout) and type(spec) is not fused.LSTMCellSpec:
        return None
    return _FusedRunner(spec, config)


for _spec_type in (fused.LSTMCellSpec, fused.GRUCellSpec, fused.ElmanCellSpec):
    register_runner(_spec_type, plan_fused)


def _traced() -> bool:
    """Whether this call is being traced by torch.compile or transformed by torch.func: then
    the lean inference calls (which hand the module's parameter dict to C++) step aside and
    the kernels run through their torch ops."""
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()


def _forward_mode() -> bool:
    """Whether torch.func's forward-mode transform (``jvp``: ``jacfwd``, ``hessian``) is active."""
    if not torch._C._are_functorch_transforms_active():
        return False
    from torch._C._functorch import TransformType
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

    return any(i.key() == TransformType.Jvp for i in retrieve_all_functorch_interpreters())


# ---- the one planning call --------------------------------------------------------------
class Plan:
    """How a module's recurrences run, decided once per configuration (see :func:`plan`).

    Attributes:
        runners: one :class:`Runner` or None per (layer, direction), in the module's order.
        num_layers, num_directions: the stack's shape.
    """

    def __init__(self, specs, runners, names, num_layers: int, num_directions: int, config: RunConfig) -> None:
        self.specs = list(specs)
        self.runners = list(runners)
        self.names = [dict(n) for n in names] if names is not None else None
        self.num_layers = num_layers
        self.num_directions = num_directions
        self.config = config
        spec = self.specs[0]
        # torch's own kernel runs every layer and direction of a "standard" LSTM in one
        # call (measured at 32x100x2x64: one call per (layer, direction) cost 3-5% over
        # torch.nn.LSTM); parameters in torch.nn.LSTM's order per layer and direction.
        self._torch_stack = None
        # a recurrent mask (or zoneout) is applied per (layer, direction): no whole-stack
        # inference or streaming call serves such a configuration
        per_direction_only = config.recurrent_mask or config.zoneout
        if (
            not per_direction_only
            and self.names is not None
            and all(r is not None for r in self.runners)
            and all(is_standard_lstm(s) and s.proj_size == 0 for s in self.specs)
        ):
            order = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if spec.bias else ("weight_ih", "weight_hh")
            self._torch_stack = tuple(n[k] for n in self.names for k in order)
        self._lean = None
        if not per_direction_only and self.names is not None and all(r is not None for r in self.runners):
            lean = [r.lean(n) for r, n in zip(self.runners, self.names)]
            if all(f is not None for f in lean):
                self._lean = lean

    def infer(self, P: Mapping[str, Tensor], x: Tensor, state):
        """Every layer and direction in inference, in as few calls as the kernels allow.

        ``P`` is the module's parameter dict (by full name), ``x`` time-major (T, B, I),
        ``state`` a tuple of (L*D, B, n) tensors. Returns ``(output, final_state)`` with
        final_state entries (L*D, B, n), or None when this call cannot go this way (a
        gradient is needed, the tensors or the backend do not allow it): then the caller
        runs the directions one by one. No dropout between layers, no lengths.
        """
        if self._lean is None or _traced() or torch.is_grad_enabled() and (
            x.requires_grad or any(P[k].requires_grad for n in self.names for k in n.values())
            or any(s.requires_grad for s in state)
        ):
            return None
        w = P[self.names[0]["weight_ih"]]
        if x.shape[0] == 0 or x.shape[1] == 0 or x.dtype != w.dtype or x.dtype not in (torch.float32, torch.float64) or not x.is_cpu or not w.is_cpu:
            return None
        if any(s.dtype != x.dtype or not s.is_cpu for s in state):
            return None
        mode = backend()
        if mode == "reference":
            return None
        T = x.shape[0]
        if (
            self._torch_stack is not None
            and mode == "auto"
            and T != 1
            and prefer_torch(self.specs[0], x, None, False)
        ):
            return self._torch_infer(P, x, state)
        ext = load_extension()
        if ext is None:
            return None
        return self._run_lean(ext, P, x, state)

    def _torch_infer(self, P, x, state):
        output, h, c = torch._VF.lstm(
            x, tuple(state), [P[k] for k in self._torch_stack], self.specs[0].bias, self.num_layers, 0.0,
            False, self.num_directions == 2, False,
        )
        return output, (h, c)

    def _run_lean(self, ext, P, x, state):
        if len(self._lean) == 1:
            # the C++ inference entry points take and return (1, B, n) states as they are
            return self._lean[0](ext, P, x, state, False)
        D = self.num_directions
        finals = []
        layer_input = x
        idx = 0
        for _ in range(self.num_layers):
            outs = []
            for d in range(D):
                out, final = self._lean[idx](ext, P, layer_input, tuple(t[idx] for t in state), d == 1)
                outs.append(out)
                finals.append(final)
                idx += 1
            layer_input = outs[0] if D == 1 else torch.cat(outs, dim=2)
        if len(finals) == 1:
            final_state = tuple(f.unsqueeze(0) for f in finals[0])
        else:
            final_state = tuple(torch.stack([f[k] for f in finals]) for k in range(len(finals[0])))
        return layer_input, final_state

    def stepper(self):
        """A streaming step resolved now: ``step(P, x, state) -> (output, final_state)`` or None.

        The backend, the extension and the lean call of each layer are chosen once;
        ``x`` is (1, B, I), state entries (L, B, n). Inference only, one direction.
        None when the kernels cannot serve this stack (then the module's own call runs).
        """
        if self._lean is None or self.num_directions != 1 or backend() == "reference":
            return None
        ext = load_extension()
        if ext is None:
            return None
        lean = self._lean
        if len(lean) == 1:
            # the C++ inference entry points take and return (1, B, n) states as they are
            run = lean[0]
            return lambda P, x, state: run(ext, P, x, state, False)
        return lambda P, x, state: self._run_lean(ext, P, x, state)


def plan(specs, config: RunConfig = RunConfig(), *, names=None, num_layers: int = 1, num_directions: int = 1) -> Plan:
    """The one planning call: how the recurrences of ``specs`` run under ``config``.

    Args:
        specs: a cell spec, or one per (layer, direction) in layer-major order.
        config: the module configuration that matters (:class:`RunConfig`).
        names: optional, per (layer, direction), short -> full parameter names of the
            module that owns the parameters (needed for whole-stack inference and
            streaming).
        num_layers, num_directions: the stack's shape (len(specs) = their product).

    Returns:
        A :class:`Plan`; ``plan.runners[k]`` is None where the reference loop runs.

    Example:
        >>> from lstmkit.cells import LSTMCellSpec
        >>> from lstmkit.kernels import RunConfig, plan
        >>> from lstmkit.cells import GRUCellSpec
        >>> spec = LSTMCellSpec(2, 3, "vanilla")
        >>> plan(spec).runners[0] is not None, plan(GRUCellSpec(2, 3), RunConfig(zoneout=True)).runners[0]
        (True, None)
    """
    if not isinstance(specs, (list, tuple)):
        specs = [specs]
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    if len(specs) != num_layers * num_directions:
        raise ValueError(
            f"specs must hold num_layers*num_directions = {num_layers * num_directions} specs, got {len(specs)}"
        )
    runners = []
    for spec in specs:
        planner = _PLANNERS.get(type(spec))
        runners.append(None if planner is None else planner(spec, config))
    return Plan(specs, runners, names, num_layers, num_directions, config)


def run_direction(
    spec,
    params,
    x,
    state,
    *,
    lengths=None,
    reverse: bool = False,
    recurrent_mask=None,
    zoneout=None,
    training: bool = False,
    truncate_gradient: bool = False,
    side=None,
):
    """Run one (layer, direction): same arguments and result as ``run_recurrence``.

    Plans (:func:`plan`) and runs the fastest implementation that computes exactly the
    reference's result, else the reference loop; ``LSTMKIT_BACKEND`` overrides the choice.

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMCellSpec
        >>> spec = LSTMCellSpec(2, 3, "vanilla")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> out, (h, c) = run_direction(spec, p, torch.randn(5, 4, 2), spec.zero_state(4))
        >>> out.shape
        torch.Size([5, 4, 3])
    """
    config = RunConfig(
        recurrent_mask=recurrent_mask is not None,
        zoneout=zoneout is not None and any(r > 0 for r in zoneout),
        truncate_gradient=truncate_gradient,
    )
    runner = None if side else plan(spec, config).runners[0]
    return run_planned(runner, spec, params, x, state, lengths=lengths, reverse=reverse,
                       recurrent_mask=recurrent_mask, zoneout=zoneout, training=training,
                       truncate_gradient=truncate_gradient, side=side)


def run_planned(runner, spec, params, x, state, *, lengths=None, reverse=False, recurrent_mask=None,
                zoneout=None, training=False, truncate_gradient=False, side=None):
    """``runner``'s result for this call, or the reference loop's where it has none or declines.

    Under a ``torch.func`` transform (``vmap``: a population of weight sets evaluated as
    one batched call, :mod:`lstmkit.train.evolution`; ``jacrev``: the Kalman filter's
    Jacobians, :mod:`lstmkit.train.kalman`) the fused kernels run through their torch ops
    (:mod:`lstmkit.kernels.ops`, with vmap rules; forward mode takes the reference loop)."""
    if runner is not None:
        # a runner sees the recurrent mask only where its planner accepted one (RunConfig)
        extra = {}
        if recurrent_mask is not None:
            extra["recurrent_mask"] = recurrent_mask
        if zoneout is not None and any(r > 0 for r in zoneout):
            extra.update(zoneout=tuple(zoneout), training=training)
        res = runner(params, x, state, lengths=lengths, reverse=reverse, **extra)
        if res is not None:
            return res
    return run_recurrence(spec, params, x, state, lengths=lengths, reverse=reverse, recurrent_mask=recurrent_mask,
                          zoneout=zoneout, training=training, truncate_gradient=truncate_gradient, side=side)
