r"""One time step of a depth-gated LSTM layer (Yao, Cohn, Vylomova, Duh & Dyer 2015,
"Depth-Gated LSTM", arXiv:1508.03790).

A layer L above the first has a depth gate d that lets the lower layer's memory cell at
the same step, c_t^{L-1}, flow straight into its own:

.. math::

    i_t, f_t, o_t &= \sigma(W_{\{i,f,o\}} x_t + U_{\{i,f,o\}} h_{t-1} + b_{\{i,f,o\}}), \quad
    g_t = \tanh(W_g x_t + U_g h_{t-1} + b_g)\\
    d_t &= \sigma(W_{xd} x_t + w_{cd} \odot c_{t-1} + w_{ld} \odot c_t^{L-1} + b_d)\\
    c_t &= d_t \odot c_t^{L-1} + f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)

where x_t = h_t^{L-1} is the lower layer's output. The lower cell c_t^{L-1} reaches the
step through the input: a depth-gated spec reads x_t = [h_t^{L-1}; c_t^{L-1}] (the layer
module concatenates them; the lower layer has run over the whole sequence before), so the
step stays one step and the loop (:mod:`lstmkit.recurrent`) stays the house's.

Parameters (short names): ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih``,
``bias_hh`` (4H,), blocks (i, f, g, o) as torch.nn.LSTM; and with the depth gate
``weight_dx`` W_xd (H, I), ``weight_dc`` w_cd (H,), ``weight_dl`` w_ld (H,), ``bias_d`` (H,).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["DepthGatedLSTMCellSpec"]


class DepthGatedLSTMCellSpec(CellSpec):
    """The step of one depth-gated LSTM layer (equations in the module docstring).

    Args:
        input_size: I, features of x_t = h_t^{L-1} (without the lower cell).
        hidden_size: H.
        bias: whether the biases exist.
        depth_gate: False for the first layer (a standard LSTM step, no lower cell).

    With ``depth_gate`` each step's input is [x_t; c_t^{L-1}] of size I + H
    (:meth:`check_input_shape`); the projection keeps c_t^{L-1} for the step.

    Example:
        >>> import torch
        >>> spec = DepthGatedLSTMCellSpec(3, 4)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(2, 3 + 4)                  # [h below; c below]
        >>> h, c = spec.step(spec.input_projection(x, p), spec.zero_state(2), p)
        >>> h.shape
        torch.Size([2, 4])
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, depth_gate: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        if not isinstance(depth_gate, bool):
            raise TypeError(f"depth_gate must be a bool, got {type(depth_gate).__name__}")
        self.depth_gate = depth_gate

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        H, I = self.hidden_size, self.input_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H)}
        if self.bias:
            shapes["bias_ih"] = (4 * H,)
            shapes["bias_hh"] = (4 * H,)
        if self.depth_gate:
            shapes["weight_dx"] = (H, I)
            shapes["weight_dc"] = (H,)
            shapes["weight_dl"] = (H,)
            if self.bias:
                shapes["bias_d"] = (H,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    @property
    def step_input_size(self) -> int:
        """Features of each step's input: I, or I + H with the depth gate."""
        return self.input_size + (self.hidden_size if self.depth_gate else 0)

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        n = self.step_input_size
        if len(input_shape) != 1 or input_shape[0] != n:
            what = f"input_size={self.input_size}" + (f" + hidden_size={self.hidden_size} (the lower cell)"
                                                       if self.depth_gate else "")
            raise ValueError(f"input has feature shape {tuple(input_shape)}, expected ({n},): {what}")

    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """[W x + b, W_xd x + b_d, c^{L-1}] for every step: (..., I [+ H]) -> (..., 4H [+ 2H])."""
        I = self.input_size
        xf = x[..., :I]
        gates = F.linear(xf, p["weight_ih"])
        if self.bias:
            gates = gates + (p["bias_ih"] + p["bias_hh"])
        if not self.depth_gate:
            return gates
        return torch.cat([gates, F.linear(xf, p["weight_dx"], p.get("bias_d")), x[..., I:]], dim=-1)

    def step(self, xp: Tensor, state: tuple[Tensor, ...], p: Mapping[str, Tensor],
             recurrent_mask: Tensor | None = None) -> tuple[Tensor, ...]:
        return self._step(xp, state, p, recurrent_mask)[0]

    def gates(self, xp: Tensor, state: tuple[Tensor, ...], p: Mapping[str, Tensor],
              recurrent_mask: Tensor | None = None) -> dict[str, Tensor]:
        """The activations of one step, by name, for inspection and plots (the same
        computation as :meth:`step`), each (B, H): ``input_gate``, ``forget_gate``,
        ``block_input``, ``output_gate``; with the depth gate also ``depth_gate`` d_t and
        ``lower_cell`` c_t^{L-1}; then ``cell_state`` and ``output``.

        Example:
            >>> import torch
            >>> spec = DepthGatedLSTMCellSpec(3, 4)
            >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
            >>> g = spec.gates(spec.input_projection(torch.randn(2, 7), p), spec.zero_state(2), p)
            >>> "depth_gate" in g, tuple(g["depth_gate"].shape)
            (True, (2, 4))
        """
        (h, c), acts = self._step(xp, state, p, recurrent_mask)
        out = {"input_gate": acts["i"], "forget_gate": acts["f"], "block_input": acts["g"],
               "output_gate": acts["o"]}
        if self.depth_gate:
            out.update(depth_gate=acts["d"], lower_cell=acts["lower"])
        return {**out, "cell_state": c, "output": h}

    def _step(self, xp, state, p, recurrent_mask):
        """The step: ``((h, c), {i, f, g, o[, d, lower]})``."""
        H = self.hidden_size
        h_prev, c_prev = state
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        pre = xp[:, :4 * H] + F.linear(h_in, p["weight_hh"])
        i, f, g, o = pre.chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        acts = {"i": i, "f": f, "g": g, "o": o}
        c = f * c_prev + i * g
        if self.depth_gate:
            lower = xp[:, 5 * H:6 * H]
            d = torch.sigmoid(xp[:, 4 * H:5 * H] + p["weight_dc"] * c_prev + p["weight_dl"] * lower)
            c = c + d * lower
            acts.update(d=d, lower=lower)
        h = o * torch.tanh(c)
        return (h, c), acts

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, depth_gate={self.depth_gate}" + (
            ", bias=False" if not self.bias else "")
