"""The Elman family's modules: :class:`RNN` and :class:`RNNCell`, drop-in replacements for
``torch.nn.RNN`` / ``torch.nn.RNNCell``, and their registration."""

from __future__ import annotations

from torch import nn

from ..cells import ElmanCellSpec
from ..families import Family, register_family
from ..kernels import plan_fused
from .cell import CellModule
from .recurrent import Recurrent

__all__ = ["RNN", "RNNCell"]


class RNN(Recurrent):
    r"""A multi-layer Elman RNN; a drop-in replacement for ``torch.nn.RNN``.

    .. math:: h_t = \phi(W x_t + b_{ih} + R h_{t-1} + b_{hh})

    Args:
        nonlinearity: ``"tanh"`` (default) or ``"relu"``; the rest as :class:`GRU`.

    Example:
        >>> import torch, lstmkit
        >>> out, h = lstmkit.RNN(4, 6, nonlinearity="relu")(torch.randn(9, 2, 4))
        >>> out.shape, bool((out >= 0).all())
        (torch.Size([9, 2, 6]), True)
    """

    _torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        self.nonlinearity = nonlinearity
        super().__init__(
            lambda n_in: ElmanCellSpec(n_in, hidden_size, bias, nonlinearity),
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

    def _torch_kwargs(self):
        return {**super()._torch_kwargs(), "nonlinearity": self.nonlinearity}

    @classmethod
    def _from_torch_kwargs(cls, m):
        return {**super()._from_torch_kwargs(m), "nonlinearity": m.nonlinearity}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class RNNCell(CellModule):
    """One Elman step; a drop-in replacement for ``torch.nn.RNNCell``.

    Example:
        >>> import torch, lstmkit
        >>> lstmkit.RNNCell(3, 5, nonlinearity="relu")(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ) -> None:
        super().__init__(ElmanCellSpec(input_size, hidden_size, bias, nonlinearity), device, dtype)
        self.reset_parameters()

register_family(
    Family(
        name="rnn",
        spec=ElmanCellSpec,
        module=RNN,
        cell_module=RNNCell,
        torch_twin=nn.RNN,
        title="Elman RNN",
        aliases=("elman",),
        runner=plan_fused,
        paper="Elman 1990",
    )
)
