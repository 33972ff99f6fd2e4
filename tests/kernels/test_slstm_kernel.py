"""The sLSTM's fused kernel (kernels/slstm.py, csrc/slstm.h) against the reference loop:
outputs, final states and every gradient, its planner's choices and its fallbacks."""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit.cells.slstm import sLSTMCellSpec
from lstmkit.kernels import RunConfig, plan
from lstmkit.kernels import slstm as kslstm
from lstmkit.kernels._build import load_extension
from lstmkit.recurrent import run_recurrence

pytestmark = pytest.mark.skipif(load_extension() is None, reason="the fused CPU extension cannot be built here")


def _params(spec, dtype, gen):
    p = {}
    for k, s in spec.param_shapes().items():
        p[k] = (torch.randn(s, generator=gen, dtype=dtype) * 0.5).requires_grad_(True)
    return p


def _state(spec, B, dtype, gen, empty):
    H = spec.hidden_size
    if empty:
        return tuple(torch.zeros(B, H, dtype=dtype).requires_grad_(True) for _ in range(4))
    h = torch.randn(B, H, generator=gen, dtype=dtype) * 0.5
    c = torch.randn(B, H, generator=gen, dtype=dtype)
    # n >= 1 where the memory holds something, exactly 0 (the empty memory) elsewhere, per unit
    n = 1.0 + torch.rand(B, H, generator=gen, dtype=dtype)
    n = torch.where(torch.rand(B, H, generator=gen, dtype=dtype) < 0.3, torch.zeros_like(n), n)
    m = torch.randn(B, H, generator=gen, dtype=dtype)
    return tuple(t.requires_grad_(True) for t in (h, c, n, m))


def _run_both(spec, p, x, state, lengths, reverse):
    runner = plan(spec).runners[0]
    assert isinstance(runner, kslstm.sLSTMRunner)
    fused = runner(p, x, state, lengths=lengths, reverse=reverse)
    assert fused is not None
    ref = run_recurrence(spec, p, x, state, lengths=lengths, reverse=reverse)
    return fused, ref


def _grads(res, leaves, gen):
    out, final = res
    loss = (out * torch.randn(out.shape, generator=gen, dtype=out.dtype)).sum()
    for s in final:
        loss = loss + (s * torch.randn(s.shape, generator=gen, dtype=s.dtype)).sum()
    return torch.autograd.grad(loss, leaves, allow_unused=True)


CASES = [
    # T, B, I, H, heads, lengths, reverse, forget_gate, empty initial state
    (7, 3, 5, 8, 2, None, False, "sigmoid", True),
    (7, 3, 5, 8, 2, [7, 4, 1], False, "sigmoid", False),
    (7, 3, 5, 8, 2, [7, 4, 1], True, "exp", True),
    (1, 2, 3, 4, 1, None, False, "exp", False),
    (12, 4, 6, 16, 4, [12, 12, 3, 9], True, "sigmoid", False),
    (9, 2, 3, 12, 3, None, True, "exp", False),
    (6, 5, 2, 4, 4, [6, 2, 5, 1, 6], False, "sigmoid", True),  # d = 1
    (20, 2, 4, 32, 1, None, False, "sigmoid", True),
]


@pytest.mark.parametrize("T,B,I,H,N,lengths,reverse,gate,empty", CASES)
def test_fused_matches_reference(T, B, I, H, N, lengths, reverse, gate, empty):
    gen = torch.Generator().manual_seed(T * 100 + H + N)
    spec = sLSTMCellSpec(I, H, num_heads=N, forget_gate=gate)
    p = _params(spec, torch.float32, gen)
    x = torch.randn(T, B, I, generator=gen).requires_grad_(True)
    state = _state(spec, B, torch.float32, gen, empty)
    lens = None if lengths is None else torch.tensor(lengths)
    fused, ref = _run_both(spec, p, x, state, lens, reverse)
    torch.testing.assert_close(fused[0], ref[0], atol=2e-5, rtol=1e-4)
    for a, b in zip(fused[1], ref[1]):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    if lens is not None:
        assert bool((fused[0][lens[-1]:, -1] == 0).all())
    leaves = [x, *p.values(), *state]
    seed = gen.initial_seed()
    g_f = _grads(fused, leaves, torch.Generator().manual_seed(seed))
    g_r = _grads(ref, leaves, torch.Generator().manual_seed(seed))
    names = ["x", *p, "h0", "c0", "n0", "m0"]
    for name, a, b in zip(names, g_f, g_r):
        if b is None:
            assert a is None or bool((a == 0).all()), name
            continue
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3, msg=lambda m: f"gradient of {name}: {m}")


