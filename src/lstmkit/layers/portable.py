"""Portable twins: pure-torch, TorchScript-scriptable and traceable copies of a layer stack.

The fused kernels are C++ calls that neither ``torch.jit`` nor the ONNX exporter can see
into. A *twin* computes what the reference path (``cells/`` + :mod:`lstmkit.recurrent`)
computes for a whole :class:`~lstmkit.layers.Recurrent` stack (layers, directions,
``lengths``, the initial state, dropout, the recurrent mask, zoneout, the truncated
gradient) with TorchScript-compilable torch ops only, reading the module's own
Parameters (shared, never copied: training the module trains the twin).

The math lives in scripted free functions over ``(params, config)`` lists, one time
loop (:func:`run_stack`) and one step/projection per family; every family dispatches
through the same loop. Three doors use them:

- :func:`twin` builds an ``nn.Module`` (what ``torch.jit.script(module)`` compiles,
  through ``Recurrent.__prepare_scriptable__``);
- :func:`export_forward` is what ``Recurrent.forward`` calls while ``torch.jit.trace``,
  ``torch.onnx.export`` or ``torch.export`` records. Under ``torch.jit.trace`` and the
  TorchScript ONNX exporter it calls :func:`loop_forward`: the layers, directions and
  projections are recorded as they run, and each (layer, direction)'s time loop is a
  small scripted function around the cell spec's own step, traced once, so a trace keeps
  the loop over time (a traced module runs any sequence length) and the ONNX exporter
  writes an ``onnx::Loop`` with a dynamic trip count. Under ``torch.export`` (and the
  ``dynamo=True`` ONNX exporter) the scripted functions above run as Python: the loop
  unrolls over the example's length (a dynamic batch is fine, a dynamic length is
  refused in one line). A traced module in training mode with recurrent dropout or
  zoneout uses the scripted stack (it draws the masks).

Example:
    >>> import torch, lstmkit
    >>> _ = torch.manual_seed(0)
    >>> m = lstmkit.LSTM(3, 4, num_layers=2, variant="vanilla").eval()
    >>> s = torch.jit.script(m)                     # the twin, compiled
    >>> x = torch.randn(6, 2, 3)
    >>> bool(torch.allclose(s(x)[0], m(x)[0], atol=1e-5))
    True
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["twin", "describe", "export_forward", "run_stack", "FAMILY_CODES", "PortableStack", "traced_recurrence",
           "scan_projected", "cell_config", "zero_state"]

#: family code of each supported cell spec (the loop's dispatch)
FAMILY_CODES = {"lstm": 0, "gru": 1, "rnn": 2, "conv_lstm": 3, "slstm": 4, "mlstm": 5, "tlstm": 6,
                "depth_gated_lstm": 7}
_LN_EPS = 1e-5  # lstmkit.cells.lstm.LAYER_NORM_EPS
_SLOTS = 11  # parameter slots per (layer, direction): the most a family uses (the LSTM's)
_CFG = 19  # config ints per (layer, direction)


# ---- one step per family (scripted; p: parameter slots, c: int config) ---------------------
def _lstm_project(x: Tensor, p: List[Tensor], c: List[int]) -> Tensor:
    xp = F.linear(x, p[0])
    if c[15] == 1:
        xp = F.layer_norm(xp, [xp.size(-1)], p[6], None, 1e-5)
    if c[16] == 1:
        xp = xp + (p[2] + p[3])
    return xp


def _block(pre: Tensor, k: int, H: int) -> Tensor:
    return pre[:, k * H:(k + 1) * H]


def _lstm_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], mask: Optional[Tensor]) -> List[Tensor]:
    # config: 0 H, 1-4 blocks (i, f, g, o) or -1, 5-7 peephole blocks (i, f, o) or -1,
    # 8 cifg, 9 tanh input act, 10 tanh output act, 11 fgr, 12-14 fgr blocks (i, f, o),
    # 15 layer norm, 16 bias, 17 layer-norm bias, 18 proj
    H = c[0]
    h_prev = state[0]
    c_prev = state[1]
    h_in = h_prev if mask is None else h_prev * mask
    rec = F.linear(h_in, p[1])
    if c[15] == 1:
        rec = F.layer_norm(rec, [rec.size(-1)], p[7], None, 1e-5)
    pre = xp + rec
    g_pre = _block(pre, c[3], H)
    i_pre = _block(pre, c[1], H) if c[1] >= 0 else g_pre
    f_pre = _block(pre, c[2], H) if c[2] >= 0 else g_pre
    o_pre = _block(pre, c[4], H) if c[4] >= 0 else g_pre
    if c[11] == 1:
        fgr = F.linear(state[2], p[5])
        if c[12] >= 0:
            i_pre = i_pre + _block(fgr, c[12], H)
        if c[13] >= 0:
            f_pre = f_pre + _block(fgr, c[13], H)
        if c[14] >= 0:
            o_pre = o_pre + _block(fgr, c[14], H)
    z = torch.tanh(g_pre) if c[9] == 1 else g_pre
    new_c = z
    i = z
    f = z
    o = z
    if c[1] >= 0:
        if c[5] >= 0:
            i_pre = i_pre + p[4][c[5] * H:(c[5] + 1) * H] * c_prev
        i = torch.sigmoid(i_pre)
        new_c = z * i
    if c[8] == 1:
        f = 1.0 - i
        new_c = new_c + c_prev * f
    elif c[2] >= 0:
        if c[6] >= 0:
            f_pre = f_pre + p[4][c[6] * H:(c[6] + 1) * H] * c_prev
        f = torch.sigmoid(f_pre)
        new_c = new_c + c_prev * f
    else:
        new_c = new_c + c_prev
    if c[4] >= 0:
        if c[7] >= 0:
            o_pre = o_pre + p[4][c[7] * H:(c[7] + 1) * H] * new_c
        o = torch.sigmoid(o_pre)
    c_out = new_c
    if c[15] == 1:
        c_out = F.layer_norm(new_c, [H], p[8], p[9] if c[17] == 1 else None, 1e-5)
    h = torch.tanh(c_out) if c[10] == 1 else c_out
    if c[4] >= 0:
        h = h * o
    if c[18] > 0:
        h = F.linear(h, p[10])
    if c[11] == 1:
        acts: List[Tensor] = []
        # the FGR state holds the gates in (i, f, o) order, those present
        if c[12] >= 0:
            acts.append(i)
        if c[13] >= 0:
            acts.append(f)
        if c[14] >= 0:
            acts.append(o)
        return [h, new_c, torch.cat(acts, dim=-1)]
    return [h, new_c]


def _gru_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], mask: Optional[Tensor]) -> List[Tensor]:
    H = c[0]
    h_prev = state[0]
    h_in = h_prev if mask is None else h_prev * mask
    hp = F.linear(h_in, p[1], p[3] if c[1] == 1 else None)
    r = torch.sigmoid(xp[:, :H] + hp[:, :H])
    u = torch.sigmoid(xp[:, H:2 * H] + hp[:, H:2 * H])
    n = torch.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
    return [n + u * (h_prev - n)]


def _rnn_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], mask: Optional[Tensor]) -> List[Tensor]:
    h_prev = state[0]
    h_in = h_prev if mask is None else h_prev * mask
    pre = xp + F.linear(h_in, p[1])
    return [torch.relu(pre) if c[2] == 1 else torch.tanh(pre)]


def _conv_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], mask: Optional[Tensor]) -> List[Tensor]:
    C = c[0]
    h_prev = state[0]
    c_prev = state[1]
    h_in = h_prev if mask is None else h_prev * mask
    # "same" padding of the state-to-state kernel, which may differ from the input kernel
    pre = xp + F.conv2d(h_in, p[1], None, [1, 1], [p[1].size(2) // 2, p[1].size(3) // 2])
    i_pre = pre[:, :C]
    f_pre = pre[:, C:2 * C]
    g_pre = pre[:, 2 * C:3 * C]
    o_pre = pre[:, 3 * C:]
    if c[2] == 1:
        i_pre = i_pre + p[4][:C] * c_prev
        f_pre = f_pre + p[4][C:2 * C] * c_prev
    new_c = torch.sigmoid(f_pre) * c_prev + torch.sigmoid(i_pre) * torch.tanh(g_pre)
    if c[2] == 1:
        o_pre = o_pre + p[4][2 * C:] * new_c
    return [torch.sigmoid(o_pre) * torch.tanh(new_c), new_c]


def _slstm_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], mask: Optional[Tensor]) -> List[Tensor]:
    H, N, d = c[0], c[1], c[2]
    h_prev, c_prev, n_prev, m_prev = state[0], state[1], state[2], state[3]
    h_in = h_prev if mask is None else h_prev * mask
    B = h_in.size(0)
    r = torch.bmm(h_in.reshape(B, N, d).transpose(0, 1), p[1].reshape(N, 4 * d, d).transpose(1, 2))
    pre = xp + r.reshape(N, B, 4, d).permute(1, 2, 0, 3).reshape(B, 4 * H)
    i_pre = pre[:, :H]
    f_pre = pre[:, H:2 * H]
    z_pre = pre[:, 2 * H:3 * H]
    o_pre = pre[:, 3 * H:]
    log_f = f_pre if c[4] == 1 else F.logsigmoid(f_pre)
    m_prev = torch.where(n_prev == 0, torch.full_like(m_prev, -math.inf), m_prev)
    log_f_m = log_f + m_prev
    m = torch.maximum(log_f_m, i_pre)
    i_s = torch.exp(i_pre - m)
    f_s = torch.exp(log_f_m - m)
    new_c = f_s * c_prev + i_s * torch.tanh(z_pre)
    n = f_s * n_prev + i_s
    return [torch.sigmoid(o_pre) * (new_c / n), new_c, n, m]


def _mlstm_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], eps: float) -> List[Tensor]:
    H, NH, d = c[0], c[1], c[2]
    C = state[1]
    n = state[2]
    m = state[3]
    B = xp.size(0)
    q = xp[:, :H].reshape(B, NH, d)
    k = xp[:, H:2 * H].reshape(B, NH, d) / math.sqrt(d)
    v = xp[:, 2 * H:3 * H].reshape(B, NH, d)
    i_pre = xp[:, 3 * H:3 * H + NH]
    f_pre = xp[:, 3 * H + NH:3 * H + 2 * NH]
    o_pre = xp[:, 3 * H + 2 * NH:]
    log_f = f_pre if c[4] == 1 else F.logsigmoid(f_pre)
    m_new = torch.maximum(log_f + m, i_pre)
    f_act = torch.exp(log_f + m - m_new)
    i_act = torch.exp(i_pre - m_new)
    C_new = f_act.unsqueeze(-1).unsqueeze(-1) * C + i_act.unsqueeze(-1).unsqueeze(-1) * (v.unsqueeze(-1) * k.unsqueeze(-2))
    n_new = f_act.unsqueeze(-1) * n + i_act.unsqueeze(-1) * k
    num = torch.matmul(C_new, q.unsqueeze(-1)).squeeze(-1)
    qn = (n_new * q).sum(-1)
    den = torch.maximum(qn.abs(), torch.exp(-m_new)) + eps
    h_tilde = (num / den.unsqueeze(-1)).reshape(B, H)
    return [torch.sigmoid(o_pre) * h_tilde, C_new, n_new, m_new]


def _tlstm_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], mask: Optional[Tensor],
                dt: Tensor) -> List[Tensor]:
    # config: 0 H, 1 bias, 2 tanh short-term memory (else sigmoid); dt (B,) this step's gap
    h_prev = state[0]
    c_prev = state[1]
    d_pre = F.linear(c_prev, p[4], p[5] if c[1] == 1 else None)
    short = torch.tanh(d_pre) if c[2] == 1 else torch.sigmoid(d_pre)
    g_dt = 1.0 / (1.0 + torch.log1p(dt / math.e))
    c_star = c_prev - short + short * g_dt.unsqueeze(-1)
    h_in = h_prev if mask is None else h_prev * mask
    pre = xp + F.linear(h_in, p[1])
    H = c[0]
    new_c = torch.sigmoid(pre[:, H:2 * H]) * c_star + torch.sigmoid(pre[:, :H]) * torch.tanh(pre[:, 2 * H:3 * H])
    return [torch.sigmoid(pre[:, 3 * H:]) * torch.tanh(new_c), new_c]


def _depth_gated_step(xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int],
                      mask: Optional[Tensor]) -> List[Tensor]:
    # config: 0 H, 1 bias, 2 depth gate, 3 input size (without the lower cell)
    H = c[0]
    h_prev = state[0]
    c_prev = state[1]
    h_in = h_prev if mask is None else h_prev * mask
    pre = xp[:, :4 * H] + F.linear(h_in, p[1])
    new_c = torch.sigmoid(pre[:, H:2 * H]) * c_prev + torch.sigmoid(pre[:, :H]) * torch.tanh(pre[:, 2 * H:3 * H])
    if c[2] == 1:
        lower = xp[:, 5 * H:6 * H]
        d = torch.sigmoid(xp[:, 4 * H:5 * H] + p[5] * c_prev + p[6] * lower)
        new_c = new_c + d * lower
    return [torch.sigmoid(pre[:, 3 * H:4 * H]) * torch.tanh(new_c), new_c]


def _project(fam: int, x: Tensor, p: List[Tensor], c: List[int]) -> Tensor:
    if fam == 0:
        return _lstm_project(x, p, c)
    if fam == 1:
        return F.linear(x, p[0], p[2] if c[1] == 1 else None)
    if fam == 2:
        xp = F.linear(x, p[0])
        return xp + (p[2] + p[3]) if c[1] == 1 else xp
    if fam == 3:
        T, B = x.size(0), x.size(1)
        b = p[2] + p[3] if c[1] == 1 else None
        xp = F.conv2d(x.reshape(T * B, x.size(2), x.size(3), x.size(4)), p[0], b, [1, 1], [c[3], c[4]])
        return xp.reshape(T, B, xp.size(1), xp.size(2), xp.size(3))
    if fam == 4:
        return F.linear(x, p[0], p[2] if c[3] == 1 else None)
    if fam == 6:
        xp = F.linear(x, p[0])
        return xp + (p[2] + p[3]) if c[1] == 1 else xp
    if fam == 7:
        xf = x[..., :c[3]]
        gates = F.linear(xf, p[0])
        if c[1] == 1:
            gates = gates + (p[2] + p[3])
        if c[2] == 0:
            return gates
        return torch.cat([gates, F.linear(xf, p[4], p[7] if c[1] == 1 else None), x[..., c[3]:]], -1)
    return F.linear(x, p[0], p[1] if c[3] == 1 else None)


def _step(fam: int, xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], eps: float,
          mask: Optional[Tensor], side: Optional[Tensor]) -> List[Tensor]:
    if fam == 0:
        return _lstm_step(xp, state, p, c, mask)
    if fam == 1:
        return _gru_step(xp, state, p, c, mask)
    if fam == 2:
        return _rnn_step(xp, state, p, c, mask)
    if fam == 3:
        return _conv_step(xp, state, p, c, mask)
    if fam == 4:
        return _slstm_step(xp, state, p, c, mask)
    if fam == 6:
        assert side is not None
        return _tlstm_step(xp, state, p, c, mask, side)
    if fam == 7:
        return _depth_gated_step(xp, state, p, c, mask)
    return _mlstm_step(xp, state, p, c, eps)


def zero_state(fam: int, x: Tensor, c: List[int]) -> List[Tensor]:
    """The zero state of one (layer, direction) of family ``fam`` with config ``c`` for
    time-major input x (T, B, ...) (scripted code's ``spec.initial_state``)."""
    return _zero_state(fam, x, c)


def _zero_state(fam: int, x: Tensor, c: List[int]) -> List[Tensor]:
    """The zero state of one (layer, direction) for time-major input x (T, B, ...)."""
    B = x.size(1)
    if fam == 0:
        H = c[0]
        out = [x.new_zeros([B, c[18] if c[18] > 0 else H]), x.new_zeros([B, H])]
        if c[11] == 1:
            Q = int(c[12] >= 0) + int(c[13] >= 0) + int(c[14] >= 0)
            out.append(x.new_zeros([B, Q * H]))
        return out
    if fam == 1 or fam == 2:
        return [x.new_zeros([B, c[0]])]
    if fam == 6 or fam == 7:
        return [x.new_zeros([B, c[0]]), x.new_zeros([B, c[0]])]
    if fam == 3:
        z = x.new_zeros([B, c[0], x.size(3), x.size(4)])
        return [z, z]
    if fam == 4:
        z = x.new_zeros([B, c[0]])
        return [z, z, z, z]
    NH, d = c[1], c[2]
    return [x.new_zeros([B, c[0]]), x.new_zeros([B, NH, d, d]), x.new_zeros([B, NH, d]), x.new_zeros([B, NH])]


def _scan(fam: int, x: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], eps: float,
          lengths: Optional[Tensor], reverse: bool, mask: Optional[Tensor], zoneout: List[float],
          training: bool, truncate: bool, side: Optional[Tensor],
          want_cells: bool) -> Tuple[Tensor, List[Tensor], Tensor]:
    """One (layer, direction) over time: the reference loop of lstmkit.recurrent.

    ``side`` (T, B, K): per-step side inputs (a T-LSTM's dt, and dt_next for a reverse
    direction, in column 1); ``want_cells``: also return the cells after every step (held
    past a sequence's end), (T, B, H), for a depth-gated layer above."""
    return scan_projected(fam, _project(fam, x, p, c), state, p, c, eps, lengths, reverse, mask, zoneout, training,
                          truncate, side, want_cells)


