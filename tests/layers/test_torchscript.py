"""TorchScript for every registered family and every LSTM preset: ``torch.jit.script``
(the portable twin, lstmkit.layers.portable) and ``torch.jit.trace`` (a traced graph
around scripted time loops), outputs and gradients against eager at shapes the trace
never saw; save/load; the twin shares the module's Parameters."""

from __future__ import annotations

import io

import pytest
import torch

import lstmkit
from export_cases import NAMES, build, inputs, settings, states
from export_cases import assert_all_close as _close

pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::UserWarning",
                                        "ignore::DeprecationWarning")


def _grads(m, fn, x, kw):
    """d(sum of every output)/d(every parameter and the input), through ``fn``."""
    x = x.clone().requires_grad_(True)
    m.zero_grad()
    loss = sum((t * torch.linspace(0.5, 1.5, t.numel(), dtype=t.dtype).view(t.shape)).sum()
               for t in states(fn(x, **kw)))
    loss.backward()
    return [x.grad] + [p.grad.clone() for p in m.parameters()]


def _trace(m, T=4, B=2, lengths=True):
    x0, kw0 = inputs(m, T, B, seed=11, lengths=lengths)
    return torch.jit.trace(m, example_kwarg_inputs={"input": x0, **kw0})


#: families with no scripted twin yet: jit.script refuses them in one line; trace works
NO_SCRIPT = {"cell_graph_mut1"}


@pytest.mark.parametrize("name", NAMES)
def test_script_and_trace_match_eager(name):
    s = settings(name, 1)
    m = build(name, seed=4, **s)
    if name in NO_SCRIPT:
        with pytest.raises(TypeError, match="has no scriptable twin yet"):
            torch.jit.script(m)
        scripted = None
    else:
        scripted = torch.jit.script(m)
    traced = _trace(m)
    x, kw = inputs(m, 7, 3, seed=2)  # another length and batch than the trace's
    with torch.no_grad():
        want = states(m(x, **kw))
        if scripted is not None:
            _close(states(scripted(x, **kw)), want)
        _close(states(traced(input=x, **kw)), want)


def _check_backward(name):
    """Gradients in float64: the twins' backward against the module's (fused kernels where
    they exist), for the input and every parameter."""
    m = build(name, seed=4, dtype=torch.float64, **settings(name, 2))
    x, kw = inputs(m, 5, 2, seed=3)
    want = _grads(m, m, x, kw)
    _close(_grads(m, torch.jit.script(m), x, kw), want, atol=1e-9, rtol=1e-7)
    tr = _trace(m, T=3, B=2)
    _close(_grads(m, lambda x, **kw: tr(input=x, **kw), x, kw), want, atol=1e-9, rtol=1e-7)


#: the distinct code paths of the twins' backward (the LSTM's peepholes, FGR, layer norm; a
#: side-input and a depth-gated family); every other case in the slow sweep
GRAD_QUICK = ["vanilla", "fgr", "layer_norm", "tlstm", "depth_gated_lstm"]


@pytest.mark.parametrize("name", GRAD_QUICK)
def test_script_and_trace_backward_match_eager(name):
    _check_backward(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n not in GRAD_QUICK and n not in NO_SCRIPT])
def test_script_and_trace_backward_every_preset(name):
    _check_backward(name)


@pytest.mark.parametrize("name", ["tlstm"])
def test_unbatched_no_lengths_and_initial_state(name):
    m = build(name, num_layers=2, seed=5)
    scripted = torch.jit.script(m)
    x, kw = inputs(m, 6, 1, lengths=False)
    x = x.squeeze(1)
    kw = {k: v.squeeze(1) for k, v in kw.items()}
    with torch.no_grad():
        _close(states(scripted(x, **kw)), states(m(x, **kw)))
        # the final state fed back as the initial state
        _, h = m(x, **kw)
        _close(states(scripted(x, h, **kw)), states(m(x, h, **kw)))


def test_script_twin_shares_parameters_and_saves():
    m = build("layer_norm", num_layers=2, bidirectional=True, seed=6)
    scripted = torch.jit.script(m)
    x, kw = inputs(m, 5, 2)
    with torch.no_grad():
        m.weight_hh_l1.mul_(-1.0)  # training the module trains the twin
        _close(states(scripted(x, **kw)), states(m(x, **kw)))
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    with torch.no_grad():
        _close(states(loaded(x, **kw)), states(m(x, **kw)))
    tr = _trace(m)
    buf = io.BytesIO()
    torch.jit.save(tr, buf)
    buf.seek(0)
    x2, kw2 = inputs(m, 9, 4, seed=9)
    with torch.no_grad():
        _close(states(torch.jit.load(buf)(input=x2, **kw2)), states(m(x2, **kw2)))


def test_scripted_training_mode_dropout_and_zoneout_run():
    """Random masks in training mode: the scripted twin draws them (shapes, finiteness, and
    evaluation mode equal to eager)."""
    m = lstmkit.LSTM(3, 4, num_layers=2, dropout=0.3, recurrent_dropout=0.2, zoneout=0.1).train()
    s = torch.jit.script(m)
    x = torch.randn(6, 2, 3)
    y, (h, c) = s(x)
    assert y.shape == (6, 2, 4) and torch.isfinite(y).all()
    y.sum().backward()
    assert m.weight_hh_l0.grad is not None
    m.eval()
    s = torch.jit.script(m)
    with torch.no_grad():
        _close(states(s(x)), states(m(x)))


def test_tlstm_twin_needs_dt():
    s = torch.jit.script(build("tlstm", seed=1))
    with pytest.raises(Exception, match="dt is required"):
        s(torch.randn(4, 2, 3))