def test_ties_split_the_gradient_as_the_reference():
    # exp forget gate, zero weights and input: log f = 0 and i~ = 0, so m_{t-1} + log f = i~
    # at every step after the first: torch.maximum halves the gradient on each side
    spec = sLSTMCellSpec(3, 4, num_heads=2, forget_gate="exp")
    p = {k: torch.zeros(s) for k, s in spec.param_shapes().items()}
    p["bias"][8:12] = 0.5  # z~ != 0, so that c and h are not zero; i~ = f~ = 0 still
    p = {k: v.requires_grad_(True) for k, v in p.items()}
    x = torch.zeros(5, 2, 3, requires_grad=True)
    state = tuple(torch.zeros(2, 4, requires_grad=True) for _ in range(4))
    fused, ref = _run_both(spec, p, x, state, None, False)
    leaves = [x, *p.values(), *state]
    g_f = _grads(fused, leaves, torch.Generator().manual_seed(3))
    g_r = _grads(ref, leaves, torch.Generator().manual_seed(3))
    for a, b in zip(g_f, g_r):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    # the forget gate's bias gets a gradient here only through the tied max (half of dm)
    assert g_r[3][4:8].abs().sum() > 0


@pytest.mark.parametrize("reverse,lengths,gate", [(False, None, "sigmoid"), (True, [4, 2], "exp")])
def test_float64_gradcheck(reverse, lengths, gate):
    gen = torch.Generator().manual_seed(11)
    spec = sLSTMCellSpec(2, 4, num_heads=2, forget_gate=gate)
    w_ih = torch.randn(16, 2, generator=gen, dtype=torch.float64).requires_grad_(True)
    w_hh = (torch.randn(2, 4, 2, 2, generator=gen, dtype=torch.float64) * 0.5).requires_grad_(True)
    b = torch.randn(16, generator=gen, dtype=torch.float64).requires_grad_(True)
    x = torch.randn(4, 2, 2, generator=gen, dtype=torch.float64).requires_grad_(True)
    state = _state(spec, 2, torch.float64, gen, empty=False)
    lens = None if lengths is None else torch.tensor(lengths)

    def f(x, w_ih, w_hh, b, *state):
        p = {"weight_ih": w_ih, "weight_hh": w_hh, "bias": b}
        out, final = kslstm.slstm_fused(spec, p, x, state, lengths=lens, reverse=reverse)
        return (out, *final)

    # n0 is perturbed away from its zeros by gradcheck: the empty-memory test n == 0 is a
    # discontinuity, so n0 takes no part (its entries are fixed, h0, c0, m0 are checked)
    h0, c0, n0, m0 = state
    assert torch.autograd.gradcheck(lambda x, wi, wh, b, h0, c0, m0: f(x, wi, wh, b, h0, c0, n0.detach(), m0),
                                    (x, w_ih, w_hh, b, h0, c0, m0))


