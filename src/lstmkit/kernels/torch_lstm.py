"""torch's own LSTM kernel (oneDNN on CPU, cuDNN on CUDA) for the "standard" variant,
wrapped to compute exactly what :func:`lstmkit.recurrent.run_recurrence` computes.

torch runs a single direction forward in time only; ``reverse`` is obtained by flipping
each sequence within its own length (so that a sequence's state starts at its own last
valid step, as in the reference), and variable lengths go through a packed sequence
(the final state is then each sequence's state after its own last step).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..cells.lstm import LSTMCellSpec
from ..variants import LSTMVariant

__all__ = ["is_standard_lstm", "run_torch_lstm"]

_STANDARD = LSTMVariant()


def is_standard_lstm(spec) -> bool:
    """Whether ``spec`` is exactly torch.nn.LSTM's cell (variant "standard", any proj_size)."""
    if type(spec) is not LSTMCellSpec:
        return False
    # Called per step when streaming: the dataclass comparison is remembered per spec,
    # keyed on the variant object itself (a reassigned spec.variant is seen).
    v = spec.variant
    memo = spec.__dict__.get("_is_standard_memo")
    if memo is not None and memo[0] is v:
        return memo[1]
    result = v == _STANDARD
    spec.__dict__["_is_standard_memo"] = (v, result)
    return result


def _flip_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """x[t, b] -> x[len_b - 1 - t, b] for t < len_b; padding stays where it is."""
    T = x.shape[0]
    steps = torch.arange(T, device=x.device)[:, None]
    L = lengths.to(x.device)[None, :]
    idx = torch.where(steps < L, L - 1 - steps, steps)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def run_torch_lstm(
    spec: LSTMCellSpec,
    params: Mapping[str, Tensor],
    x: Tensor,
    state: Sequence[Tensor],
    *,
    lengths: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One (layer, direction) of a "standard" LSTM on torch's fused kernel.

    Args and result as :func:`lstmkit.recurrent.run_recurrence` (no recurrent mask, no
    zoneout).

    Raises:
        ValueError: ``spec`` is not the standard variant.

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMCellSpec
        >>> spec = LSTMCellSpec(2, 3)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> out, (h, c) = run_torch_lstm(spec, p, torch.randn(5, 4, 2), spec.zero_state(4), reverse=True)
        >>> out.shape, h.shape
        (torch.Size([5, 4, 3]), torch.Size([4, 3]))
    """
    if not is_standard_lstm(spec):
        raise ValueError(f"run_torch_lstm needs the 'standard' LSTM cell, got spec {spec!r}")
    weights = [params["weight_ih"], params["weight_hh"]]
    if spec.bias:
        weights += [params["bias_ih"], params["bias_hh"]]
    if spec.proj_size > 0:
        weights.append(params["weight_hr"])
    h0 = state[0].unsqueeze(0)
    c0 = state[1].unsqueeze(0)
    T = x.shape[0]
    if lengths is not None and int(lengths.min()) >= T:
        lengths = None
    if lengths is None:
        xin = x.flip(0) if reverse else x
        out, h, c = torch._VF.lstm(xin, (h0, c0), weights, spec.bias, 1, 0.0, False, False, False)
        if reverse:
            out = out.flip(0)
        return out, (h[0], c[0])
    xin = _flip_within_lengths(x, lengths) if reverse else x
    packed = pack_padded_sequence(xin, lengths.cpu(), enforce_sorted=False)
    order = packed.sorted_indices.to(x.device)
    hx = (h0.index_select(1, order), c0.index_select(1, order))
    data, h, c = torch._VF.lstm(
        packed.data, packed.batch_sizes, hx, weights, spec.bias, 1, 0.0, False, False
    )
    out, _ = pad_packed_sequence(
        type(packed)(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), total_length=T
    )
    back = packed.unsorted_indices.to(x.device)
    h, c = h.index_select(1, back), c.index_select(1, back)
    if reverse:
        out = _flip_within_lengths(out, lengths)
    return out, (h[0], c[0])
