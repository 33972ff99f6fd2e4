r"""One time step of a small gated cell graph: the search space of Jozefowicz, Zaremba &
Sutskever 2015 ("An empirical exploration of recurrent network architectures", ICML),
whose best three cells MUT1, MUT2 and MUT3 are presets here.

Every cell of the space has one state vector h, an update gate z, a reset gate r and a
candidate c, and mixes them as :math:`h_t = z \odot c + (1 - z) \odot h_{t-1}`:

.. math::
    z &= \sigma(W_{xz} x_t + [\,W_{hz} h_{t-1} \;|\; W_{hz} \tanh(h_{t-1}) \;|\; 0\,] + b_z) \\
    r &= \sigma([\,W_{xr} x_t \;|\; x_t\,] + [\,W_{hr} h_{t-1} \;|\; 0\,] + b_r) \\
    c &= \tanh(W_{hh} (r \odot h_{t-1}) + [\,W_{xh} x_t \;|\; \tanh(x_t)\,] + b_h)

The bracketed choices are the switches of :class:`CellGraph` (``update_recurrence``,
``reset_input``, ``reset_recurrence``, ``candidate_input``). The paper's cells:

==========  ====================================================================
``mut1``    z = σ(W_xz x + b_z); r = σ(W_xr x + W_hr h + b_r);
            c = tanh(W_hh (r ⊙ h) + tanh(x) + b_h)
``mut2``    z = σ(W_xz x + W_hz h + b_z); r = σ(x + W_hr h + b_r);
            c = tanh(W_hh (r ⊙ h) + W_xh x + b_h)
``mut3``    z = σ(W_xz x + W_hz tanh(h) + b_z); r = σ(W_xr x + W_hr h + b_r);
            c = tanh(W_hh (r ⊙ h) + W_xh x + b_h)
``jgru``    the GRU in the paper's form (r before W_hh): z = σ(W_xz x + W_hz h + b_z),
            r = σ(W_xr x + W_hr h + b_r), c = tanh(W_hh (r ⊙ h) + W_xh x + b_h)
==========  ====================================================================

Where the paper adds the input itself (``x`` in MUT2's r, ``tanh(x)`` in MUT1's c), its x
was an embedding as wide as h; here x enters the first min(I, H) units (zero padding when
I < H, the first H entries when I > H).

Parameters: ``weight_ih`` (G_x H, I): the blocks of z, r, c that read W x, in that order;
``weight_hh`` (G_h H, H): the blocks of z, r that read h (or tanh h), then c's W_hh;
``bias`` (3H,): b_z, b_r, b_h.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["CellGraph", "CellGraphSpec", "CELL_GRAPH_PRESETS"]

_UPDATE = ("none", "h", "tanh_h")
_RESET_IN = ("linear", "identity")
_CAND_IN = ("linear", "tanh_identity")


@dataclass(frozen=True)
class CellGraph:
    """The switches of a cell of the Jozefowicz 2015 space (a frozen, hashable value).

    Attributes:
        update_recurrence: what z reads of the state: ``"none"``, ``"h"`` or ``"tanh_h"``.
        reset_input: what r reads of the input: ``"linear"`` (W_xr x) or ``"identity"`` (x).
        reset_recurrence: r reads W_hr h.
        candidate_input: ``"linear"`` (W_xh x) or ``"tanh_identity"`` (tanh x).

    Example:
        >>> CellGraph.preset("mut2").reset_input
        'identity'
        >>> CellGraph.preset("mut1").name
        'mut1'
        >>> CellGraph(update_recurrence="x")
        Traceback (most recent call last):
        ...
        ValueError: update_recurrence must be one of ('none', 'h', 'tanh_h'), got 'x'
    """

    update_recurrence: str = "h"
    reset_input: str = "linear"
    reset_recurrence: bool = True
    candidate_input: str = "linear"

    def __post_init__(self) -> None:
        for name, allowed in (("update_recurrence", _UPDATE), ("reset_input", _RESET_IN),
                              ("candidate_input", _CAND_IN)):
            v = getattr(self, name)
            if v not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {v!r}")
        if not isinstance(self.reset_recurrence, bool):
            raise TypeError(f"reset_recurrence must be a bool, got {type(self.reset_recurrence).__name__}")

    @classmethod
    def preset(cls, name: str) -> "CellGraph":
        """The cell called ``name`` (``mut1``, ``mut2``, ``mut3``, ``jgru``)."""
        if name not in CELL_GRAPH_PRESETS:
            raise ValueError(f"unknown cell graph {name!r}; expected one of {sorted(CELL_GRAPH_PRESETS)}")
        return CELL_GRAPH_PRESETS[name]

    @classmethod
    def coerce(cls, v) -> "CellGraph":
        if isinstance(v, CellGraph):
            return v
        if isinstance(v, str):
            return cls.preset(v)
        raise TypeError(f"variant must be a cell-graph preset name or a CellGraph, got {type(v).__name__}")

    @property
    def name(self) -> str | None:
        for k, v in CELL_GRAPH_PRESETS.items():
            if v == self:
                return k
        return None

    def replace(self, **changes) -> "CellGraph":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CellGraph":
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise ValueError(f"unknown CellGraph switches {sorted(set(d) - known)}; expected {sorted(known)}")
        return cls(**d)

    @property
    def input_blocks(self) -> tuple[str, ...]:
        """Blocks of ``weight_ih``: z always, r and c when they read W x."""
        return ("z",) + (("r",) if self.reset_input == "linear" else ()) + \
            (("c",) if self.candidate_input == "linear" else ())

    @property
    def recurrent_blocks(self) -> tuple[str, ...]:
        """Blocks of ``weight_hh``: z and r when they read the state, then c (W_hh)."""
        return (("z",) if self.update_recurrence != "none" else ()) + (("r",) if self.reset_recurrence else ()) + ("c",)


CELL_GRAPH_PRESETS: dict[str, CellGraph] = {
    "jgru": CellGraph(),
    "mut1": CellGraph(update_recurrence="none", candidate_input="tanh_identity"),
    "mut2": CellGraph(reset_input="identity"),
    "mut3": CellGraph(update_recurrence="tanh_h"),
}
"""The paper's three best cells and its GRU (see the module docstring)."""


