r"""One time step of the time-aware LSTM (T-LSTM; Baytas et al., KDD 2017).

Before the standard LSTM update, the previous memory is split into a short-term part,
discounted by the time elapsed since the previous step, and a long-term part, kept:

.. math::

    C^S_{t-1} &= \tanh(W_d C_{t-1} + b_d)                 &\text{(short-term memory)}\\
    \hat C^S_{t-1} &= C^S_{t-1} \odot g(\Delta_t)          &\text{(discounted short-term memory)}\\
    C^T_{t-1} &= C_{t-1} - C^S_{t-1}                       &\text{(long-term memory)}\\
    C^*_{t-1} &= C^T_{t-1} + \hat C^S_{t-1}                &\text{(adjusted previous memory)}\\
    g(\Delta_t) &= 1 / \log(e + \Delta_t)

then the LSTM of the paper on the adjusted memory (gates from x_t and h_{t-1}, no peepholes):

.. math::

    i_t &= \sigma(W_i x_t + U_i h_{t-1} + b_i), \quad
    f_t = \sigma(W_f x_t + U_f h_{t-1} + b_f), \quad
    o_t = \sigma(W_o x_t + U_o h_{t-1} + b_o)\\
    \tilde C_t &= \tanh(W_c x_t + U_c h_{t-1} + b_c)\\
    C_t &= f_t \odot C^*_{t-1} + i_t \odot \tilde C_t, \qquad h_t = o_t \odot \tanh(C_t)

Δ_t is the elapsed time between step t-1 and step t (a per-step side input ``"dt"``,
Δ_t >= 0). g(0) = 1, so with Δ_t = 0 everywhere the cell is a standard LSTM; g decreases
with Δ_t and the short-term part fades while the long-term part is kept whole.

``short_term="sigmoid"`` computes C^S = σ(W_d C_{t-1} + b_d) instead: the authors' code
(github.com/illidanlab/T-LSTM, ``TLSTM.py``) uses a sigmoid where the paper writes tanh
(see docs/time-aware.md).

Parameter layout (short names; the layer module adds ``_l{k}`` and ``_reverse``):
``weight_ih`` (4H, I) and ``weight_hh`` (4H, H), blocks (i, f, g, o) as torch.nn.LSTM;
``bias_ih``, ``bias_hh`` (4H,); ``weight_decomp`` W_d (H, H); ``bias_decomp`` b_d (H,).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["TLSTMCellSpec", "elapsed_time_decay", "SHORT_TERM"]

SHORT_TERM = ("tanh", "sigmoid")
"""Activations of the short-term memory C^S: the paper's tanh, the authors' code's sigmoid."""


def elapsed_time_decay(dt: Tensor) -> Tensor:
    """The paper's heuristic decay g(Δt) = 1 / log(e + Δt): 1 at Δt = 0, falling slowly.

    Args:
        dt: elapsed times, any shape, >= 0.

    Example:
        >>> import torch
        >>> [round(v, 4) for v in elapsed_time_decay(torch.tensor([0.0, 1.0, 10.0])).tolist()]
        [1.0, 0.7615, 0.3932]
    """
    # log(e + Δt) = 1 + log1p(Δt / e): exactly 1 at Δt = 0 in any precision
    return 1.0 / (1.0 + torch.log1p(dt / math.e))


