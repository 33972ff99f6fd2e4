"""The cell-graph family's module (:class:`CellGraphRNN`) and its registration: the
gated cells of Jozefowicz et al. 2015's search space, MUT1-MUT3 as presets."""

from __future__ import annotations

import math
import numbers

from ..cells.cell_graph import CELL_GRAPH_PRESETS, CellGraph, CellGraphSpec
from ..families import Family, register_family
from .recurrent import Recurrent

__all__ = ["CellGraphRNN"]


class CellGraphRNN(Recurrent):
    r"""A multi-layer recurrent network of :class:`~lstmkit.cells.cell_graph.CellGraph`
    cells: :math:`h_t = z \odot c + (1 - z) \odot h_{t-1}` with the update gate z, reset
    gate r and candidate c wired as the variant says (:mod:`lstmkit.cells.cell_graph`).

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as
            torch.nn.GRU.
        variant: ``"mut1"``, ``"mut2"``, ``"mut3"``, ``"jgru"`` or a :class:`CellGraph`.
        forget_bias: initial update-gate bias -b (None: torch's initialisation); a
            negative z bias keeps the state, like an LSTM's positive forget-gate bias.
        recurrent_dropout, zoneout: as :class:`lstmkit.GRU`.

    Inputs: ``input, hx=None, lengths=None``; outputs ``(output (T, B, D*H), h_n)`` as
    torch.nn.GRU. Runs the reference loop (no fused kernel).

    Example:
        >>> import torch
        >>> from lstmkit.layers.cell_graph import CellGraphRNN
        >>> out, h = CellGraphRNN(3, 8, variant="mut3")(torch.randn(6, 2, 3), lengths=torch.tensor([6, 2]))
        >>> out.shape, h.shape
        (torch.Size([6, 2, 8]), torch.Size([1, 2, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 variant="jgru", forget_bias: float | None = None, recurrent_dropout: float = 0.0,
                 zoneout: float = 0.0, device=None, dtype=None) -> None:
        self.variant = CellGraph.coerce(variant)
        if forget_bias is not None and (isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real)
                                        or not math.isfinite(forget_bias)):
            raise ValueError(f"forget_bias must be a finite number or None, got {forget_bias!r}")
        self.forget_bias = forget_bias
        super().__init__(lambda n_in: CellGraphSpec(n_in, hidden_size, self.variant, bias), input_size,
                         hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
                         bidirectional=bidirectional, recurrent_dropout=recurrent_dropout, zoneout=zoneout,
                         device=device, dtype=dtype)
        self.reset_parameters()

    def _reset_spec_parameters(self, spec, params) -> None:
        spec.reset_parameters(params, forget_bias=self.forget_bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", variant={self.variant.name or self.variant}"


register_family(
    Family(
        name="cell_graph",
        spec=CellGraphSpec,
        module=CellGraphRNN,
        title="Cell graph",
        aliases=("mut",),
        variants=tuple(CELL_GRAPH_PRESETS),
        default_variant="jgru",
        paper="Jozefowicz, Zaremba & Sutskever 2015, An empirical exploration of recurrent network architectures",
    )
)
