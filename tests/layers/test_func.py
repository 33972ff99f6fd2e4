"""torch.func on every family and preset: grad, vmap (outputs and per-sample gradients) and
jacrev, each against the reference path (cells/ + recurrent.py under plain autograd,
``LSTMKIT_BACKEND=reference``); the fused kernels must serve the transformed calls."""

import pytest
import torch
from torch.func import functional_call, grad, jacrev, vmap

from compile_cases import FUSED, build, case_ids, flat, loss_of
from lstmkit.kernels import fused

CASES = case_ids()


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the fused kernels' calls (a runner that silently declined would leave 0)."""
    calls = []
    real = fused.run_checked
    monkeypatch.setattr(fused, "run_checked", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def _reference(monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")


def _call(m, params, x, extra):
    return functional_call(m, params, (x,), extra)


@pytest.mark.parametrize("case", CASES)
def test_grad_matches_reference(case, fused_calls, monkeypatch):
    # two layers, both directions: the reverse pass and a layer's input from the one below
    m, x, extra = build(case, layers=2, bidirectional=True)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(params, x):
        return loss_of(_call(m, params, x, extra))

    g_params, g_x = grad(loss, argnums=(0, 1))(params, x)
    if case.split("-")[0] in FUSED:
        assert fused_calls, "the fused kernels did not serve torch.func.grad"
    _reference(monkeypatch)
    ps = {k: v.clone().requires_grad_() for k, v in params.items()}
    xr = x.clone().requires_grad_()
    ref = torch.autograd.grad(loss(ps, xr), [xr, *ps.values()])
    torch.testing.assert_close(g_x, ref[0], rtol=1e-9, atol=1e-10)
    for (name, got), want in zip(g_params.items(), ref[1:]):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10, msg=lambda s: f"{name}: {s}")


@pytest.mark.parametrize("case", CASES)
def test_vmap_outputs_and_per_sample_grads(case, fused_calls, monkeypatch):
    m, _, extra = build(case, T=3)
    _, xs, _ = build(case, T=3 * 3)  # three samples of T = 3 steps
    xs = xs.reshape(3, 3, *xs.shape[1:])
    params = {k: v.detach() for k, v in m.named_parameters()}

    def outputs(x):
        return tuple(flat(_call(m, params, x, extra)))

    def loss(params, x):
        return loss_of(_call(m, params, x, extra))

    with torch.no_grad():
        got = vmap(outputs)(xs)
    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, xs)
    if case.split("-")[0] in FUSED:
        assert fused_calls, "the fused kernels did not serve torch.func.vmap(grad)"
    _reference(monkeypatch)
    for k in range(xs.shape[0]):
        with torch.no_grad():
            want = outputs(xs[k])
        for a, b in zip(got, want):
            torch.testing.assert_close(a[k], b, rtol=1e-9, atol=1e-10)
        ps = {n: v.clone().requires_grad_() for n, v in params.items()}
        ref = torch.autograd.grad(loss(ps, xs[k]), list(ps.values()))
        for (name, g), want_g in zip(per_sample.items(), ref):
            torch.testing.assert_close(g[k], want_g, rtol=1e-9, atol=1e-10, msg=lambda s: f"{name}: {s}")


@pytest.mark.parametrize("case", CASES)
def test_jacrev_matches_reference(case, monkeypatch):
    m, x, extra = build(case, T=3, I=2)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def output(x):
        return _call(m, params, x, extra)[0]

    got = jacrev(output)(x)
    _reference(monkeypatch)
    want = torch.autograd.functional.jacobian(output, x)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_grad_with_lengths_and_fused_lstm(fused_calls, monkeypatch):
    """Variable lengths, a projection and the layer-norm input path (few and many inputs)."""
    for kw in ({"variant": "standard", "proj_size": 2}, {"variant": "layer_norm"}):
        for I in (3, 6):
            fused_calls.clear()
            monkeypatch.delenv("LSTMKIT_BACKEND", raising=False)
            import lstmkit

            m = lstmkit.LSTM(I, 4, num_layers=2, bidirectional=True, dtype=torch.float64, **kw)
            x = torch.randn(5, 3, I, dtype=torch.float64)
            lengths = torch.tensor([5, 2, 4])
            params = {k: v.detach() for k, v in m.named_parameters()}

            def loss(params, x):
                return loss_of(functional_call(m, params, (x,), {"lengths": lengths}))

            g_params, g_x = grad(loss, argnums=(0, 1))(params, x)
            assert fused_calls or not FUSED
            monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
            ps = {k: v.clone().requires_grad_() for k, v in params.items()}
            xr = x.clone().requires_grad_()
            ref = torch.autograd.grad(loss(ps, xr), [xr, *ps.values()])
            torch.testing.assert_close(g_x, ref[0], rtol=1e-9, atol=1e-10)
            for got, want in zip(g_params.values(), ref[1:]):
                torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("case", ["lstm-standard", "lstm-layer_norm", "gru", "rnn", "mlstm"])
def test_forward_mode_jacfwd_and_hessian(case, monkeypatch):
    """jvp-based transforms: the fused kernels have no forward-mode derivative, so the runner
    steps aside to the reference loop inside them; the results are the reference's."""
    m, x, extra = build(case, T=3, I=2)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def output(x):
        return _call(m, params, x, extra)[0]

    def scalar(x):
        return loss_of(_call(m, params, x, extra))

    got_j, got_h = torch.func.jacfwd(output)(x), torch.func.hessian(scalar)(x)
    _reference(monkeypatch)
    torch.testing.assert_close(got_j, torch.autograd.functional.jacobian(output, x), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(got_h, torch.autograd.functional.hessian(scalar, x), rtol=1e-9, atol=1e-10)
