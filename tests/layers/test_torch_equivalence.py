"""Equivalence with torch.nn.LSTM / GRU / RNN and their cells, weights copied.

Outputs, final states and every parameter's gradient within 1e-5 (float32), over
num_layers {1, 3}, bidirectional, batch_first, proj_size, and three input forms:
a plain tensor, a PackedSequence, and a padded tensor with ``lengths=``.
"""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit

TOL = 1e-5
I, H, T, B = 5, 7, 6, 4
LENGTHS = torch.tensor([4, 6, 1, 3])


def _inputs(batch_first):
    x = torch.randn(B, T, I) if batch_first else torch.randn(T, B, I)
    return x


def _run(module, x, mode, batch_first, hx):
    """Returns (padded output in module layout, state)."""
    if mode == "plain":
        return module(x, hx)
    if mode == "packed":
        packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, state = module(packed, hx)
        assert isinstance(out, nn.utils.rnn.PackedSequence)
        padded, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
        return padded, state
    raise AssertionError(mode)


def _compare(ref, ours, x, mode, batch_first, hx_ref=None, hx_ours=None):
    out_r, st_r = _run(ref, x, mode, batch_first, hx_ref)
    out_o, st_o = _run(ours, x, mode, batch_first, hx_ours)
    st_r = st_r if isinstance(st_r, tuple) else (st_r,)
    st_o = st_o if isinstance(st_o, tuple) else (st_o,)
    torch.testing.assert_close(out_o, out_r, atol=TOL, rtol=0)
    for a, b in zip(st_o, st_r):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    loss_r = out_r.pow(2).mean() + sum(s.mean() for s in st_r)
    loss_o = out_o.pow(2).mean() + sum(s.mean() for s in st_o)
    loss_r.backward()
    loss_o.backward()
    grads_r = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads_r[name].grad, atol=TOL, rtol=0, msg=lambda m: f"{name}: {m}")


CONFIGS = list(itertools.product([1, 3], [False, True], [False, True]))


@pytest.mark.parametrize("num_layers, bidirectional, batch_first", CONFIGS)
@pytest.mark.parametrize("proj_size", [0, 3])
@pytest.mark.parametrize("mode", ["plain", "packed"])
def test_lstm_matches_torch(num_layers, bidirectional, batch_first, proj_size, mode):
    ref = nn.LSTM(I, H, num_layers, batch_first=batch_first, bidirectional=bidirectional, proj_size=proj_size)
    ours = lstmkit.LSTM.from_torch(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = _inputs(batch_first)
    D = 2 if bidirectional else 1
    h0 = torch.randn(num_layers * D, B, proj_size or H)
    c0 = torch.randn(num_layers * D, B, H)
    _compare(ref, ours, x, mode, batch_first, (h0, c0), (h0, c0))


@pytest.mark.parametrize("num_layers, bidirectional, batch_first", CONFIGS)
@pytest.mark.parametrize("proj_size", [0, 3])
def test_lstm_lengths_matches_torch_packed(num_layers, bidirectional, batch_first, proj_size):
    """A padded tensor with lengths= gives what torch gives for the packed sequence."""
    ref = nn.LSTM(I, H, num_layers, batch_first=batch_first, bidirectional=bidirectional, proj_size=proj_size)
    ours = lstmkit.LSTM.from_torch(ref)
    x = _inputs(batch_first)
    out_r, (h_r, c_r) = _run(ref, x, "packed", batch_first, None)
    out_o, (h_o, c_o) = ours(x, lengths=LENGTHS)
    torch.testing.assert_close(out_o, out_r, atol=TOL, rtol=0)
    torch.testing.assert_close(h_o, h_r, atol=TOL, rtol=0)
    torch.testing.assert_close(c_o, c_r, atol=TOL, rtol=0)
    (out_r.mean() + h_r.mean() + c_r.pow(2).mean()).backward()
    (out_o.mean() + h_o.mean() + c_o.pow(2).mean()).backward()
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, atol=TOL, rtol=0)


