"""The depth-gated LSTM's module :class:`DepthGatedLSTM` (Yao et al. 2015) and its
registration.

Why its own family rather than ``lstmkit.LSTM(..., depth_gate=True)``: a depth gate makes
layer L's step read layer L-1's *cell* at the same step, so the layers hand each other
cell states as well as outputs. ``lstmkit.LSTM`` passes outputs only (torch.nn's stacking,
its state_dict layout, torch's own kernel and our fused whole-stack kernels all rely on
that), and its parameters would no longer match torch.nn.LSTM's. Here the generic layer
does everything else (input and state checks, lengths, ``batch_first``, PackedSequence,
directions, streaming through the generic stepper); only the stacking loop differs: each
layer runs over the whole sequence (the house's one loop, returning its cells), and the
layer above reads [h_t^{L-1}; c_t^{L-1}].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..cells.depth_gated import DepthGatedLSTMCellSpec
from ..families import Family, register_family
from ..recurrent import run_recurrence
from .recurrent import Recurrent

__all__ = ["DepthGatedLSTM"]


class DepthGatedLSTM(Recurrent):
    r"""A stacked, optionally bidirectional LSTM with depth gates between the layers' cells
    (Yao et al. 2015): for layer L > 0,
    d_t = σ(W_xd x_t + w_cd ⊙ c_{t-1}^L + w_ld ⊙ c_t^{L-1} + b_d),
    c_t^L = d_t ⊙ c_t^{L-1} + f_t ⊙ c_{t-1}^L + i_t ⊙ g_t (:mod:`lstmkit.cells.depth_gated`).
    Layer 0 is a standard LSTM layer. Each direction's gate reads the same direction's
    lower cell.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as
            torch.nn.LSTM (dropout on the outputs between layers, not on the cells).
        recurrent_dropout, zoneout: as :class:`lstmkit.LSTM`.
        device, dtype: factory arguments.

    Inputs: ``input, hx=None, lengths=None`` as torch.nn.LSTM (hx = (h_0, c_0), each
    (L*D, B, H)). Outputs: ``output`` (T, B, D*H) and ``(h_n, c_n)``.

    Attributes:
        weight_ih_l[k][_reverse], weight_hh_l[k][_reverse], bias_ih/bias_hh_l[k][_reverse]:
            as torch.nn.LSTM (blocks i, f, g, o).
        weight_dx_l[k][_reverse] (H, D*H), weight_dc_l[k][_reverse] (H,),
        weight_dl_l[k][_reverse] (H,), bias_d_l[k][_reverse] (H,): the depth gate of layer k >= 1.

    Runs the reference loop (no fused kernel). With one layer it is torch.nn.LSTM.

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.DepthGatedLSTM(3, 8, num_layers=3, bidirectional=True)
        >>> out, (h, c) = m(torch.randn(10, 2, 3), lengths=torch.tensor([10, 4]))
        >>> out.shape, h.shape
        (torch.Size([10, 2, 16]), torch.Size([6, 2, 8]))
    """

    _hx_form = "(h_0, c_0), each (num_layers*num_directions, B, H)"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 recurrent_dropout: float = 0.0, zoneout: float | tuple[float, float] = 0.0,
                 device=None, dtype=None) -> None:
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
        D = 2 if bidirectional else 1
        built = [0]

        def make_spec(n_in: int) -> DepthGatedLSTMCellSpec:
            layer = built[0] // D  # Recurrent builds the specs in (layer, direction) order
            built[0] += 1
            return DepthGatedLSTMCellSpec(n_in, hidden_size, bias, depth_gate=layer > 0)

        super().__init__(make_spec, input_size, hidden_size, num_layers=num_layers, bias=bias,
                         batch_first=batch_first, dropout=dropout, bidirectional=bidirectional,
                         recurrent_dropout=recurrent_dropout, zoneout=zoneout, device=device, dtype=dtype)
        self.reset_parameters()

    def _run_layers(self, x, state, lengths, num_layers, side=None):
        """Layer after layer, each over the whole sequence; layer L reads [h^{L-1}; c^{L-1}]."""
        finals = []
        layer_input, cells_below = x, None
        for layer in range(num_layers):
            outs, cells = [], []
            for d in range(self.num_directions):
                idx = layer * self.num_directions + d
                s0 = tuple(s[idx] for s in state)
                inp = layer_input if cells_below is None else torch.cat([layer_input, cells_below[d]], dim=-1)
                mask = None
                if self.training and self.recurrent_dropout > 0:
                    keep = 1.0 - self.recurrent_dropout
                    mask = s0[0].new_empty(s0[0].shape).bernoulli_(keep) / keep
                out, final, states = run_recurrence(
                    self.specs[idx], self.cell_params(layer, d), inp, s0, lengths=lengths, reverse=d == 1,
                    recurrent_mask=mask, zoneout=self.zoneout, training=self.training, return_states=True)
                outs.append(out)
                cells.append(states[1])
                finals.append(final)
            layer_input = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
            if self.dropout > 0 and self.training and layer < num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
            cells_below = cells
        if len(finals) == 1:
            return layer_input, tuple(f.unsqueeze(0) for f in finals[0])
        return layer_input, tuple(torch.stack([f[k] for f in finals]) for k in range(2))


register_family(
    Family(
        name="depth_gated_lstm",
        spec=DepthGatedLSTMCellSpec,
        module=DepthGatedLSTM,
        title="Depth-gated LSTM",
        aliases=("dglstm",),
        paper="Yao, Cohn, Vylomova, Duh & Dyer 2015, Depth-Gated LSTM (arXiv:1508.03790)",
    )
)
