"""The sLSTM's fused CPU time loop (Beck et al. 2024, xLSTM, Sec. 2.2, eqs. 8-17).

The input projection W x_t + b of every step stays in ATen autograd (one large matmul,
:meth:`~lstmkit.cells.slstm.sLSTMCellSpec.input_projection`); the time loop — per step
one product per head with the block-diagonal recurrent weights, then the stabilised
update — and its hand-written backpropagation through time run in C++
(``csrc/slstm.h``: ``slstm_forward``, ``slstm_backward``), wrapped in an autograd Function.
The backward returns the gradients of the projected input, of ``weight_hh`` and of the
initial state (h, c, n, m); the max of the stabiliser (eq. 15) is differentiated as
``torch.maximum`` is (to the larger argument, half to each on a tie), so the gradients
are the reference loop's.

It computes what :func:`lstmkit.recurrent.run_recurrence` computes for the sLSTM cell:
lengths (a sequence's state holds after its own last step, outputs there are zero),
reverse, the initial state in and out, sigmoid and exponential forget gates, any number
of heads, float32 and float64 on CPU. It declines (the reference loop runs) for CUDA and
other devices or dtypes, an empty batch, ``LSTMKIT_BACKEND=reference``, torch.compile and
torch.func transforms, and when the extension cannot be built; its planner declines
configurations with a recurrent mask (variational dropout), zoneout or the truncated
gradient. A second-order gradient (``create_graph=True``) is served by recomputing the
reference loop from the saved inputs inside the backward, under autograd.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..cells.slstm import sLSTMCellSpec
from . import RunConfig, Runner, backend
from ._build import load_extension, warn_once

__all__ = ["sLSTMRunner", "plan_slstm", "slstm_fused"]

_DTYPES = (torch.float32, torch.float64)


def _reference_from_xp(spec: sLSTMCellSpec, w_hh: Tensor, xp: Tensor, state, lengths, reverse: bool):
    """The reference loop (:func:`lstmkit.recurrent.run_recurrence`'s masking) from the
    projected input: the backward's recomputation when a second-order gradient is asked for."""
    T = xp.shape[0]
    p = {"weight_hh": w_hh}
    valid = None
    if lengths is not None:
        valid = (torch.arange(T)[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
    outputs = [xp.new_empty(0)] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new = spec.step(xp[t], state, p)
        if valid is not None:
            new = tuple(torch.where(valid[t], a, s) for a, s in zip(new, state))
            outputs[t] = new[0] * valid[t]
        else:
            outputs[t] = new[0]
        state = new
    return torch.stack(outputs), state


class _SLSTMFunction(torch.autograd.Function):
    """xp (T, B, 4H), weight_hh (N, 4, d, d), h0, c0, n0, m0 (B, H) -> output and final state."""

    @staticmethod
    def forward(ctx, xp, w_hh, h0, c0, n0, m0, lengths, reverse, spec):
        ext = load_extension()
        sigmoid = spec.forget_gate == "sigmoid"
        r = ext.slstm_forward(input=xp, weight_hh=w_hh, h0=h0, c0=c0, n0=n0, m0=m0, lengths=lengths,
                              reverse=reverse, sigmoid_forget=sigmoid, save=True)
        ctx.save_for_backward(xp, w_hh, h0, c0, n0, m0, r.pre, r.hprev, r.cprev, r.nprev, r.mprev)
        ctx.lengths, ctx.reverse, ctx.spec, ctx.sigmoid = lengths, reverse, spec, sigmoid
        ctx.set_materialize_grads(False)
        return r.output, r.h_n, r.c_n, r.n_n, r.m_n

    @staticmethod
    def backward(ctx, g_out, g_h, g_c, g_n, g_m):
        xp, w_hh, h0, c0, n0, m0, pre, hprev, cprev, nprev, mprev = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: the hand-written backward is not differentiable; recompute
            # the reference loop under autograd so that these gradients are
            return _double_backward(ctx, (xp, w_hh, h0, c0, n0, m0), (g_out, g_h, g_c, g_n, g_m))
        z = h0.new_zeros(h0.shape)
        g_out = torch.zeros_like(xp[..., : h0.shape[1]]) if g_out is None else g_out
        ext = load_extension()
        g = ext.slstm_backward(weight_hh=w_hh, pre=pre, hprev=hprev, cprev=cprev, nprev=nprev, mprev=mprev,
                               grad_output=g_out, grad_h_n=z if g_h is None else g_h,
                               grad_c_n=z if g_c is None else g_c, grad_n_n=z if g_n is None else g_n,
                               grad_m_n=z if g_m is None else g_m, lengths=ctx.lengths, reverse=ctx.reverse,
                               sigmoid_forget=ctx.sigmoid)
        return g.input, g.weight_hh, g.h0, g.c0, g.n0, g.m0, None, None, None


def _double_backward(ctx, inputs, grads):
    """The first-order gradients as a differentiable graph: the reference loop recomputed
    from the saved inputs (their own history kept) and differentiated with create_graph."""
    xp, w_hh, *state = inputs
    with torch.enable_grad():
        out, final = _reference_from_xp(ctx.spec, w_hh, xp, tuple(state), ctx.lengths, ctx.reverse)
        pairs = [(r, g) for r, g in zip((out, *final), grads) if g is not None]
        need = [i for i, t in enumerate(inputs) if t.requires_grad]
        got = torch.autograd.grad([r for r, _ in pairs], [inputs[i] for i in need], [g for _, g in pairs],
                                  create_graph=True, allow_unused=True)
    res = [None] * len(inputs)
    for i, g in zip(need, got):
        res[i] = g
    return (*res, None, None, None)


def slstm_fused(spec: sLSTMCellSpec, params, x: Tensor, state, *, lengths: Tensor | None = None,
                reverse: bool = False):
    """The sLSTM over time on the fused kernel: ``(output, (h, c, n, m))`` as
    :func:`lstmkit.recurrent.run_recurrence` returns for the same arguments.

    Args:
        spec: the cell (:class:`~lstmkit.cells.slstm.sLSTMCellSpec`).
        params: ``weight_ih``, ``weight_hh`` (and ``bias``) by short name.
        x: (T, B, I) CPU float32/float64 inputs, time-major.
        state: (h, c, n, m), each (B, H).
        lengths: optional (B,) ints, 1 <= lengths <= T.
        reverse: run from each sequence's last valid step to its first.

    Raises:
        RuntimeError: the fused extension cannot be built.

    Example:
        >>> import torch
        >>> from lstmkit.cells.slstm import sLSTMCellSpec
        >>> from lstmkit.recurrent import run_recurrence
        >>> spec = sLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) * 0.5 for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(6, 2, 3)
        >>> out, state = slstm_fused(spec, p, x, spec.initial_state(2))  # doctest: +SKIP
        >>> ref, _ = run_recurrence(spec, p, x, spec.initial_state(2))  # doctest: +SKIP
        >>> bool(torch.allclose(out, ref, atol=1e-5))  # doctest: +SKIP
        True
    """
    ext = load_extension()
    if ext is None or not hasattr(ext, "slstm_forward"):
        from ._build import extension_error

        raise RuntimeError(f"the fused CPU extension is unavailable: {extension_error()}")
    state = tuple(state)
    w_hh = params["weight_hh"]
    if lengths is not None:
        lengths = lengths.to(device="cpu", dtype=torch.int64).contiguous()
        if int(lengths.min()) >= x.shape[0]:
            lengths = None
    h0, c0, n0, m0 = (s.contiguous() for s in state)
    sigmoid = spec.forget_gate == "sigmoid"
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in params.values()) or any(s.requires_grad for s in state))
    if not needs_grad and type(spec) is sLSTMCellSpec:
        # inference: the projection too, a few steps at a time inside the loop (stays in cache)
        r = ext.slstm_infer(input=x, weight_ih=params["weight_ih"], bias=params.get("bias") if spec.bias else None,
                            weight_hh=w_hh.contiguous(), h0=h0, c0=c0, n0=n0, m0=m0, lengths=lengths,
                            reverse=reverse, sigmoid_forget=sigmoid)
        return r.output, (r.h_n, r.c_n, r.n_n, r.m_n)
    xp = spec.input_projection(x, params)
    if not needs_grad:
        r = ext.slstm_forward(input=xp.contiguous(), weight_hh=w_hh.contiguous(), h0=h0, c0=c0, n0=n0, m0=m0,
                              lengths=lengths, reverse=reverse, sigmoid_forget=sigmoid, save=False)
        return r.output, (r.h_n, r.c_n, r.n_n, r.m_n)
    out, h, c, n, m = _SLSTMFunction.apply(xp.contiguous(), w_hh, h0, c0, n0, m0, lengths, reverse, spec)
    return out, (h, c, n, m)


class sLSTMRunner(Runner):
    """The sLSTM family's runner: the fused CPU time loop (:func:`slstm_fused`), or None
    (the reference loop) for what it does not serve (see the module docstring).

    Example:
        >>> import torch
        >>> from lstmkit.cells.slstm import sLSTMCellSpec
        >>> spec = sLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> res = sLSTMRunner(spec)(p, torch.randn(9, 2, 3), spec.initial_state(2))
        >>> res is None or tuple(res[0].shape) == (9, 2, 8)
        True
    """

    def __call__(self, params, x, state, lengths=None, reverse=False):
        mode = backend()
        if mode == "reference":
            warn_once("env", "lstmkit: LSTMKIT_BACKEND=reference: every recurrence runs on the reference loop")
            return None
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return None  # traced or transformed (compile, vmap, grad, jvp): the loop of plain torch ops
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[0] == 0 or x.shape[1] == 0:
            return None
        if x.device.type != "cpu" or x.dtype not in _DTYPES:
            return None
        state = tuple(state)
        shape = (x.shape[1], self.spec.hidden_size)
        if len(state) != 4 or any(not isinstance(s, Tensor) or s.dtype != x.dtype or s.device.type != "cpu"
                                  or tuple(s.shape) != shape for s in state):
            return None  # (a malformed state: the reference loop says what is wrong)
        if x.shape[2] != self.spec.input_size or tuple(params["weight_hh"].shape) != (
                self.spec.num_heads, 4, self.spec.head_size, self.spec.head_size):
            return None
        if any(not isinstance(p, Tensor) or p.dtype != x.dtype or p.device.type != "cpu" for p in params.values()):
            return None
        if lengths is not None and lengths.device.type != "cpu":
            return None
        ext = load_extension()
        if ext is None or not hasattr(ext, "slstm_forward"):
            if mode == "fused":
                from ._build import extension_error

                raise RuntimeError(
                    f"LSTMKIT_BACKEND=fused but the fused CPU extension is unavailable: {extension_error()}")
            return None
        return slstm_fused(self.spec, params, x, state, lengths=lengths, reverse=reverse)


def plan_slstm(spec, config: RunConfig) -> Runner | None:
    """The sLSTM family's planner: an :class:`sLSTMRunner` unless a recurrent mask
    (variational dropout on h_{t-1}), zoneout or the truncated gradient is configured (the
    reference loop serves those).

    Example:
        >>> from lstmkit.cells.slstm import sLSTMCellSpec
        >>> from lstmkit.kernels import RunConfig
        >>> spec = sLSTMCellSpec(3, 8, num_heads=2)
        >>> type(plan_slstm(spec, RunConfig())).__name__, plan_slstm(spec, RunConfig(zoneout=True))
        ('sLSTMRunner', None)
    """
    if config.recurrent_mask or config.zoneout or config.truncate_gradient:
        return None
    if type(spec) is not sLSTMCellSpec:
        return None
    return sLSTMRunner(spec)

