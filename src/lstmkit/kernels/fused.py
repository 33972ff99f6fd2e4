"""The fused CPU time loops as autograd Functions, for LSTM (every variant), GRU and Elman.

Training (some input needs a gradient): the input projection of all steps (W x_t + b)
stays in ATen autograd as one large matmul (with layer norm, only W x_t: the kernel
normalises each step's row itself, LN(W x_t) * gain + b, and returns the gradients of
W x_t, the gain and b); the time loop and its hand-written backpropagation through time run in C++
(``csrc/``: ``lstm_forward.h``, ``lstm_backward.h``, ``gru.h``, ``elman.h``), wrapped in an autograd Function. The
hand-written backward computes first-order gradients; when a higher-order gradient is asked
for (``create_graph=True``, ``torch.func.grad`` of ``torch.func.grad``) the Function's
backward runs the reference loop on its saved inputs instead, under autograd
(:mod:`lstmkit.kernels.recompute`), so that the gradients are differentiable again.

The C++ entry points are reached through their torch operators (:mod:`lstmkit.kernels.ops`,
``torch.ops.lstmkit.*``: fake implementations for torch.compile, vmap rules for
torch.func), and the Functions are in the ``setup_context`` form with
``generate_vmap_rule = True``, so that ``torch.compile(fullgraph=True)``, ``torch.func.grad``,
``vmap`` and ``jacrev`` see through them.

Inference (no gradient needed): one C++ call does everything, the input projection
included, computed a few steps at a time so that it stays in cache; nothing is saved.

The extension is called by name: an LSTM's switches and sizes travel as an
``ext.LSTMConfig`` (built once per variant and hidden size), its parameters as an
``ext.LSTMWeights`` (the cell spec's short names), every entry point takes keyword
arguments, and results come back as objects with named fields (``LSTMOutput``,
``LSTMGrads``, ``GRUOutput``, ...).

The kernels' per-call (T, B, n) buffers of >= 256 KiB come from a cache in the extension
(freed blocks are kept for the next call instead of going back to the OS and being faulted
in again); ``LSTMKIT_BUFFER_CACHE_MB`` caps it (default 1024, 0 turns it off, read once per
process) and ``load_extension().clear_buffer_cache()`` empties it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Mapping, Sequence

import torch
from torch import Tensor

from ..cells.elman import ElmanCellSpec
from ..cells.gru import GRUCellSpec
from ..cells.lstm import LAYER_NORM_EPS, LSTMCellSpec
from . import choose as _choose
from . import ops as _ops
from . import recompute as _recompute
from ._build import load_extension

__all__ = ["supports", "run_fused", "run_checked", "lstm_flags", "infer_runner"]

_DTYPES = (torch.float32, torch.float64)


def supports(spec, x: Tensor) -> bool:
    """Whether the fused CPU kernels can run ``spec`` on ``x`` (a CPU float32/float64 tensor).

    Only the exact cell specs shipped with lstmkit qualify (a subclass may change the
    step); an empty batch goes to the reference loop.
    """
    return (
        type(spec) in (LSTMCellSpec, GRUCellSpec, ElmanCellSpec)
        and x.device.type == "cpu"
        and x.dtype in _DTYPES
        and x.dim() == 3
        and x.shape[0] > 0
        and x.shape[1] > 0
    )


def lstm_flags(spec: LSTMCellSpec) -> dict[str, bool]:
    """The variant's switches by the names the C++ kernel's ``LSTMConfig`` takes.

    ``forget_gate`` is a forget gate with its own pre-activation block (False for CIFG,
    whose f = 1 - i is ``coupled``); ``input_tanh``/``output_tanh``: g and h are tanh
    (else the identity).

    Example:
        >>> from lstmkit.cells import LSTMCellSpec
        >>> flags = lstm_flags(LSTMCellSpec(2, 3, "cifg"))
        >>> flags["coupled"], flags["forget_gate"], flags["peepholes"]
        (True, False, True)
    """
    return dict(_variant_flags(spec.variant))


@functools.lru_cache(maxsize=None)
def _variant_flags(v) -> tuple[tuple[str, bool], ...]:
    return (
        ("input_gate", bool(v.input_gate)),
        ("forget_gate", bool(v.forget_gate and not v.coupled_input_forget)),
        ("coupled", bool(v.coupled_input_forget)),
        ("output_gate", bool(v.output_gate)),
        ("peepholes", bool(v.peepholes)),
        ("input_tanh", v.input_activation == "tanh"),
        ("output_tanh", v.output_activation == "tanh"),
        ("full_gate_recurrence", bool(v.full_gate_recurrence)),
        ("layer_norm", bool(v.layer_norm)),
    )


@functools.lru_cache(maxsize=None)
def _config(ext, v, hidden_size: int):
    """The kernel's ``LSTMConfig`` of a variant and hidden size (one object per extension)."""
    return ext.LSTMConfig(**dict(_variant_flags(v)), hidden_size=hidden_size, eps=LAYER_NORM_EPS)