class CellGraphSpec(CellSpec):
    """The one-step math of a :class:`CellGraph` cell.

    Args:
        input_size: I. hidden_size: H. variant: a :class:`CellGraph` or a preset name.
        bias: whether ``bias`` exists.

    Example:
        >>> import torch
        >>> spec = CellGraphSpec(3, 4, "mut1")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> (h,) = spec.step(spec.input_projection(torch.randn(2, 3), p), spec.zero_state(2), p)
        >>> h.shape
        torch.Size([2, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, variant="jgru", bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.variant = CellGraph.coerce(variant)
        self._raw = self.variant.reset_input == "identity" or self.variant.candidate_input == "tanh_identity"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        v, H, I = self.variant, self.hidden_size, self.input_size
        shapes = {"weight_ih": (len(v.input_blocks) * H, I), "weight_hh": (len(v.recurrent_blocks) * H, H)}
        if self.bias:
            shapes["bias"] = (3 * H,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def reset_parameters(self, p: Mapping[str, Tensor], forget_bias: float | None = None) -> None:
        """torch's U(-1/sqrt(H), 1/sqrt(H)); with ``forget_bias`` b the update gate's bias is
        -b (a small z keeps the state: the analogue of an LSTM's forget-gate bias)."""
        super().reset_parameters(p)
        if forget_bias is not None and self.bias:
            with torch.no_grad():
                p["bias"][: self.hidden_size] = -float(forget_bias)

    def _pad(self, x: Tensor) -> Tensor:
        I, H = self.input_size, self.hidden_size
        if I >= H:
            return x[..., :H]
        return F.pad(x, (0, H - I))

    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """(..., I) -> (..., G_x H [+ H]): W x for the blocks that read it, then x itself
        (padded or cut to H) when a block reads the raw input."""
        xp = F.linear(x, p["weight_ih"])
        return torch.cat([xp, self._pad(x)], dim=-1) if self._raw else xp

    def step(self, xp: Tensor, state, p: Mapping[str, Tensor], recurrent_mask: Tensor | None = None):
        v, H = self.variant, self.hidden_size
        (h,) = state
        hm = h if recurrent_mask is None else h * recurrent_mask
        blocks_x = {b: xp[:, k * H:(k + 1) * H] for k, b in enumerate(v.input_blocks)}
        raw = xp[:, len(v.input_blocks) * H:] if self._raw else None
        W = p["weight_hh"]
        wh = {b: W[k * H:(k + 1) * H] for k, b in enumerate(v.recurrent_blocks)}
        b = p.get("bias")
        bz, br, bh = (b[:H], b[H:2 * H], b[2 * H:]) if b is not None else (0.0, 0.0, 0.0)
        z_pre = blocks_x["z"] + bz
        if v.update_recurrence == "h":
            z_pre = z_pre + hm @ wh["z"].t()
        elif v.update_recurrence == "tanh_h":
            z_pre = z_pre + torch.tanh(hm) @ wh["z"].t()
        r_pre = (blocks_x["r"] if v.reset_input == "linear" else raw) + br
        if v.reset_recurrence:
            r_pre = r_pre + hm @ wh["r"].t()
        r = torch.sigmoid(r_pre)
        c_in = blocks_x["c"] if v.candidate_input == "linear" else torch.tanh(raw)
        c = torch.tanh((r * hm) @ wh["c"].t() + c_in + bh)
        z = torch.sigmoid(z_pre)
        return (h + z * (c - h),)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, variant={self.variant.name or self.variant}"
