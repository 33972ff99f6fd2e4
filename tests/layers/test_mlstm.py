"""lstmkit.mLSTM / mLSTMCell: the module over the generic Recurrent, its runner, lengths,
directions, streaming, state in and out, gradcheck, registry and bad input."""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit.cells.mlstm import mLSTMCellSpec
from lstmkit.families import get_family
from lstmkit.kernels.mlstm import mLSTMRunner
from lstmkit.recurrent import run_recurrence

F64 = torch.float64


def _module(**kw):
    torch.manual_seed(0)
    kw = {"num_heads": 2, **kw}
    m = lstmkit.mLSTM(3, 8, **kw).double()
    with torch.no_grad():  # livelier gates than xlstm's init (gate weights zero)
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return m


def _reference(m, monkeypatch, *args, **kw):
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    try:
        return m(*args, **kw)
    finally:
        monkeypatch.delenv("LSTMKIT_BACKEND")


def test_shapes_and_layout():
    m = lstmkit.mLSTM(6, 16, num_heads=4, num_layers=2, bidirectional=True)
    assert [n for n, _ in m.named_parameters()] == [
        "weight_ih_l0", "bias_ih_l0", "weight_ih_l0_reverse", "bias_ih_l0_reverse",
        "weight_ih_l1", "bias_ih_l1", "weight_ih_l1_reverse", "bias_ih_l1_reverse",
    ]
    assert m.weight_ih_l0.shape == (4 * 16 + 2 * 4, 6) and m.weight_ih_l1.shape == (72, 32)
    out, (h, C, n, mx) = m(torch.randn(9, 2, 6))
    assert out.shape == (9, 2, 32)
    assert (h.shape, C.shape, n.shape, mx.shape) == ((4, 2, 16), (4, 2, 4, 4, 4), (4, 2, 4, 4), (4, 2, 4))
    assert "num_heads=4" in repr(m) and "bidirectional=True" in repr(m)


def test_xlstm_initialisation():
    m = lstmkit.mLSTM(6, 16, num_heads=4)
    w, b = m.weight_ih_l0.detach(), m.bias_ih_l0.detach()
    assert torch.equal(w[48:56], torch.zeros(8, 6))  # input and forget gate weights
    torch.testing.assert_close(b[52:56], torch.linspace(3.0, 6.0, 4))  # forget-gate biases
    assert torch.equal(b[:48], torch.zeros(48)) and torch.equal(b[56:], torch.zeros(16))
    assert float(b[48:52].abs().max()) < 0.5 and float(b[48:52].abs().max()) > 0


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [11, 5, 1]])
def test_runner_equals_reference_loop(monkeypatch, bidirectional, lengths):
    m = _module(num_layers=2, bidirectional=bidirectional, chunk_size=4)
    assert all(isinstance(r, mLSTMRunner) for r in m.kernel_plan().runners)
    x = torch.randn(11, 3, 3, dtype=F64, requires_grad=True)
    L = None if lengths is None else torch.tensor(lengths)
    out, st = m(x, lengths=L)
    g = torch.autograd.grad(out.sum() + sum(s.sum() for s in st), [x, *m.parameters()])
    ref, ref_st = _reference(m, monkeypatch, x, lengths=L)
    ref_g = torch.autograd.grad(ref.sum() + sum(s.sum() for s in ref_st), [x, *m.parameters()])
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip((*st, *g), (*ref_st, *ref_g)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_lengths_equal_separate_sequences():
    m = _module(bidirectional=True)
    x = torch.randn(10, 3, 3, dtype=F64)
    lengths = [10, 6, 2]
    out, (h, C, n, mx) = m(x, lengths=torch.tensor(lengths))
    for b, T in enumerate(lengths):
        o, (h1, C1, n1, m1) = m(x[:T, b:b + 1])
        torch.testing.assert_close(out[:T, b:b + 1], o)
        assert bool((out[T:, b] == 0).all())
        for u, w in ((h, h1), (C, C1), (n, n1), (mx, m1)):
            torch.testing.assert_close(u[:, b:b + 1], w)


def test_batch_first_unbatched_and_packed():
    m = _module(batch_first=True)
    x = torch.randn(2, 7, 3, dtype=F64)
    out, st = m(x)
    assert out.shape == (2, 7, 8)
    o1, s1 = m(x[0])  # unbatched (T, I)
    torch.testing.assert_close(o1, out[0])
    assert s1[1].shape == (1, 2, 4, 4)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, [7, 3], batch_first=True)
    po, _ = m(packed)
    pad, _ = torch.nn.utils.rnn.pad_packed_sequence(po, batch_first=True)
    ref, _ = m(x, lengths=torch.tensor([7, 3]))
    torch.testing.assert_close(pad, ref[:, : pad.shape[1]])


def test_state_carried_across_chunks_of_a_sequence():
    m = _module(num_layers=2, chunk_size=3)
    x = torch.randn(20, 2, 3, dtype=F64)
    whole, st = m(x)
    a, s = m(x[:8])
    b, s = m(x[8:], s)
    torch.testing.assert_close(torch.cat([a, b]), whole)
    for u, w in zip(s, st):
        torch.testing.assert_close(u, w)


def test_stepper_streams_the_same_numbers():
    m = _module(num_layers=2).eval()
    x = torch.randn(12, 2, 3, dtype=F64)
    step = m.stepper()
    state, ys = None, []
    for t in range(12):
        y, state = step(x[t], state)
        ys.append(y)
    with torch.no_grad():
        whole, st = m(x)
    torch.testing.assert_close(torch.stack(ys), whole)
    for u, w in zip(state, st):
        torch.testing.assert_close(u, w)


