"""The fused CPU time loops as autograd Functions, for LSTM (every variant), GRU and Elman.

Training (some input needs a gradient): the input projection of all steps (W x_t + b)
stays in ATen autograd as one large matmul (with layer norm, only W x_t: the kernel
normalises each step's row itself, LN(W x_t) * gain + b, and returns the gradients of
W x_t, the gain and b); the time loop and its hand-written backpropagation through time run in C++
(``csrc/fused_rnn.cpp``), wrapped in an autograd Function. The backward is not itself
differentiable (no double backward).

Inference (no gradient needed): one C++ call does everything, the input projection
included, computed a few steps at a time so that it stays in cache; nothing is saved.

The kernels' per-call (T, B, n) buffers of >= 256 KiB come from a cache in the extension
(freed blocks are kept for the next call instead of going back to the OS and being faulted
in again); ``LSTMKIT_BUFFER_CACHE_MB`` caps it (default 1024, 0 turns it off, read once per
process) and ``load_extension().clear_buffer_cache()`` empties it.
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells.elman import ElmanCellSpec
from ..cells.gru import GRUCellSpec
from ..cells.lstm import LAYER_NORM_EPS, LSTMCellSpec
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


def lstm_flags(spec: LSTMCellSpec) -> tuple[int, ...]:
    """The variant's switches in the order the C++ kernel reads them."""
    return _variant_flags(spec.variant)


@functools.lru_cache(maxsize=None)
def _variant_flags(v) -> tuple[int, ...]:
    return (
        int(v.input_gate),
        int(v.forget_gate and not v.coupled_input_forget),
        int(v.coupled_input_forget),
        int(v.output_gate),
        int(v.peepholes),
        int(v.input_activation == "tanh"),
        int(v.output_activation == "tanh"),
        int(v.full_gate_recurrence),
        int(v.layer_norm),
    )


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


def _opt(t: Tensor | None) -> Tensor | None:
    """None for an absent or empty optional tensor (the C++ side treats both alike)."""
    return None if t is None or t.numel() == 0 else t


# ---- LSTM -------------------------------------------------------------------------------
class _LSTMFunction(torch.autograd.Function):
    # With w_ih and w_ln_ih (layer norm): xp is the input x (T, B, I) and the kernel applies
    # LN(W x_t) * w_ln_ih + b_x per row. W x_t itself: for I <= SMALL_I computed per row in
    # the kernel (forward and backward: no (T, B, G*H) tensor), else here, into the
    # extension's buffer cache. Otherwise xp is the finished projection.
    SMALL_I = 4

    @staticmethod
    def forward(ctx, cfg, xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0, w_ln_ih, b_x, w_ih):
        ext, lengths, reverse, flags, H = cfg
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
        w_small = w_ih.contiguous() if ctx.small else None
        res = ext.lstm_forward(
            xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0,
            lengths, reverse, flags, H, LAYER_NORM_EPS, True, w_ln_ih, b_x, w_small,
        )
        out, hT, cT, aT = res[:4]
        hprev, cprev, aprev, gates, ys, hh, rec_hat, rec_rstd, c_hat, c_rstd, x_mean, x_rstd = res[4:]
        ctx.cfg = cfg
        ctx.has_bx = b_x is not None
        ctx.save_for_backward(
            hprev, cprev, aprev, cT, gates, ys, hh, rec_hat, rec_rstd, c_hat, c_rstd,
            w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr,
            xp if w_ln_ih is not None else None, x_mean, x_rstd, w_ln_ih, x_in, w_ih,
        )
        if aT.numel() == 0:
            ctx.mark_non_differentiable(aT)
        return out, hT, cT, aT

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_h, g_c, g_a):
        ext, lengths, reverse, flags, H = ctx.cfg
        (hprev, cprev, aprev, cT, gates, ys, hh, rec_hat, rec_rstd, c_hat, c_rstd,
         w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, xw, x_mean, x_rstd, w_ln_ih, x_in, w_ih) = ctx.saved_tensors
        T, B = gates.shape[0], gates.shape[1]
        g_out = _zeros_if_none(g_out, torch.empty(T, B, hprev.shape[2], dtype=gates.dtype))
        g_h = _zeros_if_none(g_h, hprev[0])
        g_c = _zeros_if_none(g_c, cT)
        fgr = flags[7] == 1
        g_a = _zeros_if_none(g_a, aprev[0]) if fgr else None
        (g_xp, g_whh, g_ch, g_wgg, g_lnhh, g_lnc, g_blnc, g_whr, g_h0, g_c0, g_a0, g_lnih,
         g_bx, g_wih_small) = ext.lstm_backward(
            g_out, g_h, g_c, g_a, hprev, cprev, _opt(aprev), cT, gates, ys, _opt(hh), _opt(rec_hat),
            _opt(rec_rstd), _opt(c_hat), _opt(c_rstd), w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr,
            lengths, reverse, flags, H, LAYER_NORM_EPS, xw, _opt(x_mean), _opt(x_rstd), w_ln_ih,
            w_ih.contiguous() if ctx.small else None,
        )

        def present(g, p):
            return g if p is not None else None

        g_wih = None
        if ctx.small:  # the kernel returned dL/dx and dL/dW_ih
            g_wih = g_wih_small if ctx.needs_input_grad[14] else None
            g_xp = g_xp if ctx.needs_input_grad[1] else None
        elif w_ih is not None:
            T, B, I = x_in.shape
            g2 = g_xp.view(T * B, -1)
            g_wih = torch.mm(x_in.view(T * B, I).t(), g2).t() if ctx.needs_input_grad[14] else None
            g_xp = torch.mm(g2, w_ih).view(T, B, I) if ctx.needs_input_grad[1] else None

        return (
            None, g_xp, g_whh, present(g_ch, w_ch), present(g_wgg, w_gg), present(g_lnhh, w_ln_hh),
            present(g_lnc, w_ln_c), present(g_blnc, b_ln_c), present(g_whr, w_hr), g_h0, g_c0,
            g_a0 if fgr else None, present(g_lnih, w_ln_ih), g_bx if ctx.has_bx else None, g_wih,
        )


