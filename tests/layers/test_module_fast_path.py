"""The layer modules' whole-stack inference call (kernels.Plan.infer: the fused kernels or
torch's, no lengths) against the per-direction path, including after everything its
cached plan depends on changes; and the streaming stepper against whole sequences."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

import lstmkit
from lstmkit import PRESETS
from lstmkit.kernels import _build

from conftest import randomize

TOL = 1e-6


@pytest.fixture(scope="module", autouse=True)
def ext():
    e = _build.load_extension()
    if e is None:
        pytest.skip(f"fused extension unavailable here: {_build.extension_error()}")
    return e


@pytest.fixture(autouse=True)
def _auto_backend(monkeypatch):
    monkeypatch.delenv("LSTMKIT_BACKEND", raising=False)


def _general(m, *args):
    """The same call through the per-direction path only."""
    m._fast_enabled = False
    try:
        return m(*args)
    finally:
        m._fast_enabled = True


def _expect_fast(m, monkeypatch):
    """Make the per-direction path fail for ``m``: a call that returns went the fast way."""

    def boom(*a, **k):
        raise AssertionError("general path taken")

    monkeypatch.setattr(m, "_per_direction", boom)


def _states(s):
    return s if isinstance(s, tuple) else (s,)


def _same(a, b, tol=TOL):
    (out_a, st_a), (out_b, st_b) = a, b
    assert out_a.shape == out_b.shape and out_a.dtype == out_b.dtype
    assert (out_a - out_b).abs().max().item() <= tol
    st_a, st_b = _states(st_a), _states(st_b)
    assert len(st_a) == len(st_b)
    for s, t in zip(st_a, st_b):
        assert s.shape == t.shape and (s - t).abs().max().item() <= tol


def _make(kind, **kw):
    torch.manual_seed(0)
    if kind == "gru":
        m = lstmkit.GRU(3, 5, **kw)
    elif kind == "rnn":
        m = lstmkit.RNN(3, 5, nonlinearity="relu", **kw)
    else:
        m = lstmkit.LSTM(3, 5, variant=kind, **kw)
    randomize(m, scale=0.4)
    return m.eval()


def _hx(m, batch_shape):
    LD = m.num_layers * m.num_directions
    sizes = m.specs[0].state_sizes()
    hx = tuple(torch.randn(LD, *batch_shape, n) * 0.5 for n in sizes)
    return hx if isinstance(m, lstmkit.LSTM) else hx[0]


KINDS = list(PRESETS) + ["gru", "rnn"]
CONFIGS = {
    "1 layer": dict(),
    "2 layers bidirectional": dict(num_layers=2, bidirectional=True),
    "batch_first": dict(batch_first=True),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T", [1, 4])
def test_fast_path_equals_general_path(kind, config, T, monkeypatch):
    m = _make(kind, **CONFIGS[config])
    x = torch.randn(T, 2, 3)
    if m.batch_first:
        x = x.transpose(0, 1)
    for hx in (None, _hx(m, (2,))):
        with torch.no_grad():
            want = _general(m, x, hx)
            got = m(x, hx)
        _same(got, want)
    # Everything here takes the fast path: torch's cell ("standard", "np") over T > 1
    # steps without gradients goes to torch's own kernel from it, the rest to ours.
    _expect_fast(m, monkeypatch)
    with torch.no_grad():
        _same(m(x, hx), want)


@pytest.mark.parametrize("kind", ["vanilla", "fgr", "gru", "standard"])
def test_fast_path_unbatched_and_proj(kind, monkeypatch):
    m = _make(kind, num_layers=2)
    x = torch.randn(4, 3)
    hx = _hx(m, ())
    with torch.no_grad():
        want = _general(m, x, hx)
        _expect_fast(m, monkeypatch)
        got = m(x, hx)
    _same(got, want)
    if kind == "vanilla":
        p = lstmkit.LSTM(3, 5, proj_size=2, variant="vanilla").eval()
        x = torch.randn(1, 2, 3)
        with torch.no_grad():
            _same(p(x), _general(p, x))


@pytest.mark.parametrize("kind", ["standard", "vanilla", "layer_norm", "fgr", "gru"])
def test_streaming_step_by_step_equals_whole_sequence(kind):
    m = _make(kind)
    x = torch.randn(7, 2, 3)
    with torch.no_grad():
        want_out, want_state = _general(m, x)
        state, outs = None, []
        for t in range(7):
            o, state = m(x[t : t + 1], state)
            outs.append(o)
    _same((torch.cat(outs), state), (want_out, want_state), tol=1e-5)


def test_plan_follows_parameter_changes():
    m = _make("vanilla")
    x = torch.randn(1, 2, 3)
    with torch.no_grad():
        before, _ = m(x)
        m.weight_hh_l0.add_(0.3)  # in place
        m.bias_ih_l0.zero_()
        after, _ = m(x)
        assert (after - before).abs().max().item() > 1e-3
        _same(m(x), _general(m, x))
        m.weight_ch_l0 = torch.nn.Parameter(torch.randn_like(m.weight_ch_l0))  # replaced
        _same(m(x), _general(m, x))
        m.weight_ih_l0.data = m.weight_ih_l0.data.t().contiguous().t()  # non-contiguous, same values
        assert not m.weight_ih_l0.is_contiguous()
        _same(m(x), _general(m, x))
        m.load_state_dict(_make("vanilla").state_dict())
        _same(m(x), _general(m, x))
        _same(m(x), _make("vanilla")(x))


def test_plan_follows_dtype_and_mode(monkeypatch):
    m = _make("cifg", recurrent_dropout=0.5, num_layers=2, dropout=0.5)
    x = torch.randn(1, 2, 3)
    with torch.no_grad():
        m(x)
        m.double()
        xd = x.double()
        got = m(xd)
        assert got[0].dtype == torch.float64
        _same(got, _general(m, xd))
        with pytest.raises(TypeError, match="dtype"):
            m(x)  # float32 input, float64 parameters: the general path's error
        m.float()
        m.train()  # recurrent dropout and inter-layer dropout now apply: not the fast path
        calls = []
        real = m._per_direction
        monkeypatch.setattr(m, "_per_direction", lambda *a, **k: calls.append(1) or real(*a, **k))
        torch.manual_seed(1)
        a, _ = m(x)
        torch.manual_seed(2)
        b, _ = m(x)
        assert calls == [1, 1] and (a - b).abs().max().item() > 0  # random masks
        m.eval()
        m(x)
        assert calls == [1, 1]  # fast again
        m.zoneout = (0.2, 0.2)  # zoneout applies in eval too: general path
        m(x)
        assert calls == [1, 1, 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_standard_fast_path_uses_torch_kernel(config, dtype, monkeypatch):
    # "standard" over T > 1 steps: torch's kernel straight from the fast path (neither
    # our extension nor the general path is touched), same result as the general path.
    m = _make("standard", **CONFIGS[config]).to(dtype)
    x = torch.randn(6, 3, 3, dtype=dtype)
    if m.batch_first:
        x = x.transpose(0, 1)
    hx = tuple(t.to(dtype) for t in _hx(m, (3,)))
    with torch.no_grad():
        want = [_general(m, x, h) for h in (None, hx)]
    _expect_fast(m, monkeypatch)

    def no_ext():
        raise AssertionError("the fused extension was asked for")

    monkeypatch.setattr(lstmkit.kernels, "load_extension", no_ext)
    monkeypatch.setattr(lstmkit.kernels, "own_gemm", lambda: False)  # else float32 runs ours
    with torch.no_grad():
        for h, w in zip((None, hx), want):
            _same(m(x, h), w, tol=1e-12 if dtype == torch.float64 else TOL)


def test_standard_fast_path_uses_our_kernel_with_own_gemm(monkeypatch):
    # With our own matrix product (AVX2 CPUs without AVX-512) float32 "standard" inference
    # over T > 1 steps runs our kernel from the fast path, not torch's.
    m = _make("standard", num_layers=2, bidirectional=True)
    x = torch.randn(6, 3, 3)
    hx = _hx(m, (3,))
    with torch.no_grad():
        want = _general(m, x, hx)
    _expect_fast(m, monkeypatch)
    monkeypatch.setattr(lstmkit.kernels, "own_gemm", lambda: True)

    def no_torch(*a, **k):
        raise AssertionError("torch's kernel was called")

    monkeypatch.setattr(lstmkit.kernels.Plan, "_torch_infer", no_torch)
    with torch.no_grad():
        _same(m(x, hx), want, tol=1e-5)


def test_gradients_and_backend_go_to_general_path(monkeypatch):
    m = _make("vanilla")
    x = torch.randn(1, 2, 3)
    out, _ = m(x)  # grad enabled, parameters require grad
    assert out.grad_fn is not None
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    monkeypatch.setattr(_build, "_warned", set())  # the warning is once per process
    with pytest.warns(RuntimeWarning, match="reference"):
        with torch.no_grad():
            ref, _ = m(x)
    monkeypatch.setenv("LSTMKIT_BACKEND", "auto")
    with torch.no_grad():
        assert (m(x)[0] - ref).abs().max().item() <= 1e-5
        hx = tuple(torch.zeros(1, 2, 5).requires_grad_() for _ in range(2))
    out, _ = m(x, hx)
    assert out.grad_fn is not None  # state needs a gradient: autograd path


def test_bad_inputs_still_rejected_by_general_path():
    m = _make("vanilla")
    with torch.no_grad():
        with pytest.raises(ValueError, match="features"):
            m(torch.randn(1, 2, 4))
        with pytest.raises(ValueError, match="shape"):
            m(torch.randn(1, 2, 3), (torch.zeros(1, 3, 5), torch.zeros(1, 3, 5)))
        with pytest.raises(TypeError, match="hx"):
            m(torch.randn(1, 2, 3), torch.zeros(1, 2, 5))
        with pytest.raises(TypeError, match="floating"):
            m(torch.ones(1, 2, 3, dtype=torch.long))


def test_pickle_and_deepcopy_after_a_call():
    m = _make("fgr")
    x = torch.randn(1, 2, 3)
    with torch.no_grad():
        want = m(x)
        for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            _same(other(x), want)


@pytest.mark.parametrize("kind", ["standard", "vanilla", "fgr", "gru", "rnn"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_stepper_equals_whole_sequence(kind, num_layers, monkeypatch):
    # The stepper (kernels chosen once) over T steps = the module over the whole
    # sequence; from zeros and from a given state; batched and unbatched.
    m = _make(kind, num_layers=num_layers)
    x = torch.randn(6, 2, 3)
    hx = _hx(m, (2,))
    step = m.stepper()
    for h0 in (None, hx):
        with torch.no_grad():
            want_out, want_state = _general(m, x, h0)
        state, outs = h0, []
        for t in range(6):
            y, state = step(x[t], state)
            outs.append(y)
        _same((torch.stack(outs), state), (want_out, want_state), tol=1e-5)
    # unbatched: one sequence, state entries (L, n)
    with torch.no_grad():
        want_out, want_state = _general(m, x[:, 0])
    state, outs = None, []
    for t in range(6):
        y, state = step(x[t, 0], state)
        outs.append(y)
    _same((torch.stack(outs), state), (want_out, want_state), tol=1e-5)


def test_stepper_refuses_bidirectional_and_checks_input():
    with pytest.raises(ValueError, match="bidirectional"):
        _make("vanilla", bidirectional=True).stepper()
    step = _make("vanilla").stepper()
    with pytest.raises(ValueError, match="one step's input"):
        step(torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match="features"):
        step(torch.randn(2, 4))  # the module's own check, by its name


def test_stepper_resolves_backend_once(monkeypatch):
    # LSTMKIT_BACKEND is read when the stepper is made: a reference-made stepper keeps
    # the module's path (no lean kernel call) even after the variable goes back to auto.
    m = _make("vanilla")
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    monkeypatch.setattr(_build, "_warned", set())
    with pytest.warns(RuntimeWarning, match="reference"):
        ref_step = m.stepper()
        y_ref, _ = ref_step(torch.randn(2, 3))
    assert ref_step._step is None
    monkeypatch.delenv("LSTMKIT_BACKEND")
    assert m.stepper()._step is not None
