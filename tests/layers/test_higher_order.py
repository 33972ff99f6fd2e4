"""Higher-order gradients through lstmkit's layers: gradient penalties
(``autograd.grad(..., create_graph=True)`` then a second backward) on every family and LSTM
preset, and ``torch.func.grad`` of ``torch.func.grad`` on the fused families, against the
reference path (cells/ + recurrent.py under plain autograd, ``LSTMKIT_BACKEND=reference``),
float64. Where the fused kernels run (LSTM, GRU, Elman) they must serve the forward (a
runner that declined would leave the count at 0) and the differentiable backward
(kernels/recompute.py) the second order."""

import pytest
import torch
from torch.func import functional_call, grad

import lstmkit
from compile_cases import FUSED, build, case_ids, loss_of
from lstmkit.kernels import fused, recompute

CASES = case_ids()  # every LSTM preset, then every other family (the fused ones: FUSED)


@pytest.fixture
def calls(monkeypatch):
    """Counts the fused kernels' calls and the differentiable backward's."""
    c = {"fused": 0, "reference": 0}
    real_run, real_vjp = fused.run_checked, recompute.vjp

    def run(*a, **k):
        c["fused"] += 1
        return real_run(*a, **k)

    def vjp(*a, **k):
        c["reference"] += 1
        return real_vjp(*a, **k)

    monkeypatch.setattr(fused, "run_checked", run)
    monkeypatch.setattr(recompute, "vjp", vjp)
    return c


def _penalty_grads(m, x, lengths, extra):
    """The gradients of a loss plus the squared norm of its gradients (a gradient penalty)."""
    params = [x, *m.parameters()]
    out, state = m(x, lengths=lengths, **extra)
    loss = loss_of((out, state)) + 0.5 * out.pow(2).sum()
    g = torch.autograd.grad(loss, params, create_graph=True)
    total = loss + sum(gk.pow(2).sum() for gk in g)
    return torch.autograd.grad(total, params)


def _assert_close(got, want, names):
    for n, a, b in zip(names, got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * (1 + b.abs().max().item()), msg=lambda s: f"{n}: {s}")


@pytest.mark.parametrize("case", CASES)
def test_gradient_penalty_matches_reference(case, calls, monkeypatch):
    # two layers, both directions, variable lengths
    m, x, extra = build(case, layers=2, bidirectional=True, T=4, B=3)
    x.requires_grad_()
    lengths = torch.tensor([4, 2, 3])
    got = _penalty_grads(m, x, lengths, extra)
    if case.split("-")[0] in FUSED:
        assert calls["fused"] > 0, "the fused kernels did not run"
        assert calls["reference"] == 4, "the second order did not go through the differentiable backward"
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    want = _penalty_grads(m, x, lengths, extra)
    _assert_close(got, want, ["x", *(n for n, _ in m.named_parameters())])


@pytest.mark.parametrize("case", ["lstm-standard", "lstm-vanilla", "lstm-layer_norm", "gru", "rnn"])
def test_func_grad_of_grad_matches_reference(case, calls, monkeypatch):
    m, x, _ = build(case, layers=2, bidirectional=True)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(params, x):
        out, state = functional_call(m, params, (x,))
        return loss_of((out, state)) + 0.5 * out.pow(2).sum()

    def penalty(params, x):  # the squared norm of the input gradient (a WGAN-GP-style term)
        return grad(loss, argnums=1)(params, x).pow(2).sum()

    got = grad(penalty, argnums=(0, 1))(params, x)
    if case.split("-")[0] in FUSED:
        assert calls["fused"] > 0 and calls["reference"] > 0
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    want = grad(penalty, argnums=(0, 1))(params, x)
    _assert_close([got[1], *got[0].values()], [want[1], *want[0].values()], ["x", *params])


def test_first_order_training_keeps_the_fast_backward(calls):
    m, x, _ = build("lstm-vanilla", layers=2, bidirectional=True)
    loss_of(m(x.requires_grad_())).backward()
    assert calls["reference"] == 0
    assert calls["fused"] == (4 if FUSED else 0)


def test_gradient_penalty_training_step():
    """A gradient-penalty training step on lstmkit.LSTM (the penalty pulls the norm of
    d(score)/d(input) towards 1, WGAN-GP style), fused against the reference path: the
    same updated weights, and the penalty's gradient reaches every weight."""
    results = []
    for backend in ("auto", "reference"):
        torch.manual_seed(0)
        m = lstmkit.LSTM(3, 5, num_layers=2, variant="layer_norm", dtype=torch.float64)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        x = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LSTMKIT_BACKEND", backend)
            out, _ = m(x)
            score = out[-1].sum(1)  # one score per sequence
            (g,) = torch.autograd.grad(score.sum(), x, create_graph=True)
            penalty = (g.pow(2).sum((0, 2)).sqrt() - 1).pow(2).mean()
            opt.zero_grad()
            penalty.backward()
            assert all(p.grad is not None and p.grad.abs().max() > 0 for p in m.parameters())
            opt.step()
        results.append([p.detach().clone() for p in m.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
