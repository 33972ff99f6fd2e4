"""The fused LSTM kernel with the options it now serves (issue 14, deliverable 4): the
recurrent mask (variational dropout on h_{t-1}), zoneout and the 1997 truncated gradient, against
the reference loop (outputs and every gradient), float64 gradcheck, and the dispatch
(where the runner runs, where it declines)."""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit import PRESETS
from lstmkit.cells import GRUCellSpec, LSTMCellSpec
from lstmkit.kernels import RunConfig, _build, fused, plan, run_direction
from lstmkit.recurrent import run_recurrence

from conftest import randomize

pytestmark = pytest.mark.filterwarnings("ignore:lstmkit. LSTMKIT_BACKEND=reference:RuntimeWarning")

ALL = list(PRESETS)
OPTIONS = {"mask": dict(mask=True), "truncate": dict(truncate=True), "both": dict(mask=True, truncate=True)}


@pytest.fixture(scope="module")
def ext():
    e = _build.load_extension()
    if e is None:
        pytest.skip(f"fused extension unavailable here: {_build.extension_error()}")
    return e


@pytest.fixture
def spy(monkeypatch):
    """Counts the fused LSTM kernel's calls (so a silent decline fails the test)."""
    calls = []
    real = fused._run_lstm
    monkeypatch.setattr(fused, "_run_lstm", lambda *a, **k: calls.append((a[7] is not None, bool(a[8]))
                                                                         + ((a[9], a[10]) if a[9] else ()))
                        or real(*a, **k))
    return calls


def _case(spec, B, T, dtype, seed, lengths):
    g = torch.Generator().manual_seed(seed)
    p = {k: (torch.randn(s, generator=g, dtype=dtype) * 0.4 + (1.0 if k.startswith("weight_ln") else 0.0))
         for k, s in spec.param_shapes().items()}
    x = torch.randn(T, B, spec.input_size, generator=g, dtype=dtype)
    state = tuple(torch.randn(B, n, generator=g, dtype=dtype) * 0.5 for n in spec.state_sizes())
    mask = (torch.rand(B, spec.output_size, generator=g, dtype=dtype) > 0.3).to(dtype) / 0.7
    lens = torch.tensor([T, 2, T - 3, 1][:B]) if lengths else None
    return p, x, state, mask, lens


