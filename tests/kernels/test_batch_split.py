"""The batch split across threads (csrc/batch_split.h): a batch cut into chunks, each run
on its own thread, must compute what one whole-batch call computes — outputs, final states
and every gradient — for every LSTM option the fused kernel carries; and the rule says when
it splits."""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit.kernels import _build


@pytest.fixture
def ext():
    e = _build.load_extension()
    if e is None or not hasattr(e, "set_batch_split"):
        pytest.skip(f"fused extension unavailable here: {_build.extension_error()}")
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    yield e
    torch.set_num_threads(n)
    e.set_batch_split(-1)


CASES = {
    "standard": dict(),
    "vanilla": dict(variant="vanilla"),
    "cifg": dict(variant="cifg"),
    "layer_norm": dict(variant="layer_norm"),
    "layer_norm-few-inputs": dict(variant="layer_norm", input_size=3),
    "fgr": dict(variant="fgr"),
    "proj": dict(proj_size=3),
    "bidirectional-2-layers": dict(bidirectional=True, num_layers=2),
    "recurrent-dropout": dict(recurrent_dropout=0.3),
    "zoneout": dict(zoneout=(0.2, 0.1)),
}


def _run(ext, split: int, kwargs: dict, lengths, seed=0):
    ext.set_batch_split(split)
    kw = dict(kwargs)
    I = kw.pop("input_size", 7)
    torch.manual_seed(seed)
    m = lstmkit.LSTM(I, 6, **kw).double().train()
    x = torch.randn(9, 11, I, dtype=torch.float64, requires_grad=True)  # 11 rows: uneven chunks
    torch.manual_seed(seed + 1)  # the same dropout / zoneout masks in both runs
    out, state = m(x, lengths=lengths)
    h, c = state[0], state[1]  # (the full gate recurrence carries a third entry)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum() + h.square().sum() + c.sum()
    grads = torch.autograd.grad(loss, [x, *m.parameters()])
    return out.detach(), h.detach(), c.detach(), grads


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("with_lengths", [False, True])
def test_split_equals_whole(ext, name, with_lengths):
    lengths = torch.tensor([9, 3, 9, 1, 5, 9, 7, 2, 9, 4, 6]) if with_lengths else None
    if with_lengths and name in ("fgr",):
        pytest.skip("the full gate recurrence takes no lengths")
    ext.set_batch_split(1)
    assert ext.batch_chunks(11, 1) == 2  # two threads: two chunks (6 and 5 rows)
    whole = _run(ext, 0, CASES[name], lengths)
    split = _run(ext, 1, CASES[name], lengths)
    for a, b in zip(whole[:3], split[:3]):
        assert torch.allclose(a, b, rtol=0, atol=1e-12), (a - b).abs().max()
    for a, b in zip(whole[3], split[3]):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-11), (a - b).abs().max()


@pytest.mark.parametrize("variant", ["standard", "vanilla", "layer_norm"])
def test_split_inference_equals_whole(ext, variant):
    torch.manual_seed(2)
    m = lstmkit.LSTM(5, 8, num_layers=2, variant=variant, bidirectional=True).eval()
    x = torch.randn(12, 17, 5)
    with torch.no_grad():
        ext.set_batch_split(0)
        a, (ha, ca) = m(x)
        ext.set_batch_split(1)
        b, (hb, cb) = m(x)
    for u, v in ((a, b), (ha, hb), (ca, cb)):
        assert torch.allclose(u, v, atol=1e-6), (u - v).abs().max()


def test_the_rule(ext):
    ext.set_batch_split(-1)
    assert ext.batch_chunks(32, 100 * 256 * 64, True) == 2  # 32x100x2x64 inference: worth two threads
    assert ext.batch_chunks(32, 100 * 256 * 64) == 1  # training: only when forced (LSTMKIT_BATCH_SPLIT=1)
    assert ext.batch_chunks(15, 100 * 256 * 64, True) == 1  # fewer than 8 rows a chunk
    assert ext.batch_chunks(64, 4 * 24 * 6, True) == 1  # too little work per chunk (the test suite's shapes)
    ext.set_batch_split(1)
    assert ext.batch_chunks(32, 100 * 256 * 64) == 2  # forced: training too
    ext.set_batch_split(0)
    assert ext.batch_chunks(64, 100 * 1024 * 256) == 1
    torch.set_num_threads(1)
    ext.set_batch_split(1)
    assert ext.batch_chunks(64, 100 * 1024 * 256) == 1  # one thread: nothing to split across
    with pytest.raises(RuntimeError, match="mode"):
        ext.set_batch_split(2)


@pytest.mark.parametrize("family", ["gru", "elman-tanh", "elman-relu"])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_split_gru_and_elman_equal_whole(ext, family, with_lengths):
    lengths = torch.tensor([9, 3, 9, 1, 5, 9, 7, 2, 9, 4, 6]) if with_lengths else None

    def run(split):
        ext.set_batch_split(split)
        torch.manual_seed(0)
        if family == "gru":
            m = lstmkit.GRU(7, 6, num_layers=2, bidirectional=True)
        else:
            m = lstmkit.RNN(7, 6, nonlinearity=family.split("-")[1], num_layers=2, bidirectional=True)
        m = m.double()
        x = torch.randn(9, 11, 7, dtype=torch.float64, requires_grad=True)
        out, h = m(x, lengths=lengths)
        loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum() + h.square().sum()
        with torch.no_grad():
            inf = m.eval()(x.detach(), lengths=lengths)[0]
        return [out.detach(), h.detach(), inf, *torch.autograd.grad(loss, [x, *m.parameters()])]

    for a, b in zip(run(0), run(1)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-11), (a - b).abs().max()