@pytest.mark.parametrize("kind", ["gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("num_layers, bidirectional, batch_first", CONFIGS)
@pytest.mark.parametrize("mode", ["plain", "packed", "lengths"])
def test_gru_rnn_match_torch(kind, num_layers, bidirectional, batch_first, mode):
    kw = dict(num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional)
    if kind == "gru":
        ref, cls = nn.GRU(I, H, **kw), lstmkit.GRU
    else:
        ref, cls = nn.RNN(I, H, nonlinearity=kind.split("_")[1], **kw), lstmkit.RNN
    ours = cls.from_torch(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = _inputs(batch_first)
    h0 = torch.randn(num_layers * (2 if bidirectional else 1), B, H)
    if mode == "lengths":
        out_r, h_r = _run(ref, x, "packed", batch_first, h0)
        out_o, h_o = ours(x, h0, lengths=LENGTHS)
        torch.testing.assert_close(out_o, out_r, atol=TOL, rtol=0)
        torch.testing.assert_close(h_o, h_r, atol=TOL, rtol=0)
        (out_r.pow(2).mean() + h_r.mean()).backward()
        (out_o.pow(2).mean() + h_o.mean()).backward()
        ref_params = dict(ref.named_parameters())
        for name, p in ours.named_parameters():
            torch.testing.assert_close(p.grad, ref_params[name].grad, atol=TOL, rtol=0)
    else:
        _compare(ref, ours, x, mode, batch_first, h0, h0)


def test_input_and_state_gradients_match():
    ref = nn.LSTM(I, H, 2, bidirectional=True)
    ours = lstmkit.LSTM.from_torch(ref)
    x1 = torch.randn(T, B, I, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    h1 = torch.randn(4, B, H, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_()
    o1, _ = ref(x1, (h1, torch.zeros(4, B, H)))
    o2, _ = ours(x2, (h2, torch.zeros(4, B, H)))
    o1.sum().backward()
    o2.sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=TOL, rtol=0)
    torch.testing.assert_close(h2.grad, h1.grad, atol=TOL, rtol=0)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_unbatched_input_matches_torch(cls):
    ref = cls(I, H, num_layers=2)
    ours = getattr(lstmkit, cls.__name__).from_torch(ref)
    x = torch.randn(T, I)
    out_r, st_r = ref(x)
    out_o, st_o = ours(x)
    torch.testing.assert_close(out_o, out_r, atol=TOL, rtol=0)
    for a, b in zip(st_o if isinstance(st_o, tuple) else (st_o,), st_r if isinstance(st_r, tuple) else (st_r,)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)


def test_state_dict_loads_both_ways_and_converts():
    ref = nn.LSTM(I, H, 2, bidirectional=True, proj_size=3)
    ours = lstmkit.LSTM(I, H, 2, bidirectional=True, proj_size=3)
    ours.load_state_dict(ref.state_dict())
    back = nn.LSTM(I, H, 2, bidirectional=True, proj_size=3)
    back.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(back(x)[0], ref(x)[0], atol=0, rtol=0)
    conv = ours.to_torch()
    assert isinstance(conv, nn.LSTM) and conv.proj_size == 3
    torch.testing.assert_close(conv(x)[0], ref(x)[0], atol=0, rtol=0)
    gru = nn.GRU(I, H)
    torch.testing.assert_close(lstmkit.GRU.from_torch(gru).to_torch()(x)[0], gru(x)[0])
    with pytest.raises(ValueError, match="only variant 'standard'"):
        lstmkit.LSTM(I, H, variant="vanilla").to_torch()
    with pytest.raises(ValueError, match="no torch.nn equivalent"):
        lstmkit.LSTM(I, H, zoneout=0.1).to_torch()
    with pytest.raises(TypeError, match="expects a LSTM"):
        lstmkit.LSTM.from_torch(nn.GRU(I, H))
    with pytest.raises(RuntimeError, match="Missing key"):
        lstmkit.LSTM(I, H, variant="vanilla").load_state_dict(ref.state_dict())


def test_no_bias_and_dropout_eval_match_torch():
    ref = nn.LSTM(I, H, 3, bias=False, dropout=0.3).eval()
    ours = lstmkit.LSTM.from_torch(ref).eval()
    x = torch.randn(T, B, I)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=TOL, rtol=0)


def test_dropout_between_layers_in_training():
    m = lstmkit.LSTM(I, H, 2, dropout=0.5).train()
    x = torch.randn(T, B, I)
    a, b = m(x)[0], m(x)[0]
    assert not torch.allclose(a, b)  # stochastic between layers...
    m1 = lstmkit.LSTM(I, H, 1, dropout=0.5).train()
    torch.testing.assert_close(m1(x)[0], m1(x)[0])  # ...and never after the last layer


@pytest.mark.parametrize("ref_cls, our_cls, kw", [
    (nn.LSTMCell, lstmkit.LSTMCell, {}),
    (nn.GRUCell, lstmkit.GRUCell, {}),
    (nn.RNNCell, lstmkit.RNNCell, {"nonlinearity": "relu"}),
])
def test_cells_match_torch(ref_cls, our_cls, kw):
    ref = ref_cls(I, H, **kw)
    ours = our_cls(I, H, **kw)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(B, I)
    h = torch.randn(B, H)
    hx = (h, torch.randn(B, H)) if ref_cls is nn.LSTMCell else h
    r, o = ref(x, hx), ours(x, hx)
    for a, b in zip(o if isinstance(o, tuple) else (o,), r if isinstance(r, tuple) else (r,)):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    # unbatched
    hx1 = tuple(t[0] for t in hx) if isinstance(hx, tuple) else hx[0]
    r1, o1 = ref(x[0], hx1), ours(x[0], hx1)
    for a, b in zip(o1 if isinstance(o1, tuple) else (o1,), r1 if isinstance(r1, tuple) else (r1,)):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ["standard", "vanilla", "fgr", "layer_norm"])
def test_cuda_runs_and_matches_cpu(variant):
    m = lstmkit.LSTM(I, H, 2, bidirectional=True, variant=variant)
    x = torch.randn(T, B, I)
    out_cpu, _ = m(x, lengths=LENGTHS)
    out_gpu, _ = m.cuda()(x.cuda(), lengths=LENGTHS)
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, atol=1e-4, rtol=1e-4)
