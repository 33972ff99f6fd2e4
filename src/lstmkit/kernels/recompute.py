"""The differentiable backward of the fused kernels: the reference loop, recomputed under autograd.

The fused kernels' hand-written backward (``csrc/``) computes first-order gradients only.
When the gradient itself is to be differentiated (``torch.autograd.grad(...,
create_graph=True)`` then a second backward: gradient penalties, MAML, Hessian-vector
products; or ``torch.func.grad`` of ``torch.func.grad``), the autograd Functions of
:mod:`lstmkit.kernels.fused` hand their backward to this module instead: it runs the
reference recurrence (:func:`lstmkit.recurrent.run_recurrence` over the cell spec's own
step) on the Function's saved inputs and takes its vector-Jacobian product with
``torch.func.vjp``, so the gradients it returns carry their own graph (regular autograd's
or torch.func's outer level) and can be differentiated again, to any order.

What is recomputed is what the Function computed, input by input: the hoisted input
projection ``xp`` (for the layer-norm LSTM, the raw input with ``LN(W x_t) * gain + b``
recomputed here; otherwise ``xp`` itself, recomputed from the projection's inputs
``x, W, b`` where the caller handed them over, so that the fast path never keeps the
(T, B, G*H) projection alive for a second backward it may never need), the recurrent
weights, the initial state, the lengths, the direction, the variational-dropout mask,
zoneout (the training keep masks the kernel was given; the evaluation rates) and the 1997
truncated gradient. The first-order backward is untouched: :func:`wanted` is False unless
a higher-order gradient is asked for.

Example:
    >>> import torch, lstmkit
    >>> m = lstmkit.LSTM(2, 3).double()
    >>> x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    >>> (g,) = torch.autograd.grad(m(x)[0].pow(2).sum(), x, create_graph=True)
    >>> g.pow(2).sum().backward()            # a gradient penalty: through the reference loop
    >>> x.grad.shape
    torch.Size([4, 2, 2])
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor

from ..cells.elman import ElmanCellSpec
from ..cells.gru import GRUCellSpec
from ..cells.lstm import LSTMCellSpec
from ..recurrent import run_recurrence
from ..variants import LSTMVariant

__all__ = ["wanted", "vjp", "lstm_reference", "gru_reference", "elman_reference", "project"]


def wanted(tensors: Iterable[Tensor | None]) -> bool:
    """Whether the backward being computed must itself be differentiable.

    ``tensors``: the Function's saved inputs and the incoming gradients. True when grad
    mode is on in the backward (``create_graph=True``) and one of them is tracked by
    autograd, or under torch.func when another ``grad``/``vjp`` level sits outside the
    one running this backward (``grad(grad(f))``, ``jacrev(jacrev(f))``: the tensors
    carry its wrapper), or the tensors beneath every level are tracked by plain autograd. False for every first-order
    gradient (``backward()``, ``autograd.grad`` without ``create_graph``, one
    ``torch.func.grad``, ``vmap(grad)``): then the fused backward runs.
    """
    if not torch.is_grad_enabled():
        return False
    tensors = [t for t in tensors if isinstance(t, Tensor)]
    if not torch._C._are_functorch_transforms_active():
        return any(t.requires_grad for t in tensors)
    from torch._C._functorch import TransformType
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

    alive = {i.level() for i in retrieve_all_functorch_interpreters() if i.key() == TransformType.Grad}
    if len(alive) >= 2:
        return True
    return any(_tracked_outside(t, alive) for t in tensors)


def _tracked_outside(t: Tensor, alive: set) -> bool:
    """Whether ``t`` is tracked by a gradient transform outside the one this backward
    serves, or by plain autograd beneath every transform.

    ``t``'s outermost grad-tracking wrapper is the level being differentiated (it may
    have ended already: ``jacrev`` runs its backward outside its own level); a further
    grad-tracking wrapper of a level still running (``jacrev(jacrev(f))``) means an outer
    derivative will differentiate this backward's result.
    """
    from torch._C._functorch import get_unwrapped, is_functorch_wrapped_tensor, is_gradtrackingtensor, maybe_get_level

    seen = False
    while is_functorch_wrapped_tensor(t):
        if is_gradtrackingtensor(t):
            if seen and maybe_get_level(t) in alive:
                return True
            seen = True
        t = get_unwrapped(t)
    return t.requires_grad


def project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """The hoisted input projection ``x W^T + b`` of every step, (T, B, I) -> (T, B, K):
    the fused path's ``_project`` (one addmm), recomputed differentiably."""
    T, B, I = x.shape
    x2 = x.reshape(T * B, I)
    # W^T as a contiguous (I, K) copy where W gets a gradient: autograd's mm backward then
    # computes dW^T = x^T dxp instead of (dxp^T x)^T (it keeps the layout of a transposed
    # view): forward + backward measured 1.8-5.1 -> 0.67-0.85 ms at I = 2 (3200 x 256) and
    # 6.0-6.3 -> 2.3-3.2 ms at I = 4, within noise at I >= 32 (Zen 4, one thread,
    # benchmarks/i14-zen4/projection.txt)
    wt = w.t().contiguous() if w.requires_grad and torch.is_grad_enabled() else w.t()
    out = torch.mm(x2, wt) if b is None else torch.addmm(b, x2, wt)
    return out.view(T, B, -1)


