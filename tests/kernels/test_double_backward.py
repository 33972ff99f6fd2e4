"""Higher-order gradients through the fused kernels (kernels/fused.py, kernels/recompute.py).

The fused Functions' backward is hand-written and first order; asked for a gradient of a
gradient it recomputes the reference loop (cells/ + recurrent.py) on its saved inputs
under autograd. Checked here on the kernels' own entry point (``run_fused`` /
``run_checked``): float64 ``gradgradcheck``, second-order gradients against the reference
loop under plain autograd for every option the LSTM kernel takes (lengths, reverse,
recurrent mask, zoneout in both forms, the truncated gradient), ``torch.func.grad`` of
``torch.func.grad``, and that first-order gradients still take the fast backward.
"""

import pytest
import torch
from torch.func import grad

from lstmkit.cells import ElmanCellSpec, GRUCellSpec, LSTMCellSpec
from lstmkit.kernels import fused, ops, recompute
from lstmkit.kernels._build import load_extension
from lstmkit.recurrent import run_recurrence

pytestmark = pytest.mark.skipif(load_extension() is None, reason="the fused CPU extension cannot be built here")

D = torch.float64

SPECS = {
    "lstm-standard": lambda I: LSTMCellSpec(I, 3, "standard"),
    "lstm-vanilla": lambda I: LSTMCellSpec(I, 3, "vanilla"),
    "lstm-layer_norm": lambda I: LSTMCellSpec(I, 3, "layer_norm"),
    "lstm-cifg": lambda I: LSTMCellSpec(I, 3, "cifg"),
    "lstm-fgr": lambda I: LSTMCellSpec(I, 3, "fgr"),
    "lstm-noaf": lambda I: LSTMCellSpec(I, 3, "noaf"),
    "lstm-proj": lambda I: LSTMCellSpec(I, 3, "vanilla", proj_size=2),
    "lstm-nobias": lambda I: LSTMCellSpec(I, 3, "layer_norm", bias=False),
    "gru": lambda I: GRUCellSpec(I, 3),
    "gru-nobias": lambda I: GRUCellSpec(I, 3, bias=False),
    "elman": lambda I: ElmanCellSpec(I, 3),
    "elman-relu": lambda I: ElmanCellSpec(I, 3, nonlinearity="relu"),
}


def _inputs(spec, T=3, B=2, seed=0):
    """Parameters (layer-norm gains near 1), input and initial state, each needing a gradient."""
    g = torch.Generator().manual_seed(seed)
    p = {}
    for k, s in spec.param_shapes().items():
        t = torch.randn(s, generator=g, dtype=D) * 0.5
        p[k] = (t + 1.0 if k.startswith("weight_ln") else t).requires_grad_()
    x = torch.randn(T, B, spec.input_size, generator=g, dtype=D).requires_grad_()
    state = tuple((torch.randn(B, n, generator=g, dtype=D) * 0.5).requires_grad_() for n in spec.state_sizes())
    return p, x, state


@pytest.fixture
def counts(monkeypatch):
    """How often the fused backward ops and the differentiable (reference) backward ran."""
    c = {"fused": 0, "reference": 0}
    backward_ops = (ops.lstm_backward, ops.gru_backward, ops.elman_backward)
    real_run, real_vjp = ops.run, recompute.vjp

    def run(op, *args):
        c["fused"] += op in backward_ops
        return real_run(op, *args)

    def vjp(*args, **kwargs):
        c["reference"] += 1
        return real_vjp(*args, **kwargs)

    monkeypatch.setattr(ops, "run", run)
    monkeypatch.setattr(recompute, "vjp", vjp)
    return c


