"""The GRU family's modules: :class:`GRU` and :class:`GRUCell`, drop-in replacements for
``torch.nn.GRU`` / ``torch.nn.GRUCell``, and their registration."""

from __future__ import annotations

import torch
from torch import nn

from ..cells import GRUCellSpec
from ..families import Family, register_family
from ..kernels import plan_fused
from ._keras import build_keras_stack, read_keras_stack
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

    # ---- Keras 3 --------------------------------------------------------------------
    @classmethod
    def from_keras(cls, layer, *, batch_first: bool = False, device=None, dtype=None) -> "GRU":
        """A GRU computing what built Keras 3 ``GRU`` layer(s) with ``reset_after=True``
        (torch's form: the reset gate multiplies ``W_hn h + b_hn``) compute.

        Keras' blocks (z, r, h) are reordered to torch's (r, z, n); its bias (2, 3H) holds
        the input bias (row 0, ``bias_ih``) and the recurrent bias (row 1, ``bias_hh``), so
        the conversion is exact both ways. A ``Bidirectional`` (merge mode "concat") becomes
        ``bidirectional=True``, a list of layers a stack. Dropouts are not carried over.

        Args:
            layer: a built ``keras.layers.GRU`` (``reset_after=True``, tanh and sigmoid,
                ``go_backwards=False``), a ``Bidirectional`` of one, or a list of them.
            batch_first: the new module's layout (Keras itself is batch-first).
            device, dtype: of the new module's parameters (default: the weights' dtype).

        Raises:
            TypeError: not a Keras GRU (or Bidirectional of one).
            ValueError: ``reset_after=False`` (the original Cho et al. form: the reset gate
                multiplies h before the recurrent product, which no torch-style GRU
                computes), unbuilt, other activations, a lone ``go_backwards=True`` layer.

        Example:
            >>> import torch, lstmkit
            >>> m = lstmkit.GRU(3, 4, num_layers=2)
            >>> try:
            ...     import keras
            ... except ImportError:
            ...     keras = None
            >>> if keras is not None:
            ...     back = lstmkit.GRU.from_keras(m.to_keras())
            ...     assert torch.equal(back.bias_hh_l1, m.bias_hh_l1)
        """

        def check(cfg):
            if not cfg.get("reset_after", False):
                raise ValueError(
                    "layer reset_after=False (the reset gate applied to h before the recurrent product, Cho et al. "
                    "2014) has no lstmkit/torch GRU equivalent: build the Keras GRU with reset_after=True")

        r = read_keras_stack(layer, "GRU", check)
        H = r["hidden_size"]
        m = cls(r["input_size"], H, num_layers=len(r["weights"]), bias=r["bias"], batch_first=batch_first,
                bidirectional=r["bidirectional"], device=device, dtype=dtype or r["dtype"])
        state = {}
        for k, dirs in enumerate(r["weights"]):
            for d, w in enumerate(dirs):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                state[f"weight_ih{sfx}"] = _swap_rz(w[0], H).T
                state[f"weight_hh{sfx}"] = _swap_rz(w[1], H).T
                if r["bias"]:
                    b = w[2].reshape(2, 3 * H)
                    state[f"bias_ih{sfx}"], state[f"bias_hh{sfx}"] = _swap_rz(b[0], H), _swap_rz(b[1], H)
        m.load_state_dict(state)
        return m

    def to_keras(self, *, return_sequences: bool = True, return_state: bool = False):
        """Built Keras 3 ``GRU`` layer(s) (``reset_after=True``) with these weights: one
        layer, wrapped in ``Bidirectional`` when this module is, or a list for
        ``num_layers > 1`` (each but the last returns sequences). Exact: Keras keeps both
        biases.

        Args:
            return_sequences, return_state: passed to the (last) Keras layer.

        Example:
            >>> import lstmkit
            >>> try:
            ...     import keras
            ... except ImportError:
            ...     keras = None
            >>> if keras is not None:
            ...     assert [w.shape for w in lstmkit.GRU(2, 4).to_keras().get_weights()] == [(2, 12), (4, 12), (2, 12)]
        """
        H = self.hidden_size

        def weights_of(k: int, d: int) -> list:
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w = [_swap_rz(getattr(self, f"weight_ih{sfx}").detach().T, H),
                 _swap_rz(getattr(self, f"weight_hh{sfx}").detach().T, H)]
            if self.bias:
                w.append(torch.stack([_swap_rz(getattr(self, f"bias_ih{sfx}").detach(), H),
                                      _swap_rz(getattr(self, f"bias_hh{sfx}").detach(), H)]))
            return [a.cpu().numpy().copy() for a in w]

        return build_keras_stack(self, "GRU", {"reset_after": True}, weights_of, return_sequences, return_state)


def _swap_rz(a, H: int):
    """Swap the first two H-blocks of the last axis: Keras' (z, r, h) <-> torch's (r, z, n)."""
    return torch.cat([a[..., H:2 * H], a[..., :H], a[..., 2 * H:]], -1)


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