def test_double_backward_matches_reference():
    gen = torch.Generator().manual_seed(5)
    spec = sLSTMCellSpec(3, 4, num_heads=2)
    p = _params(spec, torch.float64, gen)
    x = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    state = spec.initial_state(2, dtype=torch.float64)

    def gg(run):
        out, _ = run(spec, p, x, state)
        (gx,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
        return torch.autograd.grad(gx.pow(2).sum(), p["weight_hh"])[0]

    fused = gg(lambda spec, p, x, s: kslstm.slstm_fused(spec, p, x, s))
    ref = gg(lambda spec, p, x, s: run_recurrence(spec, p, x, s))
    torch.testing.assert_close(fused, ref)


def test_module_dispatches_to_the_kernel(monkeypatch):
    calls = []
    real = kslstm.slstm_fused

    def spy(*a, **k):
        calls.append(k.get("reverse"))
        return real(*a, **k)

    monkeypatch.setattr(kslstm, "slstm_fused", spy)
    torch.manual_seed(0)
    m = lstmkit.sLSTM(3, 8, num_layers=2, bidirectional=True, num_heads=2)
    with torch.no_grad():
        for name, w in m.named_parameters():
            if "weight_hh" in name:
                w.normal_(0, 0.3)
    assert all(isinstance(r, kslstm.sLSTMRunner) for r in m.kernel_plan().runners)
    x = torch.randn(6, 3, 3, requires_grad=True)
    lengths = torch.tensor([6, 4, 2])
    out, state = m(x, lengths=lengths)
    assert calls == [False, True, False, True]  # every (layer, direction) ran on the kernel
    g = torch.autograd.grad(out.sum() + state[0].sum(), [x, *m.parameters()])
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    calls.clear()
    out_r, state_r = m(x, lengths=lengths)
    assert calls == []
    g_r = torch.autograd.grad(out_r.sum() + state_r[0].sum(), [x, *m.parameters()])
    torch.testing.assert_close(out, out_r, atol=2e-5, rtol=1e-4)
    for a, b in zip(state, state_r):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    for a, b in zip(g, g_r):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_inference_and_streaming_use_the_kernel(monkeypatch):
    calls = []
    real = kslstm.slstm_fused
    monkeypatch.setattr(kslstm, "slstm_fused", lambda *a, **k: calls.append(1) or real(*a, **k))
    m = lstmkit.sLSTM(3, 8, num_heads=4, batch_first=True).eval()
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        out, st = m(x)
        out1, st1 = m(x[:, :3])
        out2, _ = m(x[:, 3:], st1)
    assert len(calls) == 3
    torch.testing.assert_close(torch.cat([out1, out2], 1), out, atol=1e-5, rtol=1e-4)


def test_fallbacks():
    spec = sLSTMCellSpec(3, 8, num_heads=2)
    for cfg in (RunConfig(recurrent_mask=True), RunConfig(zoneout=True), RunConfig(truncate_gradient=True)):
        assert plan(spec, cfg).runners[0] is None
    m = lstmkit.sLSTM(3, 8, num_heads=2, recurrent_dropout=0.5)
    assert m.train().kernel_plan().runners[0] is None
    assert isinstance(m.eval().kernel_plan().runners[0], kslstm.sLSTMRunner)
    runner = plan(spec).runners[0]
    p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
    st = spec.initial_state(2)
    assert runner(p, torch.randn(4, 2, 3), st) is not None
    # dtypes the kernel does not serve, an empty batch, a mismatched state: the reference loop
    assert runner({k: v.bfloat16() for k, v in p.items()}, torch.randn(4, 2, 3).bfloat16(),
                  tuple(s.bfloat16() for s in st)) is None
    assert runner(p, torch.randn(4, 0, 3), spec.initial_state(0)) is None
    assert runner(p, torch.randn(4, 2, 3), tuple(s.double() for s in st)) is None
    assert runner(p, torch.randn(4, 2, 3), (st[0], st[1], st[2], torch.zeros(2, 7))) is None
    # torch.func transforms take the loop of plain torch ops
    x = torch.randn(4, 2, 3)
    g = torch.func.grad(lambda w: run_recurrence(spec, {**p, "weight_hh": w}, x, st)[0].sum())(p["weight_hh"])
    seen = []
    real = runner.__call__

    def f(w):
        r = real({**p, "weight_hh": w}, x, st)
        seen.append(r)
        return (r[0] if r is not None else run_recurrence(spec, {**p, "weight_hh": w}, x, st)[0]).sum()

    g2 = torch.func.grad(f)(p["weight_hh"])
    assert seen == [None]
    torch.testing.assert_close(g, g2)


def test_reference_backend_declines(monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    spec = sLSTMCellSpec(3, 8, num_heads=2)
    p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
    assert plan(spec).runners[0](p, torch.randn(4, 2, 3), spec.initial_state(2)) is None


@pytest.mark.parametrize("T,B,I,H,N,lengths,reverse,gate,bias", [
    (7, 3, 5, 8, 2, [7, 4, 1], True, "sigmoid", True),
    (9, 2, 3, 12, 3, None, False, "exp", False),
    (30, 4, 40, 16, 4, [30, 11, 30, 2], False, "sigmoid", True),  # I > 4: the chunked product
])
def test_inference_matches_reference(T, B, I, H, N, lengths, reverse, gate, bias):
    gen = torch.Generator().manual_seed(T + H)
    spec = sLSTMCellSpec(I, H, num_heads=N, bias=bias, forget_gate=gate)
    p = {k: v.detach() for k, v in _params(spec, torch.float32, gen).items()}
    x = torch.randn(T, B, I, generator=gen)
    state = tuple(s.detach() for s in _state(spec, B, torch.float32, gen, empty=False))
    lens = None if lengths is None else torch.tensor(lengths)
    with torch.no_grad():
        fused, ref = _run_both(spec, p, x, state, lens, reverse)
    torch.testing.assert_close(fused[0], ref[0], atol=2e-5, rtol=1e-4)
    for a, b in zip(fused[1], ref[1]):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_no_bias_gradients():
    gen = torch.Generator().manual_seed(2)
    spec = sLSTMCellSpec(4, 8, num_heads=2, bias=False)
    p = _params(spec, torch.float32, gen)
    x = torch.randn(6, 3, 4, generator=gen).requires_grad_(True)
    state = _state(spec, 3, torch.float32, gen, empty=True)
    fused, ref = _run_both(spec, p, x, state, torch.tensor([6, 3, 5]), True)
    leaves = [x, *p.values()]
    for a, b in zip(_grads(fused, leaves, torch.Generator().manual_seed(1)),
                    _grads(ref, leaves, torch.Generator().manual_seed(1))):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