def _grads(spec, p, x, state, mask, lens, reverse, truncate, backend, monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKEND", backend)
    p = {k: v.clone().requires_grad_() for k, v in p.items()}
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, fin = run_direction(spec, p, x, state, lengths=lens, reverse=reverse, recurrent_mask=mask, training=True,
                             truncate_gradient=truncate)
    g = torch.Generator().manual_seed(9)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    loss = loss + sum((f * torch.randn(f.shape, generator=g, dtype=f.dtype)).sum() for f in fin)
    inputs = [x, *p.values(), *state]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    names = ["x", *p, *(f"state[{k}]" for k in range(len(state)))]
    grads = {n: torch.zeros_like(t) if gr is None else gr for n, t, gr in zip(names, inputs, grads)}
    return out.detach(), [f.detach() for f in fin], grads


@pytest.mark.parametrize("preset", ALL)
@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("lengths, reverse, proj", [(False, False, 0), (True, True, 0), (True, False, 2)])
def test_fused_option_equals_reference(ext, spy, preset, option, lengths, reverse, proj, monkeypatch):
    o = OPTIONS[option]
    spec = LSTMCellSpec(5, 4, preset, proj_size=proj) if proj else LSTMCellSpec(5, 4, preset)
    p, x, state, mask, lens = _case(spec, 4, 9, torch.float32, 1, lengths)
    mask = mask if o.get("mask") else None
    truncate = bool(o.get("truncate"))
    ref = _grads(spec, p, x, state, mask, lens, reverse, truncate, "reference", monkeypatch)
    assert spy == []
    fast = _grads(spec, p, x, state, mask, lens, reverse, truncate, "fused", monkeypatch)
    assert spy == [(mask is not None, truncate)]  # the kernel ran, with the option
    assert (fast[0] - ref[0]).abs().max() <= 1e-5
    for a, b in zip(fast[1], ref[1]):
        assert (a - b).abs().max() <= 1e-5
    for name, g in ref[2].items():
        scale = max(1.0, g.abs().max().item())
        assert (fast[2][name] - g).abs().max() <= 1e-4 * scale, name


def test_truncation_changes_the_gradient_and_the_kernel_follows(ext, monkeypatch):
    # the test can fail: the truncated gradient differs from the full one, and the
    # kernel's matches the truncated reference, not the full one
    spec = LSTMCellSpec(3, 4, "vanilla")
    p, x, state, _, _ = _case(spec, 3, 8, torch.float64, 2, False)
    full = _grads(spec, p, x, state, None, None, False, False, "reference", monkeypatch)[2]
    ref = _grads(spec, p, x, state, None, None, False, True, "reference", monkeypatch)[2]
    fast = _grads(spec, p, x, state, None, None, False, True, "fused", monkeypatch)[2]
    assert (full["weight_hh"] - ref["weight_hh"]).abs().max() > 1e-3
    assert ref["state[0]"].abs().max() == 0 and fast["state[0]"].abs().max() == 0  # h0 enters detached
    for name in ref:
        assert torch.allclose(fast[name], ref[name], atol=1e-10, rtol=1e-8), name


@pytest.mark.parametrize("preset", ["vanilla", "cifg", "fgr", "layer_norm", "standard", "hochreiter1997"])
@pytest.mark.parametrize("option", ["truncate", "both"])
def test_fused_truncation_equals_reference_float64(ext, spy, preset, option, monkeypatch):
    # the truncated gradient is not the function's gradient (gradcheck cannot check it):
    # float64 against the reference loop's, to rounding
    o = OPTIONS[option]
    spec = LSTMCellSpec(3, 4, preset)
    p, x, state, mask, lens = _case(spec, 4, 7, torch.float64, 4, True)
    mask = mask if o.get("mask") else None
    ref = _grads(spec, p, x, state, mask, lens, True, True, "reference", monkeypatch)
    fast = _grads(spec, p, x, state, mask, lens, True, True, "fused", monkeypatch)
    assert spy == [(mask is not None, True)]
    assert torch.allclose(fast[0], ref[0], atol=1e-12, rtol=1e-10)
    for name, g in ref[2].items():
        assert torch.allclose(fast[2][name], g, atol=1e-10, rtol=1e-8), name


@pytest.mark.parametrize("preset", ["vanilla", "cifg", "fgr", "layer_norm", "standard", "hochreiter1997"])
def test_fused_recurrent_mask_gradcheck_float64(ext, spy, preset, monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKEND", "fused")
    o = OPTIONS["mask"]
    spec = LSTMCellSpec(3, 3, preset)
    p, x, state, mask, lens = _case(spec, 2, 4, torch.float64, 3, False)
    mask = mask if o.get("mask") else None
    names = list(p)

    def f(x, *rest):
        params = dict(zip(names, rest[: len(names)]))
        out, fin = run_direction(spec, params, x, tuple(rest[len(names):]), recurrent_mask=mask, training=True,
                                 truncate_gradient=bool(o.get("truncate")))
        return (out, *fin)

    inputs = [x.requires_grad_(), *(v.requires_grad_() for v in p.values()), *(s.requires_grad_() for s in state)]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)
    assert spy  # the fused kernel was what was checked


def test_module_recurrent_dropout_and_truncation_on_the_kernel(ext, spy, monkeypatch):
    def run(backend):
        monkeypatch.setenv("LSTMKIT_BACKEND", backend)
        torch.manual_seed(0)
        m = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, recurrent_dropout=0.25, truncated_gradient=True,
                         variant="vanilla")
        randomize(m, scale=0.4)
        m.train()
        torch.manual_seed(7)  # the masks: the same draws on both paths
        x = torch.randn(6, 4, 3, requires_grad=True)
        out, (h, c) = m(x, lengths=torch.tensor([6, 3, 5, 1]))
        (out.sum() + h.square().sum() + c.sum()).backward()
        return out.detach(), [q.grad.clone() for q in m.parameters()] + [x.grad]

    ref = run("reference")
    n = len(spy)
    fast = run("fused")
    assert len(spy) - n == 4  # every (layer, direction) on the kernel
    assert (fast[0] - ref[0]).abs().max() <= 1e-5
    for a, b in zip(fast[1], ref[1]):
        assert (a - b).abs().max() <= 1e-4 * max(1.0, b.abs().max().item())
    # in evaluation the mask is gone: the whole-stack call serves again
    assert m_eval_plan_has_stack()


