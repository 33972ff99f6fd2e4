"""float64 torch.autograd.gradcheck for every preset and every switch (reference path)."""

import pytest
import torch
from torch.func import functional_call

import lstmkit
from conftest import ALL_PRESETS, randomize

SWITCHES = {
    "no input gate": dict(input_gate=False),
    "no forget gate": dict(forget_gate=False),
    "no output gate": dict(output_gate=False),
    "peepholes": dict(peepholes=True),
    "cifg": dict(coupled_input_forget=True),
    "identity input activation": dict(input_activation="identity"),
    "identity output activation": dict(output_activation="identity"),
    "full gate recurrence": dict(full_gate_recurrence=True),
    "layer norm": dict(layer_norm=True),
}


def _gradcheck_module(m, x, lengths=None, hx=None):
    m = m.double()
    randomize(m, scale=0.6)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in m.named_parameters())
    extra = tuple(t.detach().clone().requires_grad_() for t in hx) if hx is not None else ()

    def f(x, *flat):
        ps, hs = flat[: len(names)], flat[len(names):]
        out, state = functional_call(m, dict(zip(names, ps)), (x, hs or None), {"lengths": lengths})
        state = state if isinstance(state, tuple) else (state,)
        return (out,) + state

    assert torch.autograd.gradcheck(f, (x.requires_grad_(),) + params + extra, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_gradcheck_presets(name):
    m = lstmkit.LSTM(2, 3, bidirectional=True, variant=name)
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    _gradcheck_module(m, x, lengths=torch.tensor([4, 2]))


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_gradcheck_switches(switch):
    kw = SWITCHES[switch]
    if kw.get("coupled_input_forget"):
        kw = {**kw}
    v = lstmkit.LSTMVariant(**kw)
    m = lstmkit.LSTM(2, 3, proj_size=2, variant=v)
    x = torch.randn(3, 2, 2, dtype=torch.float64)
    H_out = 2
    hx = [torch.randn(1, 2, H_out, dtype=torch.float64), torch.randn(1, 2, 3, dtype=torch.float64)]
    if v.full_gate_recurrence:
        hx.append(torch.rand(1, 2, 3 * len(v.recurrent_gates), dtype=torch.float64))
    _gradcheck_module(m, x, hx=tuple(hx))


@pytest.mark.parametrize("cls, kw", [(lstmkit.GRU, {}), (lstmkit.RNN, {"nonlinearity": "tanh"})])
def test_gradcheck_gru_rnn(cls, kw):
    m = cls(2, 3, num_layers=2, bidirectional=True, **kw)
    _gradcheck_module(m, torch.randn(3, 2, 2, dtype=torch.float64), lengths=torch.tensor([3, 1]))


def test_gradcheck_zoneout_eval():
    m = lstmkit.LSTM(2, 3, zoneout=(0.3, 0.2), variant="vanilla").eval()
    _gradcheck_module(m, torch.randn(3, 2, 2, dtype=torch.float64))
