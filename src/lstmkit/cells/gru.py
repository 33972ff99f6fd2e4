"""One time step of the gated recurrent unit (Cho et al. 2014), in torch.nn.GRU's form.

.. math::
    r_t &= \\sigma(W_r x_t + b_{ir} + R_r h_{t-1} + b_{hr})\\\\
    u_t &= \\sigma(W_u x_t + b_{iu} + R_u h_{t-1} + b_{hu})\\\\
    n_t &= \\tanh(W_n x_t + b_{in} + r_t \\odot (R_n h_{t-1} + b_{hn}))\\\\
    h_t &= (1 - u_t) \\odot n_t + u_t \\odot h_{t-1}

(torch calls the update gate z.) Parameters: ``weight_ih`` (3H, I), ``weight_hh`` (3H, H),
``bias_ih`` and ``bias_hh`` (3H,), blocks in order (r, z, n), exactly torch's layout.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["GRUCellSpec"]


class GRUCellSpec(CellSpec):
    """The one-step math of a GRU cell (torch.nn.GRU's equations and layout).

    Example:
        >>> import torch
        >>> from lstmkit.cells.gru import GRUCellSpec
        >>> spec = GRUCellSpec(3, 4)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> (h,) = spec.step(spec.input_projection(torch.randn(2, 3), p), spec.zero_state(2), p)
        >>> h.shape
        torch.Size([2, 4])
    """

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        H, I = self.hidden_size, self.input_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (3 * H, I), "weight_hh": (3 * H, H)}
        if self.bias:
            shapes["bias_ih"] = (3 * H,)
            shapes["bias_hh"] = (3 * H,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        # bias_hh stays out: its n block sits inside r * (...).
        return F.linear(x, p["weight_ih"], p.get("bias_ih"))

    def step(self, xp, state, p, recurrent_mask=None):
        return (self._step(xp, state, p, recurrent_mask)[0],)

    def gates(self, xp, state, p, recurrent_mask=None) -> dict[str, Tensor]:
        """The activations of one step, by name, for inspection and plots: ``reset_gate``
        r_t, ``update_gate`` u_t (torch's z), ``candidate`` n_t and ``output`` h_t, each (B, H).

        Example:
            >>> import torch
            >>> spec = GRUCellSpec(3, 4)
            >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
            >>> g = spec.gates(spec.input_projection(torch.randn(2, 3), p), spec.zero_state(2), p)
            >>> sorted(g)
            ['candidate', 'output', 'reset_gate', 'update_gate']
        """
        h, r, u, n = self._step(xp, state, p, recurrent_mask)
        return {"reset_gate": r, "update_gate": u, "candidate": n, "output": h}

    def _step(self, xp, state, p, recurrent_mask):
        """The step: ``(h_t, r_t, u_t, n_t)``."""
        (h_prev,) = state
        H = self.hidden_size
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        hp = F.linear(h_in, p["weight_hh"], p.get("bias_hh"))
        r = torch.sigmoid(xp[:, :H] + hp[:, :H])
        u = torch.sigmoid(xp[:, H : 2 * H] + hp[:, H : 2 * H])
        n = torch.tanh(xp[:, 2 * H :] + r * hp[:, 2 * H :])
        return n + u * (h_prev - n), r, u, n