def m_eval_plan_has_stack():
    m = lstmkit.LSTM(3, 5, recurrent_dropout=0.25).eval()
    train = lstmkit.LSTM(3, 5, recurrent_dropout=0.25).train()
    return m.kernel_plan()._lean is not None and train.kernel_plan()._lean is None


def test_what_still_runs_on_the_reference_loop(ext):
    gru = GRUCellSpec(3, 4)
    assert plan(gru, RunConfig(recurrent_mask=True)).runners[0] is None
    assert plan(gru, RunConfig(zoneout=True)).runners[0] is None
    assert plan(LSTMCellSpec(3, 4), RunConfig(zoneout=True)).runners[0] is not None
    r = plan(LSTMCellSpec(3, 4), RunConfig(recurrent_mask=True, truncate_gradient=True)).runners[0]
    assert r is not None
    # a GRU's truncated gradient (no error back in time at all) declines in training
    rg = plan(gru, RunConfig(truncate_gradient=True)).runners[0]
    p = {k: torch.randn(s, requires_grad=True) for k, s in gru.param_shapes().items()}
    assert rg(p, torch.randn(3, 2, 3), gru.zero_state(2)) is None
    # a mask that needs a gradient, or of the wrong shape, is declined
    spec = LSTMCellSpec(3, 4)
    p = {k: torch.randn(s, requires_grad=True) for k, s in spec.param_shapes().items()}
    x = torch.randn(3, 2, 3)
    assert r(p, x, spec.zero_state(2), recurrent_mask=torch.ones(2, 4, requires_grad=True)) is None
    assert r(p, x, spec.zero_state(2), recurrent_mask=torch.ones(3, 4)) is None
    with pytest.raises(ValueError, match="recurrent_mask"):
        fused.run_checked(ext, gru, p, x, gru.zero_state(2), None, False, recurrent_mask=torch.ones(2, 4))


# ---- zoneout ---------------------------------------------------------------------------
def _zrates(spec, h, c):
    return (h, c) + (0.0,) * (len(spec.state_sizes()) - 2)


def _zgrads(spec, p, x, state, lens, reverse, rates, training, backend, monkeypatch, mask=None, truncate=False):
    monkeypatch.setenv("LSTMKIT_BACKEND", backend)
    p = {k: v.clone().requires_grad_() for k, v in p.items()}
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    torch.manual_seed(11)  # zoneout's draws: the same on both paths
    out, fin = run_direction(spec, p, x, state, lengths=lens, reverse=reverse, zoneout=rates, training=training,
                             recurrent_mask=mask, truncate_gradient=truncate)
    g = torch.Generator().manual_seed(9)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    loss = loss + sum((f * torch.randn(f.shape, generator=g, dtype=f.dtype)).sum() for f in fin)
    inputs = [x, *p.values(), *state]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    names = ["x", *p, *(f"state[{k}]" for k in range(len(state)))]
    return out.detach(), [f.detach() for f in fin], {n: torch.zeros_like(t) if gr is None else gr
                                                      for n, t, gr in zip(names, inputs, grads)}


