"""torch.compile(module, fullgraph=True) on every family and preset: forward and backward
equal eager mode's, and the compiled graphs call the fused kernels' ops (kernels/ops.py)
where the family has them (not the reference loop, not a graph break).

CI compiles a few configurations with the ``aot_eager`` backend (Dynamo and AOTAutograd,
which is where a missing fake implementation or a graph break shows, without Inductor's
C++ code generation: 10-40 s a compilation on the shared machine); the sweeps of every
preset and family, under aot_eager and under Inductor (the default backend), are ``slow``."""

import pytest
import torch
from torch._dynamo.backends.common import aot_autograd

from compile_cases import FUSED, build, case_ids, flat, loss_of

CASES = case_ids()


def _recording_backend():
    """An aot_eager backend that keeps the names of the ops in its forward and backward graphs."""
    seen = {"forward": set(), "backward": set()}

    def compiler(kind):
        def compile_graph(gm, example_inputs):
            seen[kind].update(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
            return gm.forward
        return compile_graph

    return aot_autograd(fw_compiler=compiler("forward"), bw_compiler=compiler("backward")), seen


def _eager_and_compiled(m, x, extra, backend, lengths=None):
    kw = dict(extra)
    if lengths is not None:
        kw["lengths"] = lengths
    params = list(m.parameters())

    def run(fn):
        xr = x.clone().requires_grad_()
        out = fn(xr, **kw)
        grads = torch.autograd.grad(loss_of(out), [xr, *params])
        return [t.detach() for t in flat(out)], grads

    torch._dynamo.reset()
    want = run(m)
    got = run(torch.compile(m, fullgraph=True, backend=backend))
    return want, got


def _assert_same(want, got):
    for a, b in zip(want[0], got[0]):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
    for a, b in zip(want[1], got[1]):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)


def _assert_fused_ops(seen, fam):
    if fam not in FUSED:
        return
    if fam == "lstm":
        assert "lstmkit.lstm_fused_forward.default" in seen["forward"], seen["forward"]
        assert "lstmkit.lstm_fused_backward.default" in seen["backward"], seen["backward"]
    elif fam in FUSED:
        name = {"gru": "gru", "rnn": "elman"}[fam]
        assert f"lstmkit.{name}_fused_forward.default" in seen["forward"], seen["forward"]
        assert f"lstmkit.{name}_fused_backward.default" in seen["backward"], seen["backward"]


@pytest.mark.parametrize("case", ["lstm-layer_norm", "gru"])
def test_fullgraph_aot_matches_eager(case):
    m, x, extra = build(case, bidirectional=True)
    backend, seen = _recording_backend()
    want, got = _eager_and_compiled(m, x, extra, backend)
    _assert_same(want, got)
    _assert_fused_ops(seen, case.split("-")[0])


def test_fullgraph_aot_lengths_and_inference():
    """Variable lengths (checked by a graph assert) and inference (no gradient: the infer
    op) give eager mode's results; a length out of range fails inside the graph."""
    m, x, extra = build("lstm-fgr", T=5, B=3)
    backend, seen = _recording_backend()
    lengths = torch.tensor([5, 2, 4])
    want, got = _eager_and_compiled(m, x, extra, backend, lengths=lengths)
    _assert_same(want, got)
    _assert_fused_ops(seen, "lstm")
    c = torch.compile(m, fullgraph=True, backend=backend)
    with torch.no_grad():
        for a, b in zip(flat(m(x, lengths=lengths)), flat(c(x, lengths=lengths))):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
        if FUSED:
            assert "lstmkit.lstm_fused_infer.default" in seen["forward"]
        with pytest.raises(RuntimeError, match="every length must be >= 1"):
            c(x, lengths=torch.tensor([5, 0, 4]))


@pytest.mark.slow
def test_fullgraph_new_shapes():
    """A second and third (T, B): a recompilation or a dynamic graph, eager mode's results."""
    m, x, extra = build("lstm-standard", layers=2, bidirectional=True)
    c = torch.compile(m, fullgraph=True)
    for T, B in ((4, 2), (7, 3), (9, 5)):
        x2 = torch.randn(T, B, x.shape[2], dtype=x.dtype, requires_grad=True)
        want, got = flat(m(x2)), flat(c(x2))
        for a, b in zip(want, got):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
        ga = torch.autograd.grad(loss_of((want[0], tuple(want[1:]))), x2)
        gb = torch.autograd.grad(loss_of((got[0], tuple(got[1:]))), x2)
        torch.testing.assert_close(gb, ga, rtol=1e-9, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_fullgraph_inductor_every_family_and_preset(case):
    m, x, extra = build(case, layers=2, bidirectional=True)
    want, got = _eager_and_compiled(m, x, extra, "inductor")
    _assert_same(want, got)
    if case != "tlstm":  # (the T-LSTM's lengths also shape its dt_next; covered below without)
        want, got = _eager_and_compiled(m, x, extra, "inductor", lengths=torch.tensor([4, 2]))
        _assert_same(want, got)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_fullgraph_aot_every_family_and_preset(case):
    m, x, extra = build(case, layers=2, bidirectional=True)
    backend, seen = _recording_backend()
    want, got = _eager_and_compiled(m, x, extra, backend, lengths=torch.tensor([4, 2]))
    _assert_same(want, got)
    _assert_fused_ops(seen, case.split("-")[0])
