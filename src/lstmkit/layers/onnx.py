"""ONNX export: ONNX's native LSTM / GRU / RNN operators where they compute our cell
exactly, an ``onnx::Loop`` for everything else (every registered family exports).

Native operators (TorchScript exporter, ``dynamo=False``), one node per layer (both
directions in one node), ``lengths`` as ONNX's ``sequence_lens``:

- LSTM, every Greff preset without full gate recurrence or layer norm, ``proj_size=0``:
  peepholes are the op's ``P`` input (``vanilla``); ``cifg`` is ``input_forget=1``;
  ``niaf`` / ``noaf`` an identity g / h (``Affine`` with alpha 1, beta 0); a gate the
  variant lacks (``nig``, ``nfg``, ``nog``, ``hochreiter1997``) is held open: zero
  weights and peephole, bias +1e4, so that sigmoid gives exactly 1.0 in float32 and
  float64 (checked against onnxruntime in tests/layers/test_onnx.py).
- GRU: the ``GRU`` op with ``linear_before_reset=1`` (torch's form), gates reordered
  (z, r, h).
- Elman RNN: the ``RNN`` op, ``Tanh`` or ``Relu``.

The rest (``fgr``, ``layer_norm``, ``proj_size > 0``, ConvLSTM, sLSTM, mLSTM, T-LSTM,
the depth-gated LSTM, and zoneout in evaluation mode) exports one ``onnx::Loop`` per
(layer, direction) (:func:`lstmkit.layers.portable.loop_forward`): the loop body is the
cell spec's own step (the reference math of ``cells/``) traced once, the trip count the
input's length, so dynamic batch and length hold there too; ``lengths`` masks the state
as the reference loop does, a T-LSTM's elapsed times are a graph input ``dt``, and a
depth-gated layer hands its cells to the layer above inside the graph. A module in
training mode with recurrent dropout or zoneout (random masks per step) is refused in
one line: export it in evaluation mode.

``torch.onnx.export(..., dynamo=True)`` (torch.export) runs the twin as Python: the loop
unrolls over the example's length, the graph is correct for that length; a dynamic
length is refused with a one-line ValueError telling to pass ``dynamo=False``.

Example:
    >>> import os, tempfile, torch, lstmkit
    >>> from lstmkit.layers.onnx import export_onnx
    >>> m = lstmkit.LSTM(3, 4, variant="vanilla").eval()
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> export_onnx(m, path, torch.randn(5, 2, 3), lengths=True) == path
    True
"""

from __future__ import annotations

import io
import os
import torch
from torch import Tensor

from ..io import atomic_write_bytes

__all__ = ["export_onnx", "native_forward", "native_op", "DEFAULT_OPSET"]

#: the opset export_onnx writes by default (LayerNormalization needs 17)
DEFAULT_OPSET = 17
#: bias holding a missing gate open: sigmoid(1e4) is exactly 1.0 in float32 and float64
_OPEN = 1e4
_EXTRA = "onnx export needs the export extra: pip install lstmkit[export] (onnx, onnxruntime)"


def _none(g):
    n = g.op("prim::Constant")
    n.setType(torch._C.OptionalType.ofTensor())
    return n


# ---- torch versions of the ONNX operators' semantics (what the trace records as values) ----
def _act(name: str, x: Tensor) -> Tensor:
    if name == "Sigmoid":
        return torch.sigmoid(x)
    if name == "Tanh":
        return torch.tanh(x)
    if name == "Relu":
        return torch.relu(x)
    return x  # Affine(1, 0)


def _onnx_scan(step, x: Tensor, lens, states, D: int):
    """Run ``step(d, x_t, states_d) -> new states_d`` over time for each direction with
    ONNX's sequence_lens semantics; returns Y (T, D, B, H) and the final states."""
    T = x.shape[0]
    ys, finals = [], []
    for d in range(D):
        s = [t[d] for t in states]
        out = [None] * T
        for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
            new = step(d, x[t], s)
            if lens is not None:
                v = (lens > t)[:, None]
                new = [torch.where(v, n, o) for n, o in zip(new, s)]
                out[t] = new[0] * v.to(new[0].dtype)
            else:
                out[t] = new[0]
            s = new
        ys.append(torch.stack(out))
        finals.append(s)
    Y = torch.stack(ys, 1)
    return (Y,) + tuple(torch.stack([f[k] for f in finals]) for k in range(len(states)))


