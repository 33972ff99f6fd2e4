"""The T-LSTM step (Baytas et al. 2017) against its equations written out here, float64
gradcheck of the step (elapsed times included), the decay g and the bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit.cells.t_lstm import TLSTMCellSpec, elapsed_time_decay


def _params(spec, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g, dtype=dtype) * 0.5 for k, s in spec.param_shapes().items()}


def _by_hand(x, h, c, dt, p, act):
    """The paper's equations, one line each, on separate weight blocks."""
    H = h.shape[-1]
    W, U = p["weight_ih"], p["weight_hh"]
    b = p["bias_ih"] + p["bias_hh"]
    cs = act(c @ p["weight_decomp"].T + p["bias_decomp"])           # C^S_{t-1}
    cs_hat = cs * (1.0 / torch.log(math.e + dt))[:, None]         # Ĉ^S = C^S g(Δt)
    ct = c - cs                                                    # C^T
    cstar = ct + cs_hat                                            # C*
    blk = lambda k: x @ W[k * H:(k + 1) * H].T + h @ U[k * H:(k + 1) * H].T + b[k * H:(k + 1) * H]
    i, f, g, o = torch.sigmoid(blk(0)), torch.sigmoid(blk(1)), torch.tanh(blk(2)), torch.sigmoid(blk(3))
    c_new = f * cstar + i * g
    return o * torch.tanh(c_new), c_new


@pytest.mark.parametrize("short_term,act", [("tanh", torch.tanh), ("sigmoid", torch.sigmoid)])
def test_step_matches_the_equations(short_term, act):
    spec = TLSTMCellSpec(3, 4, short_term=short_term)
    p = _params(spec)
    g = torch.Generator().manual_seed(1)
    x, h, c = (torch.randn(5, n, generator=g, dtype=torch.float64) for n in (3, 4, 4))
    dt = torch.tensor([0.0, 0.5, 1.0, 10.0, 300.0], dtype=torch.float64)
    got = spec.step(spec.input_projection(x, p), (h, c), p, side={"dt": dt})
    want = _by_hand(x, h, c, dt, p, act)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-12)


def test_decay_and_the_two_limits():
    assert float(elapsed_time_decay(torch.tensor(0.0))) == pytest.approx(1.0, abs=1e-7)
    g = elapsed_time_decay(torch.tensor([0.0, 1.0, 10.0, 1e6]))
    assert bool((g[1:] < g[:-1]).all()) and float(g[-1]) < 0.08
    # Δt = 0: C* = C (a standard LSTM step); Δt -> ∞: the short-term part is gone, C* = C - C^S
    spec = TLSTMCellSpec(2, 3)
    p = _params(spec, 2)
    c = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(spec.adjusted_memory(c, torch.zeros(4, dtype=torch.float64), p), c, atol=1e-12)
    far = spec.adjusted_memory(c, torch.full((4,), 1e300, dtype=torch.float64), p)
    cs = torch.tanh(c @ p["weight_decomp"].T + p["bias_decomp"])
    assert torch.allclose(far, c - cs, atol=2e-3)


def test_gradcheck_float64_step_with_elapsed_time():
    spec = TLSTMCellSpec(2, 3)
    p = {k: v.requires_grad_() for k, v in _params(spec, 3).items()}
    names = list(p)
    x = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    dt = torch.tensor([0.3, 4.0], dtype=torch.float64, requires_grad=True)

    def f(x, h, c, dt, *ps):
        q = dict(zip(names, ps))
        return spec.step(spec.input_projection(x, q), (h, c), q, side={"dt": dt})

    assert torch.autograd.gradcheck(f, (x, h, c, dt, *p.values()))


def test_layout_and_bad_arguments():
    spec = TLSTMCellSpec(3, 4)
    assert spec.param_shapes() == {"weight_ih": (16, 3), "weight_hh": (16, 4), "bias_ih": (16,), "bias_hh": (16,),
                                   "weight_decomp": (4, 4), "bias_decomp": (4,)}
    assert spec.side_inputs == ("dt",) and spec.state_names == ("h", "c")
    assert TLSTMCellSpec(3, 4, reverse=True).side_inputs == ("dt", "dt_next")
    nb = TLSTMCellSpec(3, 4, bias=False)
    assert "bias_decomp" not in nb.param_shapes() and "bias_ih" not in nb.param_shapes()
    with pytest.raises(ValueError, match="short_term must be one of"):
        TLSTMCellSpec(3, 4, short_term="relu")
    with pytest.raises(TypeError, match="reverse must be a bool"):
        TLSTMCellSpec(3, 4, reverse=1)
    with pytest.raises(ValueError, match="needs side="):
        p = _params(spec)
        spec.step(spec.input_projection(torch.randn(1, 3, dtype=torch.float64), p), spec.zero_state(1, dtype=torch.float64), p)