def vjp(fn: Callable[..., tuple[Tensor, ...]], inputs: Mapping[str, Tensor | None], names: Sequence[str],
        grad_outputs: Sequence[Tensor | None]) -> dict[str, Tensor | None]:
    """The vector-Jacobian product of ``fn(**inputs)`` with respect to ``inputs[names]``.

    ``fn`` returns a tuple of tensors; ``grad_outputs`` holds one gradient (or None: zero)
    per output. Computed with ``torch.func.vjp``, so the result is differentiable with
    respect to the inputs and the gradients (at every autograd or torch.func level
    outside). Returns a gradient (or None) per name; None for an absent input.
    """
    present = [n for n in names if isinstance(inputs.get(n), Tensor)]

    def f(*values):
        args = dict(inputs)
        args.update(zip(present, values))
        return fn(**args)

    outs, pullback = torch.func.vjp(f, *(inputs[n] for n in present))
    cot = tuple(torch.zeros_like(o) if g is None else g.to(o.dtype) for o, g in zip(outs, grad_outputs))
    grads = pullback(cot)
    result: dict[str, Tensor | None] = dict.fromkeys(names)
    result.update(zip(present, grads))
    return result


class _Given:
    """A cell spec over inputs that are already projected, with what the kernel was given.

    ``step`` sees ``[xp_t, zoneout keep masks of h and c (optional)]`` concatenated along
    the features (the loop hands each step its slice), applies the 1997 truncated
    gradient (h_{t-1} enters the step detached) and zoneout's training form with the
    kernel's masks (1 = keep the previous value), as the reference loop does with its own
    draws; everything else is the cell's own step and the loop's.
    """

    side_inputs: tuple[str, ...] = ()

    def __init__(self, spec, width: int, zoneout_sizes: Sequence[int] = (), truncate: bool = False) -> None:
        self.spec = spec
        self.width = width
        self.zoneout_sizes = tuple(zoneout_sizes)
        self.truncate = truncate

    def input_projection(self, x: Tensor, p) -> Tensor:
        return x

    def step(self, xp: Tensor, state, p, recurrent_mask=None):
        given = (state[0].detach(),) + tuple(state[1:]) if self.truncate else tuple(state)
        new = tuple(self.spec.step(xp[:, : self.width], given, p, recurrent_mask))
        if not self.zoneout_sizes:
            return new
        out = list(new)
        start = self.width
        for k, n in enumerate(self.zoneout_sizes):
            if n:
                keep = xp[:, start : start + n]
                out[k] = torch.where(keep > 0, state[k], new[k])
                start += n
        return tuple(out)


