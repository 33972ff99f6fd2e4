"""The one generic time loop: any cell spec over a sequence.

It owns what is about time and nothing else: the hoisted input projection, the direction,
variable lengths (a sequence's state stops at its own last step; outputs past it are
zero), zoneout, truncation, per-step side inputs, and state in and out — for state
entries of any shape (vectors, feature maps, matrices: the (T, B) validity mask broadcasts
to each). Cells know one step; layers know depth and direction.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from .cells.base import CellSpec

__all__ = ["run_recurrence"]


def run_recurrence(
    spec: CellSpec,
    params: Mapping[str, Tensor],
    x: Tensor,
    state: Sequence[Tensor],
    *,
    lengths: Tensor | None = None,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
    zoneout: Sequence[float] | None = None,
    training: bool = False,
    return_states: bool = False,
    truncate_gradient: bool = False,
    side: Mapping[str, Tensor] | None = None,
):
    """Run ``spec``'s cell over time-major ``x``; the reference loop.

    Args:
        spec: the cell's one-step math (:class:`lstmkit.cells.CellSpec`).
        params: the cell's parameters by short name (``weight_ih``, ...).
        x: (T, B, *input_shape) inputs, time-major ((T, B, I) for vector families).
        state: initial state, one (B, *shape_k) tensor per entry of
            ``spec.state_shapes(input_shape)``.
        lengths: optional (B,) int tensor, 1 <= lengths <= T. Sequence b is
            ``x[:lengths[b], b]``; its final state is the state after its own last step,
            and outputs at t >= lengths[b] are zero (as torch's pad_packed_sequence).
        reverse: run from the last valid step of each sequence to the first.
        recurrent_mask: optional mask of h's shape (B, *h_shape) on h_{t-1} inside the recurrent weights,
            the same at every step (variational dropout, Gal & Ghahramani 2016).
        zoneout: optional rate per state entry (Krueger et al. 2016). In training each
            unit keeps its previous value with that probability; in evaluation the new
            value is rate * previous + (1 - rate) * computed.
        training: selects zoneout's training or evaluation form.
        return_states: also return every state entry at every step.
        truncate_gradient: the 1997 truncated gradient (Hochreiter & Schmidhuber 1997,
            Sec. 4; Gers et al. 2000): the state's first entry (h_{t-1}) enters each step
            detached, so the error reaches the gates' and cell input's weights but flows
            back in time only through the other entries (an LSTM's cell state c, the
            constant error carousel). Forward values are unchanged. A GRU's or Elman
            net's whole state is h: with it no error flows back in time at all.
        side: the per-step side inputs ``spec.side_inputs`` names, each (T, B) (e.g. the
            elapsed time before each step); step t receives ``side={name: value[t]}``.
            With ``reverse`` step t still receives the side input of step t.

    Returns:
        ``(output, final_state)``: output (T, B, *h_shape), the state's first entry at
        every step; final_state a tuple like ``state``. With ``return_states``, a third
        item: a tuple of (T, B, *shape_k) tensors, the state after each step (held past
        a sequence's end, unlike the output).

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMCellSpec
        >>> from lstmkit.recurrent import run_recurrence
        >>> spec = LSTMCellSpec(2, 3, "vanilla")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(5, 4, 2)
        >>> out, (h, c) = run_recurrence(spec, p, x, spec.zero_state(4), lengths=torch.tensor([5, 3, 1, 2]))
        >>> out.shape, bool((out[3:, 1] == 0).all()), torch.equal(h[1], out[2, 1])
        (torch.Size([5, 4, 3]), True, True)
    """
    T = x.shape[0]
    state = tuple(state)
    side_names = spec.side_inputs
    if side_names:
        side = _check_side(side_names, side, x)
    elif side:
        raise ValueError(f"side inputs {sorted(side)} given, but {type(spec).__name__} takes none")
    xp = spec.input_projection(x, params)
    min_len = T
    valid = None
    if lengths is not None:
        # (a graph traced by torch.compile cannot read the lengths: it masks every step)
        min_len = 0 if torch.compiler.is_compiling() else int(lengths.min())
        if min_len < T:
            steps = torch.arange(T, device=x.device)
            valid = steps[:, None] < lengths.to(x.device)[None, :]  # (T, B)
            # one view per state entry, broadcasting over its feature axes: (T, B, 1, ...)
            masks = [valid.view(T, -1, *([1] * (s.dim() - 1))) for s in state]
            out_mask = valid.view(T, -1, *([1] * (state[0].dim() - 1)))
    rates = None
    if zoneout is not None and any(r > 0 for r in zoneout):
        rates = tuple(zoneout)

    outputs: list[Tensor] = [x.new_empty(0)] * T
    trace: list[tuple[Tensor, ...]] = [()] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        given = (state[0].detach(),) + state[1:] if truncate_gradient else state
        if side_names:
            new = spec.step(xp[t], given, params, recurrent_mask, side={k: v[t] for k, v in side.items()})
        else:
            new = spec.step(xp[t], given, params, recurrent_mask)
        if rates is not None:
            new = _zoneout(new, state, rates, training)
        if valid is not None and t >= min_len:
            new = tuple(torch.where(m[t], n, s) for m, n, s in zip(masks, new, state))
            outputs[t] = new[0] * out_mask[t]
        else:
            outputs[t] = new[0]
        state = new
        if return_states:
            trace[t] = new
    if return_states:
        states = tuple(torch.stack([step[k] for step in trace]) for k in range(len(state)))
        return torch.stack(outputs), state, states
    return torch.stack(outputs), state


def _check_side(names: tuple[str, ...], side, x: Tensor) -> dict[str, Tensor]:
    """The side inputs a spec needs, each a (T, B) tensor on x's device and dtype."""
    side = dict(side or {})
    missing = [n for n in names if n not in side]
    if missing:
        raise ValueError(f"the cell needs the side input(s) {missing} (each (T, B)), got {sorted(side) or 'none'}")
    extra = sorted(set(side) - set(names))
    if extra:
        raise ValueError(f"unknown side input(s) {extra}; the cell takes {list(names)}")
    T, B = x.shape[0], x.shape[1]
    out = {}
    for n in names:
        v = side[n]
        if not isinstance(v, Tensor):
            v = torch.as_tensor(v)
        if tuple(v.shape) != (T, B):
            raise ValueError(f"side input {n!r} must have shape (T, B) = ({T}, {B}), got {tuple(v.shape)}")
        out[n] = v.to(device=x.device, dtype=x.dtype)
    return out


def _zoneout(new: tuple[Tensor, ...], old: tuple[Tensor, ...], rates, training: bool):
    out = []
    for n, o, r in zip(new, old, rates):
        if r <= 0:
            out.append(n)
        elif training:
            keep = torch.rand_like(n) < r
            out.append(torch.where(keep, o, n))
        else:
            out.append(torch.lerp(n, o, r))
    return tuple(out)
