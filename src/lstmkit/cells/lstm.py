"""One time step of the whole Greff LSTM family, driven by an LSTMVariant.

This is the reference: written to be read next to the equations in
:class:`lstmkit.LSTMVariant`. Every fast path is tested against it.

Parameter layout (short names; the layer modules add ``_l{k}`` and ``_reverse``):

=================  ==============  ====================================================
name               shape           meaning
=================  ==============  ====================================================
``weight_ih``      (G*H, I)        input weights W, blocks in order (i, f, g, o)
``weight_hh``      (G*H, H_out)    recurrent weights R, same blocks
``bias_ih``        (G*H,)          bias (torch keeps two; b = bias_ih + bias_hh)
``bias_hh``        (G*H,)
``weight_ch``      (P*H,)          diagonal peepholes, blocks (i, f, o) present
``weight_gg``      (Q*H, Q*H)      FGR: previous gate activations (i, f, o) -> gates
``weight_ln_ih``   (G*H,)          layer-norm gain of W x
``weight_ln_hh``   (G*H,)          layer-norm gain of R h
``weight_ln_c``    (H,)            layer-norm gain of c_t (output path)
``bias_ln_c``      (H,)            layer-norm bias of c_t
``weight_hr``      (H_out, H)      projection (proj_size > 0), as torch
=================  ==============  ====================================================

A block is absent when the variant lacks its gate: ``nig`` has no i block, ``nfg`` and
``cifg`` no f block, ``nog`` no o block. G counts the (i, f, g, o) blocks present, P and
Q the gates among (i, f, o) with their own parameters.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..variants import LSTMVariant
from .base import CellSpec

__all__ = ["LSTMCellSpec", "LAYER_NORM_EPS"]

LAYER_NORM_EPS = 1e-5


def _activation(name: str, x: Tensor) -> Tensor:
    return torch.tanh(x) if name == "tanh" else x


class LSTMCellSpec(CellSpec):
    """The one-step math of an LSTM cell of any :class:`LSTMVariant`.

    Args:
        input_size: I.
        hidden_size: H, size of the cell state c.
        variant: an :class:`LSTMVariant` or a preset name.
        bias: whether ``bias_ih``/``bias_hh`` (and the layer-norm bias) exist.
        proj_size: if > 0, h = W_hr h' has size proj_size (LSTMP, Sak et al. 2014).

    State: ``(h, c)`` of sizes (H_out, H), plus ``a`` of size Q*H (the previous step's
    gate activations) when the variant has full gate recurrence.

    Example:
        >>> import torch
        >>> from lstmkit.cells.lstm import LSTMCellSpec
        >>> spec = LSTMCellSpec(3, 4, "vanilla")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> sorted(p)
        ['bias_hh', 'bias_ih', 'weight_ch', 'weight_hh', 'weight_ih']
        >>> x = torch.randn(2, 3)
        >>> h, c = spec.step(spec.input_projection(x, p), spec.zero_state(2), p)
        >>> h.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        variant: "str | LSTMVariant" = "standard",
        bias: bool = True,
        proj_size: int = 0,
    ) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.variant = LSTMVariant.coerce(variant)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int):
            raise TypeError(f"proj_size must be an int, got {type(proj_size).__name__}")
        if proj_size < 0:
            raise ValueError(f"proj_size must be >= 0, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size ({hidden_size}), got {proj_size}")
        self.proj_size = proj_size
        v = self.variant
        self.state_names = ("h", "c", "a") if v.full_gate_recurrence else ("h", "c")
        # Column offsets of each block in the (B, G*H) pre-activation.
        self._block = {name: k for k, name in enumerate(v.gate_blocks)}

    # ---- layout ---------------------------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        v, H, I = self.variant, self.hidden_size, self.input_size
        G, H_out = v.num_gate_blocks, self.output_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (G * H, I), "weight_hh": (G * H, H_out)}
        if self.bias:
            shapes["bias_ih"] = (G * H,)
            shapes["bias_hh"] = (G * H,)
        if v.peepholes:
            shapes["weight_ch"] = (len(v.peephole_gates) * H,)
        if v.full_gate_recurrence:
            Q = len(v.recurrent_gates)
            shapes["weight_gg"] = (Q * H, Q * H)
        if v.layer_norm:
            shapes["weight_ln_ih"] = (G * H,)
            shapes["weight_ln_hh"] = (G * H,)
            shapes["weight_ln_c"] = (H,)
            if self.bias:
                shapes["bias_ln_c"] = (H,)
        if self.proj_size > 0:
            shapes["weight_hr"] = (self.proj_size, H)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        H = self.hidden_size
        H_out = self.proj_size if self.proj_size > 0 else H
        if self.variant.full_gate_recurrence:
            return (H_out, H, len(self.variant.recurrent_gates) * H)
        return (H_out, H)

    def gate_slice(self, gate: str) -> slice:
        """Rows of ``weight_ih``/``weight_hh``/biases that belong to ``gate`` (i, f, g, o)."""
        if gate not in self._block:
            raise ValueError(f"variant {self.variant} has no {gate!r} block; it has {self.variant.gate_blocks}")
        k, H = self._block[gate], self.hidden_size
        return slice(k * H, (k + 1) * H)

    def reset_parameters(self, p: Mapping[str, Tensor], forget_bias: float | None = None) -> None:
        """torch's U(-1/sqrt(H), 1/sqrt(H)) for weights and biases; layer-norm gains 1 and
        bias 0; then, if ``forget_bias`` is given and the variant has its own forget gate
        parameters, the forget-gate bias b_f = forget_bias (bias_ih's f block = forget_bias,
        bias_hh's f block = 0)."""
        super().reset_parameters(p)
        with torch.no_grad():
            for name in ("weight_ln_ih", "weight_ln_hh", "weight_ln_c"):
                if name in p:
                    p[name].fill_(1.0)
            if "bias_ln_c" in p:
                p["bias_ln_c"].zero_()
            if forget_bias is not None and self.bias and "f" in self._block:
                s = self.gate_slice("f")
                p["bias_ih"][s] = forget_bias
                p["bias_hh"][s] = 0.0

    # ---- math -----------------------------------------------------------------------
    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """W x_t (+ b) for all steps at once: (..., I) -> (..., G*H).

        With layer norm: LN(W x_t) * gain_ih + b.
        """
        xp = F.linear(x, p["weight_ih"])
        if self.variant.layer_norm:
            # the normalised size from the spec, not the tensor: a tracer records it as a constant
            n = self.variant.num_gate_blocks * self.hidden_size
            xp = F.layer_norm(xp, (n,), p["weight_ln_ih"], None, LAYER_NORM_EPS)
        if self.bias:
            xp = xp + (p["bias_ih"] + p["bias_hh"])
        return xp

    def step(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        return self._step(xp, state, p, recurrent_mask)[0]

    def gates(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The activations of one step, by the papers' names, for inspection and plots.

        Returns a dict with ``input_gate``, ``forget_gate``, ``block_input``,
        ``output_gate`` (each (B, H); a gate the variant lacks is all ones),
        ``cell_state`` c_t and ``output`` h_t.
        """
        (h, c, *_), acts = self._step(xp, state, p, recurrent_mask)
        ones = torch.ones_like(c)
        named = {
            "input_gate": acts["i"],
            "forget_gate": acts["f"],
            "block_input": acts["z"],
            "output_gate": acts["o"],
        }
        named = {k: ones if t is None else t for k, t in named.items()}
        return {**named, "cell_state": c, "output": h}

    def _step(self, xp, state, p, recurrent_mask):
        """The step, returning the new state and the activations {i, f, z, o} (None = 1)."""
        v, H = self.variant, self.hidden_size
        h_prev, c_prev = state[0], state[1]
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        rec = F.linear(h_in, p["weight_hh"])
        if v.layer_norm:
            rec = F.layer_norm(rec, (v.num_gate_blocks * H,), p["weight_ln_hh"], None, LAYER_NORM_EPS)
        pre = xp + rec

        blocks = {name: pre[:, k * H : (k + 1) * H] for name, k in self._block.items()}
        if v.full_gate_recurrence:
            # R_gg [i_{t-1}, f_{t-1}, o_{t-1}] added to the pre-activations of the same gates.
            fgr = F.linear(state[2], p["weight_gg"])
            for k, gate in enumerate(v.recurrent_gates):
                blocks[gate] = blocks[gate] + fgr[:, k * H : (k + 1) * H]
        peep = {}
        if v.peepholes:
            w = p["weight_ch"]
            peep = {gate: w[k * H : (k + 1) * H] for k, gate in enumerate(v.peephole_gates)}

        z = _activation(v.input_activation, blocks["g"])
        i = f = o = None
        if v.input_gate:
            i_pre = blocks["i"] + peep["i"] * c_prev if "i" in peep else blocks["i"]
            i = torch.sigmoid(i_pre)
        if v.coupled_input_forget:
            f = 1.0 - i
        elif v.forget_gate:
            f_pre = blocks["f"] + peep["f"] * c_prev if "f" in peep else blocks["f"]
            f = torch.sigmoid(f_pre)

        # A missing gate is the constant 1: skip the multiplication rather than do it.
        c = z if i is None else z * i
        c = c + (c_prev if f is None else c_prev * f)

        if v.output_gate:
            # The output gate's peephole sees the new cell state c_t.
            o_pre = blocks["o"] + peep["o"] * c if "o" in peep else blocks["o"]
            o = torch.sigmoid(o_pre)
        c_out = c
        if v.layer_norm:
            c_out = F.layer_norm(c, (H,), p["weight_ln_c"], p.get("bias_ln_c"), LAYER_NORM_EPS)
        h = _activation(v.output_activation, c_out)
        if o is not None:
            h = h * o
        if self.proj_size > 0:
            h = F.linear(h, p["weight_hr"])
        acts = {"i": i, "f": f, "z": z, "o": o}
        if v.full_gate_recurrence:
            a = torch.cat([acts[g] for g in v.recurrent_gates], dim=-1)
            return (h, c, a), acts
        return (h, c), acts

    def extra_repr(self) -> str:
        name = self.variant.name
        s = f"{self.input_size}, {self.hidden_size}, variant={name if name else self.variant}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if not self.bias:
            s += ", bias=False"
        return s