class _LSTMOp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, R, B, lens, h0, c0, P, acts, input_forget):
        H = R.shape[-1]

        def step(d, xt, s):
            h, c = s
            pre = xt @ W[d].T + h @ R[d].T + B[d, :4 * H] + B[d, 4 * H:]
            i, o, f, z = pre.split(H, dim=-1)
            fa, ga, ha = acts[3 * d:3 * d + 3]
            i = _act(fa, i + P[d, :H] * c)
            f = 1 - i if input_forget else _act(fa, f + P[d, 2 * H:] * c)
            c = f * c + i * _act(ga, z)
            o = _act(fa, o + P[d, H:2 * H] * c)
            return [o * _act(ha, c), c]

        return _onnx_scan(step, x, lens, [h0, c0], W.shape[0])

    @staticmethod
    def symbolic(g, x, W, R, B, lens, h0, c0, P, acts, input_forget):
        H = R.type().sizes()[-1] if R.type().sizes() else None
        alphas, betas = [], []
        for a in acts:
            if a == "Affine":
                alphas.append(1.0)
                betas.append(0.0)
        kw = {"activation_alpha_f": alphas, "activation_beta_f": betas} if alphas else {}
        D = len(acts) // 3
        return g.op("LSTM", x, W, R, B, _none(g) if lens is None else lens, h0, c0, P, hidden_size_i=H,
                    direction_s="bidirectional" if D == 2 else "forward", activations_s=list(acts),
                    input_forget_i=int(input_forget), outputs=3, **kw)


class _GRUOp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, R, B, lens, h0, D):
        H = R.shape[-1]

        def step(d, xt, s):
            (h,) = s
            xp = xt @ W[d].T + B[d, :3 * H]
            hp = h @ R[d].T + B[d, 3 * H:]
            z = torch.sigmoid(xp[:, :H] + hp[:, :H])
            r = torch.sigmoid(xp[:, H:2 * H] + hp[:, H:2 * H])
            n = torch.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
            return [(1 - z) * n + z * h]

        return _onnx_scan(step, x, lens, [h0], D)

    @staticmethod
    def symbolic(g, x, W, R, B, lens, h0, D):
        H = R.type().sizes()[-1]
        return g.op("GRU", x, W, R, B, _none(g) if lens is None else lens, h0, hidden_size_i=H,
                    direction_s="bidirectional" if D == 2 else "forward", linear_before_reset_i=1, outputs=2)


class _RNNOp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, R, B, lens, h0, acts):
        H = R.shape[-1]

        def step(d, xt, s):
            (h,) = s
            return [_act(acts[d], xt @ W[d].T + h @ R[d].T + B[d, :H] + B[d, H:])]

        return _onnx_scan(step, x, lens, [h0], len(acts))

    @staticmethod
    def symbolic(g, x, W, R, B, lens, h0, acts):
        H = R.type().sizes()[-1]
        return g.op("RNN", x, W, R, B, _none(g) if lens is None else lens, h0, hidden_size_i=H,
                    direction_s="bidirectional" if len(acts) == 2 else "forward", activations_s=list(acts),
                    outputs=2)


# ---- which modules map onto a native operator ----------------------------------------------
def native_op(module) -> str | None:
    """The ONNX operator ``module`` exports to (``"LSTM"``, ``"GRU"``, ``"RNN"``), or None
    when it exports as a Loop over its portable twin.

    Args:
        module: a lstmkit recurrent module.

    Example:
        >>> import lstmkit
        >>> native_op(lstmkit.LSTM(3, 4, variant="cifg")), native_op(lstmkit.LSTM(3, 4, variant="fgr"))
        ('LSTM', None)
    """
    from ..families import family_of

    try:
        name = family_of(module).name
    except ValueError:
        return None
    if module.training and (module.dropout > 0 or module.recurrent_dropout > 0 or any(module.zoneout)):
        return None
    if not module.training and any(module.zoneout):
        return None  # zoneout's evaluation form mixes old and new state: no native op does that
    if name == "lstm":
        v = module.variant
        if v.full_gate_recurrence or v.layer_norm or module.proj_size:
            return None
        return "LSTM"
    if name == "gru":
        return "GRU"
    if name == "rnn":
        return "RNN"
    return None


