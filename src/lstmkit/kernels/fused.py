"""The fused CPU time loops as autograd Functions, for LSTM (every variant), GRU and Elman.

Training (some input needs a gradient): the input projection of all steps (W x_t + b)
stays in ATen autograd as one large matmul (with layer norm, only W x_t: the kernel
normalises each step's row itself, LN(W x_t) * gain + b, and returns the gradients of
W x_t, the gain and b); the time loop and its hand-written backpropagation through time run in C++
(``csrc/``: ``lstm_forward.h``, ``lstm_backward.h``, ``gru.h``, ``elman.h``), wrapped in an autograd Function. The backward is not itself
differentiable (no double backward).

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
from torch.autograd.function import once_differentiable

from ..cells.elman import ElmanCellSpec
from ..cells.gru import GRUCellSpec
from ..cells.lstm import LAYER_NORM_EPS, LSTMCellSpec
from . import choose as _choose
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


# The prepared inference calls of run_fused's inference path: the parameters are looked up
# under the cell's own short names (absent ones are simply not in the dict).
@functools.lru_cache(maxsize=None)
def _lstm_infer_call(ext, v, hidden_size: int):
    return ext.LSTMInfer(config=_config(ext, v, hidden_size), names={k: k for k in _LSTM_INFER_PARAMS})


@functools.lru_cache(maxsize=None)
def _gru_infer_call(ext):
    return ext.GRUInfer(names={k: k for k in _GRU_INFER_PARAMS})


@functools.lru_cache(maxsize=None)
def _elman_infer_call(ext, relu: bool):
    return ext.ElmanInfer(names={k: k for k in _ELMAN_INFER_PARAMS}, relu=relu)


def _as_dict(p: Mapping[str, Tensor]) -> dict:
    return p if type(p) is dict else dict(p)


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g.contiguous()


def _project(spec, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
    """The hoisted input projection of every step, contiguous (T, B, K).

    The same function as ``spec.input_projection``, computed as one addmm (bias folded
    in) where the cell allows: one pass over the (T, B, K) result instead of two.
    """
    T, B, I = x.shape
    w = p["weight_ih"]
    if isinstance(spec, LSTMCellSpec) and spec.variant.layer_norm:
        raise ValueError("the layer-norm LSTM's input projection is normalised inside the kernel (_run_lstm)")
    if not spec.bias:
        return torch.mm(x.reshape(T * B, I), w.t()).view(T, B, -1)
    if isinstance(spec, GRUCellSpec):
        bias = p["bias_ih"]  # bias_hh's n block sits inside r * (...): the kernel adds it
    else:
        bias = p["bias_ih"] + p["bias_hh"]
    return torch.addmm(bias, x.reshape(T * B, I), w.t()).view(T, B, -1)


def _c(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


def _save(ctx, **tensors: Tensor | None) -> None:
    """``ctx.save_for_backward`` by name; :func:`_saved` gives them back as a dict."""
    ctx.saved_names = tuple(tensors)
    ctx.save_for_backward(*tensors.values())


def _saved(ctx) -> dict[str, Tensor | None]:
    return dict(zip(ctx.saved_names, ctx.saved_tensors))


def _arg_names(function) -> tuple[str, ...]:
    """The names of an autograd Function's forward inputs (ctx left out), in order."""
    return tuple(inspect.signature(function.forward).parameters)[1:]