def scan_projected(fam: int, xp: Tensor, state: List[Tensor], p: List[Tensor], c: List[int], eps: float,
                   lengths: Optional[Tensor], reverse: bool, mask: Optional[Tensor], zoneout: List[float],
                   training: bool, truncate: bool, side: Optional[Tensor],
                   want_cells: bool) -> Tuple[Tensor, List[Tensor], Tensor]:
    """:func:`_scan` over inputs already projected (``xp`` (T, B, K): what the family's
    step takes); scripted code that projects its inputs itself (the xLSTM blocks of
    :mod:`lstmkit.models.xlstm` under ``torch.jit.script``) runs its recurrence here."""
    T = xp.size(0)
    zone = False
    for r in zoneout:
        if r > 0.0:
            zone = True
    outs: List[Tensor] = []
    cells: List[Tensor] = []
    col = 1 if reverse and side is not None and side.size(-1) > 1 else 0
    for s in range(T):
        t = T - 1 - s if reverse else s
        given = state
        if truncate:
            given = [state[0].detach()] + state[1:]
        side_t: Optional[Tensor] = None
        if side is not None:
            side_t = side[t, :, col]
        new = _step(fam, xp[t], given, p, c, eps, mask, side_t)
        if zone:
            zoned: List[Tensor] = []
            for k in range(len(new)):
                r = zoneout[k] if k < len(zoneout) else 0.0
                if r <= 0.0:
                    zoned.append(new[k])
                elif training:
                    zoned.append(torch.where(torch.rand_like(new[k]) < r, state[k], new[k]))
                else:
                    zoned.append(torch.lerp(new[k], state[k], r))
            new = zoned
        if lengths is not None:
            valid = lengths > t
            held: List[Tensor] = []
            for k in range(len(new)):
                v = valid
                for _ in range(new[k].dim() - 1):
                    v = v.unsqueeze(-1)
                held.append(torch.where(v, new[k], state[k]))
            new = held
            v0 = valid
            for _ in range(new[0].dim() - 1):
                v0 = v0.unsqueeze(-1)
            outs.append(new[0] * v0.to(new[0].dtype))
        else:
            outs.append(new[0])
        if want_cells:
            cells.append(new[1])
        state = new
    y = torch.stack(outs)
    flip = torch.arange(T - 1, -1, -1, device=y.device)
    if reverse:
        y = y.index_select(0, flip)
    cell_seq = xp.new_zeros([0])
    if want_cells:
        cell_seq = torch.stack(cells)
        if reverse:
            cell_seq = cell_seq.index_select(0, flip)
    return y, state, cell_seq