def _lstm_weights(module, layer: int):
    """ONNX's W (D, 4H, I), R (D, 4H, H), B (D, 8H), P (D, 3H), gates (i, o, f, c)."""
    v, H = module.variant, module.hidden_size
    Ws, Rs, Bs, Ps = [], [], [], []
    for d in range(module.num_directions):
        spec = module.specs[layer * module.num_directions + d]
        p = {short: getattr(module, full) for short, full in module._names[layer * module.num_directions + d]}
        w_ih, w_hh = p["weight_ih"], p["weight_hh"]
        blocks = {b: k for k, b in enumerate(v.gate_blocks)}
        peep = {g: k for k, g in enumerate(v.peephole_gates)}
        wi, wh, bi, bh, pp = [], [], [], [], []
        zero_w, zero_h, zero_b = w_ih.new_zeros(H, w_ih.shape[1]), w_hh.new_zeros(H, H), w_ih.new_zeros(H)
        for gate in ("i", "o", "f", "g"):
            k = blocks.get(gate)
            coupled = gate == "f" and v.coupled_input_forget
            if k is None:
                wi.append(zero_w)
                wh.append(zero_h)
                # a missing gate is held open; the coupled forget gate is the op's input_forget
                bi.append(zero_b if coupled else zero_b + _OPEN)
                bh.append(zero_b)
            else:
                s = slice(k * H, (k + 1) * H)
                wi.append(w_ih[s])
                wh.append(w_hh[s])
                bi.append(p["bias_ih"][s] if spec.bias else zero_b)
                bh.append(p["bias_hh"][s] if spec.bias else zero_b)
            if gate != "g":
                q = peep.get(gate)
                pp.append(zero_b if q is None or coupled else p["weight_ch"][q * H:(q + 1) * H])
        Ws.append(torch.cat(wi))
        Rs.append(torch.cat(wh))
        Bs.append(torch.cat(bi + bh))
        Ps.append(torch.cat(pp))
    return torch.stack(Ws), torch.stack(Rs), torch.stack(Bs), torch.stack(Ps)


def _gru_weights(module, layer: int):
    """ONNX's W (D, 3H, I), R (D, 3H, H), B (D, 6H), gates (z, r, h) from torch's (r, z, n)."""
    H = module.hidden_size
    Ws, Rs, Bs = [], [], []
    order = (1, 0, 2)
    for d in range(module.num_directions):
        p = {short: getattr(module, full) for short, full in module._names[layer * module.num_directions + d]}

        def re(t):
            return torch.cat([t[k * H:(k + 1) * H] for k in order])

        Ws.append(re(p["weight_ih"]))
        Rs.append(re(p["weight_hh"]))
        z = p["weight_ih"].new_zeros(3 * H)
        Bs.append(torch.cat([re(p["bias_ih"]) if module.bias else z, re(p["bias_hh"]) if module.bias else z]))
    return torch.stack(Ws), torch.stack(Rs), torch.stack(Bs)


def _rnn_weights(module, layer: int):
    Ws, Rs, Bs = [], [], []
    for d in range(module.num_directions):
        p = {short: getattr(module, full) for short, full in module._names[layer * module.num_directions + d]}
        z = p["weight_ih"].new_zeros(module.hidden_size)
        Ws.append(p["weight_ih"])
        Rs.append(p["weight_hh"])
        Bs.append(torch.cat([p["bias_ih"] if module.bias else z, p["bias_hh"] if module.bias else z]))
    return torch.stack(Ws), torch.stack(Rs), torch.stack(Bs)


