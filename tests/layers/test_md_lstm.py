"""The 2-D LSTM (Graves et al. 2007): the cell's equations by hand, the wavefront against the
plain double loop (outputs and gradients), the four scan directions, float64 gradcheck, errors."""

from __future__ import annotations

import pytest
import torch

from lstmkit.cells.md_lstm import md_lstm_step
from lstmkit.layers.md_lstm import MDLSTM2D

pytestmark = pytest.mark.usefixtures("one_thread")


def _rand(m, seed=0, scale=0.6):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def test_two_by_two_image_by_hand():
    m = MDLSTM2D(1, 1, directions=1).double()
    _rand(m)
    x = torch.tensor([[[[0.5, -1.0], [2.0, 0.3]]]], dtype=torch.float64)
    P = m.direction_params(0)
    W, U1, U2, b = (P[k][:, 0] for k in ("weight_ih", "weight_h1", "weight_h2")), None, None, P["bias"]
    W, U1, U2 = (P[k][:, 0] for k in ("weight_ih", "weight_h1", "weight_h2"))
    sig, tanh = torch.sigmoid, torch.tanh
    h, c = {}, {}
    for r in range(2):
        for col in range(2):
            hl, cl = (h[r, col - 1], c[r, col - 1]) if col else (0.0, 0.0)
            hu, cu = (h[r - 1, col], c[r - 1, col]) if r else (0.0, 0.0)
            a = W * x[0, 0, r, col] + U1 * hl + U2 * hu + b  # blocks i, f1, f2, g, o
            c[r, col] = sig(a[0]) * tanh(a[3]) + sig(a[1]) * cl + sig(a[2]) * cu
            h[r, col] = sig(a[4]) * tanh(c[r, col])
    ref = torch.stack([torch.stack([h[r, q] for q in range(2)]) for r in range(2)])
    torch.testing.assert_close(m(x)[0, 0], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1), (3, 7), (6, 4)])
@pytest.mark.parametrize("directions", [1, 4])
def test_wavefront_equals_the_double_loop(shape, directions):
    m = MDLSTM2D(2, 3, directions=directions).double()
    _rand(m, seed=1)
    x = torch.randn(2, 2, *shape, dtype=torch.float64, requires_grad=True)
    fast = m(x)
    m.impl = "loop"
    ref = m(x)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(ref)
    gf = torch.autograd.grad(fast, [x, *m.parameters()], g)
    gr = torch.autograd.grad(ref, [x, *m.parameters()], g)
    for a, b in zip(gf, gr):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert fast.shape == (2, 3 * directions, *shape)


def test_directions_are_flipped_scans():
    m = MDLSTM2D(1, 2, directions=4).double()
    _rand(m, seed=2)
    x = torch.randn(1, 1, 4, 5, dtype=torch.float64)
    out = m(x)
    one = MDLSTM2D(1, 2, directions=1).double()
    for d, dims in enumerate(([], [3], [2], [2, 3])):
        with torch.no_grad():
            for name in ("weight_ih", "weight_h1", "weight_h2", "bias"):
                getattr(one, f"{name}_d0").copy_(getattr(m, f"{name}_d{d}"))
        flipped = one(x.flip(dims) if dims else x)
        torch.testing.assert_close(out[:, 2 * d:2 * d + 2], flipped.flip(dims) if dims else flipped)
    # the bottom-right scan's first cell is the bottom-right pixel: its h depends on that pixel only
    y = x.clone()
    y[0, 0, 0, 0] += 1.0
    torch.testing.assert_close(m(y)[:, 6:, 3, 4], out[:, 6:, 3, 4])
    assert not torch.allclose(m(y)[:, :2, 3, 4], out[:, :2, 3, 4])  # the top-left scan saw it


def test_gradcheck_float64():
    m = MDLSTM2D(2, 2, directions=2).double()
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_step_and_errors():
    p = {"weight_h1": torch.zeros(10, 2), "weight_h2": torch.zeros(10, 2)}
    z = torch.zeros(3, 2)
    xp = torch.zeros(3, 10)
    xp[:, 6:8] = 20.0  # g saturated at 1, i at 1/2: c = tanh(20)/2
    h, c = md_lstm_step(xp, (z, z), (z, z), p)
    torch.testing.assert_close(c, torch.full((3, 2), 0.5 * torch.tanh(torch.tensor(20.0)).item()))
    with pytest.raises(ValueError, match="directions must be 1, 2 or 4"):
        MDLSTM2D(1, 2, directions=3)
    with pytest.raises(ValueError, match="impl must be"):
        MDLSTM2D(1, 2, impl="fast")
    with pytest.raises(ValueError, match=r"input must be \(B, 1, H, W\)"):
        MDLSTM2D(1, 2)(torch.randn(2, 3, 4, 4))
