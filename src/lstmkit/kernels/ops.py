"""The fused C++ kernels as torch operators (``torch.ops.lstmkit.*``), visible to compile and torch.func.

Each entry point of the fused extension that :mod:`lstmkit.kernels.fused` calls is
registered with :mod:`torch.library` under the ``lstmkit`` namespace: a schema (tensors,
optional tensors, bools, ints, floats: nothing opaque), a CPU implementation (the C++
call), a fake implementation (the output shapes alone, so that ``torch.compile`` and
``torch.export`` trace through the kernels without running them) and a vmap rule (so
that ``torch.func.vmap`` and ``jacrev`` batch them). The ops are:

============================  ===============================================================
``lstm_fused_forward``        LSTM (every variant) training forward: outputs and saved state
``lstm_fused_backward``       its backward through time (the gradients of every input)
``lstm_fused_infer``          LSTM inference (the input projection inside, nothing saved)
``gru_fused_forward`` ...     the same three for the GRU and the Elman RNN
============================  ===============================================================

Every op returns a list of optional tensors in a fixed order (:data:`LSTM_OUTPUTS`,
:data:`LSTM_GRADS`, ...); an entry the configuration does not have (``a_n`` without full
gate recurrence, ``hh`` without a projection, ...) is None.
No output aliases an input (the saved input projection and the final cell state, which
the C++ side shares, are taken from the op's inputs and outputs by the caller).

The gradient formulas are not registered on the ops (``register_autograd``): the
autograd Functions of :mod:`lstmkit.kernels.fused` (``setup_context`` form,
``generate_vmap_rule = True``) hold them, because torch 2.13's generated Function for a
``register_autograd`` op refuses torch.func's transforms. The ops are called through
those Functions, not directly by users.

The vmap rule runs the op once per batch entry (the kernels are already batched over
their own B; a per-entry loop is exact for any batching of any argument, weights
included, which the per-sample gradients of ``jacrev`` need).

Example:
    >>> import torch
    >>> from lstmkit.kernels import ops
    >>> x = torch.randn(5, 2, 12)  # W x_t + b of an Elman RNN, H = 12 (the op needs the extension)
    >>> out, h_n, hprev = ops.elman_forward(x, torch.randn(12, 12), torch.zeros(2, 12), None, False, False)  # doctest: +SKIP
    >>> tuple(out.shape), tuple(hprev.shape)  # doctest: +SKIP
    ((5, 2, 12), (5, 2, 12))
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..cells.lstm import LAYER_NORM_EPS
from . import choose as _choose
from ._build import load_extension

__all__ = [
    "LSTM_FLAGS",
    "LSTM_WEIGHTS",
    "LSTM_OUTPUTS",
    "LSTM_SAVED",
    "LSTM_GRADS",
    "SMALL_I",
    "lstm_forward",
    "lstm_backward",
    "lstm_infer",
    "gru_forward",
    "gru_backward",
    "gru_infer",
    "elman_forward",
    "elman_backward",
    "elman_infer",
    "extension",
    "run",
]

#: The LSTMConfig switches, in the order of the ops' ``flags`` argument (fused.lstm_flags).
LSTM_FLAGS = ("input_gate", "forget_gate", "coupled", "output_gate", "peepholes", "input_tanh", "output_tanh",
              "full_gate_recurrence", "layer_norm")
#: The recurrent weights of the training ops (the C++ LSTMWeights names), after weight_hh.
LSTM_WEIGHTS = ("weight_ch", "weight_gg", "weight_ln_hh", "weight_ln_c", "bias_ln_c", "weight_hr")
#: lstm_fused_forward's outputs: the results, then what the backward needs (C++ LSTMSaved
#: without c_n, which is the output c_n, and with xw only where the op computed W x_t).
LSTM_OUTPUTS = ("output", "h_n", "c_n", "a_n")
LSTM_SAVED = ("hprev", "cprev", "aprev", "gates", "ys", "hh", "rec_hat", "rec_rstd", "c_hat", "c_rstd", "x_mean",
              "x_rstd", "c_new", "xw")
#: lstm_fused_backward's outputs (C++ LSTMGrads), by what each is the gradient of.
LSTM_GRADS = ("input", "weight_hh", "h0", "c0", "weight_ch", "weight_gg", "weight_ln_hh", "weight_ln_c", "bias_ln_c",
              "weight_hr", "a0", "weight_ln_ih", "bias", "weight_ih")
#: With the input layer norm and weight_ih given: at most this many input features and
#: the kernel computes W x_t per row itself; more, and the op computes W x_t as one product.
SMALL_I = 4

_LIB = torch.library.Library("lstmkit", "FRAGMENT")


def extension():
    """The fused extension, with its float32 products chosen (``choose.setup_gemm``), or a
    RuntimeError naming why it is unavailable (the ops have no other implementation)."""
    ext = load_extension()
    if ext is None:
        from ._build import extension_error

        raise RuntimeError(f"the fused CPU extension is unavailable: {extension_error()}")
    if ext is not _choose._gemm_ext[0]:
        _choose.setup_gemm(ext)
    return ext


@functools.lru_cache(maxsize=None)
def _config(ext, flags: tuple, hidden_size: int):
    return ext.LSTMConfig(**dict(zip(LSTM_FLAGS, flags)), hidden_size=hidden_size, eps=LAYER_NORM_EPS)


_IMPLS: dict = {}  # OpOverload -> its CPU implementation (for run)


def run(op, *args):
    """``op(*args)``; in plain eager mode its CPU implementation called directly (the
    dispatcher's round trip through a Python kernel measured ~15-35 us a call on the shared
    machine), under torch.compile and torch.func the operator itself (its fake
    implementation and vmap rule are what they use). The callers (kernels/fused.py) run
    on CPU tensors only."""
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return op(*args)
    impl = _IMPLS.get(op)
    return op(*args) if impl is None else impl(*args)


def _define(name: str, schema: str, impl, fake) -> None:
    _LIB.define(f"{name}{schema}")
    _IMPLS[getattr(torch.ops.lstmkit, name).default] = impl
    _LIB.impl(name, impl, "CPU")
    torch.library.register_fake(f"lstmkit::{name}", fake, lib=_LIB)
    torch.library.register_vmap(f"lstmkit::{name}", _loop_vmap(name), lib=_LIB)


def _loop_vmap(name: str):
    """The vmap rule of op ``name``: one call per batch entry, results stacked on dim 0."""

    def rule(info, in_dims, *args):
        op = getattr(torch.ops.lstmkit, name).default
        n = info.batch_size
        results = []
        for b in range(n):
            sliced = [a.select(d, b) if isinstance(d, int) and isinstance(a, Tensor) else a
                      for a, d in zip(args, in_dims)]
            results.append(op(*sliced))
        out = [None if results[0][k] is None else torch.stack([r[k] for r in results])
               for k in range(len(results[0]))]
        return out, [None if t is None else 0 for t in out]

    return rule


def _opt(names) -> str:
    return ", ".join(f"Tensor? {n}" for n in names)


# ---- LSTM -------------------------------------------------------------------------------
def _lstm_forward_impl(input, weight_hh, weight_ch, weight_gg, weight_ln_hh, weight_ln_c, bias_ln_c, weight_hr, h0,
                       c0, a0, weight_ln_ih, bias_x, weight_ih, lengths, recurrent_mask, zoneout_h, zoneout_c,
                       rate_h, rate_c, reverse, flags, hidden_size):
    ext = extension()
    xw = None
    small_w = None
    xp = input.contiguous()
    if weight_ih is not None:
        T, B, I = xp.shape
        if I <= SMALL_I:
            small_w = weight_ih.contiguous()
        else:
            # (I, G*H) layout: its backward x^T @ dxw measured 2-3x faster than dxw^T @ x
            xp = xw = ext.buffer_mm(xp.view(T * B, I), weight_ih.t().contiguous()).view(T, B, -1)
    weights = ext.LSTMWeights(
        weight_ih=small_w, bias_ih=bias_x, weight_ln_ih=weight_ln_ih, weight_hh=weight_hh.contiguous(),
        weight_ch=weight_ch, weight_gg=weight_gg, weight_ln_hh=weight_ln_hh, weight_ln_c=weight_ln_c,
        bias_ln_c=bias_ln_c, weight_hr=weight_hr,
    )
    zo = {}
    if zoneout_h is not None or zoneout_c is not None:
        zo = {"zoneout": ext.LSTMZoneout(h=zoneout_h, c=zoneout_c)}
    elif rate_h > 0 or rate_c > 0:
        zo = {"zoneout": ext.LSTMZoneout(rate_h=rate_h, rate_c=rate_c)}
    res = ext.lstm_forward(config=_config(ext, tuple(flags), hidden_size), weights=weights, input=xp,
                           h0=h0.contiguous(), c0=c0.contiguous(), a0=None if a0 is None else a0.contiguous(),
                           lengths=lengths, reverse=reverse, recurrent_mask=recurrent_mask, **zo)
    s = res.saved
    out = [res.output, res.h_n, res.c_n, res.a_n]
    out += [getattr(s, n) for n in LSTM_SAVED[:-1]]
    out.append(xw)
    return out


def _lstm_forward_fake(input, weight_hh, weight_ch, weight_gg, weight_ln_hh, weight_ln_c, bias_ln_c, weight_hr, h0,
                       c0, a0, weight_ln_ih, bias_x, weight_ih, lengths, recurrent_mask, zoneout_h, zoneout_c,
                       rate_h, rate_c, reverse, flags, hidden_size):
    fgr, ln = bool(flags[7]), bool(flags[8])
    T, B = input.shape[0], input.shape[1]
    H, GH, Hout = hidden_size, weight_hh.shape[0], h0.shape[1]
    new = h0.new_empty
    none = None
    a_n = torch.empty_like(a0) if fgr else none
    xln = ln and weight_ln_ih is not None
    out = [new(T, B, Hout), torch.empty_like(h0), new(B, H), a_n]
    out += [
        new(T, B, Hout),  # hprev
        new(T, B, H),  # cprev
        new(T, B, a0.shape[1]) if fgr else none,  # aprev
        new(T, B, GH),  # gates
        new(T, B, H),  # ys
        new(T, B, H) if weight_hr is not None else none,  # hh
        new(T, B, GH) if ln else none,  # rec_hat
        new(T, B) if ln else none,  # rec_rstd
        new(T, B, H) if ln else none,  # c_hat
        new(T, B) if ln else none,  # c_rstd
        new(T, B) if xln else none,  # x_mean
        new(T, B) if xln else none,  # x_rstd
        new(T, B, H) if zoneout_c is not None or (zoneout_h is None and rate_c > 0) else none,  # c_new
        new(T, B, GH) if weight_ih is not None and input.shape[2] > SMALL_I else none,  # xw
    ]
    return out


_LSTM_W = ", ".join(f"Tensor? {n}" for n in LSTM_WEIGHTS)
_define(
    "lstm_fused_forward",
    f"(Tensor input, Tensor weight_hh, {_LSTM_W}, Tensor h0, Tensor c0, Tensor? a0, Tensor? weight_ln_ih, "
    "Tensor? bias_x, Tensor? weight_ih, Tensor? lengths, Tensor? recurrent_mask, Tensor? zoneout_h, "
    "Tensor? zoneout_c, float rate_h, float rate_c, bool reverse, bool[] flags, int hidden_size) -> Tensor?[]",
    _lstm_forward_impl,
    _lstm_forward_fake,
)

_SAVED_IN = ("hprev", "cprev", "aprev", "c_n", "gates", "ys", "hh", "rec_hat", "rec_rstd", "c_hat", "c_rstd", "xw",
             "x_mean", "x_rstd", "c_new")


def _lstm_backward_impl(grad_output, grad_h_n, grad_c_n, grad_a_n, weight_hh, weight_ch, weight_gg, weight_ln_hh,
                        weight_ln_c, bias_ln_c, weight_hr, weight_ln_ih, weight_ih, hprev, cprev, aprev, c_n, gates,
                        ys, hh, rec_hat, rec_rstd, c_hat, c_rstd, xw, x_mean, x_rstd, c_new, lengths, recurrent_mask,
                        zoneout_h, zoneout_c, rate_h, rate_c, reverse, truncate, flags, hidden_size, has_bias_x):
    ext = extension()
    saved_in = dict(hprev=hprev, cprev=cprev, aprev=aprev, c_n=c_n, gates=gates, ys=ys, hh=hh, rec_hat=rec_hat,
                    rec_rstd=rec_rstd, c_hat=c_hat, c_rstd=c_rstd, xw=xw, x_mean=x_mean, x_rstd=x_rstd, c_new=c_new)
    saved = ext.LSTMSaved(**{k: (None if v is None else v.contiguous()) for k, v in saved_in.items()})
    weights = ext.LSTMWeights(
        weight_ih=None if weight_ih is None else weight_ih.contiguous(), weight_ln_ih=weight_ln_ih,
        weight_hh=weight_hh.contiguous(), weight_ch=weight_ch, weight_gg=weight_gg, weight_ln_hh=weight_ln_hh,
        weight_ln_c=weight_ln_c, bias_ln_c=bias_ln_c, weight_hr=weight_hr,
    )
    zo = {}
    if zoneout_h is not None or zoneout_c is not None:
        zo = {"zoneout": ext.LSTMZoneout(h=zoneout_h, c=zoneout_c)}
    elif rate_h > 0 or rate_c > 0:
        zo = {"zoneout": ext.LSTMZoneout(rate_h=rate_h, rate_c=rate_c)}
    g = ext.lstm_backward(config=_config(ext, tuple(flags), hidden_size), weights=weights, saved=saved,
                          grad_output=grad_output.contiguous(), grad_h_n=grad_h_n.contiguous(),
                          grad_c_n=grad_c_n.contiguous(),
                          grad_a_n=None if grad_a_n is None else grad_a_n.contiguous(), lengths=lengths,
                          reverse=reverse, recurrent_mask=recurrent_mask, truncate_gradient=truncate, **zo)
    given = dict(weight_ch=weight_ch, weight_gg=weight_gg, weight_ln_hh=weight_ln_hh, weight_ln_c=weight_ln_c,
                 bias_ln_c=bias_ln_c, weight_hr=weight_hr, a0=aprev, weight_ln_ih=weight_ln_ih,
                 bias=True if has_bias_x else None, weight_ih=weight_ih)
    out = []
    for name in LSTM_GRADS:
        t = getattr(g, name)
        if name in given and given[name] is None:
            t = None
        out.append(t)
    return out


def _lstm_backward_fake(grad_output, grad_h_n, grad_c_n, grad_a_n, weight_hh, weight_ch, weight_gg, weight_ln_hh,
                        weight_ln_c, bias_ln_c, weight_hr, weight_ln_ih, weight_ih, hprev, cprev, aprev, c_n, gates,
                        ys, hh, rec_hat, rec_rstd, c_hat, c_rstd, xw, x_mean, x_rstd, c_new, lengths, recurrent_mask,
                        zoneout_h, zoneout_c, rate_h, rate_c, reverse, truncate, flags, hidden_size, has_bias_x):
    none = None
    like = lambda t: none if t is None else torch.empty_like(t)  # noqa: E731
    T, B, GH = gates.shape
    return [
        torch.empty_like(xw) if xw is not None else gates.new_empty(T, B, GH),  # input
        torch.empty_like(weight_hh),
        hprev.new_empty(hprev.shape[1:]),  # h0
        cprev.new_empty(cprev.shape[1:]),  # c0
        like(weight_ch), like(weight_gg), like(weight_ln_hh), like(weight_ln_c), like(bias_ln_c), like(weight_hr),
        none if aprev is None else aprev.new_empty(aprev.shape[1:]),  # a0
        like(weight_ln_ih),
        gates.new_empty(GH) if has_bias_x else none,  # bias
        like(weight_ih),
    ]


_define(
    "lstm_fused_backward",
    f"(Tensor grad_output, Tensor grad_h_n, Tensor grad_c_n, Tensor? grad_a_n, Tensor weight_hh, {_LSTM_W}, "
    f"Tensor? weight_ln_ih, Tensor? weight_ih, Tensor hprev, Tensor cprev, {_opt(_SAVED_IN[2:])}, "
    "Tensor? lengths, Tensor? recurrent_mask, Tensor? zoneout_h, Tensor? zoneout_c, float rate_h, float rate_c, "
    "bool reverse, bool truncate, bool[] flags, int hidden_size, bool has_bias_x) -> Tensor?[]",
    _lstm_backward_impl,
    _lstm_backward_fake,
)

_INFER_W = ("bias_ih", "bias_hh", "weight_ln_ih")


def _lstm_infer_impl(input, weight_ih, bias_ih, bias_hh, weight_ln_ih, weight_hh, weight_ch, weight_gg, weight_ln_hh,
                     weight_ln_c, bias_ln_c, weight_hr, h0, c0, a0, lengths, reverse, flags, hidden_size):
    ext = extension()
    weights = ext.LSTMWeights(weight_ih=weight_ih, bias_ih=bias_ih, bias_hh=bias_hh, weight_ln_ih=weight_ln_ih,
                              weight_hh=weight_hh, weight_ch=weight_ch, weight_gg=weight_gg,
                              weight_ln_hh=weight_ln_hh, weight_ln_c=weight_ln_c, bias_ln_c=bias_ln_c,
                              weight_hr=weight_hr)
    res = ext.lstm_infer(config=_config(ext, tuple(flags), hidden_size), weights=weights, input=input.contiguous(),
                         h0=h0.contiguous(), c0=c0.contiguous(), a0=None if a0 is None else a0.contiguous(),
                         lengths=lengths, reverse=reverse)
    return [res.output, res.h_n, res.c_n, res.a_n]


def _lstm_infer_fake(input, weight_ih, bias_ih, bias_hh, weight_ln_ih, weight_hh, weight_ch, weight_gg, weight_ln_hh,
                     weight_ln_c, bias_ln_c, weight_hr, h0, c0, a0, lengths, reverse, flags, hidden_size):
    T, B = input.shape[0], input.shape[1]
    Hout = h0.shape[-1]
    fgr = bool(flags[7])
    return [h0.new_empty(T, B, Hout), torch.empty_like(h0), torch.empty_like(c0),
            torch.empty_like(a0) if fgr else None]


_define(
    "lstm_fused_infer",
    f"(Tensor input, Tensor weight_ih, {_opt(_INFER_W)}, Tensor weight_hh, {_LSTM_W}, Tensor h0, Tensor c0, "
    "Tensor? a0, Tensor? lengths, bool reverse, bool[] flags, int hidden_size) -> Tensor?[]",
    _lstm_infer_impl,
    _lstm_infer_fake,
)


# ---- GRU --------------------------------------------------------------------------------
def _gru_forward_impl(input, weight_hh, bias_hh, h0, lengths, reverse):
    r = extension().gru_forward(input=input.contiguous(), weight_hh=weight_hh.contiguous(), bias_hh=bias_hh,
                                h0=h0.contiguous(), lengths=lengths, reverse=reverse)
    return [r.output, r.h_n, r.hprev, r.gates, r.hn]


def _gru_forward_fake(input, weight_hh, bias_hh, h0, lengths, reverse):
    T, B = input.shape[0], input.shape[1]
    H = h0.shape[1]
    new = h0.new_empty
    return [new(T, B, H), new(B, H), new(T, B, H), new(T, B, 3 * H), new(T, B, H)]


_define("gru_fused_forward", "(Tensor input, Tensor weight_hh, Tensor? bias_hh, Tensor h0, Tensor? lengths, "
        "bool reverse) -> Tensor?[]", _gru_forward_impl, _gru_forward_fake)


def _gru_backward_impl(grad_output, grad_h_n, hprev, gates, hn, weight_hh, has_bias, lengths, reverse):
    g = extension().gru_backward(grad_output=grad_output.contiguous(), grad_h_n=grad_h_n.contiguous(),
                                 hprev=hprev.contiguous(), gates=gates.contiguous(), hn=hn.contiguous(),
                                 weight_hh=weight_hh.contiguous(), has_bias=has_bias, lengths=lengths,
                                 reverse=reverse)
    return [g.input, g.weight_hh, g.bias_hh if has_bias else None, g.h0]


def _gru_backward_fake(grad_output, grad_h_n, hprev, gates, hn, weight_hh, has_bias, lengths, reverse):
    return [torch.empty_like(gates), torch.empty_like(weight_hh),
            gates.new_empty(gates.shape[2]) if has_bias else None, hprev.new_empty(hprev.shape[1:])]


_define("gru_fused_backward", "(Tensor grad_output, Tensor grad_h_n, Tensor hprev, Tensor gates, Tensor hn, "
        "Tensor weight_hh, bool has_bias, Tensor? lengths, bool reverse) -> Tensor?[]",
        _gru_backward_impl, _gru_backward_fake)


def _gru_infer_impl(input, weight_ih, bias_ih, weight_hh, bias_hh, h0, lengths, reverse):
    r = extension().gru_infer(input=input.contiguous(), weight_ih=weight_ih, bias_ih=bias_ih, weight_hh=weight_hh,
                              bias_hh=bias_hh, h0=h0.contiguous(), lengths=lengths, reverse=reverse)
    return [r.output, r.h_n]


def _gru_infer_fake(input, weight_ih, bias_ih, weight_hh, bias_hh, h0, lengths, reverse):
    return [h0.new_empty(input.shape[0], input.shape[1], h0.shape[-1]), torch.empty_like(h0)]


_define("gru_fused_infer", "(Tensor input, Tensor weight_ih, Tensor? bias_ih, Tensor weight_hh, Tensor? bias_hh, "
        "Tensor h0, Tensor? lengths, bool reverse) -> Tensor?[]", _gru_infer_impl, _gru_infer_fake)


# ---- Elman ------------------------------------------------------------------------------
def _elman_forward_impl(input, weight_hh, h0, lengths, reverse, relu):
    r = extension().elman_forward(input=input.contiguous(), weight_hh=weight_hh.contiguous(), h0=h0.contiguous(),
                                  lengths=lengths, reverse=reverse, relu=relu)
    return [r.output, r.h_n, r.hprev]


def _elman_forward_fake(input, weight_hh, h0, lengths, reverse, relu):
    T, B = input.shape[0], input.shape[1]
    H = h0.shape[1]
    return [h0.new_empty(T, B, H), h0.new_empty(B, H), h0.new_empty(T, B, H)]


_define("elman_fused_forward", "(Tensor input, Tensor weight_hh, Tensor h0, Tensor? lengths, bool reverse, "
        "bool relu) -> Tensor?[]", _elman_forward_impl, _elman_forward_fake)


def _elman_backward_impl(grad_output, grad_h_n, hprev, output, weight_hh, lengths, reverse, relu):
    g = extension().elman_backward(grad_output=grad_output.contiguous(), grad_h_n=grad_h_n.contiguous(),
                                   hprev=hprev.contiguous(), output=output.contiguous(),
                                   weight_hh=weight_hh.contiguous(), lengths=lengths, reverse=reverse, relu=relu)
    return [g.input, g.weight_hh, g.h0]


def _elman_backward_fake(grad_output, grad_h_n, hprev, output, weight_hh, lengths, reverse, relu):
    return [torch.empty_like(output), torch.empty_like(weight_hh), hprev.new_empty(hprev.shape[1:])]


_define("elman_fused_backward", "(Tensor grad_output, Tensor grad_h_n, Tensor hprev, Tensor output, "
        "Tensor weight_hh, Tensor? lengths, bool reverse, bool relu) -> Tensor?[]",
        _elman_backward_impl, _elman_backward_fake)


def _elman_infer_impl(input, weight_ih, bias_ih, bias_hh, weight_hh, h0, lengths, reverse, relu):
    r = extension().elman_infer(input=input.contiguous(), weight_ih=weight_ih, bias_ih=bias_ih, bias_hh=bias_hh,
                                weight_hh=weight_hh, h0=h0.contiguous(), lengths=lengths, reverse=reverse, relu=relu)
    return [r.output, r.h_n]


def _elman_infer_fake(input, weight_ih, bias_ih, bias_hh, weight_hh, h0, lengths, reverse, relu):
    return [h0.new_empty(input.shape[0], input.shape[1], h0.shape[-1]), torch.empty_like(h0)]


_define("elman_fused_infer", "(Tensor input, Tensor weight_ih, Tensor? bias_ih, Tensor? bias_hh, Tensor weight_hh, "
        "Tensor h0, Tensor? lengths, bool reverse, bool relu) -> Tensor?[]", _elman_infer_impl, _elman_infer_fake)

# the ops by short name (the callers' handles: one attribute look-up each)
lstm_forward = torch.ops.lstmkit.lstm_fused_forward.default
lstm_backward = torch.ops.lstmkit.lstm_fused_backward.default
lstm_infer = torch.ops.lstmkit.lstm_fused_infer.default
gru_forward = torch.ops.lstmkit.gru_fused_forward.default
gru_backward = torch.ops.lstmkit.gru_fused_backward.default
gru_infer = torch.ops.lstmkit.gru_fused_infer.default
elman_forward = torch.ops.lstmkit.elman_fused_forward.default
elman_backward = torch.ops.lstmkit.elman_fused_backward.default
elman_infer = torch.ops.lstmkit.elman_fused_infer.default
