"""xLSTM blocks, stacks and LM (models/xlstm.py): the reference package's outputs and
gradients with converted weights, streaming, the [m:s] map, the forms agree, errors."""

import pytest
import torch

from lstmkit.models.xlstm import (block_map, mLSTMBlock, parse_ratio, parse_xlstm_name, powerlaw_forget_bias,
                                  proj_up_size, sLSTMBlock, xLSTMLanguageModel, xLSTMSequenceModel, xLSTMStack)


def _perturb(module, scale=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return module


def _xlstm():
    return pytest.importorskip("xlstm", reason="the xlstm package is not importable (pip install --no-deps xlstm)")


def _grads(module, loss):
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.autograd.grad(loss, params)


@pytest.mark.parametrize("kind,heads,T", [("s", 1, 5), ("s", 4, 13), ("m", 1, 6), ("m", 4, 17)])
def test_block_equals_xlstm_outputs_and_gradients(kind, heads, T):
    _xlstm()
    torch.manual_seed(heads * 10 + T)
    ours = sLSTMBlock(16, num_heads=heads) if kind == "s" else mLSTMBlock(16, num_heads=heads)
    _perturb(ours, seed=T)
    theirs = ours.to_xlstm()
    x = torch.randn(3, T, 16)
    ref = theirs(x)
    y, _ = ours(x.transpose(0, 1))
    torch.testing.assert_close(y.transpose(0, 1), ref, rtol=1e-4, atol=2e-5)
    w = torch.randn(ref.shape)
    g_ref = _grads(theirs, (ref * w).sum())
    g = _grads(ours, (y.transpose(0, 1) * w).sum())
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    # gradients norms agree (the parameter orders differ; compare sorted norms)
    n_ref = sorted(float(t.norm()) for t in g_ref)
    n = sorted(float(t.norm()) for t in g)
    torch.testing.assert_close(torch.tensor(n), torch.tensor(n_ref), rtol=1e-3, atol=1e-5)
    back = type(ours).from_xlstm(theirs)
    torch.testing.assert_close(back(x.transpose(0, 1))[0], y, rtol=0, atol=0)


def test_slstm_block_input_gradients_equal_xlstm():
    _xlstm()
    torch.manual_seed(3)
    ours = _perturb(sLSTMBlock(8, num_heads=2), seed=3)
    theirs = ours.to_xlstm()
    x1 = torch.randn(2, 9, 8, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    w = torch.randn(2, 9, 8)
    (theirs(x1) * w).sum().backward()
    (ours(x2.transpose(0, 1))[0].transpose(0, 1) * w).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.zgate.weight.grad, theirs.xlstm.zgate.weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.igate.weight.grad, theirs.xlstm.fgate.weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.ffn_up.weight.grad, theirs.ffn.proj_up.weight.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ratio,blocks", [("1:1", 2), ("0:1", 2), ("1:0", 2), ("3:1", 4)])
def test_stack_and_lm_equal_xlstm(ratio, blocks):
    _xlstm()
    torch.manual_seed(blocks)
    lm = _perturb(xLSTMLanguageModel(40, 16, blocks, ratio=ratio, num_heads=2, tie_weights=ratio != "3:1"), 0.1)
    theirs = lm.to_xlstm()
    idx = torch.randint(0, 40, (2, 21))
    ref = theirs(idx)
    y, _ = lm(idx.T)
    torch.testing.assert_close(y.transpose(0, 1), ref, rtol=1e-4, atol=5e-5)
    back = xLSTMLanguageModel.from_xlstm(theirs)
    torch.testing.assert_close(back(idx.T)[0], y, rtol=0, atol=0)
    assert back.stack.block_kinds == lm.stack.block_kinds


def test_stack_equals_xlstm_built_by_the_package():
    xl = _xlstm()
    from xlstm import (FeedForwardConfig, mLSTMBlockConfig, mLSTMLayerConfig, sLSTMBlockConfig, sLSTMLayerConfig,
                       xLSTMBlockStack, xLSTMBlockStackConfig)

    torch.manual_seed(0)
    cfg = xLSTMBlockStackConfig(
        mlstm_block=mLSTMBlockConfig(mlstm=mLSTMLayerConfig(num_heads=2)),
        slstm_block=sLSTMBlockConfig(slstm=sLSTMLayerConfig(backend="vanilla", num_heads=2),
                                     feedforward=FeedForwardConfig(proj_factor=1.3)),
        context_length=32, num_blocks=3, embedding_dim=32, slstm_at=[1])
    theirs = _perturb(xLSTMBlockStack(cfg), 0.1)
    ours = xLSTMStack.from_xlstm(theirs, batch_first=True)
    assert ours.block_kinds == ["m", "s", "m"] and xl is not None
    x = torch.randn(2, 32, 32)
    torch.testing.assert_close(ours(x)[0], theirs(x), rtol=1e-4, atol=5e-5)


def test_streaming_equals_one_call_and_reference_backend(monkeypatch):
    torch.manual_seed(1)
    s = _perturb(xLSTMStack(16, 4, ratio="1:1", num_heads=2, mlstm={"round_to": 8, "chunk_size": 4},
                            slstm={"round_to": 8}), 0.1)
    x = torch.randn(23, 2, 16)
    y, state = s(x)
    parts, st = [], None
    for a, b in ((0, 1), (1, 9), (9, 10), (10, 23)):
        out, st = s(x[a:b], st)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts), y, rtol=1e-4, atol=1e-5)
    for u, w in zip(st, state):
        for a, b in zip(u, w):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")  # the mLSTM's recurrent form
    torch.testing.assert_close(s(x)[0], y, rtol=1e-4, atol=1e-5)


