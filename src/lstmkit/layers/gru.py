"""The GRU family's modules: :class:`GRU` and :class:`GRUCell`, drop-in replacements for
``torch.nn.GRU`` / ``torch.nn.GRUCell``, and their registration."""

from __future__ import annotations

from torch import nn

from ..cells import GRUCellSpec
from ..families import Family, register_family
from ..kernels import plan_fused
from .cell import CellModule
from .recurrent import Recurrent

__all__ = ["GRU", "GRUCell"]


class GRU(Recurrent):
    r"""A multi-layer GRU; a drop-in replacement for ``torch.nn.GRU`` (same equations,
    names and shapes; see :mod:`lstmkit.cells.gru`).

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as torch.nn.GRU.
        recurrent_dropout: variational dropout on h_{t-1} in the recurrent weights.
        zoneout: zoneout rate on h.

    Inputs: ``input, hx=None, lengths=None`` with h_0 (L*D, B, H). Outputs:
    ``output`` (T, B, D*H) and ``h_n`` (L*D, B, H).

    Attributes:
        weight_ih_l[k][_reverse]: (3H, I) or (3H, D*H), blocks (r, z, n).
        weight_hh_l[k][_reverse]: (3H, H). bias_ih_l[k], bias_hh_l[k]: (3H,).

    Example:
        >>> import torch, lstmkit
        >>> out, h = lstmkit.GRU(4, 6, batch_first=True)(torch.randn(2, 9, 4))
        >>> out.shape, h.shape
        (torch.Size([2, 9, 6]), torch.Size([1, 2, 6]))
    """

    _torch_class = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            lambda n_in: GRUCellSpec(n_in, hidden_size, bias),
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            device=device,
            dtype=dtype,
        )
        self.reset_parameters()


class GRUCell(CellModule):
    """One GRU step; a drop-in replacement for ``torch.nn.GRUCell``.

    Example:
        >>> import torch, lstmkit
        >>> lstmkit.GRUCell(3, 5)(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(GRUCellSpec(input_size, hidden_size, bias), device, dtype)
        self.reset_parameters()



register_family(
    Family(
        name="gru",
        spec=GRUCellSpec,
        module=GRU,
        cell_module=GRUCell,
        torch_twin=nn.GRU,
        title="GRU",
        runner=plan_fused,
        paper="Cho et al. 2014",
    )
)