def native_forward(module, input: Tensor, hx=None, lengths: Tensor | None = None):
    """``module(input, hx, lengths)`` through ONNX's native operators (one node per layer),
    or None when the module has no exact native form (:func:`native_op`).

    Called by :func:`lstmkit.layers.portable.export_forward` while the TorchScript ONNX
    exporter traces; the values it computes are the operators' semantics in torch.

    Args:
        module: a lstmkit LSTM, GRU or RNN.
        input: (T, B, I), (B, T, I) with batch_first, or (T, I).
        hx: the initial state as the module takes it, or None.
        lengths: optional (B,) ints (ONNX's sequence_lens).

    Example:
        >>> import torch, lstmkit
        >>> native_forward(lstmkit.LSTM(3, 4, variant="fgr"), torch.randn(5, 2, 3)) is None
        True
    """
    op = native_op(module)
    if op is None:
        return None
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(1)
    if batched and module.batch_first:
        x = x.transpose(0, 1)
    L, D, H = module.num_layers, module.num_directions, module.hidden_size
    given = [] if hx is None else list(module._state_tuple(hx))
    if not batched:
        given = [t.unsqueeze(1) for t in given]
    n_states = 2 if op == "LSTM" else 1
    B = x.shape[1]
    state = [given[k] if k < len(given) and given[k] is not None else x.new_zeros(L * D, B, H)
             for k in range(n_states)]
    lens = None if lengths is None else lengths.to(torch.int32)
    acts_rnn = ["Relu" if getattr(module, "nonlinearity", "tanh") == "relu" else "Tanh"] * D
    if op == "LSTM":
        v = module.variant
        acts = ["Sigmoid", "Tanh" if v.input_activation == "tanh" else "Affine",
                "Tanh" if v.output_activation == "tanh" else "Affine"] * D
    finals = [[] for _ in range(n_states)]
    layer_input = x
    for layer in range(L):
        s0 = [s[layer * D:(layer + 1) * D] for s in state]
        if op == "LSTM":
            W, R, Bb, P = _lstm_weights(module, layer)
            Y, *fin = _LSTMOp.apply(layer_input, W, R, Bb, lens, s0[0], s0[1], P, acts, v.coupled_input_forget)
        elif op == "GRU":
            W, R, Bb = _gru_weights(module, layer)
            Y, *fin = _GRUOp.apply(layer_input, W, R, Bb, lens, s0[0], D)
        else:
            W, R, Bb = _rnn_weights(module, layer)
            Y, *fin = _RNNOp.apply(layer_input, W, R, Bb, lens, s0[0], acts_rnn)
        # Y is (T, D, B, H): the directions concatenate on the feature axis
        layer_input = Y.transpose(1, 2).reshape(Y.shape[0], Y.shape[2], D * H) if D == 2 else Y.squeeze(1)
        for k in range(n_states):
            finals[k].append(fin[k])
    out = layer_input
    final = tuple(f[0] if L == 1 else torch.cat(f) for f in finals)
    if batched and module.batch_first:
        out = out.transpose(0, 1)
    if not batched:
        out = out.squeeze(1)
        final = tuple(t.squeeze(1) for t in final)
    return out, module._pack_state(final)


# ---- the convenience export ----------------------------------------------------------------
class _Exported(torch.nn.Module):
    """``(input[, lengths][, side...]) -> (output, *state)``: flat inputs and outputs for
    named graph inputs and outputs (a T-LSTM's elapsed times are its ``dt`` input)."""

    def __init__(self, module, with_lengths: bool, side_names: tuple = ()) -> None:
        super().__init__()
        self.module = module
        self.with_lengths = with_lengths
        self.side_names = tuple(side_names)

    def forward(self, input, *rest):
        lengths = rest[0] if self.with_lengths else None
        side = rest[1:] if self.with_lengths else rest
        kw = {}
        if self.side_names:
            kw = dict(zip(self.side_names, side))
        out, state = self.module(input, lengths=lengths, **kw)
        state = state if isinstance(state, tuple) else (state,)
        return (out, *state)


def _side_arguments(module) -> tuple:
    """The extra per-step inputs a module's forward takes by keyword (a T-LSTM's ``dt``)."""
    from .t_lstm import TLSTM

    return ("dt",) if isinstance(module, TLSTM) else ()


