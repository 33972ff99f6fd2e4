"""The mLSTM family's modules (xLSTM's matrix-memory cell, Beck et al. 2024, Sec. 2.3):
:class:`mLSTM` and :class:`mLSTMCell`, and the family's registration."""

from __future__ import annotations

from ..cells.mlstm import mLSTMCellSpec
from ..families import Family, register_family
from ..kernels.mlstm import plan_mlstm
from .cell import CellModule
from .recurrent import Recurrent

__all__ = ["mLSTM", "mLSTMCell"]


class mLSTM(Recurrent):
    r"""A multi-layer, optionally bidirectional mLSTM (xLSTM's matrix memory, Beck et al.
    2024, Sec. 2.3, eqs. 19-27; see :mod:`lstmkit.cells.mlstm`).

    Per head (d = hidden_size / num_heads): C_t = f_t C_{t-1} + i_t v_t k_t^T,
    n_t = f_t n_{t-1} + i_t k_t, h_t = o_t ⊙ C_t q_t / max{|n_t^T q_t|, 1}, with q, k, v
    linear in x_t (k scaled by 1/√d), i_t = exp(ĩ_t), f_t = σ(f̃_t) (or exp), o_t = σ(õ_t),
    all gates from x_t alone; computed in the stabilised form (state m). Sequences of
    more than one step run on the parallel form (at most ``chunk_size`` steps) or the
    chunkwise form (memory linear in T, :mod:`lstmkit.kernels.mlstm`); single steps and
    streaming on the recurrent form. All three give the same numbers.

    Args:
        input_size: I, features of x_t.
        hidden_size: H, units of h per direction (a multiple of ``num_heads``).
        num_layers: stacked layers; layer k > 0 reads D*H features.
        bias: whether ``bias_ih`` exists.
        batch_first: input and output (B, T, F) instead of (T, B, F).
        dropout: dropout on the outputs of each layer but the last, as torch.nn.LSTM.
        bidirectional: a second, reverse direction per layer (outputs concatenated).
        num_heads: NH, heads (each a d x d memory).
        forget_gate: ``"sigmoid"`` (default, as ``xlstm``) or ``"exp"`` (eq. 26).
        chunk_size: chunk length of the chunkwise form (speed and memory only).
        device, dtype: factory arguments.

    The positional arguments are torch.nn.LSTM's (``input_size, hidden_size, num_layers,
    bias, batch_first, dropout, bidirectional``, as every lstmkit family: models build a
    family as ``module(I, H, num_layers)``); the mLSTM's own are keyword-only.

    Inputs: ``input, hx=None, lengths=None``: input (T, B, I) (or (T, I) unbatched);
    hx = (h_0, C_0, n_0, m_0) with shapes (L*D, B, H), (L*D, B, NH, d, d),
    (L*D, B, NH, d), (L*D, B, NH), zeros if None; lengths (B,) ints. Outputs:
    ``output`` (T, B, D*H) and ``(h_n, C_n, n_n, m_n)`` shaped as hx.

    Attributes:
        weight_ih_l[k][_reverse]: (4H + 2NH, I or D*H), rows W_q, W_k, W_v (H each),
            w_i, w_f (NH each), W_o (H).
        bias_ih_l[k][_reverse]: (4H + 2NH,), the same blocks.

    Initialisation (``xlstm``'s): q, k, v, o weights N(0, 2/(5 I)), gate weights zero,
    b_i ~ N(0, 0.1²), b_f from 3 to 6 across the heads, other biases zero.

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.mLSTM(6, 16, num_heads=4, num_layers=2)
        >>> out, (h, C, n, mx) = m(torch.randn(20, 3, 6), lengths=torch.tensor([20, 11, 4]))
        >>> out.shape, C.shape
        (torch.Size([20, 3, 16]), torch.Size([2, 3, 4, 4, 4]))
    """

    _hx_form = "(h_0, C_0, n_0, m_0) (an mLSTM's state)"

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
        chunk_size: int = 64,
        device=None,
        dtype=None,
    ) -> None:
        # built once here so that a bad num_heads / forget_gate / chunk_size fails first
        mLSTMCellSpec(input_size, hidden_size, num_heads, bias, forget_gate, chunk_size=chunk_size)
        self.num_heads = num_heads
        self.forget_gate = forget_gate
        self.chunk_size = chunk_size
        super().__init__(
            lambda n_in: mLSTMCellSpec(n_in, hidden_size, num_heads, bias, forget_gate, chunk_size=chunk_size),
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            device=device,
            dtype=dtype,
        )
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}"
        if self.forget_gate != "sigmoid":
            s += f", forget_gate={self.forget_gate!r}"
        if self.chunk_size != 64:
            s += f", chunk_size={self.chunk_size}"
        rest = super().extra_repr().split(", ", 2)
        return s + (", " + rest[2] if len(rest) > 2 else "")


class mLSTMCell(CellModule):
    """One mLSTM step (Beck et al. 2024, eqs. 19-27, stabilised) at a time, parameters
    under the cell names (``weight_ih``, ``bias_ih``).

    Args: ``input_size, hidden_size, num_heads=4, bias=True, forget_gate="sigmoid"``,
    device, dtype. Inputs: ``input`` (B, I) or (I,), ``hx = (h, C, n, m)`` (zeros where
    omitted). Output: ``(h', C', n', m')``. The same step as every step of :class:`mLSTM`.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.mLSTMCell(3, 8, num_heads=2)
        >>> state = cell(torch.randn(5, 3))
        >>> h, C, n, m = cell(torch.randn(5, 3), state)
        >>> h.shape, C.shape
        (torch.Size([5, 8]), torch.Size([5, 2, 4, 4]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 4, bias: bool = True,
                 forget_gate: str = "sigmoid", device=None, dtype=None) -> None:
        spec = mLSTMCellSpec(input_size, hidden_size, num_heads, bias, forget_gate)
        super().__init__(spec, device, dtype)
        self.num_heads, self.forget_gate = num_heads, forget_gate
        self.reset_parameters()


register_family(
    Family(
        name="mlstm",
        spec=mLSTMCellSpec,
        module=mLSTM,
        cell_module=mLSTMCell,
        title="mLSTM",
        paper="Beck et al. 2024, xLSTM (Sec. 2.3, eqs. 19-27)",
        runner=plan_mlstm,
    )
)