def _run_lstm(ext, spec: LSTMCellSpec, p, x, state, lengths, reverse):
    flags = lstm_flags(spec)
    fgr = spec.variant.full_gate_recurrence
    h0 = state[0].contiguous()
    c0 = state[1].contiguous()
    a0 = state[2].contiguous() if fgr else None
    w_hh = p["weight_hh"].contiguous()
    opt = [p.get(k) for k in ("weight_ch", "weight_gg", "weight_ln_hh", "weight_ln_c", "bias_ln_c", "weight_hr")]
    opt = [None if t is None else t.contiguous() for t in opt]
    tail = (lengths, reverse, flags, spec.hidden_size, LAYER_NORM_EPS)
    if not _needs_grad(x, *p.values(), h0, c0, a0):
        # Inference: the projection runs inside the kernel, chunk by chunk.
        out, hT, cT, aT = ext.lstm_infer(
            x.contiguous(), p["weight_ih"].contiguous(), _c(p.get("bias_ih")), _c(p.get("bias_hh")),
            _c(p.get("weight_ln_ih")), w_hh, *opt, h0, c0, a0, *tail,
        )
    else:
        cfg = (ext, lengths, reverse, flags, spec.hidden_size)
        if spec.variant.layer_norm:
            # W x_t, LN(W x_t) * gain + b and their gradients in the Function and the kernel.
            b_x = (p["bias_ih"] + p["bias_hh"]).contiguous() if spec.bias else None
            out, hT, cT, aT = _LSTMFunction.apply(cfg, x, w_hh, *opt, h0, c0, a0, p["weight_ln_ih"].contiguous(), b_x,
                                                  p["weight_ih"])
        else:
            xp = _project(spec, x, p)
            out, hT, cT, aT = _LSTMFunction.apply(cfg, xp, w_hh, *opt, h0, c0, a0, None, None, None)
    return out, ((hT, cT, aT) if fgr else (hT, cT))


# ---- GRU --------------------------------------------------------------------------------
class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cfg, xp, w_hh, b_hh, h0):
        ext, lengths, reverse = cfg
        out, hT, hprev, gates, hn = ext.gru_forward(xp, w_hh, b_hh, h0, lengths, reverse, True)
        ctx.cfg = cfg
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(hprev, gates, hn, w_hh)
        return out, hT

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_h):
        ext, lengths, reverse = ctx.cfg
        hprev, gates, hn, w_hh = ctx.saved_tensors
        g_out = _zeros_if_none(g_out, hprev)
        g_h = _zeros_if_none(g_h, hprev[0])
        g_xp, g_whh, g_bhh, g_h0 = ext.gru_backward(g_out, g_h, hprev, gates, hn, w_hh, ctx.has_bias, lengths, reverse)
        return None, g_xp, g_whh, (g_bhh if ctx.has_bias else None), g_h0


