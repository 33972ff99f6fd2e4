"""Analytic tests: saturate a gate and the cell must become the variant without it;
hand-computed answers; properties that follow from the equations."""

import math

import pytest
import torch

import lstmkit
from lstmkit import LSTMVariant
from conftest import randomize

I, H, T, B = 3, 4, 7, 2
BIG = 40.0  # sigmoid(40) == 1 to within 4e-18


def _blocks(m, name, gate_list, layout):
    """Rows of the tensor ``name`` belonging to each gate in ``gate_list``."""
    t = getattr(m, name)
    return {g: t[k * H:(k + 1) * H] for k, g in enumerate(layout) if g in gate_list}


def _copy_without(src, dst, dropped_gate):
    """Copy src's parameters into dst (which lacks ``dropped_gate``)."""
    sv, dv = src.variant, dst.variant
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            s = _blocks(src, name, dv.gate_blocks, sv.gate_blocks)
            getattr(dst, name).copy_(torch.cat([s[g] for g in dv.gate_blocks]))
        if dv.peepholes:
            s = _blocks(src, "weight_ch_l0", dv.peephole_gates, sv.peephole_gates)
            dst.weight_ch_l0.copy_(torch.cat([s[g] for g in dv.peephole_gates]))


def _saturate(m, gate):
    v = m.variant
    k = v.gate_blocks.index(gate)
    rows = slice(k * H, (k + 1) * H)
    with torch.no_grad():
        m.weight_ih_l0[rows] = 0
        m.weight_hh_l0[rows] = 0
        m.bias_ih_l0[rows] = BIG
        m.bias_hh_l0[rows] = 0
        if v.peepholes:
            kp = v.peephole_gates.index(gate)
            m.weight_ch_l0[kp * H:(kp + 1) * H] = 0


@pytest.mark.parametrize("gate, target", [("i", "nig"), ("f", "nfg"), ("o", "nog")])
def test_saturated_gate_is_the_variant_without_it(gate, target):
    vanilla = lstmkit.LSTM(I, H, variant="vanilla", dtype=torch.float64)
    randomize(vanilla)
    _saturate(vanilla, gate)
    other = lstmkit.LSTM(I, H, variant=target, dtype=torch.float64)
    _copy_without(vanilla, other, gate)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out_v, (h_v, c_v) = vanilla(x)
    out_o, (h_o, c_o) = other(x)
    torch.testing.assert_close(out_v, out_o, atol=1e-12, rtol=0)
    torch.testing.assert_close(c_v, c_o, atol=1e-12, rtol=0)
    # and the saturated gate really mattered: unsaturated, the outputs differ
    randomize(vanilla)
    assert not torch.allclose(vanilla(x)[0], out_o, atol=1e-3)


def test_vanilla_without_forget_gate_or_peepholes_is_hochreiter1997():
    vanilla = lstmkit.LSTM(I, H, variant="vanilla", dtype=torch.float64)
    randomize(vanilla)
    _saturate(vanilla, "f")
    with torch.no_grad():
        vanilla.weight_ch_l0.zero_()
    h97 = lstmkit.LSTM(I, H, variant="hochreiter1997", dtype=torch.float64)
    _copy_without(vanilla, h97, "f")
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.testing.assert_close(vanilla(x)[0], h97(x)[0], atol=1e-12, rtol=0)


def test_1997_cell_state_accumulates_without_forgetting():
    """No forget gate: c_t = c_{t-1} + i_t z_t exactly (the constant error carousel)."""
    m = lstmkit.LSTM(I, H, variant="hochreiter1997", dtype=torch.float64)
    randomize(m)
    x = torch.randn(T, B, I, dtype=torch.float64)
    g = m.gates(x)
    c_prev = torch.cat([torch.zeros(1, B, H, dtype=torch.float64), g["cell_state"][:-1]])
    torch.testing.assert_close(g["cell_state"], c_prev + g["input_gate"] * g["block_input"])
    assert torch.equal(g["forget_gate"], torch.ones_like(g["forget_gate"]))


def test_cifg_forget_gate_is_one_minus_input_gate():
    m = lstmkit.LSTM(I, H, variant="cifg", dtype=torch.float64)
    randomize(m)
    g = m.gates(torch.randn(T, B, I, dtype=torch.float64))
    torch.testing.assert_close(g["forget_gate"], 1 - g["input_gate"], atol=0, rtol=0)
    assert not torch.allclose(g["input_gate"], torch.full_like(g["input_gate"], 0.5), atol=1e-2)


def test_noaf_output_is_gate_times_cell_state():
    m = lstmkit.LSTM(I, H, variant="noaf", dtype=torch.float64)
    randomize(m, scale=1.5)
    g = m.gates(torch.randn(T, B, I, dtype=torch.float64) * 3)
    torch.testing.assert_close(g["output"], g["output_gate"] * g["cell_state"])
    assert g["output"].abs().max() > 1.0  # unbounded: no tanh