class TLSTMCellSpec(CellSpec):
    """The one-step math of a T-LSTM cell (Baytas et al. 2017; equations in the module doc).

    Args:
        input_size: I.
        hidden_size: H (size of h and C).
        bias: whether ``bias_ih``/``bias_hh``/``bias_decomp`` exist.
        short_term: ``"tanh"`` (the paper) or ``"sigmoid"`` (the authors' code) for C^S.
        reverse: this spec serves a reverse direction: it discounts by the side input
            ``"dt_next"`` (the gap to the step processed before it, t + 1) instead of ``"dt"``.
        paired: declare both side inputs ``("dt", "dt_next")`` (both directions of a
            bidirectional layer receive the same side inputs); implied by ``reverse``.

    State: ``(h, C)``, each (B, H). Side input: ``dt`` (B,) per step (``dt_next`` for a
    reverse direction; :class:`lstmkit.TLSTM` builds it).

    Example:
        >>> import torch
        >>> spec = TLSTMCellSpec(3, 4)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> h, c = spec.step(spec.input_projection(torch.randn(2, 3), p), spec.zero_state(2), p,
        ...                  side={"dt": torch.tensor([0.0, 5.0])})
        >>> h.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, short_term: str = "tanh",
                 reverse: bool = False, paired: bool = False) -> None:
        super().__init__(input_size, hidden_size, bias)
        if short_term not in SHORT_TERM:
            raise ValueError(f"short_term must be one of {SHORT_TERM}, got {short_term!r}")
        for name, v in (("reverse", reverse), ("paired", paired)):
            if not isinstance(v, bool):
                raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
        self.short_term = short_term
        self.reverse = reverse
        # both directions of a layer receive the same side dict, so both declare both names
        self.side_inputs = ("dt", "dt_next") if (reverse or paired) else ("dt",)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        H, I = self.hidden_size, self.input_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H)}
        if self.bias:
            shapes["bias_ih"] = (4 * H,)
            shapes["bias_hh"] = (4 * H,)
        shapes["weight_decomp"] = (H, H)
        if self.bias:
            shapes["bias_decomp"] = (H,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """W x_t + b for every step at once: (..., I) -> (..., 4H)."""
        xp = F.linear(x, p["weight_ih"])
        if self.bias:
            xp = xp + (p["bias_ih"] + p["bias_hh"])
        return xp

    def adjusted_memory(self, c: Tensor, dt: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """C*_{t-1} = C_{t-1} - C^S + C^S g(Δt), with C^S = act(W_d C_{t-1} + b_d); dt (B,)."""
        return self._memory_split(c, dt, p)[2]

    def _memory_split(self, c: Tensor, dt: Tensor, p: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(C^S_{t-1}, g(Δt) (B, 1), C*_{t-1})."""
        pre = F.linear(c, p["weight_decomp"], p.get("bias_decomp"))
        short = torch.tanh(pre) if self.short_term == "tanh" else torch.sigmoid(pre)
        g = elapsed_time_decay(dt).unsqueeze(-1)  # (B, 1)
        return short, g, c - short + short * g

    def step(self, xp: Tensor, state: tuple[Tensor, ...], p: Mapping[str, Tensor],
             recurrent_mask: Tensor | None = None, side: Mapping[str, Tensor] | None = None) -> tuple[Tensor, ...]:
        return self._step(xp, state, p, recurrent_mask, side)[0]

    def gates(self, xp: Tensor, state: tuple[Tensor, ...], p: Mapping[str, Tensor],
              recurrent_mask: Tensor | None = None, side: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The activations of one step, by name, for inspection and plots (the same
        computation as :meth:`step`): ``input_gate``, ``forget_gate``, ``block_input``
        (C~_t), ``output_gate``, each (B, H); the time decay of the short-term memory:
        ``short_term_memory`` C^S_{t-1} (B, H), ``time_decay`` g(Δ_t) (B, 1) and
        ``adjusted_memory`` C*_{t-1} = C_{t-1} - C^S_{t-1} + g(Δ_t) C^S_{t-1} (B, H); then
        ``cell_state`` C_t and ``output`` h_t.

        Example:
            >>> import torch
            >>> spec = TLSTMCellSpec(3, 4)
            >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
            >>> g = spec.gates(spec.input_projection(torch.randn(2, 3), p), spec.zero_state(2), p,
            ...                side={"dt": torch.tensor([0.0, 1.0])})
            >>> [round(v, 4) for v in g["time_decay"][:, 0].tolist()]
            [1.0, 0.7615]
        """
        (h, c), acts = self._step(xp, state, p, recurrent_mask, side)
        return {"input_gate": acts["i"], "forget_gate": acts["f"], "block_input": acts["g"],
                "output_gate": acts["o"], "short_term_memory": acts["short"], "time_decay": acts["decay"],
                "adjusted_memory": acts["c_star"], "cell_state": c, "output": h}

    def _step(self, xp, state, p, recurrent_mask, side):
        """The step: ``((h, c), {i, f, g, o, short, decay, c_star})``."""
        if side is None:
            raise ValueError(f"the T-LSTM step needs side={{'dt': (B,) elapsed times}}, got none")
        h_prev, c_prev = state
        dt = side["dt_next"] if self.reverse else side["dt"]
        short, decay, c_star = self._memory_split(c_prev, dt, p)
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        pre = xp + F.linear(h_in, p["weight_hh"])
        i, f, g, o = pre.chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c_star + i * g
        h = o * torch.tanh(c)
        return (h, c), {"i": i, "f": f, "g": g, "o": o, "short": short, "decay": decay, "c_star": c_star}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.short_term != "tanh":
            s += f", short_term={self.short_term!r}"
        if not self.bias:
            s += ", bias=False"
        return s