# ---- LSTM -------------------------------------------------------------------------------
class _LSTMFunction(torch.autograd.Function):
    # With w_ih and w_ln_ih (layer norm): xp is the input x (T, B, I) and the kernel applies
    # LN(W x_t) * w_ln_ih + b_x per row. W x_t itself: for I <= SMALL_I computed per row in
    # the kernel (forward and backward: no (T, B, G*H) tensor), else here, into the
    # extension's buffer cache. Otherwise xp is the finished projection.
    SMALL_I = 4

    @staticmethod
    def forward(ctx, cfg, xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0, w_ln_ih, b_x, w_ih):
        # mask: the variational-dropout mask on h_{t-1} (or None); truncate: the 1997
        # truncated gradient (the backward cuts dL/dh_{t-1} through R h_{t-1})
        ext, config, lengths, reverse, mask, truncate, zoneout = cfg
        x_in = None
        ctx.small = False
        if w_ih is not None:
            x_in = xp.contiguous()
            T, B, I = x_in.shape
            if I <= _LSTMFunction.SMALL_I:
                ctx.small = True
                xp = x_in
            else:
                # (I, G*H) layout: its backward x^T @ dxw measured 2-3x faster than dxw^T @ x
                xp = ext.buffer_mm(x_in.view(T * B, I), w_ih.t().contiguous()).view(T, B, -1)
        # bias_ih: the whole input bias b_x, added after the input's layer norm
        weights = ext.LSTMWeights(
            weight_ih=w_ih.contiguous() if ctx.small else None, bias_ih=b_x, weight_ln_ih=w_ln_ih, weight_hh=w_hh,
            weight_ch=w_ch, weight_gg=w_gg, weight_ln_hh=w_ln_hh, weight_ln_c=w_ln_c, bias_ln_c=b_ln_c,
            weight_hr=w_hr,
        )
        res = ext.lstm_forward(config=config, weights=weights, input=xp, h0=h0, c0=c0, a0=a0, lengths=lengths,
                               reverse=reverse, recurrent_mask=mask, **({} if zoneout is None else {"zoneout": zoneout}))
        ctx.cfg = cfg
        ctx.has_bx = b_x is not None
        saved = res.saved
        _save(ctx, **{name: getattr(saved, name) for name in ext.LSTMSaved.fields},
              w_hh=w_hh, w_ch=w_ch, w_gg=w_gg, w_ln_hh=w_ln_hh, w_ln_c=w_ln_c, b_ln_c=b_ln_c, w_hr=w_hr,
              w_ln_ih=w_ln_ih, x_in=x_in, w_ih=w_ih)
        aT = res.a_n if res.a_n is not None else torch.empty(0, dtype=h0.dtype)
        if aT.numel() == 0:
            ctx.mark_non_differentiable(aT)
        return res.output, res.h_n, res.c_n, aT

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_h, g_c, g_a):
        ext, config, lengths, reverse, mask, truncate, zoneout = ctx.cfg
        s = _saved(ctx)
        hprev, gates, w_ih, x_in = s["hprev"], s["gates"], s["w_ih"], s["x_in"]
        T, B = gates.shape[0], gates.shape[1]
        g_out = _zeros_if_none(g_out, torch.empty(T, B, hprev.shape[2], dtype=gates.dtype))
        g_h = _zeros_if_none(g_h, hprev[0])
        g_c = _zeros_if_none(g_c, s["c_n"])
        fgr = config.full_gate_recurrence
        g_a = _zeros_if_none(g_a, s["aprev"][0]) if fgr else None
        weights = ext.LSTMWeights(
            weight_ih=w_ih.contiguous() if ctx.small else None, weight_ln_ih=s["w_ln_ih"], weight_hh=s["w_hh"],
            weight_ch=s["w_ch"], weight_gg=s["w_gg"], weight_ln_hh=s["w_ln_hh"], weight_ln_c=s["w_ln_c"],
            bias_ln_c=s["b_ln_c"], weight_hr=s["w_hr"],
        )
        saved = ext.LSTMSaved(**{name: s[name] for name in ext.LSTMSaved.fields})
        g = ext.lstm_backward(config=config, weights=weights, saved=saved, grad_output=g_out, grad_h_n=g_h,
                              grad_c_n=g_c, grad_a_n=g_a, lengths=lengths, reverse=reverse,
                              recurrent_mask=mask, truncate_gradient=truncate,
                              **({} if zoneout is None else {"zoneout": zoneout}))
        needs = dict(zip(_LSTM_ARGS, ctx.needs_input_grad))
        grads = dict.fromkeys(_LSTM_ARGS)
        grads["xp"] = g.input
        if ctx.small:  # the kernel returned dL/dx and dL/dW_ih
            grads["w_ih"] = g.weight_ih if needs["w_ih"] else None
            grads["xp"] = g.input if needs["xp"] else None
        elif w_ih is not None:
            T, B, I = x_in.shape
            g2 = g.input.view(T * B, -1)
            grads["w_ih"] = torch.mm(x_in.view(T * B, I).t(), g2).t() if needs["w_ih"] else None
            grads["xp"] = torch.mm(g2, w_ih).view(T, B, I) if needs["xp"] else None
        # truncated: h_0 enters the first step detached, no error reaches it (None, as autograd
        # gives the reference loop's; held rows of a reverse pass carry zeros only)
        grads.update(w_hh=g.weight_hh, h0=None if truncate else g.h0, c0=g.c0)
        # a gradient only for an input that is there (the kernel's are None where absent)
        for name, field in (("w_ch", "weight_ch"), ("w_gg", "weight_gg"), ("w_ln_hh", "weight_ln_hh"),
                            ("w_ln_c", "weight_ln_c"), ("b_ln_c", "bias_ln_c"), ("w_hr", "weight_hr"),
                            ("w_ln_ih", "weight_ln_ih")):
            grads[name] = getattr(g, field) if s[name] is not None else None
        grads["a0"] = g.a0 if fgr else None
        grads["b_x"] = g.bias if ctx.has_bx else None
        return tuple(grads[name] for name in _LSTM_ARGS)