def test_niaf_block_input_is_linear():
    m = lstmkit.LSTM(I, H, variant="niaf", dtype=torch.float64)
    with torch.no_grad():
        m.weight_hh_l0.zero_()
        m.bias_ih_l0.zero_()
        m.bias_hh_l0.zero_()
    x = torch.randn(T, B, I, dtype=torch.float64) * 5
    g = m.gates(x)
    k = m.variant.gate_blocks.index("g")
    expected = x @ m.weight_ih_l0[k * H:(k + 1) * H].T
    torch.testing.assert_close(g["block_input"], expected)


def test_fgr_with_zero_gate_recurrence_is_vanilla():
    fgr = lstmkit.LSTM(I, H, variant="fgr", dtype=torch.float64)
    randomize(fgr)
    with torch.no_grad():
        fgr.weight_gg_l0.zero_()
    vanilla = lstmkit.LSTM(I, H, variant="vanilla", dtype=torch.float64)
    vanilla.load_state_dict({k: v for k, v in fgr.state_dict().items() if not k.startswith("weight_gg")})
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.testing.assert_close(fgr(x)[0], vanilla(x)[0], atol=0, rtol=0)
    randomize(fgr)  # with it, they differ
    vanilla.load_state_dict({k: v for k, v in fgr.state_dict().items() if not k.startswith("weight_gg")})
    assert not torch.allclose(fgr(x)[0], vanilla(x)[0], atol=1e-4)


def test_fgr_state_carries_previous_gates():
    m = lstmkit.LSTM(I, H, variant="fgr", dtype=torch.float64)
    randomize(m)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, (h, c, a) = m(x)
    g = m.gates(x)
    last = torch.cat([g["input_gate"][-1], g["forget_gate"][-1], g["output_gate"][-1]], dim=-1)
    torch.testing.assert_close(a[0], last)


def test_layer_norm_is_invariant_to_input_weight_scale():
    m = lstmkit.LSTM(I, H, variant="layer_norm", dtype=torch.float64)
    randomize(m)
    x = torch.randn(T, B, I, dtype=torch.float64)
    before = m(x)[0]
    with torch.no_grad():
        m.weight_ih_l0.mul_(10.0)
    torch.testing.assert_close(m(x)[0], before, atol=1e-4, rtol=0)
    plain = lstmkit.LSTM(I, H, variant="standard", dtype=torch.float64)
    randomize(plain)
    b2 = plain(x)[0]
    with torch.no_grad():
        plain.weight_ih_l0.mul_(10.0)
    assert not torch.allclose(plain(x)[0], b2, atol=1e-2)


def test_hand_computed_vanilla_step():
    """One unit, one input, two steps, every number written out by hand."""
    m = lstmkit.LSTMCell(1, 1, variant="vanilla", dtype=torch.float64)
    # blocks (i, f, g, o); peepholes (i, f, o)
    W = [0.5, -0.3, 0.8, 0.2]
    R = [0.1, 0.4, -0.6, 0.3]
    b = [0.05, 1.0, -0.1, 0.2]
    p = [0.7, -0.2, 0.9]
    with torch.no_grad():
        m.weight_ih.copy_(torch.tensor(W, dtype=torch.float64).view(4, 1))
        m.weight_hh.copy_(torch.tensor(R, dtype=torch.float64).view(4, 1))
        m.bias_ih.copy_(torch.tensor(b, dtype=torch.float64))
        m.bias_hh.zero_()
        m.weight_ch.copy_(torch.tensor(p, dtype=torch.float64))
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h, c = 0.0, 0.0
    hs = []
    for x in (1.0, -2.0):
        i = s(W[0] * x + R[0] * h + b[0] + p[0] * c)
        f = s(W[1] * x + R[1] * h + b[1] + p[1] * c)
        z = math.tanh(W[2] * x + R[2] * h + b[2])
        c = z * i + c * f
        o = s(W[3] * x + R[3] * h + b[3] + p[2] * c)
        h = math.tanh(c) * o
        hs.append((h, c))
    state = None
    for k, x in enumerate((1.0, -2.0)):
        state = m(torch.tensor([[x]], dtype=torch.float64), state)
        assert state[0].item() == pytest.approx(hs[k][0], abs=1e-15)
        assert state[1].item() == pytest.approx(hs[k][1], abs=1e-15)