def run_stack(fam: int, x: Tensor, hx: List[Tensor], lengths: Optional[Tensor], params: List[Tensor],
              cfgs: List[int], eps: float, num_layers: int, num_directions: int, dropout: float,
              recurrent_dropout: float, zoneout: List[float], training: bool,
              truncate: bool, side: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
    """The whole stack on time-major batched ``x`` (T, B, ...); ``side`` (T, B, K) the
    per-step side inputs (a T-LSTM's elapsed times). A depth-gated stack (family 7) hands
    each layer's cells to the layer above ([h^{L-1}; c^{L-1}]).

    ``params`` and ``cfgs`` are flat: (layer, direction) ``idx`` owns
    ``params[11 idx : 11 (idx + 1)]`` (slot order) and ``cfgs[19 idx : 19 (idx + 1)]``.
    ``hx`` holds the first ``len(hx)`` state entries, each (L*D, B, ...) (the rest are
    zeros); returns the top layer's output (T, B, D*H, ...) and every state entry
    stacked over (layer, direction), as :class:`~lstmkit.layers.Recurrent` does.
    """
    finals: List[List[Tensor]] = []
    layer_input = x
    below: List[Tensor] = []
    for layer in range(num_layers):
        outs: List[Tensor] = []
        cells: List[Tensor] = []
        want_cells = fam == 7 and layer < num_layers - 1
        for d in range(num_directions):
            idx = layer * num_directions + d
            p = params[idx * 11:(idx + 1) * 11]
            c = cfgs[idx * 19:(idx + 1) * 19]
            inp = layer_input
            if len(below) > 0:
                inp = torch.cat([layer_input, below[d]], -1)
            s0 = _zero_state(fam, layer_input, c)
            for k in range(len(hx)):
                if k < len(s0):
                    s0[k] = hx[k][idx]
            mask: Optional[Tensor] = None
            if training and recurrent_dropout > 0.0:
                keep = 1.0 - recurrent_dropout
                mask = torch.empty_like(s0[0]).bernoulli_(keep) / keep
            out, fin, cell_seq = _scan(fam, inp, s0, p, c, eps, lengths, d == 1, mask, zoneout, training, truncate,
                                       side, want_cells)
            outs.append(out)
            finals.append(fin)
            cells.append(cell_seq)
        layer_input = outs[0] if num_directions == 1 else torch.cat(outs, 2)
        if dropout > 0.0 and training and layer < num_layers - 1:
            layer_input = F.dropout(layer_input, dropout, True)
        below = cells if want_cells else []
    stacked: List[Tensor] = []
    for k in range(len(finals[0])):
        stacked.append(torch.stack([f[k] for f in finals]))
    return layer_input, stacked


def run_layout(fam: int, input: Tensor, hx: List[Tensor], lengths: Optional[Tensor], params: List[Tensor],
               cfgs: List[int], eps: float, num_layers: int, num_directions: int, dropout: float,
               recurrent_dropout: float, zoneout: List[float], training: bool, truncate: bool,
               batch_first: bool, feature_axes: int, side: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
    """:func:`run_stack` with the module's layouts: batch_first, unbatched input and state;
    ``side`` laid out like the steps with a trailing axis of side inputs."""
    batched = input.dim() == 2 + feature_axes
    x = input if batched else input.unsqueeze(1)
    if batched and batch_first:
        x = x.transpose(0, 1)
    if side is not None:
        if not batched:
            side = side.unsqueeze(1)
        elif batch_first:
            side = side.transpose(0, 1)
    given: List[Tensor] = []
    for h in hx:
        given.append(h if batched else h.unsqueeze(1))
    if lengths is not None:
        lengths = lengths.to(torch.int64)
    out, state = run_stack(fam, x, given, lengths, params, cfgs, eps, num_layers, num_directions, dropout,
                           recurrent_dropout, zoneout, training, truncate, side)
    if batched and batch_first:
        out = out.transpose(0, 1)
    if not batched:
        out = out.squeeze(1)
        state = [s.squeeze(1) for s in state]
    return out, state


def tlstm_side(dt: Tensor, lengths: Optional[Tensor], both: bool, batch_first: bool) -> Tensor:
    """A T-LSTM's side inputs from its elapsed times ``dt`` (laid out like the steps):
    ``dt`` and, for a bidirectional stack, the gaps its reverse direction discounts by
    (``dt[t + 1]``, 0 at each sequence's last valid step; :func:`lstmkit.layers.t_lstm.next_gaps`)."""
    if not both:
        return dt.unsqueeze(-1)
    tm = dt if dt.dim() == 1 or not batch_first else dt.transpose(0, 1)
    nxt = torch.cat([tm[1:], torch.zeros_like(tm[:1])])
    if lengths is not None and tm.dim() == 2:
        steps = torch.arange(tm.size(0), device=tm.device).unsqueeze(1)
        nxt = torch.where(steps + 1 < lengths.to(tm.device).unsqueeze(0), nxt, torch.zeros_like(nxt))
    if tm.dim() == 2 and batch_first:
        nxt = nxt.transpose(0, 1)
    return torch.stack([dt, nxt], -1)


_PY = {"run_layout": run_layout}  # the Python functions (torch.export runs these)
_SCRIPTED: dict = {}


def _scripted_run_layout():
    fn = _SCRIPTED.get("run_layout")
    if fn is None:
        fn = torch.jit.script(run_layout)
        _SCRIPTED["run_layout"] = fn
    return fn


# ---- a module's description: parameter slots and config ------------------------------------
_SLOT_NAMES = {
    0: ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ch", "weight_gg", "weight_ln_ih",
        "weight_ln_hh", "weight_ln_c", "bias_ln_c", "weight_hr"),
    1: ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
    2: ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
    3: ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ch"),
    4: ("weight_ih", "weight_hh", "bias"),
    5: ("weight_ih", "bias_ih"),
    6: ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_decomp", "bias_decomp"),
    7: ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_dx", "weight_dc", "weight_dl", "bias_d"),
}


def _family_name(module):
    from ..families import family_of

    try:
        return family_of(module).name
    except ValueError:
        return None


def _family_code(module) -> int:
    name = _family_name(module)
    if name not in FAMILY_CODES:
        raise TypeError(
            f"{type(module).__name__} has no scriptable twin yet (torch.jit.script supports "
            f"{', '.join(sorted(FAMILY_CODES))}); use torch.jit.trace, torch.export or ONNX export instead"
        )
    return FAMILY_CODES[name]


def cell_config(fam: int, spec) -> List[int]:
    """The scripted steps' int configuration of cell ``spec`` of family code ``fam``
    (:data:`FAMILY_CODES`), as :func:`scan_projected` takes it."""
    return _cell_config(fam, spec)


def _cell_config(fam: int, spec) -> List[int]:
    if fam == 0:
        v, blocks = spec.variant, spec.variant.gate_blocks
        pos = {b: k for k, b in enumerate(blocks)}
        peep = {g: k for k, g in enumerate(v.peephole_gates)}
        rec = {g: k for k, g in enumerate(v.recurrent_gates)} if v.full_gate_recurrence else {}
        return [spec.hidden_size, pos.get("i", -1), pos.get("f", -1), pos["g"], pos.get("o", -1),
                peep.get("i", -1), peep.get("f", -1), peep.get("o", -1), int(v.coupled_input_forget),
                int(v.input_activation == "tanh"), int(v.output_activation == "tanh"),
                int(v.full_gate_recurrence), rec.get("i", -1), rec.get("f", -1), rec.get("o", -1),
                int(v.layer_norm), int(spec.bias), int(v.layer_norm and spec.bias), spec.proj_size]
    if fam in (1, 2):
        return [spec.hidden_size, int(spec.bias), int(getattr(spec, "nonlinearity", "tanh") == "relu")]
    if fam == 3:
        return [spec.hidden_size, int(spec.bias), int(spec.peepholes), spec.padding[0], spec.padding[1]]
    if fam == 6:
        return [spec.hidden_size, int(spec.bias), int(spec.short_term == "tanh")]
    if fam == 7:
        return [spec.hidden_size, int(spec.bias), int(spec.depth_gate), spec.input_size]
    # sLSTM, mLSTM: H, heads, head size, bias, exponential forget gate
    return [spec.hidden_size, spec.num_heads, spec.head_size, int(spec.bias), int(spec.forget_gate == "exp")]


def describe(module) -> dict:
    """The portable description of a lstmkit recurrent module: family code, per
    (layer, direction) parameter names (slot order, None = absent) and int config,
    and the stack's settings.

    Args:
        module: a :class:`~lstmkit.layers.Recurrent` of a supported family.

    Raises:
        TypeError: the family has no portable twin.

    Example:
        >>> import lstmkit
        >>> d = describe(lstmkit.GRU(3, 4, num_layers=2))
        >>> d["fam"], len(d["names"]), d["names"][1][0]
        (1, 2, 'weight_ih_l1')
    """
    fam = _family_code(module)
    names, cfgs = [], []
    for idx, spec in enumerate(module.specs):
        full = dict(module._names[idx])
        slots = [full.get(short) for short in _SLOT_NAMES[fam]]
        names.append(slots + [None] * (_SLOTS - len(slots)))
        cfg = _cell_config(fam, spec)
        cfgs.extend(cfg + [0] * (_CFG - len(cfg)))
    return {
        "fam": fam,
        "names": names,
        "cfgs": cfgs,
        "eps": float(getattr(module.specs[0], "eps", 0.0)),
        "num_layers": module.num_layers,
        "num_directions": module.num_directions,
        "dropout": float(module.dropout),
        "recurrent_dropout": float(module.recurrent_dropout),
        "zoneout": [float(z) for z in module.zoneout],
        "truncate": bool(module.truncated_gradient),
        "batch_first": bool(module.batch_first),
        "feature_axes": int(module.feature_axes),
        "num_states": len(module.specs[0].state_names),
    }


def _param(module, name):
    """A parameter by its full name through attribute access (parametrizations apply)."""
    return getattr(module, name)


def _params(module, d: dict, empty: Tensor) -> List[Tensor]:
    return [empty if n is None else _param(module, n) for names in d["names"] for n in names]


def _hx_list(module, hx) -> List[Tensor]:
    if hx is None:
        return []
    given = module._state_tuple(hx)
    out = []
    for t in given:
        if t is None:
            break
        out.append(t)
    return out


def export_forward(module, input, hx=None, lengths=None, side=None):
    """``module(input, hx, lengths)`` as real torch ops, for tracers and exporters.

    ``Recurrent.forward`` calls it while ``torch.jit.trace``, ``torch.onnx.export`` or
    ``torch.export`` records. The ONNX exporter first offers the module to
    :func:`lstmkit.layers.onnx.native_forward` (the native LSTM/GRU/RNN operators); else,
    and under ``torch.jit.trace``, :func:`loop_forward` records a scripted time loop per
    (layer, direction) (a trace runs any length; ONNX gets a Loop). Under ``torch.export``
    (``dynamo=True``) the portable stack runs as Python and unrolls over the example's length.

    Args:
        module: a lstmkit :class:`~lstmkit.layers.Recurrent`.
        input, hx, lengths: as the module's forward (no PackedSequence).
        side: the per-step side inputs the module passes on (a T-LSTM's ``dt``), or None.

    Raises:
        TypeError: a PackedSequence.
        ValueError: ``torch.export`` with a dynamic sequence length; random masks
            (training-mode recurrent dropout or zoneout) under the ONNX exporter.

    Example:
        >>> import torch, lstmkit
        >>> _ = torch.manual_seed(0)
        >>> m = lstmkit.GRU(3, 4).eval()
        >>> tr = torch.jit.trace(m, (torch.randn(5, 2, 3),))
        >>> x = torch.randn(9, 2, 3)                     # another length
        >>> bool(torch.allclose(tr(x)[0], m(x)[0], atol=1e-5))
        True
    """
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(input, PackedSequence):
        raise TypeError("tracing/exporting takes a padded tensor and lengths=, not a PackedSequence")
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
    Fa = module.feature_axes
    if input.dim() not in (1 + Fa, 2 + Fa):
        raise ValueError(f"input must be {2 + Fa}-D (batched) or {1 + Fa}-D (unbatched), got {input.dim()}-D")
    if lengths is not None and not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    exporting = torch.compiler.is_exporting() and not torch.jit.is_tracing()
    if torch.onnx.is_in_onnx_export() and not exporting:
        from .onnx import native_forward

        res = native_forward(module, input, hx, lengths)
        if res is not None:
            return res
        return loop_forward(module, input, hx, lengths, side)
    if torch.jit.is_tracing() and not _uses_random_masks(module):
        return loop_forward(module, input, hx, lengths, side)
    if _family_name(module) not in FAMILY_CODES:
        # torch.export: families without a fused kernel run the reference loop as Python
        return module._general_forward(input, hx, lengths, side)
    d = describe(module)
    hx_list = _hx_list(module, hx)
    empty = input.new_zeros([0])
    params = _params(module, d, empty)
    if exporting:
        _refuse_dynamic_length(module, input, d)
        fn = _PY["run_layout"]
    else:
        fn = _scripted_run_layout()
    side_t = None
    if side:
        side_t = torch.stack([torch.as_tensor(side[k]) for k in module.specs[0].side_inputs], -1).to(input.dtype)
    out, state = fn(d["fam"], input, hx_list, lengths, params, d["cfgs"], d["eps"], d["num_layers"],
                    d["num_directions"], d["dropout"], d["recurrent_dropout"], d["zoneout"], module.training,
                    d["truncate"], d["batch_first"], Fa, side_t)
    return out, module._pack_state(tuple(state))


def _uses_random_masks(module) -> bool:
    return bool(module.training and (module.recurrent_dropout > 0 or any(module.zoneout)))


def _refuse_dynamic_length(module, input: Tensor, d: dict) -> None:
    batched = input.dim() == 2 + d["feature_axes"]
    t_axis = 1 if batched and d["batch_first"] else 0
    T = input.shape[t_axis]
    if isinstance(T, torch.SymInt) and not isinstance(getattr(T.node, "maybe_as_int", lambda: None)(), int):
        raise ValueError(
            f"{type(module).__name__}: torch.export (torch.onnx.export(dynamo=True)) unrolls the loop over time, "
            "so the sequence length must be static; for a dynamic length pass dynamo=False "
            "(or use lstmkit.layers.onnx.export_onnx)"
        )


# ---- the twin module (what torch.jit.script compiles) --------------------------------------
class _Slots(nn.Module):
    """One (layer, direction)'s parameters in slot order: the module's own Parameters
    (shared), empty buffers where a slot is absent."""

    def __init__(self, module, names, empty: Tensor) -> None:
        super().__init__()
        for k in range(_SLOTS):
            n = names[k] if k < len(names) else None
            if n is None:
                self.register_buffer(f"s{k}", empty, persistent=False)
            else:
                t = getattr(module, n)
                if isinstance(t, nn.Parameter):
                    self.register_parameter(f"s{k}", t)  # shared: the module's own
                else:  # a parametrized weight: its value now
                    self.register_buffer(f"s{k}", t.detach(), persistent=False)

    def get(self) -> List[Tensor]:
        return [self.s0, self.s1, self.s2, self.s3, self.s4, self.s5, self.s6, self.s7, self.s8, self.s9,
                self.s10]


class PortableStack(nn.Module):
    """The pure-torch twin of a lstmkit recurrent stack (see the module docstring).

    Built by :func:`twin`; ``forward(input, hx=None, lengths=None)`` returns what the
    module returns (state packed as the family packs it). Its parameters are the
    module's own (shared), so it stays in sync with training and ``load_state_dict``.
    Parametrized weights (``torch.nn.utils.parametrize``) are read when the twin is
    built: rebuild it after they change.

    Args:
        module: a lstmkit :class:`~lstmkit.layers.Recurrent` of a supported family.

    Example:
        >>> import torch, lstmkit
        >>> _ = torch.manual_seed(0)
        >>> m = lstmkit.sLSTM(3, 4, num_heads=2).eval()
        >>> s = torch.jit.script(PortableStack.of(m))
        >>> x = torch.randn(5, 2, 3)
        >>> bool(torch.allclose(s(x)[0], m(x)[0], atol=1e-5))
        True
    """

    __constants__ = ["fam", "eps", "num_layers", "num_directions", "dropout", "recurrent_dropout", "truncate",
                     "batch_first", "feature_axes"]

    def __init__(self, module) -> None:
        super().__init__()
        d = describe(module)
        w = getattr(module, d["names"][0][0])
        empty = torch.zeros(0, dtype=w.dtype, device=w.device)
        self.slots = nn.ModuleList([_Slots(module, names, empty) for names in d["names"]])
        self.cfgs: List[int] = d["cfgs"]
        self.zoneout: List[float] = d["zoneout"]
        for k in ("fam", "eps", "num_layers", "num_directions", "dropout", "recurrent_dropout", "truncate",
                  "batch_first", "feature_axes"):
            setattr(self, k, d[k])
        self.train(module.training)

    @staticmethod
    def of(module) -> "PortableStack":
        """The twin of ``module`` whose forward packs the state as the family does."""
        n = len(module.specs[0].state_names)
        if _family_name(module) == "tlstm":
            return _PortableTLSTM(module)
        packed_h = module._pack_state((torch.zeros(0),)) is not None and not isinstance(
            module._pack_state((torch.zeros(0),)), tuple
        )
        if packed_h and n == 1:
            return _PortableH(module)
        return {2: _PortableTuple2, 3: _PortableTuple3, 4: _PortableTuple4}[n](module)

    def run(self, input: Tensor, hx: List[Tensor], lengths: Optional[Tensor],
            side: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        params: List[Tensor] = []
        for s in self.slots:
            params.extend(s.get())
        return run_layout(self.fam, input, hx, lengths, params, self.cfgs, self.eps, self.num_layers,
                          self.num_directions, self.dropout, self.recurrent_dropout, self.zoneout, self.training,
                          self.truncate, self.batch_first, self.feature_axes, side)


class _PortableH(PortableStack):
    def forward(self, input: Tensor, hx: Optional[Tensor] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        given: List[Tensor] = [] if hx is None else [hx]
        out, state = self.run(input, given, lengths)
        return out, state[0]


class _PortableTuple2(PortableStack):
    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        given: List[Tensor] = [] if hx is None else [hx[0], hx[1]]
        out, s = self.run(input, given, lengths)
        return out, (s[0], s[1])


class _PortableTuple3(PortableStack):
    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor, Tensor]] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tuple[Tensor, Tensor, Tensor]]:
        given: List[Tensor] = [] if hx is None else [hx[0], hx[1], hx[2]]
        out, s = self.run(input, given, lengths)
        return out, (s[0], s[1], s[2])