_LSTM_ARGS = _arg_names(_LSTMFunction)
_LSTM_OPTIONAL = ("weight_ch", "weight_gg", "weight_ln_hh", "weight_ln_c", "bias_ln_c", "weight_hr")


def _zoneout_arg(ext, spec: LSTMCellSpec, x: Tensor, rates, training: bool, reverse: bool):
    """The kernel's ``LSTMZoneout``: rates in evaluation; in training the keep masks, drawn
    exactly as the reference loop draws them (``torch.rand_like`` of h, then of c, step by
    step in processing order), so both paths see the same random numbers."""
    rh, rc = float(rates[0]), float(rates[1])
    if not training:
        return ext.LSTMZoneout(rate_h=rh, rate_c=rc)
    T, B = x.shape[0], x.shape[1]
    mh = torch.empty(T, B, spec.output_size, dtype=x.dtype) if rh > 0 else None
    mc = torch.empty(T, B, spec.hidden_size, dtype=x.dtype) if rc > 0 else None
    for k in range(T):
        t = T - 1 - k if reverse else k
        if mh is not None:
            mh[t] = torch.rand(B, spec.output_size, dtype=x.dtype) < rh
        if mc is not None:
            mc[t] = torch.rand(B, spec.hidden_size, dtype=x.dtype) < rc
    return ext.LSTMZoneout(h=mh, c=mc)


def _run_lstm(ext, spec: LSTMCellSpec, p, x, state, lengths, reverse, recurrent_mask=None, truncate_gradient=False,
              zoneout=None, training=False):
    fgr = spec.variant.full_gate_recurrence
    h0 = state[0].contiguous()
    c0 = state[1].contiguous()
    a0 = state[2].contiguous() if fgr else None
    zo = None
    if zoneout is not None and any(r > 0 for r in zoneout):
        zo = _zoneout_arg(ext, spec, x, zoneout, training, reverse)
    if recurrent_mask is None and zo is None and not _needs_grad(x, *p.values(), h0, c0, a0):
        # Inference: the projection runs inside the kernel, chunk by chunk (the C++ side
        # makes every tensor contiguous).
        call = _lstm_infer_call(ext, spec.variant, spec.hidden_size)
        return call(_as_dict(p), x, (h0, c0, a0) if fgr else (h0, c0), reverse, lengths)
    mask = None if recurrent_mask is None else recurrent_mask.contiguous()
    cfg = (ext, _lstm_config(ext, spec), lengths, reverse, mask, bool(truncate_gradient), zo)
    w_hh = p["weight_hh"].contiguous()
    w = [_c(p.get(k)) for k in _LSTM_OPTIONAL]  # w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr
    if spec.variant.layer_norm:
        # W x_t, LN(W x_t) * gain + b and their gradients in the Function and the kernel.
        b_x = (p["bias_ih"] + p["bias_hh"]).contiguous() if spec.bias else None
        out, hT, cT, aT = _LSTMFunction.apply(cfg, x, w_hh, *w, h0, c0, a0, p["weight_ln_ih"].contiguous(), b_x,
                                              p["weight_ih"])
    else:
        xp = _project(spec, x, p)
        out, hT, cT, aT = _LSTMFunction.apply(cfg, xp, w_hh, *w, h0, c0, a0, None, None, None)
    return out, ((hT, cT, aT) if fgr else (hT, cT))


