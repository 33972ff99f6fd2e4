"""xLSTM blocks, stacks and the LM under torch.jit.trace (and the TorchScript ONNX exporter)
and torch.jit.script: traced, the recurrence is recorded as a scripted loop over time
(layers/portable.py, ``traced_recurrence``), so a graph traced at one length runs any other
length and batch; scripted, the blocks run the portable twins' scripted sLSTM/mLSTM steps
(``scan_projected``). Outputs, states and gradients as the eager module's."""

import warnings

import pytest
import torch

from lstmkit.models.xlstm import mLSTMBlock, sLSTMBlock, xLSTMLanguageModel, xLSTMStack

SMALL = {"round_to": 8}


def _perturb(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.2)
    return module


MODELS = {
    "slstm-block": lambda: sLSTMBlock(16, num_heads=4, **SMALL),
    "slstm-block-plain": lambda: sLSTMBlock(16, num_heads=2, conv_kernel=0, ffn_factor=0, forget_gate="exp"),
    "mlstm-block": lambda: mLSTMBlock(16, num_heads=2, chunk_size=4, **SMALL),
    "mlstm-block-noconv": lambda: mLSTMBlock(16, num_heads=1, conv_kernel=0, bias=True, **SMALL),
    "stack": lambda: xLSTMStack(16, num_blocks=3, slstm_at=[1], num_heads=2, mlstm=SMALL, slstm=SMALL),
    "stack-batch-first": lambda: xLSTMStack(16, num_blocks=2, ratio="1:1", num_heads=2, batch_first=True,
                                            mlstm=SMALL, slstm=SMALL),
}


def _flat(result):
    out = []
    for t in result if isinstance(result, (tuple, list)) else (result,):
        out.extend(_flat(t) if isinstance(t, (tuple, list)) else [t])
    return out


def _trace(module, *example):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        return torch.jit.trace(module, example, check_trace=False)


@pytest.mark.parametrize("name", list(MODELS))
def test_traced_block_runs_other_lengths(name):
    torch.manual_seed(0)
    m = _perturb(MODELS[name]()).eval()
    tr = _trace(m, torch.randn(5, 2, 16))
    for T, B in ((1, 3), (3, 1), (9, 3), (13, 2)):
        x = torch.randn(T, B, 16)
        got, want = _flat(tr(x)), _flat(m(x))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["slstm-block", "mlstm-block", "stack"])
def test_traced_gradients_at_another_length(name):
    torch.manual_seed(1)
    m = _perturb(MODELS[name]()).double()
    tr = _trace(m, torch.randn(4, 2, 16, dtype=torch.float64))
    x = torch.randn(11, 3, 16, dtype=torch.float64, requires_grad=True)
    params = [x, *m.parameters()]
    grads = []
    for f in (tr, m):
        out = _flat(f(x))
        loss = sum((t * torch.sin(torch.arange(t.numel(), dtype=t.dtype).reshape(t.shape) + k)).sum()
                   for k, t in enumerate(out) if t.numel())
        grads.append(torch.autograd.grad(loss, params, allow_unused=True))
    for a, b in zip(*grads):
        if b is None:
            assert a is None or a.abs().max() == 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_traced_block_with_a_carried_state():
    torch.manual_seed(2)
    m = _perturb(sLSTMBlock(16, num_heads=4, **SMALL)).eval()
    _, state = m(torch.randn(3, 2, 16))
    tr = _trace(m, torch.randn(5, 2, 16), state)
    x = torch.randn(8, 2, 16)
    _, state = m(torch.randn(6, 2, 16))
    for a, b in zip(_flat(tr(x, state)), _flat(m(x, state))):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_traced_language_model_runs_other_lengths():
    torch.manual_seed(3)
    lm = xLSTMLanguageModel(11, embedding_dim=16, num_blocks=2, ratio="1:1", num_heads=2, mlstm=SMALL,
                            slstm=SMALL).eval()
    tr = _trace(lm, torch.randint(0, 11, (5, 2)))
    idx = torch.randint(0, 11, (12, 3))
    for a, b in zip(_flat(tr(idx)), _flat(lm(idx))):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_stack_exports_to_onnx_with_a_dynamic_length(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")

    class Outputs(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)[0]

    torch.manual_seed(4)
    m = _perturb(MODELS["stack"]()).eval()
    path = str(tmp_path / "stack.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Outputs(m), (torch.randn(5, 2, 16),), path, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "T", 1: "B"}, "y": {0: "T", 1: "B"}})
    assert "Loop" in {n.op_type for n in onnx.load(path).graph.node}
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for T, B in ((9, 3), (2, 1)):
        x = torch.randn(T, B, 16)
        (y,) = sess.run(None, {"x": x.numpy()})
        torch.testing.assert_close(torch.from_numpy(y), m(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_scripted_block_matches_eager(name):
    torch.manual_seed(5)
    m = _perturb(MODELS[name]()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = torch.jit.script(m)
    for T, B in ((1, 2), (7, 3)):
        x = torch.randn(T, B, 16)
        got, want = _flat(sc(x)), _flat(m(x))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    _, state = m(torch.randn(3, 3, 16))  # streaming: a carried state goes in (T = B: batch_first too)
    x = torch.randn(3, 3, 16)
    given = list(state) if isinstance(m, xLSTMStack) else state
    for a, b in zip(_flat(sc(x, given)), _flat(m(x, state))):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_scripted_stack_gradients_and_save_load(tmp_path):
    torch.manual_seed(6)
    m = _perturb(MODELS["stack"]()).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = torch.jit.script(m)
    x = torch.randn(6, 2, 16, dtype=torch.float64, requires_grad=True)
    params = [x, *m.parameters()]
    grads = []
    for f in (sc, m):
        out = f(x)[0]
        grads.append(torch.autograd.grad((out * torch.sin(torch.arange(out.numel(), dtype=out.dtype))
                                          .reshape(out.shape)).sum(), params))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    path = str(tmp_path / "stack.pt")
    torch.jit.save(sc, path)
    loaded = torch.jit.load(path)
    torch.testing.assert_close(loaded(x)[0], m(x)[0], rtol=1e-12, atol=1e-12)


def test_scripted_language_model():
    torch.manual_seed(7)
    lm = xLSTMLanguageModel(11, embedding_dim=16, num_blocks=2, ratio="1:1", num_heads=2, mlstm=SMALL,
                            slstm=SMALL).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = torch.jit.script(lm)
    idx = torch.randint(0, 11, (8, 2))
    logits, state = sc(idx)
    torch.testing.assert_close(logits, lm(idx)[0], rtol=1e-5, atol=1e-5)
    more = torch.randint(0, 11, (3, 2))  # streaming through the scripted model
    torch.testing.assert_close(sc(more, state)[0], lm(more, lm(idx)[1])[0], rtol=1e-5, atol=1e-5)


def test_stack_through_torch_export():
    # torch.export runs the eager code (the chunkwise mLSTM), unrolled over the example's length
    torch.manual_seed(8)
    m = _perturb(MODELS["stack"]()).eval()
    x = torch.randn(6, 2, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(m, (x,))
    for a, b in zip(_flat(ep.module()(x)), _flat(m(x))):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