@pytest.mark.parametrize("preset", ALL)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("lengths, reverse, proj, rates", [(False, False, 0, (0.3, 0.2)), (True, True, 0, (0.0, 0.4)),
                                                           (True, False, 2, (0.5, 0.0)), (False, True, 2, (0.6, 0.7))])
def test_fused_zoneout_equals_reference(ext, spy, preset, training, lengths, reverse, proj, rates, monkeypatch):
    spec = LSTMCellSpec(5, 4, preset, proj_size=proj) if proj else LSTMCellSpec(5, 4, preset)
    p, x, state, _, lens = _case(spec, 4, 9, torch.float32, 5, lengths)
    z = _zrates(spec, *rates)
    ref = _zgrads(spec, p, x, state, lens, reverse, z, training, "reference", monkeypatch)
    fast = _zgrads(spec, p, x, state, lens, reverse, z, training, "fused", monkeypatch)
    assert spy == [(False, False, z, training)]  # the kernel ran, with zoneout
    # float32 rounding: the layer norms over H = 4 units (ill-conditioned) reach ~1e-5
    tol = 3e-5 if preset == "layer_norm" else 1e-5
    assert (fast[0] - ref[0]).abs().max() <= tol
    for a, b in zip(fast[1], ref[1]):
        assert (a - b).abs().max() <= tol
    gtol = 1e-3 if preset == "layer_norm" else 1e-4
    for name, g in ref[2].items():
        assert (fast[2][name] - g).abs().max() <= gtol * max(1.0, g.abs().max().item()), name
    if not training:  # deterministic: float64 to rounding (the float32 slack above is float32's)
        p, x, state, _, lens = _case(spec, 4, 9, torch.float64, 5, lengths)
        ref = _zgrads(spec, p, x, state, lens, reverse, z, training, "reference", monkeypatch)
        fast = _zgrads(spec, p, x, state, lens, reverse, z, training, "fused", monkeypatch)
        assert torch.allclose(fast[0], ref[0], atol=1e-12, rtol=1e-10)
        for name, g in ref[2].items():
            assert torch.allclose(fast[2][name], g, atol=1e-10, rtol=1e-8), name


def test_zoneout_in_training_keeps_some_units_and_the_kernel_draws_the_same(ext, monkeypatch):
    # the test can fail: with zoneout some units keep their previous value, and the kernel's
    # output equals the reference's only with the same draws (another seed differs)
    spec = LSTMCellSpec(3, 6, "vanilla")
    p, x, state, _, _ = _case(spec, 3, 8, torch.float64, 6, False)
    z = (0.5, 0.5)
    plain = _zgrads(spec, p, x, state, None, False, (0.0, 0.0), True, "reference", monkeypatch)[0]
    ref = _zgrads(spec, p, x, state, None, False, z, True, "reference", monkeypatch)[0]
    fast = _zgrads(spec, p, x, state, None, False, z, True, "fused", monkeypatch)[0]
    assert (ref[1:] == ref[:-1]).any() and not torch.allclose(ref, plain)
    assert torch.allclose(fast, ref, atol=1e-12)
    monkeypatch.setenv("LSTMKIT_BACKEND", "fused")
    torch.manual_seed(12)
    other, _ = run_direction(spec, p, x, state, zoneout=z, training=True)
    assert not torch.allclose(other, ref)


@pytest.mark.parametrize("preset", ["vanilla", "cifg", "fgr", "layer_norm", "standard", "hochreiter1997"])
@pytest.mark.parametrize("training", [True, False])
def test_fused_zoneout_gradcheck_float64(ext, spy, preset, training, monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKEND", "fused")
    spec = LSTMCellSpec(3, 3, preset)
    p, x, state, mask, _ = _case(spec, 2, 4, torch.float64, 7, False)
    names = list(p)
    z = _zrates(spec, 0.4, 0.3)

    def f(x, *rest):
        params = dict(zip(names, rest[: len(names)]))
        torch.manual_seed(3)  # the same keep masks on every evaluation
        out, fin = run_direction(spec, params, x, tuple(rest[len(names):]), zoneout=z, training=training,
                                 recurrent_mask=mask)
        return (out, *fin)

    inputs = [x.requires_grad_(), *(v.requires_grad_() for v in p.values()), *(s.requires_grad_() for s in state)]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)
    assert spy and spy[0][2] == z