def _variant(flags: Sequence[bool]) -> LSTMVariant:
    """The LSTMVariant of the kernels' flags (ops.LSTM_FLAGS order)."""
    (input_gate, forget_gate, coupled, output_gate, peepholes, input_tanh, output_tanh, fgr, layer_norm) = (
        bool(f) for f in flags)
    return LSTMVariant(
        input_gate=input_gate, forget_gate=forget_gate or coupled, output_gate=output_gate, peepholes=peepholes,
        coupled_input_forget=coupled, input_activation="tanh" if input_tanh else "identity",
        output_activation="tanh" if output_tanh else "identity", full_gate_recurrence=fgr, layer_norm=layer_norm,
    )


def lstm_reference(xp, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0, w_ln_ih, b_x, w_ih, lengths, mask,
                   zoneout_h, zoneout_c, rate_h, rate_c, reverse, truncate, flags, hidden_size):
    """The LSTM Function's ``(output, h_n, c_n[, a_n])`` from its own inputs, by the reference loop.

    Arguments as ``fused._LSTMFunction.forward``: ``xp`` the projected input, or (with
    ``w_ih``, the layer-norm LSTM) the raw input whose projection ``LN(x W^T) * w_ln_ih +
    b_x`` is the cell spec's ``input_projection``.
    """
    variant = _variant(flags)
    H = int(hidden_size)
    spec = LSTMCellSpec(int(w_ih.shape[1]) if w_ih is not None else 1, H, variant, bias=b_x is not None or w_ih is None,
                        proj_size=int(w_hr.shape[0]) if w_hr is not None else 0)
    p = {"weight_hh": w_hh}
    for name, t in (("weight_ch", w_ch), ("weight_gg", w_gg), ("weight_ln_hh", w_ln_hh), ("weight_ln_c", w_ln_c),
                    ("bias_ln_c", b_ln_c), ("weight_hr", w_hr)):
        if t is not None:
            p[name] = t
    if w_ih is not None:
        q = {"weight_ih": w_ih, "weight_ln_ih": w_ln_ih}
        if b_x is not None:
            q.update(bias_ih=b_x, bias_hh=b_x.new_zeros(()))  # b_x is bias_ih + bias_hh already
        xp = spec.input_projection(xp, q)
    width = xp.shape[2]
    state = (h0, c0, a0) if variant.full_gate_recurrence else (h0, c0)
    sizes = []
    if zoneout_h is not None or zoneout_c is not None:
        extra = [xp]
        for z in (zoneout_h, zoneout_c):
            sizes.append(0 if z is None else z.shape[2])
            if z is not None:
                extra.append(z.to(xp.dtype))
        xp = torch.cat(extra, dim=2)
        rates = None
    else:
        rates = (float(rate_h), float(rate_c)) + (0.0,) * (len(state) - 2)
        rates = rates if any(r > 0 for r in rates) else None
    out, final = run_recurrence(_Given(spec, width, sizes, bool(truncate)), p, xp, state, lengths=lengths,
                                reverse=bool(reverse), recurrent_mask=mask, zoneout=rates, training=False)
    return (out, *final)


def gru_reference(xp, w_hh, b_hh, h0, lengths, reverse):
    """The GRU Function's ``(output, h_n)`` from its inputs (``xp = x W_ih^T + b_ih``)."""
    spec = GRUCellSpec(1, int(h0.shape[1]), bias=b_hh is not None)
    p = {"weight_hh": w_hh} if b_hh is None else {"weight_hh": w_hh, "bias_hh": b_hh}
    out, (h,) = run_recurrence(_Given(spec, xp.shape[2]), p, xp, (h0,), lengths=lengths, reverse=bool(reverse))
    return out, h


def elman_reference(xp, w_hh, h0, lengths, reverse, relu):
    """The Elman Function's ``(output, h_n)`` from its inputs (``xp = x W_ih^T + b``)."""
    spec = ElmanCellSpec(1, int(h0.shape[1]), nonlinearity="relu" if relu else "tanh")
    out, (h,) = run_recurrence(_Given(spec, xp.shape[2]), {"weight_hh": w_hh}, xp, (h0,), lengths=lengths,
                               reverse=bool(reverse))
    return out, h