def _run_gru(ext, spec: GRUCellSpec, p, x, state, lengths, reverse):
    w_hh = p["weight_hh"].contiguous()
    b_hh = p.get("bias_hh")
    b_hh = None if b_hh is None else b_hh.contiguous()
    h0 = state[0].contiguous()
    if not _needs_grad(x, *p.values(), h0):
        out, hT = ext.gru_infer(x.contiguous(), p["weight_ih"].contiguous(), _c(p.get("bias_ih")), w_hh, b_hh, h0,
                                lengths, reverse)
    else:
        xp = _project(spec, x, p)
        out, hT = _GRUFunction.apply((ext, lengths, reverse), xp, w_hh, b_hh, h0)
    return out, (hT,)


# ---- Elman ------------------------------------------------------------------------------
class _ElmanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cfg, xp, w_hh, h0):
        ext, lengths, reverse, relu = cfg
        out, hT, hprev = ext.elman_forward(xp, w_hh, h0, lengths, reverse, relu, True)
        ctx.cfg = cfg
        ctx.save_for_backward(hprev, out, w_hh)
        return out, hT

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_h):
        ext, lengths, reverse, relu = ctx.cfg
        hprev, out, w_hh = ctx.saved_tensors
        g_out = _zeros_if_none(g_out, out)
        g_h = _zeros_if_none(g_h, hprev[0])
        g_xp, g_whh, g_h0 = ext.elman_backward(g_out, g_h, hprev, out, w_hh, lengths, reverse, relu)
        return None, g_xp, g_whh, g_h0


def _run_elman(ext, spec: ElmanCellSpec, p, x, state, lengths, reverse):
    w_hh = p["weight_hh"].contiguous()
    h0 = state[0].contiguous()
    relu = spec.nonlinearity == "relu"
    if not _needs_grad(x, *p.values(), h0):
        out, hT = ext.elman_infer(x.contiguous(), p["weight_ih"].contiguous(), _c(p.get("bias_ih")),
                                  _c(p.get("bias_hh")), w_hh, h0, lengths, reverse, relu)
    else:
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


def run_checked(ext, spec, params, x, state, lengths, reverse):
    """:func:`run_fused` without its argument checks, for the dispatcher (which has made them)."""
    if lengths is not None:
        lengths = lengths.to(device="cpu", dtype=torch.long).contiguous()
        if int(lengths.min()) >= x.shape[0]:
            lengths = None  # every sequence is full: the plain loop
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
    # "" is never a parameter name: P.get("") is None for an absent optional tensor.
    keys = tuple(names.get(k, "") for k in order)

    if type(spec) is LSTMCellSpec:
        flags = list(lstm_flags(spec))
        H = spec.hidden_size
        if spec.variant.full_gate_recurrence:

            def run(ext, P, x, state, reverse):
                get = P.get
                out, hT, cT, aT = ext.lstm_infer(x, *[get(k) for k in keys], state[0], state[1], state[2], None,
                                                 reverse, flags, H, LAYER_NORM_EPS)
                return out, (hT, cT, aT)

        else:

            def run(ext, P, x, state, reverse):
                get = P.get
                out, hT, cT, _ = ext.lstm_infer(x, *[get(k) for k in keys], state[0], state[1], None, None,
                                                reverse, flags, H, LAYER_NORM_EPS)
                return out, (hT, cT)

    elif type(spec) is GRUCellSpec:

        def run(ext, P, x, state, reverse):
            get = P.get
            w_ih, b_ih, w_hh, b_hh = [get(k) for k in keys]
            out, hT = ext.gru_infer(x, w_ih, b_ih, w_hh, b_hh, state[0], None, reverse)
            return out, (hT,)

    else:
        relu = spec.nonlinearity == "relu"

        def run(ext, P, x, state, reverse):
            get = P.get
            out, hT = ext.elman_infer(x, *[get(k) for k in keys], state[0], None, reverse, relu)
            return out, (hT,)

    return run