def _lstm_config(ext, spec: LSTMCellSpec):
    return _config(ext, spec.variant, spec.hidden_size)


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g.contiguous()


def _project(spec, x: Tensor, p: Mapping[str, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor | None]]:
    """The hoisted input projection of every step, contiguous (T, B, K), and its inputs.

    The same function as ``spec.input_projection``, computed as one addmm (bias folded
    in) where the cell allows: one pass over the (T, B, K) result instead of two. The
    inputs ``(x, weight_ih, bias)`` go to the Functions, which keep them (not the
    projection) for a differentiable backward (:func:`recompute.project`).
    """
    w = p["weight_ih"]
    if isinstance(spec, LSTMCellSpec) and spec.variant.layer_norm:
        raise ValueError("the layer-norm LSTM's input projection is normalised inside the kernel (_run_lstm)")
    if not spec.bias:
        bias = None
    elif isinstance(spec, GRUCellSpec):
        bias = p["bias_ih"]  # bias_hh's n block sits inside r * (...): the kernel adds it
    else:
        bias = p["bias_ih"] + p["bias_hh"]
    return _recompute.project(x, w, bias), (x, w, bias)


def _c(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


def _save(ctx, **tensors: Tensor | None) -> None:
    """``ctx.save_for_backward`` by name; :func:`_saved` gives them back as a dict."""
    ctx.saved_names = tuple(tensors)
    ctx.save_for_backward(*tensors.values())


def _saved(ctx) -> dict[str, Tensor | None]:
    return dict(zip(ctx.saved_names, ctx.saved_tensors))


def _apply(function, *args):
    """``function.apply(*args)`` (all arguments positional).

    In plain eager mode without the per-call ``inspect.signature(...).bind`` that
    ``Function.apply`` makes for a Function with ``setup_context`` (measured: ~180 us of a
    ~450 us one-step LSTM training call on the shared machine, for a binding that changes
    nothing here, every argument being positional); torch.compile and torch.func go
    through ``Function.apply`` itself, which they treat specially.
    """
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return function.apply(*args)
    return super(torch.autograd.Function, function).apply(*args)


# ---- LSTM -------------------------------------------------------------------------------
# The autograd Functions below call the kernels through their torch operators
# (:mod:`lstmkit.kernels.ops`): ``forward`` takes tensors and constants only and returns the
# results and what the backward needs (marked non-differentiable), ``setup_context`` saves
# them, so that torch.func transforms the Functions (``generate_vmap_rule``: the ops'
# own vmap rules batch them) and torch.compile traces them (the ops' fake implementations).
class _LSTMFunction(torch.autograd.Function):
    # With w_ih and w_ln_ih (layer norm): xp is the input x (T, B, I) and the kernel applies
    # LN(W x_t) * w_ln_ih + b_x per row. W x_t itself: for I <= ops.SMALL_I computed per row in
    # the kernel (forward and backward: no (T, B, G*H) tensor), else in the op, into the
    # extension's buffer cache. Otherwise xp is the finished projection.
    generate_vmap_rule = True

    @staticmethod
    def forward(xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0, w_ln_ih, b_x, w_ih, lengths, mask,
                zoneout_h, zoneout_c, rate_h, rate_c, reverse, truncate, flags, hidden_size, x_src, w_src, b_src):
        # mask: the variational-dropout mask on h_{t-1} (or None); truncate: the 1997
        # truncated gradient (the backward cuts dL/dh_{t-1} through R h_{t-1}); zoneout_h/c:
        # the training keep masks, rate_h/c: the evaluation rates; x_src, w_src, b_src: the
        # inputs of the projection xp = x_src w_src^T + b_src (or None), unused here: what a
        # differentiable backward recomputes xp from (recompute.py) instead of keeping xp
        return tuple(_ops.run(_ops.lstm_forward, xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0, w_ln_ih, b_x,
                                       w_ih, lengths, mask, zoneout_h, zoneout_c, rate_h, rate_c, reverse,
                                       list(flags), hidden_size))

    @staticmethod
    def setup_context(ctx, inputs, output):
        (xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0, w_ln_ih, b_x, w_ih, lengths, mask,
         zoneout_h, zoneout_c, rate_h, rate_c, reverse, truncate, flags, hidden_size, x_src, w_src, b_src) = inputs
        n = len(_ops.LSTM_OUTPUTS)
        saved = dict(zip(_ops.LSTM_SAVED, output[n:]))
        ctx.mark_non_differentiable(*(t for t in output[n:] if t is not None))
        # no zero tensors for the saved outputs' (absent) gradients: measured 30% of a
        # layer-norm training step at 32x50x32x128; backward fills what it needs itself
        ctx.set_materialize_grads(False)
        fgr = bool(flags[7])
        ctx.small = w_ih is not None and xp.shape[2] <= _ops.SMALL_I
        ctx.opts = (rate_h, rate_c, reverse, truncate, tuple(flags), hidden_size)
        ctx.has_bx = b_x is not None
        ctx.fgr = fgr
        # xw, the input of the input's layer norm: the op's W x_t, or x itself (few inputs)
        if w_ih is None:
            saved["xw"] = None
        elif ctx.small:
            saved["xw"] = xp
        _save(ctx, **saved, c_n=output[2], w_hh=w_hh, w_ch=w_ch, w_gg=w_gg, w_ln_hh=w_ln_hh, w_ln_c=w_ln_c,
              b_ln_c=b_ln_c, w_hr=w_hr, w_ln_ih=w_ln_ih, x_in=xp if w_ih is not None else None, w_ih=w_ih,
              lengths=lengths, mask=mask, zoneout_h=zoneout_h, zoneout_c=zoneout_c,
              # for a differentiable backward only (small: (B, n) states, a (G*H,) bias; x_src
              # is the tensor the projection's own backward keeps, xp where no recipe came)
              h0=h0, c0=c0, a0=a0, b_x=b_x, x_src=x_src, w_src=w_src, b_src=b_src,
              xp=xp if w_ih is None and x_src is None else None)

    @staticmethod
    def backward(ctx, g_out, g_h, g_c, g_a, *_saved_grads):
        s = _saved(ctx)
        if _recompute.wanted((*s.values(), g_out, g_h, g_c, g_a)):
            return _lstm_differentiable_backward(ctx, s, (g_out, g_h, g_c, g_a))
        with torch.no_grad():
            return _lstm_fused_backward(ctx, s, g_out, g_h, g_c, g_a)


def _lstm_fused_backward(ctx, s, g_out, g_h, g_c, g_a):
    """The hand-written backward through time (first order)."""
    rate_h, rate_c, reverse, truncate, flags, hidden_size = ctx.opts
    hprev, w_ih, x_in = s["hprev"], s["w_ih"], s["x_in"]
    g_out = _zeros_if_none(g_out, hprev)
    g_h = _zeros_if_none(g_h, hprev[0])
    g_c = _zeros_if_none(g_c, s["c_n"])
    g_a = _zeros_if_none(g_a, s["aprev"][0]) if ctx.fgr else None
    res = _ops.run(_ops.lstm_backward, 
        g_out, g_h, g_c, g_a, s["w_hh"], s["w_ch"], s["w_gg"], s["w_ln_hh"], s["w_ln_c"], s["b_ln_c"], s["w_hr"],
        s["w_ln_ih"], w_ih if ctx.small else None, *(s[k] for k in _ops_saved_in()), s["lengths"], s["mask"],
        s["zoneout_h"], s["zoneout_c"], rate_h, rate_c, reverse, truncate, list(flags), hidden_size, ctx.has_bx)
    g = dict(zip(_ops.LSTM_GRADS, res))
    needs = dict(zip(_LSTM_ARGS, ctx.needs_input_grad))
    grads = dict.fromkeys(_LSTM_ARGS)
    if ctx.small:  # the kernel returned dL/dx and dL/dW_ih
        grads["w_ih"] = g["weight_ih"] if needs["w_ih"] else None
        grads["xp"] = g["input"] if needs["xp"] else None
    elif w_ih is not None:
        T, B, I = x_in.shape
        g2 = g["input"].view(T * B, -1)
        grads["w_ih"] = torch.mm(x_in.reshape(T * B, I).t(), g2).t() if needs["w_ih"] else None
        grads["xp"] = torch.mm(g2, w_ih).view(T, B, I) if needs["xp"] else None
    else:
        grads["xp"] = g["input"]
    # truncated: h_0 enters the first step detached, no error reaches it (None, as autograd
    # gives the reference loop's; held rows of a reverse pass carry zeros only), except
    # through zoneout of h, whose kept share of h_{t-1} is not detached (the kernel adds it)
    h_zoned = s["zoneout_h"] is not None or rate_h > 0
    grads.update(w_hh=g["weight_hh"], h0=None if truncate and not h_zoned else g["h0"], c0=g["c0"])
    # a gradient only for an input that is there (the op's are None where absent)
    for name, field in (("w_ch", "weight_ch"), ("w_gg", "weight_gg"), ("w_ln_hh", "weight_ln_hh"),
                        ("w_ln_c", "weight_ln_c"), ("b_ln_c", "bias_ln_c"), ("w_hr", "weight_hr"),
                        ("w_ln_ih", "weight_ln_ih")):
        grads[name] = g[field] if s[name] is not None else None
    grads["a0"] = g["a0"] if ctx.fgr else None
    grads["b_x"] = g["bias"] if ctx.has_bx else None
    return tuple(grads[name] for name in _LSTM_ARGS)


_LSTM_DIFF = ("xp", "w_hh", "w_ch", "w_gg", "w_ln_hh", "w_ln_c", "b_ln_c", "w_hr", "h0", "c0", "a0", "w_ln_ih", "b_x",
              "w_ih")


def _projected(s):
    """The Function's input ``xp`` for a differentiable backward: the raw input (layer norm),
    the projection recomputed from its inputs, or the projection kept (no recipe given)."""
    if s["w_ih"] is not None:
        return s["x_in"]
    if s["x_src"] is not None:
        return _recompute.project(s["x_src"], s["w_src"], s["b_src"])
    return s["xp"]


def _lstm_differentiable_backward(ctx, s, grad_outputs):
    """The backward as the reference loop's vector-Jacobian product (recompute.py):
    differentiable, for higher-order gradients."""
    rate_h, rate_c, reverse, truncate, flags, hidden_size = ctx.opts
    args = {n: s.get(n) for n in _LSTM_DIFF[1:]}
    args.update(xp=_projected(s), lengths=s["lengths"], mask=s["mask"], zoneout_h=s["zoneout_h"],
                zoneout_c=s["zoneout_c"], rate_h=rate_h, rate_c=rate_c, reverse=reverse, truncate=truncate,
                flags=flags, hidden_size=hidden_size)
    needs = dict(zip(_LSTM_ARGS, ctx.needs_input_grad))
    g = _recompute.vjp(_recompute.lstm_reference, args, [n for n in _LSTM_DIFF if needs[n]], grad_outputs)
    return tuple(g.get(name) for name in _LSTM_ARGS)


def _ops_saved_in() -> tuple[str, ...]:
    """The saved entries lstm_fused_backward takes, in its order (from hprev to c_new)."""
    return ("hprev", "cprev", "aprev", "c_n", "gates", "ys", "hh", "rec_hat", "rec_rstd", "c_hat", "c_rstd", "xw",
            "x_mean", "x_rstd", "c_new")


_LSTM_ARGS = tuple(inspect.signature(_LSTMFunction.forward).parameters)
_LSTM_OPTIONAL = ("weight_ch", "weight_gg", "weight_ln_hh", "weight_ln_c", "bias_ln_c", "weight_hr")


def _zoneout_masks(spec: LSTMCellSpec, x: Tensor, rates, reverse: bool):
    """The training keep masks of zoneout (h, c), each (T, B, n) or None, drawn exactly as
    the reference loop draws them (``torch.rand_like`` of h, then of c, step by step in
    processing order), so both paths see the same random numbers."""
    rh, rc = float(rates[0]), float(rates[1])
    T, B = x.shape[0], x.shape[1]
    mh = [None] * T if rh > 0 else None
    mc = [None] * T if rc > 0 else None
    for k in range(T):
        t = T - 1 - k if reverse else k
        if mh is not None:
            mh[t] = (torch.rand(B, spec.output_size, dtype=x.dtype) < rh).to(x.dtype)
        if mc is not None:
            mc[t] = (torch.rand(B, spec.hidden_size, dtype=x.dtype) < rc).to(x.dtype)
    return (None if mh is None else torch.stack(mh)), (None if mc is None else torch.stack(mc))


def _run_lstm(ext, spec: LSTMCellSpec, p, x, state, lengths, reverse, recurrent_mask=None, truncate_gradient=False,
              zoneout=None, training=False):
    # ext: unused (the ops load the extension); kept for the callers' signature
    fgr = spec.variant.full_gate_recurrence
    h0 = state[0].contiguous()
    c0 = state[1].contiguous()
    a0 = state[2].contiguous() if fgr else None
    flags = _variant_flags_list(spec.variant)
    H = spec.hidden_size
    zh = zc = None
    rh = rc = 0.0
    zoned = zoneout is not None and any(r > 0 for r in zoneout)
    if zoned:
        if training:
            zh, zc = _zoneout_masks(spec, x, zoneout, reverse)
        else:
            rh, rc = float(zoneout[0]), float(zoneout[1])
    w = [_c(p.get(k)) for k in _LSTM_OPTIONAL]  # w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr
    if recurrent_mask is None and not zoned and not _needs_grad(x, *p.values(), h0, c0, a0):
        # Inference: the projection runs inside the kernel, chunk by chunk.
        out, hT, cT, aT = _ops.run(_ops.lstm_infer, x, p["weight_ih"], p.get("bias_ih"), p.get("bias_hh"),
                                          p.get("weight_ln_ih"), p["weight_hh"], *w, h0, c0, a0, lengths, reverse,
                                          flags, H)
        return out, ((hT, cT, aT) if fgr else (hT, cT))
    mask = None if recurrent_mask is None else recurrent_mask.contiguous()
    w_hh = p["weight_hh"].contiguous()
    tail = (lengths, mask, zh, zc, rh, rc, bool(reverse), bool(truncate_gradient), flags, H)
    if spec.variant.layer_norm:
        # W x_t, LN(W x_t) * gain + b and their gradients in the Function and the kernel.
        b_x = (p["bias_ih"] + p["bias_hh"]).contiguous() if spec.bias else None
        res = _apply(_LSTMFunction, x, w_hh, *w, h0, c0, a0, p["weight_ln_ih"].contiguous(), b_x, p["weight_ih"], *tail,
                     None, None, None)
    else:
        xp, recipe = _project(spec, x, p)
        res = _apply(_LSTMFunction, xp, w_hh, *w, h0, c0, a0, None, None, None, *tail, *recipe)
    out, hT, cT, aT = res[:4]
    return out, ((hT, cT, aT) if fgr else (hT, cT))


def _variant_flags_list(v) -> list[bool]:
    """The variant's switches in the ops' ``flags`` order (ops.LSTM_FLAGS). Computed from the
    variant's fields on every call (a few attribute reads), not cached: torch.compile traces
    it, and a cache is what a trace cannot see."""
    return [
        bool(v.input_gate), bool(v.forget_gate and not v.coupled_input_forget), bool(v.coupled_input_forget),
        bool(v.output_gate), bool(v.peepholes), v.input_activation == "tanh", v.output_activation == "tanh",
        bool(v.full_gate_recurrence), bool(v.layer_norm),
    ]


# ---- GRU --------------------------------------------------------------------------------
class _GRUFunction(torch.autograd.Function):
    # x_src, w_src, b_src: the inputs of xp = x_src w_src^T + b_src, unused by the kernels (what
    # a differentiable backward recomputes xp from; see _LSTMFunction)
    generate_vmap_rule = True

    @staticmethod
    def forward(xp, w_hh, b_hh, h0, lengths, reverse, x_src, w_src, b_src):
        return tuple(_ops.run(_ops.gru_forward, xp, w_hh, b_hh, h0, lengths, reverse))

    @staticmethod
    def setup_context(ctx, inputs, output):
        xp, w_hh, b_hh, h0, lengths, reverse, x_src, w_src, b_src = inputs
        ctx.mark_non_differentiable(*output[2:])
        ctx.set_materialize_grads(False)
        ctx.reverse = reverse
        ctx.has_bias = b_hh is not None
        _save(ctx, hprev=output[2], gates=output[3], hn=output[4], w_hh=w_hh, lengths=lengths, b_hh=b_hh, h0=h0,
              x_src=x_src, w_src=w_src, b_src=b_src, w_ih=None, xp=xp if x_src is None else None)

    @staticmethod
    def backward(ctx, g_out, g_h, *_saved_grads):
        s = _saved(ctx)
        if _recompute.wanted((*s.values(), g_out, g_h)):
            args = dict(xp=_projected(s), w_hh=s["w_hh"], b_hh=s["b_hh"], h0=s["h0"], lengths=s["lengths"],
                        reverse=ctx.reverse)
            needs = dict(zip(_GRU_ARGS, ctx.needs_input_grad))
            g = _recompute.vjp(_recompute.gru_reference, args, [n for n in ("xp", "w_hh", "b_hh", "h0") if needs[n]],
                               (g_out, g_h))
            return tuple(g.get(name) for name in _GRU_ARGS)
        with torch.no_grad():
            hprev = s["hprev"]
            g_out = _zeros_if_none(g_out, hprev)
            g_h = _zeros_if_none(g_h, hprev[0])
            g_x, g_w, g_b, g_h0 = _ops.run(_ops.gru_backward, g_out, g_h, hprev, s["gates"], s["hn"], s["w_hh"],
                                           ctx.has_bias, s["lengths"], ctx.reverse)
        grads = {"xp": g_x, "w_hh": g_w, "b_hh": g_b if ctx.has_bias else None, "h0": g_h0}
        return tuple(grads.get(name) for name in _GRU_ARGS)


_GRU_ARGS = tuple(inspect.signature(_GRUFunction.forward).parameters)


def _run_gru(ext, spec: GRUCellSpec, p, x, state, lengths, reverse):
    h0 = state[0].contiguous()
    if not _needs_grad(x, *p.values(), h0):
        out, hT = _ops.run(_ops.gru_infer, x, p["weight_ih"], p.get("bias_ih"), p["weight_hh"], p.get("bias_hh"), h0, lengths,
                                 reverse)
        return out, (hT,)
    w_hh = p["weight_hh"].contiguous()
    b_hh = _c(p.get("bias_hh"))
    xp, recipe = _project(spec, x, p)
    out, hT = _apply(_GRUFunction, xp, w_hh, b_hh, h0, lengths, bool(reverse), *recipe)[:2]
    return out, (hT,)


# ---- Elman ------------------------------------------------------------------------------
class _ElmanFunction(torch.autograd.Function):
    # x_src, w_src, b_src: as _GRUFunction's
    generate_vmap_rule = True

    @staticmethod
    def forward(xp, w_hh, h0, lengths, reverse, relu, x_src, w_src, b_src):
        return tuple(_ops.run(_ops.elman_forward, xp, w_hh, h0, lengths, reverse, relu))

    @staticmethod
    def setup_context(ctx, inputs, output):
        xp, w_hh, h0, lengths, reverse, relu, x_src, w_src, b_src = inputs
        ctx.mark_non_differentiable(output[2])
        ctx.set_materialize_grads(False)
        ctx.opts = (reverse, relu)
        _save(ctx, hprev=output[2], out=output[0], w_hh=w_hh, lengths=lengths, h0=h0, x_src=x_src, w_src=w_src,
              b_src=b_src, w_ih=None, xp=xp if x_src is None else None)

    @staticmethod
    def backward(ctx, g_out, g_h, _g_hprev):
        reverse, relu = ctx.opts
        s = _saved(ctx)
        if _recompute.wanted((*s.values(), g_out, g_h)):
            args = dict(xp=_projected(s), w_hh=s["w_hh"], h0=s["h0"], lengths=s["lengths"], reverse=reverse,
                        relu=relu)
            needs = dict(zip(_ELMAN_ARGS, ctx.needs_input_grad))
            g = _recompute.vjp(_recompute.elman_reference, args, [n for n in ("xp", "w_hh", "h0") if needs[n]],
                               (g_out, g_h))
            return tuple(g.get(name) for name in _ELMAN_ARGS)
        with torch.no_grad():
            out = s["out"]
            g_out = _zeros_if_none(g_out, out)
            g_h = _zeros_if_none(g_h, s["hprev"][0])
            g_x, g_w, g_h0 = _ops.run(_ops.elman_backward, g_out, g_h, s["hprev"], out, s["w_hh"], s["lengths"],
                                      reverse, relu)
        grads = {"xp": g_x, "w_hh": g_w, "h0": g_h0}
        return tuple(grads.get(name) for name in _ELMAN_ARGS)


_ELMAN_ARGS = tuple(inspect.signature(_ElmanFunction.forward).parameters)


def _run_elman(ext, spec: ElmanCellSpec, p, x, state, lengths, reverse):
    h0 = state[0].contiguous()
    relu = spec.nonlinearity == "relu"
    if not _needs_grad(x, *p.values(), h0):
        out, hT = _ops.run(_ops.elman_infer, x, p["weight_ih"], p.get("bias_ih"), p.get("bias_hh"), p["weight_hh"], h0, lengths,
                                   reverse, relu)
        return out, (hT,)
    w_hh = p["weight_hh"].contiguous()
    xp, recipe = _project(spec, x, p)
    out, hT = _apply(_ElmanFunction, xp, w_hh, h0, lengths, bool(reverse), relu, *recipe)[:2]
    return out, (hT,)


_RUNNERS = {LSTMCellSpec: _run_lstm, GRUCellSpec: _run_gru, ElmanCellSpec: _run_elman}


def run_fused(
    spec,
    params: Mapping[str, Tensor],
    x: Tensor,
    state: Sequence[Tensor],
    *,
    lengths: Tensor | None = None,
    reverse: bool = False,
    ext=None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one (layer, direction) on the fused CPU kernel; same result as ``run_recurrence``.

    Args:
        spec: an :class:`~lstmkit.cells.LSTMCellSpec`, :class:`~lstmkit.cells.GRUCellSpec`
            or :class:`~lstmkit.cells.ElmanCellSpec` (see :func:`supports`).
        params: the cell's parameters by short name.
        x: (T, B, I) CPU float32/float64 inputs, time-major.
        state: initial state, one (B, n) tensor per entry of ``spec.state_sizes()``.
        lengths: optional (B,) integer tensor, 1 <= lengths <= T.
        reverse: run from each sequence's last valid step back to the first.
        ext: the compiled extension (default: :func:`~lstmkit.kernels._build.load_extension`).

    Returns:
        ``(output, final_state)`` as :func:`lstmkit.recurrent.run_recurrence`.

    Raises:
        ValueError: ``spec``/``x`` are not supported by the fused kernels.
        RuntimeError: the extension could not be built.

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMCellSpec
        >>> spec = LSTMCellSpec(2, 3, "cifg")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> out, (h, c) = run_fused(spec, p, torch.randn(5, 4, 2), spec.zero_state(4))  # doctest: +SKIP
        >>> out.shape  # doctest: +SKIP
        torch.Size([5, 4, 3])
    """
    if not supports(spec, x):
        raise ValueError(
            f"run_fused supports LSTMCellSpec/GRUCellSpec/ElmanCellSpec on non-empty 3-D CPU float32/float64 "
            f"input; got spec {type(spec).__name__} and x of shape {tuple(x.shape)}, dtype {x.dtype}, "
            f"device {x.device}"
        )
    if ext is None:
        ext = load_extension()
        if ext is None:
            from ._build import extension_error

            raise RuntimeError(f"the fused CPU extension is unavailable: {extension_error()}")
    state = tuple(state)
    if len(state) != len(spec.state_sizes()):
        raise ValueError(f"state must have {len(spec.state_sizes())} entries ({spec.state_names}), got {len(state)}")
    if lengths is not None:
        if not isinstance(lengths, Tensor) or lengths.dim() != 1 or lengths.shape[0] != x.shape[1]:
            raise ValueError(f"lengths must be a ({x.shape[1]},) tensor, got {lengths!r}")
    return run_checked(ext, spec, params, x, state, lengths, reverse)


def run_checked(ext, spec, params, x, state, lengths, reverse, recurrent_mask=None, truncate_gradient=False,
                zoneout=None, training=False):
    """:func:`run_fused` without its argument checks, for the dispatcher (which has made them).

    ``recurrent_mask`` ((B, Hout), no gradient), ``truncate_gradient`` and ``zoneout``
    (rates per state entry, as ``run_recurrence``; ``training`` picks its form) are for the
    LSTM spec only (the runner declines them elsewhere)."""
    if lengths is not None:
        lengths = lengths.to(device="cpu", dtype=torch.long).contiguous()
        # every sequence full: the plain loop (a compiled graph keeps the lengths: the test
        # would read a value the graph does not have yet)
        if not torch.compiler.is_compiling() and int(lengths.min()) >= x.shape[0]:
            lengths = None
    # (the ops choose the float32 products by measurement on their first call: ops.extension)
    zoned = zoneout is not None and any(r > 0 for r in zoneout)
    if recurrent_mask is not None or truncate_gradient or zoned:
        if type(spec) is not LSTMCellSpec:
            raise ValueError(f"recurrent_mask, truncate_gradient and zoneout run on the LSTM kernel only, got "
                             f"{type(spec).__name__}")
        return _run_lstm(ext, spec, params, x, state, lengths, bool(reverse), recurrent_mask, truncate_gradient,
                         zoneout if zoned else None, bool(training))
    return _RUNNERS[type(spec)](ext, spec, params, x, state, lengths, bool(reverse))


# ---- lean inference calls (the layer modules' per-call fast path) -----------------------
_LSTM_INFER_PARAMS = ("weight_ih", "bias_ih", "bias_hh", "weight_ln_ih", "weight_hh", "weight_ch", "weight_gg",
                      "weight_ln_hh", "weight_ln_c", "bias_ln_c", "weight_hr")
_GRU_INFER_PARAMS = ("weight_ih", "bias_ih", "weight_hh", "bias_hh")
_ELMAN_INFER_PARAMS = ("weight_ih", "bias_ih", "bias_hh", "weight_hh")


def infer_runner(spec, names: Mapping[str, str]):
    """A lean inference call of one (layer, direction) for a module that owns the parameters.

    ``names`` maps the cell's short parameter names to the module's full names. Returns
    ``run(ext, P, x, state, reverse) -> (output, final_state)``, where ``P`` is the
    module's ``_parameters`` dict (looked up on every call, so a replaced or modified
    parameter is always seen), ``x`` a (T, B, I) CPU float tensor of the parameters'
    dtype, ``state`` a tuple of (B, n) tensors, no lengths, and no gradient needed. It
    computes what :func:`run_fused` computes (the same C++ entry points) without the
    per-call argument processing; the C++ side makes every tensor contiguous.

    Example:
        >>> from lstmkit.cells import LSTMCellSpec
        >>> run = infer_runner(LSTMCellSpec(2, 3), {"weight_ih": "weight_ih_l0"})
        >>> callable(run)
        True
    """
    if type(spec) is LSTMCellSpec:
        order = _LSTM_INFER_PARAMS
    elif type(spec) is GRUCellSpec:
        order = _GRU_INFER_PARAMS
    elif type(spec) is ElmanCellSpec:
        order = _ELMAN_INFER_PARAMS
    else:
        raise ValueError(f"infer_runner supports the LSTM, GRU and Elman cell specs, got {type(spec).__name__}")
    # The module's name of each cell parameter it has; the C++ call looks them up in P.
    module_names = {k: names[k] for k in order if k in names}
    calls: list = [None, None]  # the last extension seen and its prepared call

    def prepare(ext):
        if type(spec) is LSTMCellSpec:
            return ext.LSTMInfer(config=_lstm_config(ext, spec), names=module_names)
        if type(spec) is GRUCellSpec:
            return ext.GRUInfer(names=module_names)
        return ext.ElmanInfer(names=module_names, relu=spec.nonlinearity == "relu")

    def run(ext, P, x, state, reverse):
        if ext is not calls[0]:
            _choose.setup_gemm(ext)
            calls[1] = prepare(ext)
            calls[0] = ext
        return calls[1](P, x, state, reverse)

    return run
