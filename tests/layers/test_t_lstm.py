"""lstmkit.TLSTM: Δt = 0 is torch.nn.LSTM, lengths, both directions (the reverse one
discounts by the next gap), batch_first/unbatched, streaming, float64 gradcheck through
the layer, the registry, and the errors on dt."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lstmkit
from lstmkit.families import get_family, resolve_model
from lstmkit.layers.t_lstm import next_gaps


def _copy_to(src: lstmkit.TLSTM, dst: nn.Module) -> None:
    dst.load_state_dict({k: v for k, v in src.state_dict().items() if "decomp" not in k})


def test_zero_elapsed_time_is_torch_lstm():
    torch.manual_seed(0)
    m = lstmkit.TLSTM(3, 5, num_layers=2, bidirectional=True)
    ref = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    _copy_to(m, ref)
    x = torch.randn(7, 4, 3)
    out, (h, c) = m(x, dt=torch.zeros(7, 4))
    r_out, (rh, rc) = ref(x)
    assert torch.allclose(out, r_out, atol=1e-6) and torch.allclose(h, rh, atol=1e-6) and torch.allclose(c, rc, atol=1e-6)
    # and elapsed time changes the result
    assert not torch.allclose(m(x, dt=torch.full((7, 4), 3.0))[0], r_out, atol=1e-3)


def test_lengths_final_state_is_the_own_last_step():
    torch.manual_seed(1)
    m = lstmkit.TLSTM(2, 4, num_layers=2)
    x, dt = torch.randn(6, 3, 2), torch.rand(6, 3) * 4
    lengths = torch.tensor([6, 4, 1])
    out, (h, c) = m(x, lengths=lengths, dt=dt)
    assert bool((out[4:, 1] == 0).all()) and bool((out[1:, 2] == 0).all())
    for b, n in enumerate(lengths.tolist()):
        o_b, (h_b, c_b) = m(x[:n, b:b + 1], dt=dt[:n, b:b + 1])
        assert torch.allclose(out[:n, b], o_b[:, 0], atol=1e-6)
        assert torch.allclose(h[:, b], h_b[:, 0], atol=1e-6) and torch.allclose(c[:, b], c_b[:, 0], atol=1e-6)


def test_reverse_direction_discounts_by_the_next_gap():
    torch.manual_seed(2)
    bi = lstmkit.TLSTM(2, 3, bidirectional=True)
    fwd = lstmkit.TLSTM(2, 3)
    # the reverse direction's weights into a forward module, run on the flipped sequence
    fwd.load_state_dict({k.replace("_reverse", ""): v for k, v in bi.state_dict().items() if "_reverse" in k})
    x, dt = torch.randn(5, 2, 2), torch.rand(5, 2) * 3
    lengths = torch.tensor([5, 3])
    out, _ = bi(x, lengths=lengths, dt=dt)
    for b, n in enumerate(lengths.tolist()):
        gaps = next_gaps(dt[:n, b:b + 1])           # the gap to step t + 1; 0 at the last step
        flipped, _ = fwd(x[:n, b:b + 1].flip(0), dt=gaps.flip(0))
        assert torch.allclose(out[:n, b, 3:], flipped.flip(0)[:, 0], atol=1e-6)


def test_batch_first_unbatched_and_streaming():
    torch.manual_seed(3)
    m = lstmkit.TLSTM(3, 4, num_layers=2).eval()
    x, dt = torch.randn(6, 2, 3), torch.rand(6, 2) * 2
    out, (h, c) = m(x, dt=dt)
    bf = lstmkit.TLSTM(3, 4, num_layers=2, batch_first=True)
    bf.load_state_dict(m.state_dict())
    assert torch.allclose(bf(x.transpose(0, 1), dt=dt.t())[0].transpose(0, 1), out, atol=1e-6)
    assert torch.allclose(m(x[:, 1], dt=dt[:, 1])[0], out[:, 1], atol=1e-6)
    step, state, ys = m.stepper(), None, []
    for t in range(6):
        y, state = step(x[t], dt[t], state)
        ys.append(y)
    assert torch.allclose(torch.stack(ys), out, atol=1e-6) and torch.allclose(state[1], c, atol=1e-6)
    # the stepwise cell module is the same step
    cell = lstmkit.TLSTMCell(3, 4)
    cell.load_state_dict({k[:-3]: v for k, v in m.state_dict().items() if k.endswith("_l0")})
    hc = None
    for t in range(6):
        hc = cell(x[t], hc, dt=dt[t])
    first = lstmkit.TLSTM(3, 4).eval()
    first.load_state_dict({k: v for k, v in m.state_dict().items() if k.endswith("_l0")})
    assert torch.allclose(hc[0], first(x, dt=dt)[1][0][0], atol=1e-6)
    with pytest.raises(ValueError, match="cannot stream"):
        lstmkit.TLSTM(3, 4, bidirectional=True).stepper()


def test_gradcheck_float64_through_the_layer():
    torch.manual_seed(4)
    m = lstmkit.TLSTM(2, 3, bidirectional=True, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(4, 2, dtype=torch.float64) * 3).requires_grad_()
    lengths = torch.tensor([4, 2])
    names = [n for n, _ in m.named_parameters()]
    params = list(m.parameters())

    def f(x, dt, *ps):
        out, (h, c) = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": lengths, "dt": dt})
        return out, h, c

    assert torch.autograd.gradcheck(f, (x, dt, *params))


def test_registry_and_errors():
    fam, variant = resolve_model("tlstm")
    assert fam is get_family("t_lstm") and fam.module is lstmkit.TLSTM and fam.cell_module is lstmkit.TLSTMCell
    assert variant is None and fam.spec.__name__ == "TLSTMCellSpec"
    m = lstmkit.TLSTM(2, 3)
    x = torch.randn(5, 2, 2)
    with pytest.raises(ValueError, match="dt is required"):
        m(x)
    with pytest.raises(ValueError, match=r"dt must have shape \(T, B\) = \(5, 2\)"):
        m(x, dt=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"dt must have shape \(B, T\) = \(5, 2\)"):
        lstmkit.TLSTM(2, 3, batch_first=True)(x, dt=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="dt must be >= 0"):
        m(x, dt=-torch.ones(5, 2))
    with pytest.raises(ValueError, match="finite"):
        m(x, dt=torch.full((5, 2), float("nan")))
    with pytest.raises(TypeError, match="real numbers"):
        m(x, dt=torch.zeros(5, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="not side="):
        m(x, side={"dt": torch.zeros(5, 2)})
    with pytest.raises(TypeError, match="PackedSequence"):
        m(torch.nn.utils.rnn.pack_padded_sequence(x, [5, 3]), dt=torch.zeros(5, 2))
    with pytest.raises(TypeError, match=r"hx must be \(h_0, c_0\)"):
        m(x, torch.zeros(1, 2, 3), dt=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="expected input_size=2"):
        m(torch.randn(5, 2, 3), dt=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="dt must be >= 0"):
        lstmkit.TLSTMCell(2, 3)(torch.randn(4, 2), dt=-1.0)
    with pytest.raises(ValueError, match="short_term"):
        lstmkit.TLSTM(2, 3, short_term="exp")
