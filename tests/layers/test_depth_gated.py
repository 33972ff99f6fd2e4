"""DepthGatedLSTM (Yao et al. 2015): the equations written out for two layers, a closed
depth gate gives torch.nn.LSTM's stack, one layer is torch.nn.LSTM, lengths, both
directions, streaming, float64 gradcheck, registry and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lstmkit
from lstmkit.cells.depth_gated import DepthGatedLSTMCellSpec
from lstmkit.families import resolve_model


def _lstm_stack_weights(m):
    return {k: v for k, v in m.state_dict().items() if not any(s in k for s in ("_dx", "_dc", "_dl", "bias_d"))}


def test_two_layers_by_hand():
    torch.manual_seed(0)
    m = lstmkit.DepthGatedLSTM(2, 3, num_layers=2, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    out, (h, c) = m(x)
    p0, p1 = m.cell_params(0), m.cell_params(1)
    sg = torch.sigmoid

    def lstm(p, x, hh, cc):
        z = x @ p["weight_ih"].T + hh @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]
        i, f, g, o = z.chunk(4, -1)
        return sg(i), sg(f), torch.tanh(g), sg(o)

    h0 = c0 = h1 = c1 = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(4):
        i, f, g, o = lstm(p0, x[t], h0, c0)
        c0 = f * c0 + i * g
        h0 = o * torch.tanh(c0)
        i, f, g, o = lstm(p1, h0, h1, c1)
        d = sg(h0 @ p1["weight_dx"].T + p1["weight_dc"] * c1 + p1["weight_dl"] * c0 + p1["bias_d"])
        c1 = d * c0 + f * c1 + i * g
        h1 = o * torch.tanh(c1)
        assert torch.allclose(out[t], h1, atol=1e-12)
    assert torch.allclose(c[1], c1, atol=1e-12) and torch.allclose(c[0], c0, atol=1e-12)


def test_closed_depth_gate_is_the_plain_stack_and_one_layer_is_torch():
    torch.manual_seed(1)
    m = lstmkit.DepthGatedLSTM(3, 4, num_layers=3, bidirectional=True)
    ref = nn.LSTM(3, 4, num_layers=3, bidirectional=True)
    ref.load_state_dict(_lstm_stack_weights(m))
    x = torch.randn(6, 2, 3)
    assert not torch.allclose(m(x)[0], ref(x)[0], atol=1e-3)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith("bias_d"):
                p.fill_(-200.0)
    out, (h, c) = m(x)
    r_out, (rh, rc) = ref(x)
    assert torch.allclose(out, r_out, atol=1e-6) and torch.allclose(c, rc, atol=1e-6)
    one = lstmkit.DepthGatedLSTM(3, 4)
    t1 = nn.LSTM(3, 4)
    t1.load_state_dict(one.state_dict())
    assert torch.allclose(one(x)[0], t1(x)[0], atol=1e-6)


def test_lengths_directions_streaming():
    torch.manual_seed(2)
    m = lstmkit.DepthGatedLSTM(2, 3, num_layers=2, bidirectional=True)
    x = torch.randn(5, 2, 2)
    out, (h, c) = m(x, lengths=torch.tensor([5, 3]))
    alone, (ha, ca) = m(x[:3, 1:])
    assert torch.allclose(out[:3, 1], alone[:, 0], atol=1e-6) and bool((out[3:, 1] == 0).all())
    assert torch.allclose(c[:, 1], ca[:, 0], atol=1e-6)
    uni = lstmkit.DepthGatedLSTM(2, 3, num_layers=3).eval()
    step, state, ys = uni.stepper(), None, []
    for t in range(5):
        y, state = step(x[t], state)
        ys.append(y)
    assert torch.allclose(torch.stack(ys), uni(x)[0], atol=1e-6)


def test_gradcheck_float64():
    torch.manual_seed(3)
    m = lstmkit.DepthGatedLSTM(2, 2, num_layers=2, bidirectional=True, dtype=torch.float64)
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        out, (h, c) = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": torch.tensor([3, 2])})
        return out, c

    assert torch.autograd.gradcheck(f, (x, *m.parameters()))


def test_registry_and_errors():
    fam, _ = resolve_model("dglstm")
    assert fam.module is lstmkit.DepthGatedLSTM and fam.spec is DepthGatedLSTMCellSpec
    m = lstmkit.DepthGatedLSTM(2, 3, num_layers=2)
    assert "weight_dl_l1" in dict(m.named_parameters()) and "weight_dl_l0" not in dict(m.named_parameters())
    with pytest.raises(ValueError, match="expected input_size=2|expected \\(2,\\)"):
        m(torch.randn(4, 1, 5))
    with pytest.raises(TypeError, match=r"hx must be \(h_0, c_0\)"):
        m(torch.randn(4, 1, 2), torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="lower cell"):
        DepthGatedLSTMCellSpec(2, 3).check_input_shape((2,))
    with pytest.raises(TypeError, match="depth_gate must be a bool"):
        DepthGatedLSTMCellSpec(2, 3, depth_gate=1)