def test_causal_and_batch_first():
    torch.manual_seed(2)
    s = xLSTMStack(8, 2, ratio="1:1", num_heads=2, batch_first=True)
    x = torch.randn(2, 12, 8)
    y = s(x)[0]
    x2 = x.clone()
    x2[:, 7:] = torch.randn(2, 5, 8)
    torch.testing.assert_close(s(x2)[0][:, :7], y[:, :7])
    assert not torch.allclose(s(x2)[0][:, 7:], y[:, 7:])


def test_block_map_ratio_and_names():
    assert block_map(4, ratio="1:1") == ["m", "s", "m", "s"]
    assert block_map(8, ratio="7:1") == ["m"] * 7 + ["s"]
    assert block_map(3, slstm_at="all") == ["s"] * 3
    assert block_map(2) == ["m", "m"]
    assert xLSTMStack(8, 2, ratio="0:1", num_heads=2).ratio == "0:1"
    assert parse_xlstm_name("xLSTM[1:0]") == (1, 0) and parse_xlstm_name("xlstm[0:0]") is None
    assert proj_up_size(30, 4 / 3, 8) == 40
    assert powerlaw_forget_bias(4, 1, 2)[0] == 5.0 and powerlaw_forget_bias(4, 1, 2)[-1] == -7.0
    # deeper blocks: a larger exponent, so the middle units keep longer memories
    assert powerlaw_forget_bias(4, 1, 2)[1] > powerlaw_forget_bias(4, 0, 2)[1]


def test_lm_tied_and_untied_parameters():
    tied = xLSTMLanguageModel(50, 16, 2, ratio="1:1", num_heads=2)
    untied = xLSTMLanguageModel(50, 16, 2, ratio="1:1", num_heads=2, tie_weights=False)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(untied) - n(tied) == 50 * 16


def test_sequence_model_last_readout_ignores_padding():
    torch.manual_seed(0)
    m = xLSTMSequenceModel(1, 8, 2, ratio="1:1", num_heads=2, readout="last")
    x = torch.randn(10, 3, 1)
    lengths = torch.tensor([10, 4, 1])
    y, _ = m(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(y[b], m(x[:n, b:b + 1])[0][0])


@pytest.mark.parametrize("call,err", [
    (lambda: parse_ratio("1-1"), ValueError), (lambda: parse_ratio("0:0"), ValueError),
    (lambda: block_map(3, ratio="1:1"), ValueError), (lambda: block_map(2, slstm_at=[2]), ValueError),
    (lambda: block_map(2, slstm_at=[0], ratio="1:1"), ValueError), (lambda: sLSTMBlock(10, num_heads=4), ValueError),
    (lambda: mLSTMBlock(16, num_heads=3, round_to=8), ValueError), (lambda: sLSTMBlock(8, dropout=1.5), ValueError),
    (lambda: xLSTMLanguageModel(1, 8), ValueError), (lambda: xLSTMStack(8, 2, mlstm=3), TypeError),
    (lambda: xLSTMStack(8, 2, num_heads=2)(torch.zeros(3, 2, 5)), ValueError),
    (lambda: xLSTMSequenceModel(1, 8, 2, readout="middle"), ValueError),
])
def test_errors(call, err):
    with pytest.raises(err):
        call()


def test_bench_rows_time_the_xlstm_package_beside_ours():
    # lstmkit bench's slstm / mlstm rows (bench.py), here beside the rest of the xLSTM work
    _xlstm()
    from lstmkit.bench import format_table, run_bench

    r = run_bench(models=["slstm", "mlstm"], shapes=[(2, 5, 3, 8)], reps=1, stream_steps=2, progress=False)
    rows = [row for row in r["rows"] if row["mode"] != "streaming"]
    assert {(row["model"], row["mode"]) for row in rows} == {(m, k) for m in ("slstm", "mlstm")
                                                            for k in ("inference", "training")}
    assert all(row["xlstm_ms"] > 0 and row["xlstm_ratio"] == row["ms"] / row["xlstm_ms"] for row in rows)
    assert "ours / xlstm" in format_table(r)