def _weights(t: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.sin(torch.arange(t.numel(), dtype=t.dtype) * 0.7 + seed).reshape(t.shape)


def _loss(outputs) -> torch.Tensor:
    """Nonlinear in the outputs: the second backward passes through the Function's node too."""
    return sum((t * _weights(t, k)).sum() + 0.5 * t.pow(2).sum() for k, t in enumerate(outputs))


def _second_order(run, p, x, state):
    """d/d(inputs) of a weighted sum of the first-order gradients of a weighted loss."""
    inputs = [x, *state, *p.values()]
    out, final = run(p, x, state)
    loss = _loss((out, *final))
    g = torch.autograd.grad(loss, inputs, create_graph=True, allow_unused=True)  # truncated: h0 unused
    pen = sum((gk * _weights(gk, 10 + k)).sum() + gk.pow(2).sum() for k, gk in enumerate(g) if gk is not None)
    return [torch.zeros_like(t) if d is None else d for t, d in zip(inputs, torch.autograd.grad(pen, inputs,
                                                                                                  allow_unused=True))]


GRADGRAD = [(name, False, False) for name in SPECS] + [
    (name, True, True) for name in ("lstm-vanilla", "lstm-layer_norm", "lstm-proj", "gru", "elman-relu")]


@pytest.mark.parametrize("name,reverse,lengths", GRADGRAD,
                         ids=[f"{n}-{'reverse-lengths' if r else 'forward'}" for n, r, _ in GRADGRAD])
def test_gradgradcheck(name, reverse, lengths, counts):
    # I = 2: the layer-norm LSTM's W x_t computed per row inside the kernel; I = 6 below
    spec = SPECS[name](2)
    p, x, state = _inputs(spec)
    L = torch.tensor([3, 2]) if lengths else None
    keys = list(p)

    def f(x, *rest):
        st, ws = rest[: len(state)], rest[len(state):]
        out, final = fused.run_fused(spec, dict(zip(keys, ws)), x, st, lengths=L, reverse=reverse)
        return (out, *final)

    assert torch.autograd.gradgradcheck(f, (x, *state, *p.values()), eps=1e-6, atol=1e-5, rtol=1e-4)
    assert counts["reference"] > 0  # the differentiable backward served the second order


OPTIONS = {
    "plain": {},
    "lengths-reverse": {"lengths": torch.tensor([4, 2, 3]), "reverse": True},
    "recurrent_mask": {"recurrent_mask": True},
    "zoneout-train": {"zoneout": (0.3, 0.5), "training": True},
    "zoneout-eval": {"zoneout": (0.3, 0.5), "training": False},
    "truncate": {"truncate_gradient": True},
    "zoneout-eval-truncate": {"zoneout": (0.3, 0.5), "training": False, "truncate_gradient": True},
    "everything": {"lengths": torch.tensor([4, 1, 3]), "reverse": True, "recurrent_mask": True,
                   "zoneout": (0.4, 0.2), "training": True, "truncate_gradient": True},
}


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("name", ["lstm-standard", "lstm-vanilla", "lstm-layer_norm", "lstm-fgr", "lstm-proj",
                                  "lstm-layer_norm-wide", "gru", "elman"])
def test_second_order_matches_reference(name, option, counts):
    wide = name.endswith("-wide")
    spec = SPECS[name.removesuffix("-wide")](6 if wide else 2)  # I = 6: the op's W x_t product
    is_lstm = isinstance(spec, LSTMCellSpec)
    opts = dict(OPTIONS[option])
    if not is_lstm and option not in ("plain", "lengths-reverse"):
        pytest.skip("recurrent mask, zoneout and the truncated gradient run on the LSTM kernel only")
    p, x, state = _inputs(spec, T=4, B=3, seed=1)
    if opts.pop("recurrent_mask", False):
        g = torch.Generator().manual_seed(2)
        opts["recurrent_mask"] = (torch.rand(3, spec.output_size, generator=g, dtype=D) > 0.3).to(D) / 0.7
    zoneout = opts.pop("zoneout", None)
    if zoneout is not None and isinstance(spec, LSTMCellSpec) and spec.variant.full_gate_recurrence:
        zoneout = zoneout + (0.0,)

    def fused_run(p, x, state):
        torch.manual_seed(5)  # zoneout's training draws: the same numbers on both paths
        return fused.run_checked(None, spec, p, x, state, opts.get("lengths"), opts.get("reverse", False),
                                 opts.get("recurrent_mask"), opts.get("truncate_gradient", False), zoneout,
                                 opts.get("training", False))

    def reference_run(p, x, state):
        torch.manual_seed(5)
        return run_recurrence(spec, p, x, state, zoneout=zoneout, **opts)

    got = _second_order(fused_run, p, x, state)
    # the first backward (create_graph) recomputed, the second (first order) fused
    assert counts == {"reference": 1, "fused": 1}
    want = _second_order(reference_run, p, x, state)
    names = ["x", *spec.state_names, *p]
    for n, a, b in zip(names, got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10 * (1 + b.abs().max().item()), msg=lambda s: f"{n}: {s}")


@pytest.mark.parametrize("name", ["lstm-standard", "lstm-layer_norm", "gru", "elman"])
def test_func_grad_of_grad(name, counts):
    spec = SPECS[name](2)
    p, x, state = _inputs(spec)
    p = {k: v.detach() for k, v in p.items()}
    x, state = x.detach(), tuple(s.detach() for s in state)

    def loss(p, x, run):
        out, final = run(spec, p, x, state, lengths=torch.tensor([3, 2]), reverse=True)
        return _loss((out, *final))

    def penalty(x, p, run):
        g = grad(loss)(p, x, run)
        return sum((v * _weights(v, 3)).sum() + v.pow(2).sum() for v in g.values())

    got = grad(penalty)(x, p, fused.run_fused)
    assert counts["reference"] == 1 and counts["fused"] == 1  # the inner backward recomputed, the outer fused
    want = grad(penalty)(x, p, run_recurrence)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_first_order_keeps_the_fused_backward(counts):
    spec = SPECS["lstm-vanilla"](2)
    p, x, state = _inputs(spec)
    out, (h, c) = fused.run_fused(spec, p, x, state)
    (out.sum() + c.sum()).backward()
    assert counts == {"fused": 1, "reference": 0}
    out, (h, c) = fused.run_fused(spec, p, x, state)
    torch.autograd.grad(out.sum(), [x, *p.values()])  # no create_graph
    assert counts == {"fused": 2, "reference": 0}
    plain = {k: v.detach() for k, v in p.items()}
    grad(lambda p: fused.run_fused(spec, p, x.detach(), tuple(s.detach() for s in state))[0].sum())(plain)
    assert counts == {"fused": 3, "reference": 0}  # one torch.func.grad: first order
    out, _ = fused.run_fused(spec, p, x, state)
    torch.autograd.grad(out.sum(), x, create_graph=True)
    assert counts == {"fused": 3, "reference": 1}  # create_graph: the differentiable one


def test_projection_is_not_kept_for_the_fast_path():
    # the fast path keeps the projection's inputs (x, W, b), not its (T, B, G*H) result
    spec = SPECS["lstm-standard"](2)
    p, x, state = _inputs(spec)
    out, _ = fused.run_fused(spec, p, x, state)
    node = out.grad_fn
    saved = [t for t in node.saved_tensors if t is not None]
    assert not any(t.shape == (3, 2, 4 * 3) and t.grad_fn is not None for t in saved)


@pytest.mark.parametrize("training", [True, False])
def test_truncated_gradient_with_zoneout_reaches_h0(training):
    # first order: with the 1997 truncation h_{t-1} enters the step detached, but zoneout's
    # kept share of h_{t-1} does not (the reference loop's autograd gives h0 a gradient)
    spec = SPECS["lstm-vanilla"](2)
    p, x, state = _inputs(spec, T=4, B=3, seed=3)
    grads = []
    for run in (fused.run_checked, None):
        torch.manual_seed(7)
        if run is None:
            out, final = run_recurrence(spec, p, x, state, zoneout=(0.4, 0.0), training=training,
                                        truncate_gradient=True)
        else:
            out, final = run(None, spec, p, x, state, None, False, None, True, (0.4, 0.0), training)
        grads.append(torch.autograd.grad(_loss((out, *final)), state[0]))
    assert grads[1][0].abs().max() > 0
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)