class _PortableTuple4(PortableStack):
    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor, Tensor, Tensor]] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tuple[Tensor, Tensor, Tensor, Tensor]]:
        given: List[Tensor] = [] if hx is None else [hx[0], hx[1], hx[2], hx[3]]
        out, s = self.run(input, given, lengths)
        return out, (s[0], s[1], s[2], s[3])


class _PortableTLSTM(PortableStack):
    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None, lengths: Optional[Tensor] = None,
                dt: Optional[Tensor] = None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        if dt is None:
            raise ValueError("dt is required: the elapsed time before each step, laid out like the steps")
        if lengths is not None:
            lengths = lengths.to(torch.int64)
        side = tlstm_side(dt.to(input.dtype), lengths, self.num_directions == 2, self.batch_first)
        given: List[Tensor] = [] if hx is None else [hx[0], hx[1]]
        out, s = self.run(input, given, lengths, side)
        return out, (s[0], s[1])


def twin(module) -> PortableStack:
    """The portable twin of ``module`` (what ``torch.jit.script(module)`` compiles).

    Args:
        module: a lstmkit :class:`~lstmkit.layers.Recurrent` (LSTM of any variant, GRU,
            RNN, ConvLSTM, sLSTM, mLSTM, T-LSTM, depth-gated LSTM).

    Returns:
        A :class:`PortableStack` sharing the module's Parameters; ``forward(input,
        hx=None, lengths=None)`` with hx packed as the family packs it (an LSTM with full
        gate recurrence takes all three entries, (h_0, c_0, a_0), or None).

    Raises:
        TypeError: ``module`` is not a lstmkit recurrent module of a supported family.

    Example:
        >>> import torch, lstmkit
        >>> _ = torch.manual_seed(0)
        >>> m = lstmkit.LSTM(3, 4, bidirectional=True).eval()
        >>> t = twin(m)
        >>> t.slots[0].s0 is m.weight_ih_l0
        True
    """
    from .recurrent import Recurrent

    if not isinstance(module, Recurrent):
        raise TypeError(f"twin takes a lstmkit recurrent module, got {type(module).__name__}")
    return PortableStack.of(module)


