"""The sLSTM family's module: :class:`sLSTM` (Beck et al. 2024, "xLSTM", Sec. 2.2), its
converters from and to the xlstm reference package, and its registration."""

from __future__ import annotations

import torch
from torch import Tensor

from ..cells.slstm import sLSTMCellSpec, params_from_xlstm, params_to_xlstm
from ..families import Family, register_family
from ..kernels.slstm import plan_slstm
from .recurrent import Recurrent

__all__ = ["sLSTM"]

_XLSTM_HINT = "the xlstm package is needed: pip install --no-deps xlstm (its CPU path needs only torch and packaging)"


def _import_xlstm_cell():
    try:
        from xlstm.blocks.slstm.cell import sLSTMCell, sLSTMCellBase, sLSTMCellConfig
    except ImportError as e:
        raise ImportError(_XLSTM_HINT) from e
    return sLSTMCell, sLSTMCellBase, sLSTMCellConfig


class sLSTM(Recurrent):
    r"""A multi-layer, optionally bidirectional sLSTM with heads (Beck et al. 2024, eqs. 8-17).

    Exponential input gate, sigmoid or exponential forget gate, a normaliser n and a
    log-space stabiliser m; the recurrent matrices are block-diagonal over ``num_heads``
    heads (see :mod:`lstmkit.cells.slstm` for the equations and the layout):
    m_t = max(log f_t + m_{t-1}, i~_t), i'_t = exp(i~_t - m_t), f'_t = exp(log f_t + m_{t-1} - m_t),
    c_t = f'_t c_{t-1} + i'_t tanh(z~_t), n_t = f'_t n_{t-1} + i'_t, h_t = sigma(o~_t) c_t / n_t.

    The positional arguments are torch.nn.LSTM's (and every lstmkit family's), so that
    ``sLSTM(I, H, 2)`` is two layers wherever a family is built by name; the sLSTM's own
    arguments are keywords.

    Args:
        input_size: I, features of x_t.
        hidden_size: H, units per direction; a multiple of ``num_heads``.
        num_layers: stacked layers; layer k > 0 reads D*H features.
        bias: whether ``bias`` exists.
        batch_first: input and output (B, T, I) instead of (T, B, I).
        dropout: dropout on the outputs of each layer but the last, as torch.nn.LSTM.
        bidirectional: a second, reverse direction per layer (outputs concatenate).
        num_heads: N, heads of the block-diagonal recurrent matrices (d = H / N units each).
        forget_gate: ``"sigmoid"`` or ``"exp"`` (eq. 13).
        recurrent_dropout: variational dropout on h_{t-1} before the recurrent weights,
            one (B, H) mask per sequence and layer, training only.
        device, dtype: factory arguments.

    Inputs: ``input, hx=None, lengths=None``: input (T, B, I) (or (T, I) unbatched, or a
    PackedSequence); hx = (h_0, c_0, n_0, m_0), each (L*D, B, H), zeros if None (a None
    entry is zeros too); lengths (B,) ints (outputs past a sequence's end are zero, its
    state is the one after its own last step). Outputs: ``output`` (T, B, D*H) and
    ``(h_n, c_n, n_n, m_n)``, each (L*D, B, H) (c and n divided by exp(m), as the cell
    keeps them).

    Attributes:
        weight_ih_l[k][_reverse]: (4H, I or D*H), blocks (i, f, z, o).
        weight_hh_l[k][_reverse]: (N, 4, d, d): ``[h, g]`` is head h's block of R_g.
        bias_l[k][_reverse]: (4H,), blocks (i, f, z, o).

    Initialisation (the xlstm reference's): ``weight_ih`` N(0, 2 / (5 * fan_in)),
    ``weight_hh`` zero, ``bias`` zero but the forget gate's, which spreads each head's
    units from +5 to -7 by a power law (:func:`lstmkit.cells.slstm.forget_bias_init`;
    log sigma of those values for ``forget_gate="exp"``). The input gate's bias is 0.

    On CPU tensors (float32, float64) every (layer, direction) runs the fused kernel
    (:mod:`lstmkit.kernels.slstm`: the time loop and a hand-written backward in C++), which
    computes what the reference loop (:mod:`lstmkit.recurrent`) computes, ``lengths``,
    reverse and the initial state included; ``recurrent_dropout`` in training, CUDA and
    torch.compile / torch.func transforms run the reference loop. Streaming
    (:meth:`stepper`) and everything else the generic layer does come with it.

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.sLSTM(3, 8, num_heads=2, num_layers=2, batch_first=True)
        >>> out, (h, c, n, mm) = m(torch.randn(4, 10, 3), lengths=torch.tensor([10, 7, 3, 1]))
        >>> out.shape, h.shape
        (torch.Size([4, 10, 8]), torch.Size([2, 4, 8]))
    """

    _hx_form = "(h_0, c_0, n_0, m_0), each (num_layers*num_directions, B, H)"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        num_heads: int = 4,
        forget_gate: str = "sigmoid",
        recurrent_dropout: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        # Built once here so that bad heads / forget_gate fail before anything else.
        first = sLSTMCellSpec(input_size, hidden_size, num_heads, bias, forget_gate)
        self.num_heads = first.num_heads
        self.head_size = first.head_size
        self.forget_gate = forget_gate
        super().__init__(
            lambda n_in: sLSTMCellSpec(n_in, hidden_size, num_heads, bias, forget_gate),
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            recurrent_dropout=recurrent_dropout,
            device=device,
            dtype=dtype,
        )
        self.reset_parameters()

    # ---- the xlstm package ------------------------------------------------------------
    @classmethod
    def from_xlstm(cls, cell, weight_ih=None, *, batch_first: bool = False, device=None, dtype=None) -> "sLSTM":
        """A one-layer sLSTM computing what an xlstm ``sLSTMCell`` computes.

        xlstm's cell takes the input pre-activations W x_t (its layers compute them with
        their own projections); ours owns W as ``weight_ih``. Given ``weight_ih`` (4H, I),
        ``sLSTM(x)`` equals ``cell(F.linear(x, weight_ih))``; without it ``weight_ih`` is
        the identity and the module takes the cell's own (…, 4H) inputs.

        Args:
            cell: an ``xlstm.blocks.slstm.cell.sLSTMCell`` (any backend) with
                ``function="slstm"``.
            weight_ih: optional (4H, I) input weights, blocks (i, f, z, o) each head-major,
                the layout of the cell's input.
            batch_first: the new module's layout.
            device, dtype: of the new module (default: the cell's).

        Raises:
            TypeError: ``cell`` is not an xlstm sLSTM cell.
            ValueError: its function is not ``"slstm"``, or ``weight_ih`` has the wrong shape.

        Example:
            >>> import lstmkit
            >>> try:
            ...     import xlstm
            ... except ImportError:
            ...     xlstm = None
            >>> if xlstm is not None:
            ...     cell = lstmkit.sLSTM(3, 8, num_heads=2).to_xlstm()
            ...     m = lstmkit.sLSTM.from_xlstm(cell)
            ...     assert m.input_size == 32 and m.num_heads == 2
        """
        _, base, _ = _import_xlstm_cell()
        if not isinstance(cell, base):
            raise TypeError(f"cell must be an xlstm sLSTMCell, got {type(cell).__name__}")
        cfg = cell.config
        if cfg.function != "slstm":
            raise ValueError(f"cell.config.function must be 'slstm' (the sLSTM), got {cfg.function!r}")
        H, N = cfg.hidden_size, cfg.num_heads
        p = params_from_xlstm(cell.recurrent_kernel[:], cell.bias[:])
        ref = p["weight_hh"]
        dtype = dtype or ref.dtype
        device = device or ref.device
        if weight_ih is None:
            w = torch.eye(4 * H, dtype=dtype, device=device)
        else:
            w = torch.as_tensor(weight_ih).detach()
            if w.dim() != 2 or w.shape[0] != 4 * H:
                raise ValueError(f"weight_ih must have shape (4*hidden_size, input_size) = ({4 * H}, I), got {tuple(w.shape)}")
        m = cls(w.shape[1], H, num_heads=N, batch_first=batch_first, device=device, dtype=dtype)
        with torch.no_grad():
            m.weight_ih_l0.copy_(w)
            m.weight_hh_l0.copy_(p["weight_hh"])
            m.bias_l0.copy_(p["bias"])
        return m

    def to_xlstm(self, **config):
        """An xlstm ``sLSTMCell`` (vanilla backend) with this module's recurrent weights and bias.

        The cell's input is the pre-activation ``F.linear(x, self.weight_ih_l0)``,
        batch-first (B, T, 4H) by xlstm's default ``input_shape="BSGNH"``; without a
        ``bias`` the cell's bias is zero.

        Args:
            **config: fields of xlstm's ``sLSTMCellConfig`` to set (e.g.
                ``output_shape="BSH"``); ``hidden_size``, ``num_heads`` and ``function``
                come from this module, ``backend`` defaults to ``"vanilla"``.

        Raises:
            ValueError: more than one layer, bidirectional, or ``forget_gate="exp"``
                (xlstm's sLSTM has a sigmoid forget gate only).

        Example:
            >>> import torch, torch.nn.functional as F, lstmkit
            >>> try:
            ...     import xlstm
            ... except ImportError:
            ...     xlstm = None
            >>> if xlstm is not None:
            ...     m = lstmkit.sLSTM(3, 8, num_heads=2, batch_first=True)
            ...     cell = m.to_xlstm(output_shape="BSH")
            ...     x = torch.randn(2, 5, 3)
            ...     y, _ = cell(F.linear(x, m.weight_ih_l0))
            ...     assert torch.allclose(y, m(x)[0], atol=1e-5)
        """
        if self.num_layers != 1 or self.bidirectional:
            raise ValueError(
                f"to_xlstm converts one layer, one direction (an xlstm sLSTMCell); this module has "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}"
            )
        if self.forget_gate != "sigmoid":
            raise ValueError("to_xlstm needs forget_gate='sigmoid': xlstm's sLSTM cell has no exponential forget gate")
        for k in ("hidden_size", "num_heads", "function"):
            if k in config:
                raise ValueError(f"to_xlstm: {k} comes from this module; do not pass it")
        cell_cls, _, config_cls = _import_xlstm_cell()
        config.setdefault("backend", "vanilla")
        cfg = config_cls(hidden_size=self.hidden_size, num_heads=self.num_heads, function="slstm", **config)
        w: Tensor = self.weight_hh_l0
        cell = cell_cls(cfg).to(device=w.device, dtype=w.dtype)
        r, b = params_to_xlstm(self.cell_params(0))
        cell.recurrent_kernel[:] = r
        cell.bias[:] = b
        return cell

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}"
        if self.forget_gate != "sigmoid":
            s += f", forget_gate={self.forget_gate!r}"
        rest = super().extra_repr().split(", ", 2)
        return s + (", " + rest[2] if len(rest) > 2 else "")


register_family(
    Family(
        name="slstm",
        spec=sLSTMCellSpec,
        module=sLSTM,
        title="sLSTM",
        paper="Beck et al. 2024, xLSTM (Sec. 2.2, eqs. 8-17)",
        runner=plan_slstm,
    )
)
