"""One time step of the Elman network (simple recurrent net), in torch.nn.RNN's form.

.. math::
    h_t = \\phi(W x_t + b_{ih} + R h_{t-1} + b_{hh}), \\quad \\phi \\in \\{\\tanh, \\mathrm{relu}\\}

Parameters: ``weight_ih`` (H, I), ``weight_hh`` (H, H), ``bias_ih`` and ``bias_hh`` (H,).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["ElmanCellSpec"]

_NONLINEARITIES = ("tanh", "relu")


class ElmanCellSpec(CellSpec):
    """The one-step math of an Elman RNN cell (torch.nn.RNN's equations and layout).

    Args:
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Example:
        >>> import torch
        >>> from lstmkit.cells.elman import ElmanCellSpec
        >>> spec = ElmanCellSpec(3, 4, nonlinearity="relu")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> (h,) = spec.step(spec.input_projection(torch.randn(2, 3), p), spec.zero_state(2), p)
        >>> bool((h >= 0).all())
        True
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size, bias)
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {_NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        H, I = self.hidden_size, self.input_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (H, I), "weight_hh": (H, H)}
        if self.bias:
            shapes["bias_ih"] = (H,)
            shapes["bias_hh"] = (H,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        xp = F.linear(x, p["weight_ih"])
        return xp + (p["bias_ih"] + p["bias_hh"]) if self.bias else xp

    def step(self, xp, state, p, recurrent_mask=None):
        (h_prev,) = state
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        pre = xp + F.linear(h_in, p["weight_hh"])
        return (torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre),)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"
