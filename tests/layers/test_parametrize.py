"""Parametrizations on every weight of every family and preset: weight_norm, spectral_norm,
pruning and weight drop. Outputs and the gradients of the raw parameters must equal the
reference path's (``LSTMKIT_BACKEND=reference``), and the fused kernels must still run
(the planned runner is the fused one, and it is called: training and inference)."""

import copy

import pytest
import torch
from torch.nn.utils import parametrize, prune
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

import lstmkit
from compile_cases import FUSED, build, case_ids, loss_of
from lstmkit import kernels
from lstmkit.kernels import fused

CASES = case_ids()


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the fused kernels' training/per-direction calls and whole-stack inference calls."""
    calls = {"run": 0, "infer": 0}
    real_run, real_infer = fused.run_checked, kernels.Plan.infer

    def run(*a, **k):
        calls["run"] += 1
        return real_run(*a, **k)

    def infer(self, *a, **k):
        res = real_infer(self, *a, **k)
        calls["infer"] += res is not None
        return res

    monkeypatch.setattr(fused, "run_checked", run)
    monkeypatch.setattr(kernels.Plan, "infer", infer)
    return calls


def _weights(m):
    return [n for n, _ in m.named_parameters() if n.startswith("weight")]


def _compare(m, x, extra, monkeypatch, fused_calls, fam, seed=None):
    """Forward + backward on the default path, then on the reference loop: equal outputs and
    gradients of every (raw) parameter; the fused kernels ran where the family has them."""
    def run():
        if seed is not None:
            torch.manual_seed(seed)
        m.zero_grad()
        out = m(x, **extra)
        loss = loss_of(out)
        loss.backward()
        return out[0].detach(), {n: p.grad.clone() for n, p in m.named_parameters()}

    out, grads = run()
    if fam in FUSED:
        assert all(r is not None and type(r).__name__ == "_FusedRunner" for r in m.kernel_plan().runners)
        assert fused_calls["run"] > 0, "the fused kernels did not run"
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    ref_out, ref_grads = run()
    monkeypatch.delenv("LSTMKIT_BACKEND")
    torch.testing.assert_close(out, ref_out, rtol=1e-9, atol=1e-10)
    assert grads.keys() == ref_grads.keys()
    for n in grads:
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-9, atol=1e-10, msg=lambda s: f"{n}: {s}")
    return out


@pytest.mark.parametrize("case", CASES)
def test_weight_norm_on_every_weight(case, monkeypatch, fused_calls):
    m, x, extra = build(case, layers=2, bidirectional=True)
    plain, _ = m(x, **extra)
    names = _weights(m)
    for n in names:
        weight_norm(m, n)
    assert all(parametrize.is_parametrized(m, n) for n in names)
    out = _compare(m, x, extra, monkeypatch, fused_calls, case.split("-")[0])
    torch.testing.assert_close(out, plain.detach(), rtol=1e-9, atol=1e-10)  # g = |v| at registration
    with torch.no_grad():  # inference: the whole-stack call reads the parametrized weights
        m.parametrizations[names[-1]].original0.mul_(1.5)
        got, _ = m(x, **extra)
        if case.split("-")[0] in FUSED:
            assert fused_calls["infer"] > 0
        monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
        want, _ = m(x, **extra)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    assert not torch.allclose(got, plain)


@pytest.mark.parametrize("case", CASES)
def test_spectral_norm_on_every_weight(case, monkeypatch, fused_calls):
    m, x, extra = build(case, layers=2, bidirectional=True)
    for n in _weights(m):
        spectral_norm(m, n)
    m.eval()  # no power-iteration update between the two runs (training updates u, v)
    w = m.weight_hh_l0.detach() if hasattr(m, "weight_hh_l0") else None
    if w is not None and w.dim() == 2:
        assert abs(float(torch.linalg.matrix_norm(w, 2)) - 1.0) < 0.1
    _compare(m, x, extra, monkeypatch, fused_calls, case.split("-")[0])


@pytest.mark.parametrize("case", CASES)
def test_pruning_every_weight(case, monkeypatch, fused_calls):
    m, x, extra = build(case, layers=2, bidirectional=True)
    for n in _weights(m):
        prune.l1_unstructured(m, n, amount=0.4)
    name = _weights(m)[0]
    assert (getattr(m, name[: -len("_orig")]) == 0).any()
    _compare(m, x, extra, monkeypatch, fused_calls, case.split("-")[0])
    # a pruned entry gets no gradient
    mask = getattr(m, name[: -len("_orig")] + "_mask")
    assert torch.all(getattr(m, name).grad[mask == 0] == 0)


@pytest.mark.parametrize("case", CASES)
def test_weight_drop(case, monkeypatch, fused_calls):
    m, x, extra = build(case, layers=2, bidirectional=True)
    ref = copy.deepcopy(m)
    if case == "mlstm":  # no h_{t-1} enters an mLSTM step: there is no recurrent weight to drop
        with pytest.raises(ValueError, match="mLSTM has no weight_hh to drop"):
            lstmkit.weight_drop(m, p=0.5)
        return
    lstmkit.weight_drop(m, p=0.5)
    names = [n for n, _ in ref.named_parameters() if n.startswith("weight_hh")]
    assert names and all(parametrize.is_parametrized(m, n) for n in names)
    # training: the same masks on both paths (same seed, same order of reads)
    _compare(m, x, extra, monkeypatch, fused_calls, case.split("-")[0], seed=3)
    torch.manual_seed(3)
    dropped = m.weight_hh_l0
    assert (dropped == 0).any() and not torch.equal(dropped, ref.weight_hh_l0)
    # evaluation: the raw weights, the module's outputs unchanged
    m.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(m(x, **extra)[0], ref(x, **extra)[0], rtol=0, atol=0)


def test_weight_drop_grad_reaches_raw_weight_only_where_kept():
    m = lstmkit.weight_drop(lstmkit.LSTM(3, 4, dtype=torch.float64), p=0.5)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.manual_seed(0)
    w = m.weight_hh_l0  # the draw the forward below makes (same seed)
    torch.manual_seed(0)
    m(x)[0].sum().backward()
    raw = m.parametrizations.weight_hh_l0.original
    assert torch.all(raw.grad[w == 0] == 0) and (raw.grad[w != 0] != 0).any()


def test_weight_drop_errors():
    with pytest.raises(ValueError, match="p must be in"):
        lstmkit.weight_drop(lstmkit.LSTM(3, 4), p=1.0)
    with pytest.raises(ValueError, match="names: 'weight_xx' is not a parameter"):
        lstmkit.weight_drop(lstmkit.LSTM(3, 4), names="weight_xx")
    with pytest.raises(TypeError, match="names must be given"):
        lstmkit.weight_drop(torch.nn.Linear(3, 4))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lstm-layer_norm", "gru"])
def test_parametrized_module_compiles_fullgraph(case):
    m, x, extra = build(case, layers=2, bidirectional=True)
    for n in _weights(m):
        weight_norm(m, n)
    x = x.requires_grad_()
    c = torch.compile(m, fullgraph=True, backend="aot_eager")
    params = list(m.parameters())
    want = torch.autograd.grad(loss_of(m(x, **extra)), [x, *params])
    got = torch.autograd.grad(loss_of(c(x, **extra)), [x, *params])
    for a, b in zip(want, got):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