# ---- GRU --------------------------------------------------------------------------------
class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cfg, xp, w_hh, b_hh, h0):
        ext, lengths, reverse = cfg
        r = ext.gru_forward(input=xp, weight_hh=w_hh, bias_hh=b_hh, h0=h0, lengths=lengths, reverse=reverse)
        ctx.cfg = cfg
        ctx.has_bias = b_hh is not None
        _save(ctx, hprev=r.hprev, gates=r.gates, hn=r.hn, w_hh=w_hh)
        return r.output, r.h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_h):
        ext, lengths, reverse = ctx.cfg
        s = _saved(ctx)
        hprev = s["hprev"]
        g_out = _zeros_if_none(g_out, hprev)
        g_h = _zeros_if_none(g_h, hprev[0])
        g = ext.gru_backward(grad_output=g_out, grad_h_n=g_h, hprev=hprev, gates=s["gates"], hn=s["hn"],
                             weight_hh=s["w_hh"], has_bias=ctx.has_bias, lengths=lengths, reverse=reverse)
        grads = {"cfg": None, "xp": g.input, "w_hh": g.weight_hh, "b_hh": g.bias_hh if ctx.has_bias else None,
                 "h0": g.h0}
        return tuple(grads[name] for name in _GRU_ARGS)


_GRU_ARGS = _arg_names(_GRUFunction)


def _run_gru(ext, spec: GRUCellSpec, p, x, state, lengths, reverse):
    h0 = state[0].contiguous()
    if not _needs_grad(x, *p.values(), h0):
        return _gru_infer_call(ext)(_as_dict(p), x, (h0,), reverse, lengths)
    w_hh = p["weight_hh"].contiguous()
    b_hh = _c(p.get("bias_hh"))
    xp = _project(spec, x, p)
    out, hT = _GRUFunction.apply((ext, lengths, reverse), xp, w_hh, b_hh, h0)
    return out, (hT,)


# ---- Elman ------------------------------------------------------------------------------
class _ElmanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cfg, xp, w_hh, h0):
        ext, lengths, reverse, relu = cfg
        r = ext.elman_forward(input=xp, weight_hh=w_hh, h0=h0, lengths=lengths, reverse=reverse, relu=relu)
        ctx.cfg = cfg
        _save(ctx, hprev=r.hprev, out=r.output, w_hh=w_hh)
        return r.output, r.h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_h):
        ext, lengths, reverse, relu = ctx.cfg
        s = _saved(ctx)
        out = s["out"]
        g_out = _zeros_if_none(g_out, out)
        g_h = _zeros_if_none(g_h, s["hprev"][0])
        g = ext.elman_backward(grad_output=g_out, grad_h_n=g_h, hprev=s["hprev"], output=out, weight_hh=s["w_hh"],
                               lengths=lengths, reverse=reverse, relu=relu)
        grads = {"cfg": None, "xp": g.input, "w_hh": g.weight_hh, "h0": g.h0}
        return tuple(grads[name] for name in _ELMAN_ARGS)


_ELMAN_ARGS = _arg_names(_ElmanFunction)


def _run_elman(ext, spec: ElmanCellSpec, p, x, state, lengths, reverse):
    h0 = state[0].contiguous()
    relu = spec.nonlinearity == "relu"
    if not _needs_grad(x, *p.values(), h0):
        return _elman_infer_call(ext, relu)(_as_dict(p), x, (h0,), reverse, lengths)
    w_hh = p["weight_hh"].contiguous()
    xp = _project(spec, x, p)
    out, hT = _ElmanFunction.apply((ext, lengths, reverse, relu), xp, w_hh, h0)
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
        if int(lengths.min()) >= x.shape[0]:
            lengths = None  # every sequence is full: the plain loop
    if ext is not _choose._gemm_ext[0]:
        _choose.setup_gemm(ext)  # the float32 products chosen by measurement, once per extension
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