def export_onnx(module, path, example_input, *, lengths: bool = False, dynamic: bool = True, opset: int | None = None,
                overwrite: bool = False) -> str:
    """Export a lstmkit recurrent module to an ONNX file (TorchScript exporter).

    The graph's inputs are ``input`` (and ``lengths`` (B,) int64 with ``lengths=True``;
    a T-LSTM's elapsed times ``dt``, laid out like the steps, (T, B) or (B, T));
    its outputs ``output`` and the final state entries by the family's names (``h_n``,
    ``c_n``, ...). Native LSTM/GRU/RNN operators where exact, else an ``onnx::Loop``
    (see the module docstring). The module is exported in evaluation mode.

    Args:
        module: a lstmkit :class:`~lstmkit.layers.Recurrent` (any registered family with
            a portable twin).
        path: the file to write (str or path-like); refused if it exists.
        example_input: a tensor shaped as the module takes it, (T, B, *F) (or batch-first).
        lengths: add a ``lengths`` input (ONNX's sequence_lens / the loop's mask).
        dynamic: batch and sequence length dynamic (True) or fixed to the example's.
        opset: ONNX opset (default :data:`DEFAULT_OPSET`, 17; at least 14).
        overwrite: replace an existing file.

    Returns:
        ``path`` as a str.

    Raises:
        TypeError: ``module`` or ``example_input`` of the wrong kind.
        ValueError: a bad opset, or ``path`` exists and ``overwrite`` is False.
        ImportError: onnx is not installed (the ``export`` extra).

    Example:
        >>> import os, tempfile, torch, lstmkit
        >>> p = export_onnx(lstmkit.GRU(3, 4).eval(), os.path.join(tempfile.mkdtemp(), "g.onnx"),
        ...                 torch.randn(5, 2, 3))
        >>> os.path.getsize(p) > 0
        True
    """
    from .recurrent import Recurrent

    if not isinstance(module, Recurrent):
        raise TypeError(f"module must be a lstmkit recurrent module, got {type(module).__name__}")
    if not isinstance(example_input, Tensor):
        raise TypeError(f"example_input must be a Tensor, got {type(example_input).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    for name, value in (("lengths", lengths), ("dynamic", dynamic), ("overwrite", overwrite)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    opset = DEFAULT_OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, int) or not 14 <= opset <= 23:
        raise ValueError(f"opset must be an int from 14 to 23, got {opset!r}")
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it")
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as e:
        raise ImportError(_EXTRA) from e
    Fa = module.feature_axes
    batched = example_input.dim() == 2 + Fa
    if lengths and not batched:
        raise ValueError("lengths=True needs a batched example_input")
    t_axis, b_axis = (1, 0) if module.batch_first else (0, 1)
    names = ["output"] + [f"{n}_n" for n in module.specs[0].state_names]
    args: tuple = (example_input,)
    in_names = ["input"]
    dyn = {}
    if dynamic:
        dyn["input"] = {t_axis: "time", b_axis: "batch"} if batched else {0: "time"}
        dyn["output"] = dict(dyn["input"])
        for n in names[1:]:
            dyn[n] = {1: "batch"} if batched else {}
    if lengths:
        T, B = example_input.shape[t_axis], example_input.shape[b_axis]
        args = (example_input, torch.full((B,), T, dtype=torch.int64))
        in_names.append("lengths")
        if dynamic:
            dyn["lengths"] = {0: "batch"}
    side_names = _side_arguments(module)
    for name in side_names:  # laid out like the steps: (T, B), (B, T) with batch_first, (T,)
        steps = example_input.shape[:2] if batched else example_input.shape[:1]
        args = args + (torch.zeros(steps, dtype=example_input.dtype),)
        in_names.append(name)
        if dynamic:
            dyn[name] = {t_axis: "time", b_axis: "batch"} if batched else {0: "time"}
    wrapper = _Exported(module, lengths, side_names)
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        torch.onnx.export(wrapper, args, buf, dynamo=False, input_names=in_names, output_names=names,
                          dynamic_axes=dyn or None, opset_version=opset)
    finally:
        module.train(was_training)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"path {path!r} appeared while exporting; not replaced")
    atomic_write_bytes(path, buf.getvalue())  # readers never see a partial file
    return path


def _graph_summary(path) -> dict:
    """The op types, input and output names of an ONNX file (for tests and docs)."""
    import onnx

    g = onnx.load(os.fspath(path)).graph
    return {"inputs": [i.name for i in g.input], "outputs": [o.name for o in g.output],
            "ops": sorted({n.op_type for n in g.node})}