# ---- the traced-step loop (the ONNX exporter's Loop, and torch.jit.trace) ------------------
# The TorchScript ONNX exporter cannot lower run_layout's generic code (int-list configs
# indexed inside loops, lists of empty placeholder tensors). This door keeps the house's
# reference math instead: each (layer, direction)'s step is the cell spec's own ``step``,
# *traced* once (its switches are Python, so the trace is straight-line ops), and a tiny
# scripted module runs it over time. The layer and direction loops, the input projection
# and the layouts are plain Python that the outer tracer records; the scripted time loop
# becomes an ``onnx::Loop`` whose trip count is the input's length.
_MAX_STATES = 4


def _step_function(module, idx: int, masked: bool, emit_cell: bool):
    """One (layer, direction)'s step as the tracer records it, ``(xp_t, valid, side_t, s0, s1,
    s2, s3, params) -> (out, s0', s1', s2', s3')``: the spec's step, zoneout's evaluation
    form, the lengths mask; a fixed signature for the scripted loop."""
    names = [short for short, _ in module._names[idx]]
    return _spec_step(module.specs[idx], names, tuple(module.zoneout), bool(module.truncated_gradient), masked,
                      emit_cell)


def _spec_step(spec, names, rates, truncate: bool, masked: bool, emit_cell: bool):
    """:func:`_step_function` for a cell spec, its parameters' short names (in the order
    the loop hands them over), zoneout's rates and the truncated gradient."""
    from ..recurrent import _zoneout

    n = len(spec.state_names)

    def step(xp: Tensor, valid: Tensor, side: Tensor, s0: Tensor, s1: Tensor, s2: Tensor, s3: Tensor,
             params: List[Tensor]):
        state = (s0, s1, s2, s3)[:n]
        p = dict(zip(names, params))
        given = (state[0].detach(),) + state[1:] if truncate else state
        if spec.side_inputs:
            new = spec.step(xp, given, p, None, side={k: side[:, j] for j, k in enumerate(spec.side_inputs)})
        else:
            new = spec.step(xp, given, p, None)
        new = tuple(new)
        if any(r > 0 for r in rates):
            new = _zoneout(new, state, rates, False)
        out = new[0]
        if masked:
            held = []
            for n_k, s_k in zip(new, state):
                v = valid
                for _ in range(n_k.dim() - 1):
                    v = v.unsqueeze(-1)
                held.append(torch.where(v, n_k, s_k))
            new = tuple(held)
            v = valid
            for _ in range(out.dim() - 1):
                v = v.unsqueeze(-1)
            out = new[0] * v.to(new[0].dtype)
        if emit_cell:  # the depth-gated layer above reads this layer's (held) cells
            out = torch.cat([out, new[1]], dim=-1)
        return (out,) + new + (s0, s1, s2, s3)[n:]

    return step