def test_module_zoneout_on_the_kernel(ext, spy, monkeypatch):
    def run(backend, train):
        monkeypatch.setenv("LSTMKIT_BACKEND", backend)
        torch.manual_seed(0)
        m = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, zoneout=(0.2, 0.3), recurrent_dropout=0.1,
                         variant="cifg")
        randomize(m, scale=0.4)
        m.train(train)
        torch.manual_seed(7)
        x = torch.randn(6, 4, 3, requires_grad=True)
        out, (h, c) = m(x, lengths=torch.tensor([6, 3, 5, 1]))
        (out.sum() + h.square().sum() + c.sum()).backward()
        return out.detach(), [q.grad.clone() for q in m.parameters()] + [x.grad]

    for train in (True, False):
        ref = run("reference", train)
        n = len(spy)
        fast = run("fused", train)
        assert len(spy) - n == 4
        assert (fast[0] - ref[0]).abs().max() <= 1e-5
        for a, b in zip(fast[1], ref[1]):
            assert (a - b).abs().max() <= 1e-4 * max(1.0, b.abs().max().item())


def test_the_options_never_reach_a_kernel_without_them(ext, monkeypatch):
    # torch's kernel (oneDNN on CPU, cuDNN on CUDA) has no mask, zoneout or truncation:
    # with any of them the standard LSTM never goes there
    import lstmkit.kernels as kernels

    monkeypatch.setattr(kernels, "run_torch_lstm", lambda *a, **k: pytest.fail("torch's kernel got an option"))
    monkeypatch.setattr(kernels, "prefer_torch", lambda *a, **k: True)
    monkeypatch.delenv("LSTMKIT_BACKEND", raising=False)
    spec = LSTMCellSpec(3, 4)
    p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
    x = torch.randn(5, 2, 3)
    for cfg, kw in ((RunConfig(recurrent_mask=True), dict(recurrent_mask=torch.ones(2, 4))),
                    (RunConfig(zoneout=True), dict(zoneout=(0.2, 0.1), training=False))):
        r = plan(spec, cfg).runners[0]
        with torch.no_grad():
            out, _ = r(p, x, spec.zero_state(2), **kw)
        assert out.shape == (5, 2, 4)


@pytest.mark.parametrize("scale", [1e-9, 1.0, 30.0, 400.0])
@pytest.mark.parametrize("preset", ["standard", "vanilla", "layer_norm"])
def test_float64_kernel_math_to_rounding(ext, preset, scale, monkeypatch):
    # the float64 loops' own exp/sigmoid/tanh (vectorisable, issue 14) against torch's, from
    # pre-activations near zero to deep saturation (and past exp's range at 400)
    spec = LSTMCellSpec(3, 5, preset)
    p, x, state, _, _ = _case(spec, 3, 6, torch.float64, 8, False)
    x = x * scale
    p = {k: (v if k.startswith("weight_ln") else v * (scale if k == "weight_ih" else 1.0)) for k, v in p.items()}
    ref = _grads(spec, p, x, state, None, None, False, False, "reference", monkeypatch)
    fast = _grads(spec, p, x, state, None, None, False, False, "fused", monkeypatch)
    assert torch.allclose(fast[0], ref[0], atol=1e-14, rtol=1e-12)
    for a, b in zip(fast[1], ref[1]):
        assert torch.allclose(a, b, atol=1e-13, rtol=1e-12)
    for name, g in ref[2].items():
        assert torch.allclose(fast[2][name], g, atol=1e-11 * max(1.0, g.abs().max().item()), rtol=1e-9), name
    assert torch.isfinite(fast[0]).all()