COMPOSITIONS = {
    "grad(grad)": lambda f, x: torch.func.grad(lambda x: torch.func.grad(f)(x).sin().sum())(x),
    "jacrev(jacrev)": lambda f, x: torch.func.jacrev(torch.func.jacrev(f))(x),
    "jacrev(grad)": lambda f, x: torch.func.jacrev(torch.func.grad(f))(x),
    "grad(jacrev)": lambda f, x: torch.func.grad(lambda x: torch.func.jacrev(f)(x).pow(2).sum())(x),
    "vmap(vjp(grad))": lambda f, x: torch.func.vmap(lambda v: torch.func.vjp(torch.func.grad(f), x)[1](v)[0])(
        torch.eye(x.numel(), dtype=x.dtype).reshape(x.numel(), *x.shape)),
}


@pytest.mark.parametrize("how", list(COMPOSITIONS))
@pytest.mark.parametrize("name", ["lstm-vanilla", "gru", "elman"])
def test_second_order_transforms(name, how, counts):
    # every way torch.func nests reverse mode: the inner backward must be differentiable
    # (jacrev runs it outside its own level: its tensors carry the outer level's wrapper)
    spec = SPECS[name](2)
    p, x, state = _inputs(spec, T=3, B=1)
    p = {k: v.detach() for k, v in p.items()}
    state = tuple(s.detach() for s in state)

    def f(run):
        return lambda x: _loss(run(spec, p, x, state))

    got = COMPOSITIONS[how](lambda x: f(lambda *a: _pair(fused.run_fused(*a)))(x), x.detach())
    assert counts["reference"] > 0
    want = COMPOSITIONS[how](lambda x: f(lambda *a: _pair(run_recurrence(*a)))(x), x.detach())
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def _pair(result):
    out, final = result
    return (out, *final)


def test_first_order_transforms_keep_the_fused_backward(counts):
    spec = SPECS["gru"](2)
    p, x, state = _inputs(spec)
    p = {k: v.detach() for k, v in p.items()}
    xs = torch.randn(4, *x.shape, dtype=D)

    def loss(p, x):
        return _loss(_pair(fused.run_fused(spec, p, x, tuple(s.detach() for s in state))))

    torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(p, xs)  # per-sample gradients
    torch.func.jacrev(lambda x: fused.run_fused(spec, p, x, tuple(s.detach() for s in state))[0])(x.detach())
    assert counts["reference"] == 0 and counts["fused"] > 0
