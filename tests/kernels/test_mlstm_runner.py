"""The mLSTM's three forms: recurrent (the reference loop over the cell's step), parallel
and chunkwise (kernels/mlstm.py) agree, in values and gradients, and agree with the
reference package ``xlstm``'s ``parallel_stabilized_simple`` and
``recurrent_step_stabilized_simple`` on converted inputs."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit.cells.mlstm import mLSTMCellSpec, state_from_xlstm, state_to_xlstm, xlstm_inputs
from lstmkit.kernels import RunConfig, plan
from lstmkit.kernels.mlstm import mLSTMRunner, mlstm_chunkwise, mlstm_parallel
from lstmkit.recurrent import run_recurrence

F64 = torch.float64


def _setup(I=3, H=8, NH=2, T=13, B=3, dtype=F64, forget_gate="sigmoid", seed=0, random_state=False, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    spec = mLSTMCellSpec(I, H, NH, forget_gate=forget_gate)
    p = {k: (torch.randn(s, generator=g, dtype=dtype) * scale).requires_grad_() for k, s in spec.param_shapes().items()}
    x = torch.randn(T, B, I, generator=g, dtype=dtype).requires_grad_()
    if random_state:
        st = [torch.randn(B, *s, generator=g, dtype=dtype) for s in spec.state_shapes()]
        st[3] = st[3].abs()  # a stabiliser is the log of a scale; any finite value works
        st = [t.requires_grad_() for t in st]
    else:
        st = list(spec.initial_state(B, dtype=dtype))
    return spec, p, x, tuple(st)


def _loss(out, state):
    # weights every output and every state entry differently, so each gradient is checked
    w = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).view_as(out)
    total = (out * w).sum()
    for k, s in enumerate(state):
        total = total + (k + 1) * 0.1 * (s * torch.cos(torch.arange(s.numel(), dtype=s.dtype)).view_as(s)).sum()
    return total


def _grads(fn, p, x, st):
    # h_0 enters no step of an mLSTM (no recurrent weights): it has no gradient
    leaves = [x, *p.values(), *[s for s in st[1:] if s.requires_grad]]
    out, state = fn()
    return out, state, torch.autograd.grad(_loss(out, state), leaves)


FORMS = {
    "parallel": lambda spec, p, x, st, **kw: mlstm_parallel(spec, p, x, st, **kw),
    "chunk1": lambda spec, p, x, st, **kw: mlstm_chunkwise(spec, p, x, st, chunk_size=1, **kw),
    "chunk4": lambda spec, p, x, st, **kw: mlstm_chunkwise(spec, p, x, st, chunk_size=4, **kw),
    "chunk5": lambda spec, p, x, st, **kw: mlstm_chunkwise(spec, p, x, st, chunk_size=5, **kw),
    "chunk64": lambda spec, p, x, st, **kw: mlstm_chunkwise(spec, p, x, st, chunk_size=64, **kw),
    "runner": lambda spec, p, x, st, **kw: mLSTMRunner(spec)(p, x, st, **kw),
}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("lengths", [None, [13, 6, 1]])
@pytest.mark.parametrize("reverse", [False, True])
def test_forms_equal_the_recurrent_form_float64(form, forget_gate, lengths, reverse):
    spec, p, x, st = _setup(forget_gate=forget_gate, random_state=True)
    L = None if lengths is None else torch.tensor(lengths)
    ref_out, ref_state, ref_g = _grads(lambda: run_recurrence(spec, p, x, st, lengths=L, reverse=reverse), p, x, st)
    out, state, g = _grads(lambda: FORMS[form](spec, p, x, st, lengths=L, reverse=reverse), p, x, st)
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
    for a, b in zip(state, ref_state):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    for a, b in zip(g, ref_g):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)
    if L is not None:
        assert bool((out[6:, 1] == 0).all()) and bool((out[1:, 2] == 0).all())


@pytest.mark.parametrize("T,chunk", [(1, 4), (16, 4), (17, 4), (50, 16), (50, 7), (9, 64)])
@pytest.mark.parametrize("NH", [1, 4])
def test_float32_tolerance(T, chunk, NH):
    # every form in float32 against the float64 truth, errors relative to each tensor's scale
    spec, p, x, st = _setup(I=5, H=16, NH=NH, T=T, B=2, scale=1.0)
    true_out, true_state, true_g = _grads(lambda: run_recurrence(spec, p, x, st), p, x, st)
    p32 = {k: v.detach().float().requires_grad_() for k, v in p.items()}
    x32, st32 = x.detach().float().requires_grad_(), tuple(s.detach().float() for s in st)
    forms = {
        "recurrent": lambda: run_recurrence(spec, p32, x32, st32),
        "parallel": lambda: mlstm_parallel(spec, p32, x32, st32),
        "chunkwise": lambda: mlstm_chunkwise(spec, p32, x32, st32, chunk_size=chunk),
    }
    for name, fn in forms.items():
        out, state, g = _grads(fn, p32, x32, st32)
        checks = [("output", out, true_out, 2e-5)]
        checks += [(f"state {k}", u, w, 2e-5) for k, u, w in zip(spec.state_names, state, true_state)]
        checks += [(f"grad {k}", u, w, 1e-4) for k, (u, w) in enumerate(zip(g, true_g))]
        for what, a, b, tol in checks:
            err = float((a.detach().double() - b.detach()).abs().max())
            assert err <= tol * max(1.0, float(b.detach().abs().max())), (name, what, err)


def test_strong_gates_stay_finite_and_agree():
    # pre-activations of +-30: exp(30) would overflow float32 products without the stabiliser
    spec, p, x, st = _setup(T=40, dtype=torch.float32, scale=6.0)
    ref, _ = run_recurrence(spec, p, x, st)
    out, _ = mlstm_chunkwise(spec, p, x, st, chunk_size=8)
    assert torch.isfinite(ref).all() and torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form", ["recurrent", "parallel", "chunk3"])
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_gradcheck_float64(form, forget_gate):
    spec, p, x, st = _setup(I=2, H=4, NH=2, T=7, B=2, forget_gate=forget_gate, random_state=True)
    names = list(p)
    L = torch.tensor([7, 4])

    def f(x, *rest):
        params = dict(zip(names, rest[: len(names)]))
        state = tuple(rest[len(names):])
        if form == "recurrent":
            out, s = run_recurrence(spec, params, x, state, lengths=L)
        elif form == "parallel":
            out, s = mlstm_parallel(spec, params, x, state, lengths=L)
        else:
            out, s = mlstm_chunkwise(spec, params, x, state, chunk_size=3, lengths=L)
        return (out, *s)

    assert torch.autograd.gradcheck(f, (x, *p.values(), *st), eps=1e-6, atol=1e-6)


def test_runner_declines_and_planner():
    spec, p, x, st = _setup()
    r = plan(spec).runners[0]
    assert isinstance(r, mLSTMRunner)
    assert r(p, x[:1], st) is None  # one step: the loop's step is the cheapest
    assert plan(spec, RunConfig(zoneout=True)).runners[0] is None
    assert plan(spec, RunConfig(recurrent_mask=True)).runners[0] is None
    assert isinstance(plan(spec, RunConfig(truncate_gradient=True)).runners[0], mLSTMRunner)
    # a subclass may change the step: no runner
    assert plan(type("Sub", (mLSTMCellSpec,), {})(3, 8, 2)).runners[0] is None


def test_runner_declines_under_reference_backend(monkeypatch):
    spec, p, x, st = _setup()
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    assert mLSTMRunner(spec)(p, x, st) is None


def test_bad_arguments():
    spec, p, x, st = _setup()
    with pytest.raises(ValueError, match="chunk_size"):
        mlstm_chunkwise(spec, p, x, st, chunk_size=0)
    with pytest.raises(ValueError, match=r"state entry C must have shape \(3, 2, 4, 4\)"):
        mlstm_parallel(spec, p, x, (st[0], st[1][:, :1], st[2], st[3]))
    with pytest.raises(ValueError, match="4 entries"):
        mlstm_parallel(spec, p, x, st[:2])
    with pytest.raises(ValueError, match=r"\(T, B, I\)"):
        mlstm_parallel(spec, p, x[0], st)
    with pytest.raises(ValueError, match="expected input_size=3"):
        mlstm_parallel(spec, p, torch.randn(4, 3, 5, dtype=F64), st)
    with pytest.raises(TypeError, match="mLSTMCellSpec"):
        mlstm_parallel(object(), p, x, st)


def _saved_bytes(fn) -> int:
    """Bytes autograd saves for the backward of ``fn()`` (what training holds in memory)."""
    total = 0
    seen = set()

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def test_chunkwise_memory_is_linear_in_T():
    spec = mLSTMCellSpec(8, 16, 2)
    p = {k: torch.randn(s, requires_grad=True) * 0.3 for k, s in spec.param_shapes().items()}

    def run(T, form):
        x = torch.randn(T, 1, 8)
        st = spec.initial_state(1)
        if form == "parallel":
            return _saved_bytes(lambda: mlstm_parallel(spec, p, x, st))
        return _saved_bytes(lambda: mlstm_chunkwise(spec, p, x, st, chunk_size=32))

    c1, c4 = run(256, "chunk"), run(1024, "chunk")
    p1, p4 = run(256, "parallel"), run(1024, "parallel")
    assert c4 < 4.5 * c1, (c1, c4)  # linear: x4 in T, at most ~x4 in memory
    assert p4 > 12 * p1, (p1, p4)  # quadratic: the test can tell the two apart
    assert c4 < p4 / 8


# ---- the reference package ---------------------------------------------------------------
def _xlstm():
    return pytest.importorskip(
        "xlstm.blocks.mlstm.backends",
        reason="the xlstm package is not importable (pip install --no-deps xlstm: its CPU mLSTM "
        "backends need only torch)",
    )


@pytest.mark.parametrize("NH", [1, 2, 4])
@pytest.mark.parametrize("T", [1, 7, 33])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_equals_xlstm_parallel_stabilized_simple(NH, T, eps):
    backends = _xlstm()
    spec, p, x, st = _setup(I=5, H=16, NH=NH, T=T, B=2, scale=1.0, seed=NH * 100 + T)
    spec.eps = eps
    leaves = [x, *p.values()]

    def theirs():
        a = xlstm_inputs(spec, p, x)
        h_tilde = backends.parallel_stabilized_simple(
            a["queries"], a["keys"], a["values"], a["igate_preact"], a["fgate_preact"], eps=eps
        )  # (B, NH, T, d)
        h_tilde = h_tilde.permute(2, 0, 1, 3).reshape(T, x.shape[1], -1)
        return torch.sigmoid(a["ogate_preact"]) * h_tilde

    ref = theirs()
    ref_g = torch.autograd.grad((ref * torch.cos(torch.arange(ref.numel(), dtype=F64)).view_as(ref)).sum(), leaves)
    for fn in (lambda: run_recurrence(spec, p, x, st)[0], lambda: mlstm_parallel(spec, p, x, st)[0],
               lambda: mlstm_chunkwise(spec, p, x, st, chunk_size=4)[0]):
        out = fn()
        g = torch.autograd.grad((out * torch.cos(torch.arange(out.numel(), dtype=F64)).view_as(out)).sum(), leaves)
        # xlstm stabilises each row by its own maximum (not the recurrent form's m_t), so
        # the two differ only in how much the eps in the normaliser weighs: tight with
        # eps = 0, about eps relative with eps = 1e-6.
        tol = 1e-10 if eps == 0 else 1e-5
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
        for a, b in zip(g, ref_g):
            torch.testing.assert_close(a, b, rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("NH", [1, 2, 4])
@pytest.mark.parametrize("T", [1, 6, 20])
def test_equals_xlstm_recurrent_step_stabilized_simple(NH, T):
    backends = _xlstm()
    spec, p, x, st = _setup(I=5, H=16, NH=NH, T=T, B=3, scale=1.0, seed=NH + 7 * T, random_state=True)
    leaves = [x, *p.values(), *st[1:]]
    a = xlstm_inputs(spec, p, x)
    c, n, m = state_to_xlstm(st)
    outs = []
    for t in range(T):
        sl = slice(t, t + 1)
        h_tilde, (c, n, m) = backends.recurrent_step_stabilized_simple(
            c, n, m, a["queries"][:, :, sl].clone(), a["keys"][:, :, sl].clone(), a["values"][:, :, sl].clone(),
            a["igate_preact"][:, :, sl], a["fgate_preact"][:, :, sl],
        )  # h_tilde (B, NH, 1, d)
        outs.append(torch.sigmoid(a["ogate_preact"][t]) * h_tilde.reshape(x.shape[1], -1))
    ref_out = torch.stack(outs)
    ref_state = state_from_xlstm(outs[-1], c, n, m)
    ref_g = torch.autograd.grad(_loss(ref_out, ref_state), leaves)
    for fn in (lambda: run_recurrence(spec, p, x, st), lambda: mlstm_chunkwise(spec, p, x, st, chunk_size=4)):
        out, state = fn()
        g = torch.autograd.grad(_loss(out, state), leaves)
        torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
        for u, w in zip(state, ref_state):
            torch.testing.assert_close(u, w, rtol=1e-10, atol=1e-10)
        for u, w in zip(g, ref_g):
            torch.testing.assert_close(u, w, rtol=1e-8, atol=1e-8)


def test_xlstm_inputs_refuses_the_exp_forget_gate():
    spec, p, x, _ = _setup(forget_gate="exp")
    with pytest.raises(ValueError, match="sigmoid forget gate"):
        xlstm_inputs(spec, p, x)


def test_keys_scaled_by_inverse_sqrt_d():
    spec, p, x, _ = _setup(H=16, NH=2)
    a = xlstm_inputs(spec, p, x)
    k = spec.split(spec.input_projection(x, p))[1]  # (T, B, NH, d), scaled
    torch.testing.assert_close(k.permute(1, 2, 0, 3) * math.sqrt(8), a["keys"])