def test_zoneout_eval_interpolates_and_training_keeps_state():
    m = lstmkit.LSTM(I, H, variant="vanilla", zoneout=0.5, dtype=torch.float64)
    randomize(m)
    x = torch.randn(T, B, I, dtype=torch.float64)
    m.eval()
    out, _ = m(x)
    cell = lstmkit.LSTMCell(I, H, variant="vanilla", dtype=torch.float64)
    cell.load_state_dict({k[:-3]: v for k, v in m.state_dict().items()})
    h = c = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        h_new, c_new = cell(x[t], (h, c))
        h, c = 0.5 * h + 0.5 * h_new, 0.5 * c + 0.5 * c_new
        torch.testing.assert_close(out[t], h)
    sticky = lstmkit.LSTM(I, H, zoneout=0.999, dtype=torch.float64).train()
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    out, (h_n, _) = sticky(x, (h0, torch.zeros_like(h0)))
    assert (h_n == h0).float().mean() > 0.95


def test_recurrent_dropout_mask_is_fixed_per_sequence():
    """Elman relu with R = I, no input: h_t = (m * h_{t-1}); the zero pattern never changes
    across steps only if the mask is the same at every step (variational dropout)."""
    m = lstmkit.RNN(1, 64, nonlinearity="relu", bias=False, recurrent_dropout=0.5)
    with torch.no_grad():
        m.weight_ih_l0.zero_()
        m.weight_hh_l0.copy_(torch.eye(64))
    h0 = torch.ones(1, 3, 64)
    out, _ = m.train()(torch.zeros(6, 3, 1), h0)
    zero = out == 0
    assert zero.any() and not zero.all()
    assert torch.equal(zero, zero[:1].expand_as(zero))
    assert not torch.equal(zero[:, 0], zero[:, 1])  # a different mask per sequence
    torch.testing.assert_close(out[-1][~zero[-1]], torch.full_like(out[-1][~zero[-1]], 2.0 ** 6))
    out_eval, _ = m.eval()(torch.zeros(6, 3, 1), h0)
    assert torch.equal(out_eval, torch.ones_like(out_eval))


@pytest.mark.parametrize("name", ["vanilla", "fgr", "nog"])
def test_gates_of_every_layer_and_direction_match_the_forward_pass(name):
    m = lstmkit.LSTM(I, H, num_layers=2, bidirectional=True, variant=name, dtype=torch.float64)
    randomize(m)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, (h_n, c_n, *_) = m(x)
    for direction in (0, 1):
        g = m.gates(x, layer=1, direction=direction)
        torch.testing.assert_close(g["output"], out[:, :, direction * H:(direction + 1) * H])
        last = 0 if direction else -1
        torch.testing.assert_close(g["cell_state"][last], c_n[2 + direction])
    with pytest.raises(ValueError, match="layer, direction"):
        m.gates(x, layer=2)


def test_lstm_truncated_gradient_is_the_1997_gradient():
    """LSTM(truncated_gradient=True): the same outputs; weight gradients equal the reference
    loop's with h_{t-1} detached (computed here step by step, by hand from the cell), and
    differ from the full gradient; no error reaches h_0 through time, some reaches c_0."""
    from lstmkit.cells import LSTMCellSpec

    torch.manual_seed(3)
    full = lstmkit.LSTM(3, 4, variant="vanilla")
    cut = lstmkit.LSTM(3, 4, variant="vanilla", truncated_gradient=True)
    cut.load_state_dict(full.state_dict())
    assert "truncated_gradient=True" in repr(cut)
    x = torch.randn(7, 2, 3)
    h0, c0 = (torch.randn(1, 2, 4, requires_grad=True) for _ in range(2))
    y_full, _ = full(x, (h0, c0))
    y_cut, _ = cut(x, (h0, c0))
    torch.testing.assert_close(y_cut, y_full)
    w = torch.randn_like(y_cut)
    g_cut = torch.autograd.grad((y_cut * w).sum(), [cut.weight_hh_l0, h0, c0], allow_unused=True)
    g_full = torch.autograd.grad((y_full * w).sum(), [full.weight_hh_l0, h0])
    # by hand: one cell step at a time, h fed in detached
    spec = LSTMCellSpec(3, 4, "vanilla")
    p = {k: getattr(cut, f"{k}_l0") for k in spec.param_shapes()}
    h, c = h0[0], c0[0]
    loss = 0.0
    for t in range(7):
        h, c = spec.step(spec.input_projection(x[t], p), (h.detach(), c), p, None)[:2]
        loss = loss + (h * w[t]).sum()
    g_hand = torch.autograd.grad(loss, [cut.weight_hh_l0, c0])
    torch.testing.assert_close(g_cut[0], g_hand[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_cut[2], g_hand[1], rtol=1e-5, atol=1e-6)
    assert g_cut[1] is None and float(g_full[1].abs().max()) > 0
    assert float((g_cut[0] - g_full[0]).abs().max()) > 1e-4  # not the full gradient
    with pytest.raises(TypeError, match="truncated_gradient"):
        lstmkit.LSTM(3, 4, truncated_gradient=1)
