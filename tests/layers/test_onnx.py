"""ONNX export of every registered family and every LSTM preset (lstmkit.layers.onnx),
run with ONNX Runtime against PyTorch on shapes the export never saw.

Native LSTM/GRU/RNN operators for the cells they compute exactly (every Greff preset
without full gate recurrence or layer norm, GRU, Elman), an ``onnx::Loop`` for the rest;
dynamic batch and length, ``lengths`` as an input, outputs and every final state within
1e-5 of PyTorch.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmkit
from export_cases import NAMES, NATIVE, build, covered_families, inputs, registered_families, settings, states
from lstmkit import PRESETS
from lstmkit.layers.onnx import _graph_summary, export_onnx, native_op

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::UserWarning",
                                        "ignore::DeprecationWarning")


_SESSIONS: dict = {}


def _session(path):
    key = (str(path), path.stat().st_mtime_ns if hasattr(path, "stat") else 0)
    if key not in _SESSIONS:
        _SESSIONS.clear()
        _SESSIONS[key] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


def _run(path, m, T, B, seed, lengths=True):
    """Feed ONNX Runtime and the module the same fresh (T, B) input; return both flat."""
    x, kw = inputs(m, T, B, seed=seed, lengths=lengths)
    sess = _session(Path(path))
    feeds = {"input": x.numpy()}
    if lengths:
        feeds["lengths"] = kw["lengths"].numpy()
    if "dt" in kw:
        feeds["dt"] = kw["dt"].numpy()
    assert [i.name for i in sess.get_inputs()] == list(feeds)
    got = sess.run(None, feeds)
    with torch.no_grad():
        want = states(m(x, **kw))
    return got, want


def _check(got, want, atol=1e-5):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a, b.numpy(), atol=atol, rtol=1e-5)
    assert float(want[0].abs().max()) > 1e-3  # not a trivially zero output


def test_cases_cover_every_registered_family_and_preset():
    assert covered_families() == registered_families()
    assert set(PRESETS) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_export_runs_in_onnxruntime_at_other_shapes(name, tmp_path):
    s = settings(name, 0)
    m = build(name, seed=3, **s)
    x, _ = inputs(m, 5, 2)
    path = export_onnx(m, tmp_path / "m.onnx", x, lengths=True)
    g = _graph_summary(path)
    assert g["inputs"][:2] == ["input", "lengths"] and g["outputs"][0] == "output"
    op = NATIVE.get(name)
    assert native_op(m) == op
    if op is not None:
        assert op in g["ops"] and "Loop" not in g["ops"]
    else:
        assert "Loop" in g["ops"] and not {"LSTM", "GRU", "RNN"} & set(g["ops"])
    onnx.checker.check_model(onnx.load(path))
    for T, B in ((7, 3), (2, 1)):  # longer, shorter, another batch
        _check(*_run(path, m, T, B, seed=T))


@pytest.mark.parametrize("name", ["slstm"])
def test_without_lengths_input(name, tmp_path):
    m = build(name, num_layers=2, bidirectional=True, seed=1)
    x, _ = inputs(m, 4, 2, lengths=False)
    path = export_onnx(m, tmp_path / "m.onnx", x)
    assert _graph_summary(path)["inputs"] == ["input"]
    _check(*_run(path, m, 9, 4, seed=2, lengths=False))


@pytest.mark.parametrize("name", ["fgr"])
def test_static_shapes_and_unbatched_input(name, tmp_path):
    m = build(name, seed=2)
    x = torch.randn(6, 3)
    path = export_onnx(m, tmp_path / "u.onnx", x, dynamic=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x2 = torch.randn(9, 3)
    with torch.no_grad():
        want = states(m(x2))
    _check(sess.run(None, {"input": x2.numpy()}), want)
    fixed = export_onnx(m, tmp_path / "f.onnx", torch.randn(4, 2, 3), dynamic=False)
    sess = ort.InferenceSession(str(fixed), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [4, 2, 3]


class _WithState(torch.nn.Module):
    """A user's wrapper: the initial state as graph inputs (torch.onnx.export directly)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, h0, c0, lengths):
        return states(self.m(x, (h0, c0), lengths=lengths))