def test_cell_module_is_one_step_of_the_layer():
    torch.manual_seed(1)
    cell = lstmkit.mLSTMCell(3, 8, num_heads=2).double()
    m = lstmkit.mLSTM(3, 8, num_heads=2).double()
    m.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = torch.randn(5, 2, 3, dtype=F64)
    state = None
    for t in range(5):
        state = cell(x[t], state)
    out, st = m(x)
    torch.testing.assert_close(state[0], out[-1])
    for u, w in zip(state, st):
        torch.testing.assert_close(u, w[0])


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_gradcheck_module(forget_gate):
    m = lstmkit.mLSTM(2, 4, num_heads=2, num_layers=2, bidirectional=True, forget_gate=forget_gate,
                      chunk_size=2).double()
    x = torch.randn(5, 2, 2, dtype=F64, requires_grad=True)
    names = [n for n, _ in m.named_parameters()]

    def f(x, *params):
        out, st = torch.func.functional_call(m, dict(zip(names, params)), (x,), {"lengths": torch.tensor([5, 3])})
        return (out, *st)

    # fast_mode: one random projection of the Jacobian (the full check of every form is in
    # tests/kernels/test_mlstm_runner.py); here it is the stack, directions and lengths
    assert torch.autograd.gradcheck(f, (x, *[p.detach().requires_grad_() for p in m.parameters()]), atol=1e-6,
                                    fast_mode=True)


def test_registry_and_export():
    fam = get_family("mlstm")
    assert fam.module is lstmkit.mLSTM and fam.cell_module is lstmkit.mLSTMCell and fam.spec is mLSTMCellSpec
    assert "mLSTM" in lstmkit.__all__ and "mLSTMCell" in lstmkit.__all__


def test_positional_arguments_are_torch_nn_lstm_s_and_models_find_the_family():
    m = lstmkit.mLSTM(3, 8, 2, True, True, 0.0, True, num_heads=2)
    assert (m.num_layers, m.bias, m.batch_first, m.bidirectional, m.num_heads) == (2, True, True, True, 2)
    from lstmkit.models import SequenceModel

    model = SequenceModel(3, 8, 2, num_layers=2, cell="mlstm", readout="last")
    assert isinstance(model.rnn, lstmkit.mLSTM) and model.rnn.num_layers == 2
    y, state = model(torch.randn(7, 4, 3), lengths=torch.tensor([7, 5, 2, 1]))
    assert y.shape == (4, 2) and len(state) == 4


def test_training_with_dropout_between_layers():
    m = lstmkit.mLSTM(3, 8, num_heads=2, num_layers=2, dropout=0.5).train()
    out, _ = m(torch.randn(6, 2, 3))
    out.sum().backward()
    assert m.weight_ih_l0.grad is not None and torch.isfinite(m.weight_ih_l0.grad).all()


def test_bad_input():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        lstmkit.mLSTM(3, 10, num_heads=4)
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        lstmkit.mLSTM(3, 8, num_heads=0)
    with pytest.raises(TypeError, match="num_heads must be an int"):
        lstmkit.mLSTM(3, 8, num_heads=2.0)
    with pytest.raises(ValueError, match="forget_gate must be one of"):
        lstmkit.mLSTM(3, 8, forget_gate="tanh")
    with pytest.raises(ValueError, match="chunk_size"):
        lstmkit.mLSTM(3, 8, chunk_size=0)
    with pytest.raises(TypeError):
        lstmkit.mLSTM(3, 8, 1, True, False, 0.0, False, 2)  # num_heads is keyword-only
    m = lstmkit.mLSTM(3, 8, num_heads=2)
    with pytest.raises(ValueError, match="expected input_size=3"):
        m(torch.randn(4, 2, 5))
    with pytest.raises(TypeError, match=r"hx must be \(h_0, C_0, n_0, m_0\)"):
        m(torch.randn(4, 2, 3), torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match=r"initial state C_0 must have shape \(1, 2, 2, 4, 4\)"):
        m(torch.randn(4, 2, 3), (torch.zeros(1, 2, 8), torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 4),
                                 torch.zeros(1, 2, 2)))
    with pytest.raises(TypeError, match="dtype"):
        m(torch.randn(4, 2, 3, dtype=F64))
    spec = mLSTMCellSpec(3, 8, 2)
    p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
    with pytest.raises(ValueError, match="no recurrent weights"):
        spec.step(spec.input_projection(torch.randn(2, 3), p), spec.initial_state(2), p, torch.ones(2, 8))
    with pytest.raises(TypeError, match="state_shapes"):
        spec.state_sizes()


def test_spec_step_is_the_stabilised_form_of_eq_21():
    # unstabilised eqs. 19-21 (no m, eps = 0) in float64 give the same h
    spec = mLSTMCellSpec(3, 8, 2, eps=0.0)
    g = torch.Generator().manual_seed(3)
    p = {k: torch.randn(s, generator=g, dtype=F64) * 0.5 for k, s in spec.param_shapes().items()}
    x = torch.randn(6, 2, 3, generator=g, dtype=F64)
    out, _ = run_recurrence(spec, p, x, spec.initial_state(2, dtype=F64))
    C = torch.zeros(2, 2, 4, 4, dtype=F64)
    n = torch.zeros(2, 2, 4, dtype=F64)
    for t in range(6):
        q, k, v, i_pre, log_f, o_pre = spec.split(spec.input_projection(x[t], p))
        i, f = torch.exp(i_pre), torch.exp(log_f)
        C = f[..., None, None] * C + i[..., None, None] * v[..., :, None] * k[..., None, :]
        n = f[..., None] * n + i[..., None] * k
        h_tilde = (C @ q[..., None]).squeeze(-1) / torch.clamp((n * q).sum(-1).abs(), min=1.0)[..., None]
        torch.testing.assert_close(out[t], torch.sigmoid(o_pre) * h_tilde.flatten(-2))