def _time_loop(step):
    """The scripted loop over time around a traced step (an ``onnx::Loop`` when exported)."""

    def loop(xp: Tensor, side: Tensor, lengths: Tensor, s0: Tensor, s1: Tensor, s2: Tensor, s3: Tensor,
             params: List[Tensor], reverse: bool, masked: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        T = xp.size(0)
        outs: List[Tensor] = []
        for s in range(T):
            t = s
            if reverse:
                t = T - 1 - s
            valid = lengths
            if masked:
                valid = lengths > t
            out, s0, s1, s2, s3 = step(xp[t], valid, side[t], s0, s1, s2, s3, params)
            outs.append(out)
        y = torch.stack(outs)
        if reverse:
            y = y.flip([0])
        return y, s0, s1, s2, s3

    return torch.jit.script(loop)


class _paused_tracing:
    """Build the traced steps outside of an outer trace (a trace inside a trace records
    the inner one's ops into the outer graph)."""

    def __enter__(self):
        self.state = torch._C._get_tracing_state()
        torch._C._set_tracing_state(None)

    def __exit__(self, *exc):
        torch._C._set_tracing_state(self.state)
        return False


def _loop_function(module, idx: int, xp: Tensor, side: Tensor, state: List[Tensor], params: List[Tensor],
                   masked: bool, emit_cell: bool):
    with _paused_tracing(), torch.no_grad():
        step = _step_function(module, idx, masked, emit_cell)
    return _traced_loop(step, xp, side, state, params, masked)


def _traced_loop(step, xp: Tensor, side: Tensor, state: List[Tensor], params: List[Tensor], masked: bool):
    """The scripted time loop around ``step`` traced once on zeros shaped as these inputs."""
    import warnings

    with _paused_tracing(), torch.no_grad():
        B = xp.shape[1]
        ex = [torch.zeros_like(s) for s in state] + [xp.new_zeros(0)] * (_MAX_STATES - len(state))
        valid = torch.ones(B, dtype=torch.bool, device=xp.device)
        example = (torch.zeros_like(xp[0]), valid if masked else torch.zeros_like(xp[0]),
                   torch.zeros_like(side[0]), *ex, [p.detach() for p in params])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the trace of one step is exact by construction
            traced = torch.jit.trace(step, example, check_trace=False)
        return _time_loop(traced)


def loop_forward(module, input, hx=None, lengths=None, side=None):
    """``module(input, hx, lengths, side)`` as a traced outer graph around scripted time
    loops of traced steps: what the ONNX exporter writes as ``onnx::Loop`` (dynamic batch
    and length) and ``torch.jit.trace`` records (a traced module runs any length).

    Every registered family: the step is the cell spec's own (the reference math), the
    depth-gated LSTM's layers hand their cells up, the T-LSTM's elapsed times are a side
    input per step. Evaluation-mode zoneout; no recurrent dropout or training-mode zoneout
    (they draw random masks): those raise a one-line ValueError.

    Example:
        >>> import torch, lstmkit
        >>> _ = torch.manual_seed(0)
        >>> m = lstmkit.LSTM(3, 4, variant="layer_norm").eval()
        >>> tr = torch.jit.trace(m, (torch.randn(5, 2, 3),))
        >>> x = torch.randn(8, 3, 3)
        >>> bool(torch.allclose(tr(x)[0], m(x)[0], atol=1e-5))
        True
    """
    if module.training and (module.recurrent_dropout > 0 or any(module.zoneout)):
        raise ValueError(
            f"{type(module).__name__}: recurrent_dropout and training-mode zoneout draw random masks per step; "
            "trace or export the module in evaluation mode (module.eval())")
    Fa = module.feature_axes
    batched = input.dim() == 2 + Fa
    x = input if batched else input.unsqueeze(1)
    if batched and module.batch_first:
        x = x.transpose(0, 1)
    specs = module.specs
    n_states = len(specs[0].state_names)
    LD = module.num_layers * module.num_directions
    given = list(module._state_tuple(hx) or ())
    if not batched:
        given = [None if t is None else t.unsqueeze(1) for t in given]
    shapes = specs[0].state_shapes(tuple(x.shape[2:]))
    zero = torch.zeros_like(x.select(0, 0).flatten(1)[:, :1])  # (B, 1): a dynamic batch in the graph
    state = []
    for k in range(n_states):
        t = given[k] if k < len(given) else None
        if t is None:
            shp = list(shapes[k])
            z = zero.reshape([1, -1] + [1] * len(shp)).expand([LD, zero.shape[0]] + shp)
            t = z.contiguous()
        state.append(t)
    masked = lengths is not None
    if masked:
        lengths = torch.as_tensor(lengths).to(torch.int64)
    side_t = None
    if side:
        names = specs[0].side_inputs
        side_t = torch.stack([torch.as_tensor(side[k]) for k in names], dim=-1)
        if not batched:
            side_t = side_t.unsqueeze(1)
        elif module.batch_first:
            side_t = side_t.transpose(0, 1)
        side_t = side_t.to(x.dtype)
    depth_gated = type(module).__name__ == "DepthGatedLSTM"
    D = module.num_directions
    finals: List[List[Tensor]] = []
    layer_input, cells_below = x, None
    for layer in range(module.num_layers):
        outs, cells = [], []
        emit = depth_gated and layer < module.num_layers - 1
        for d in range(D):
            idx = layer * D + d
            spec = specs[idx]
            p = {short: getattr(module, full) for short, full in module._names[idx]}
            inp = layer_input if cells_below is None else torch.cat([layer_input, cells_below[d]], dim=-1)
            xp = spec.input_projection(inp, p)
            s0 = [s[idx] for s in state]
            sd = xp if side_t is None else side_t
            params = list(p.values())
            loop = _loop_function(module, idx, xp, sd, s0, params, masked, emit)
            pad = [xp.new_zeros(0)] * (_MAX_STATES - n_states)
            y, *fin = loop(xp, sd, lengths if masked else xp, *s0, *pad, params, d == 1, masked)
            fin = fin[:n_states]
            if emit:
                H = spec.hidden_size
                cells.append(y[..., y.shape[-1] - H:])
                y = y[..., : y.shape[-1] - H]
            outs.append(y)
            finals.append(fin)
        layer_input = outs[0] if D == 1 else torch.cat(outs, dim=2)
        if module.dropout > 0 and module.training and layer < module.num_layers - 1:
            layer_input = F.dropout(layer_input, module.dropout, training=True)
        cells_below = cells if emit else None
    final = tuple(torch.stack([f[k] for f in finals]) for k in range(n_states))
    out = layer_input
    if batched and module.batch_first:
        out = out.transpose(0, 1)
    if not batched:
        out = out.squeeze(1)
        final = tuple(s.squeeze(1) for s in final)
    return out, module._pack_state(final)


def traced_recurrence(spec, params, x: Tensor, state):
    """``run_recurrence(spec, params, x, state)`` as ``torch.jit.trace`` should record it.

    Called while tracing (``torch.jit.is_tracing()``) by code that runs a cell spec's
    recurrence itself, outside a :class:`~lstmkit.layers.Recurrent` layer (the xLSTM
    blocks of :mod:`lstmkit.models.xlstm`): the input projection is recorded in the outer
    graph, the loop over time is a scripted loop around the spec's own step (traced once),
    so the traced graph runs any sequence length and batch (and the TorchScript ONNX
    exporter writes an ``onnx::Loop``). Full-length sequences, forward direction, no
    zoneout or recurrent mask; at most four state entries of any shape.

    Args:
        spec: the cell spec (any family's). params: its parameters by short name.
        x: (T, B, ...) inputs. state: the initial state, one tensor per entry.

    Returns:
        ``(output, final_state)`` as :func:`lstmkit.recurrent.run_recurrence`.

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMCellSpec
        >>> from lstmkit.recurrent import run_recurrence
        >>> spec = LSTMCellSpec(2, 3)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> f = torch.jit.trace(lambda x: traced_recurrence(spec, p, x, spec.zero_state(x.shape[1]))[0],
        ...                     (torch.randn(4, 2, 2),))
        >>> x = torch.randn(7, 3, 2)
        >>> bool(torch.allclose(f(x), run_recurrence(spec, p, x, spec.zero_state(3))[0], atol=1e-6))
        True
    """
    state = list(state)
    n = len(state)
    if n > _MAX_STATES:
        raise ValueError(f"state must have at most {_MAX_STATES} entries, got {n}")
    names = list(params)
    xp = spec.input_projection(x, params)
    values = [params[k] for k in names] or [xp.new_zeros(0)]  # a traced list must not be empty
    with _paused_tracing(), torch.no_grad():
        step = _spec_step(spec, names, (), False, False, False)
    loop = _traced_loop(step, xp, xp, state, values, False)
    pad = [xp.new_zeros(0)] * (_MAX_STATES - n)
    y, *final = loop(xp, xp, xp, *state, *pad, values, False, False)
    return y, tuple(final[:n])
