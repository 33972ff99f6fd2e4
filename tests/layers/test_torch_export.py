"""torch.export for every registered family and every LSTM preset: the exported program
against eager (outputs and input gradients), a dynamic batch, and the dynamic length
refused in one line (the loop unrolls over the example's length); the dynamo ONNX exporter."""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim

import lstmkit
from export_cases import NAMES, build, inputs, settings, states
from export_cases import assert_all_close as _close

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")


def _export(m, x, kw, batch_dynamic=False):
    ds = None
    if batch_dynamic:
        b = Dim("batch")
        ax = 0 if m.batch_first else 1
        ds = {"input": {ax: b}, **{k: ({0: b} if k == "lengths" else {ax: b}) for k in kw}}
    return torch.export.export(m, (), {"input": x, **kw}, dynamic_shapes=ds)


def _check(name, seed):
    s = settings(name, seed)
    m = build(name, seed=seed, **s)
    x, kw = inputs(m, 3, 2, seed=seed)
    ep = _export(m, x, kw)
    with torch.no_grad():
        _close(states(ep.module()(input=x, **kw)), states(m(x, **kw)))
    # the input gradient through the exported graph
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    sum(t.sum() for t in states(ep.module()(input=xa, **kw))).backward()
    sum(t.sum() for t in states(m(xb, **kw))).backward()
    torch.testing.assert_close(xa.grad, xb.grad, atol=1e-5, rtol=1e-5)


#: a native-kernel LSTM, layer norm, a side input, a depth gate (the feature map and matrix
#: memory, and every other case and preset, in the slow sweep)
QUICK = ["vanilla", "layer_norm", "tlstm", "depth_gated_lstm"]


@pytest.mark.parametrize("name", QUICK)
def test_export_matches_eager(name):
    _check(name, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [1, 2])
def test_export_every_preset_and_stack(name, seed):
    _check(name, seed)


def _dynamic_batch(name, layers, bidirectional):
    m = build(name, num_layers=layers, bidirectional=bidirectional, seed=3)
    x, kw = inputs(m, 4, 2)
    ep = _export(m, x, kw, batch_dynamic=True)
    x2, kw2 = inputs(m, 4, 5, seed=4)
    with torch.no_grad():
        _close(states(ep.module()(input=x2, **kw2)), states(m(x2, **kw2)))


def test_dynamic_batch():
    _dynamic_batch("vanilla", 1, False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vanilla", "tlstm", "conv_lstm", "depth_gated_lstm", "mlstm"])
def test_dynamic_batch_stacks(name):
    _dynamic_batch(name, 2, True)


def test_dynamic_length_is_refused_in_one_line():
    m = lstmkit.LSTM(3, 4).eval()
    with pytest.raises(Exception, match="sequence length must be static") as info:
        torch.export.export(m, (torch.randn(5, 2, 3),), dynamic_shapes=({0: Dim("time")},))
    assert "dynamo=False" in str(info.value)


@pytest.mark.slow  # ~10 s a graph
@pytest.mark.parametrize("name", ["fgr", "standard", "tlstm"])
def test_dynamo_onnx_exporter(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    m = build(name, num_layers=2, seed=2)
    x, kw = inputs(m, 4, 2)
    path = tmp_path / "d.onnx"
    torch.onnx.export(m, (x,), str(path), kwargs=kw, dynamo=True, input_names=["input", *kw])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input", *kw]
    x2, kw2 = inputs(m, 4, 2, seed=5)
    got = sess.run(None, {"input": x2.numpy(), **{k: v.numpy() for k, v in kw2.items()}})
    with torch.no_grad():
        want = states(m(x2, **kw2))
    for a, b in zip(got, want):
        torch.testing.assert_close(torch.from_numpy(a), b, atol=1e-5, rtol=1e-5)