@pytest.mark.parametrize("name", ["nig", "fgr"])
def test_initial_state_as_graph_inputs(name, tmp_path):
    m = build(name, num_layers=2, bidirectional=name != "fgr", seed=4)
    if name == "fgr":  # (h, c, a): the gates' state starts at zero here
        class W(_WithState):
            def forward(self, x, h0, c0, lengths):
                a0 = torch.zeros(h0.shape[0], h0.shape[1], 3 * 4)
                return states(self.m(x, (h0, c0, a0), lengths=lengths))
        w = W(m)
    else:
        w = _WithState(m)
    LD = m.num_layers * m.num_directions

    def args(T, B, seed):
        g = torch.Generator().manual_seed(seed)
        return (torch.randn(T, B, 3, generator=g), torch.randn(LD, B, 4, generator=g) * 0.5,
                torch.randn(LD, B, 4, generator=g) * 0.5, torch.tensor([T] + [max(1, T - 2)] * (B - 1)))

    buf = io.BytesIO()
    names = ["x", "h0", "c0", "lengths"]
    torch.onnx.export(w, args(5, 2, 0), buf, dynamo=False, input_names=names,
                      dynamic_axes={"x": {0: "T", 1: "B"}, "h0": {1: "B"}, "c0": {1: "B"}, "lengths": {0: "B"}})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    a = args(8, 3, 1)
    with torch.no_grad():
        want = w(*a)
    _check(sess.run(None, dict(zip(names, [t.numpy() for t in a]))), want)


def test_the_issue_report_now_exports_a_real_graph(tmp_path):
    """issue 19: torch.onnx.export(lstmkit.LSTM(3, 4).eval(), ...) wrote three Constants, no inputs."""
    m = lstmkit.LSTM(3, 4).eval()
    x = torch.randn(5, 2, 3)
    path = tmp_path / "m.onnx"
    torch.onnx.export(m, (x,), str(path), dynamo=False)
    g = _graph_summary(path)
    assert len(g["inputs"]) == 1 and "LSTM" in g["ops"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = states(m(x))
    _check(sess.run(None, {sess.get_inputs()[0].name: x.numpy()}), want)


def _random_config(rng: random.Random):
    """A configuration a user might try: any case, any stack settings, any shapes."""
    name = rng.choice(NAMES)
    s = {"num_layers": rng.choice([1, 2, 3]), "bidirectional": rng.random() < 0.5,
         "batch_first": rng.random() < 0.5}
    return name, s, (rng.randint(1, 6), rng.randint(1, 3)), (rng.randint(1, 12), rng.randint(1, 5))


def _random_round_trip(seed, tmp_path):
    rng = random.Random(seed)
    name, s, (T0, B0), (T, B) = _random_config(rng)
    m = build(name, seed=seed, **s)
    with_lengths = rng.random() < 0.7
    x, _ = inputs(m, T0, B0, lengths=False)
    path = export_onnx(m, tmp_path / f"r{seed}.onnx", x, lengths=with_lengths)
    got, want = _run(path, m, T, B, seed=seed, lengths=with_lengths)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5, rtol=1e-5, err_msg=f"{name} {s} T={T} B={B}")


@pytest.mark.parametrize("seed", range(2))
def test_random_configurations_quick(seed, tmp_path):
    _random_round_trip(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 60))
def test_random_configurations_sweep(seed, tmp_path):
    _random_round_trip(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, False), (2, True, True), (3, True, False)])
def test_every_case_every_stack(name, layers, bidirectional, batch_first, tmp_path):
    m = build(name, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, seed=5)
    x, _ = inputs(m, 4, 2)
    path = export_onnx(m, tmp_path / "m.onnx", x, lengths=True)
    for T, B in ((9, 4), (1, 1)):
        _check(*_run(path, m, T, B, seed=T))


# ---- what is refused, in one line -----------------------------------------------------------
def test_training_mode_random_masks_are_refused_by_the_onnx_exporter():
    m = lstmkit.LSTM(3, 4, zoneout=0.2).train()
    with pytest.raises(ValueError, match=r"evaluation mode \(module.eval\(\)\)"):
        torch.onnx.export(m, (torch.randn(4, 2, 3),), io.BytesIO(), dynamo=False,
                          training=torch.onnx.TrainingMode.TRAINING)


def test_export_onnx_arguments(tmp_path):
    m = lstmkit.GRU(3, 4).eval()
    x = torch.randn(4, 2, 3)
    with pytest.raises(TypeError, match="module must be a lstmkit recurrent module"):
        export_onnx(torch.nn.GRU(3, 4), tmp_path / "a.onnx", x)
    with pytest.raises(ValueError, match="opset must be"):
        export_onnx(m, tmp_path / "a.onnx", x, opset=9)
    with pytest.raises(ValueError, match="lengths=True needs a batched"):
        export_onnx(m, tmp_path / "a.onnx", torch.randn(4, 3), lengths=True)
    (tmp_path / "mine.onnx").write_text("mine")
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        export_onnx(m, tmp_path / "mine.onnx", x)
    assert (tmp_path / "mine.onnx").read_text() == "mine"
    from lstmkit.layers.portable import export_forward

    with pytest.raises(TypeError, match="not a PackedSequence"):
        export_forward(m, torch.nn.utils.rnn.pack_padded_sequence(x, [4, 3]))
