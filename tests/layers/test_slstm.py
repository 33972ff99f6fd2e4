"""The sLSTM (Beck et al. 2024, eqs. 8-17): an independent re-derivation, stabilisation,
gradients, lengths, directions, stacking, streaming, the xlstm reference, init, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import lstmkit
from lstmkit.cells.slstm import forget_bias_init, params_from_xlstm, params_to_xlstm, sLSTMCellSpec
from lstmkit.families import get_family

pytestmark = pytest.mark.usefixtures("one_thread")

D64 = torch.float64


def _module(I=3, H=8, N=2, seed=0, scale=0.5, dtype=D64, **kw) -> lstmkit.sLSTM:
    m = lstmkit.sLSTM(I, H, num_heads=N, dtype=dtype, **kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=D64).to(dtype) * scale)
    return m


# ---- an independent re-derivation: eqs. 8-14 without the stabiliser --------------------
def _dense_R(w_hh: torch.Tensor, g: int) -> torch.Tensor:
    """The full H x H recurrent matrix R_g of gate g, built from its head blocks."""
    return torch.block_diag(*[w_hh[k, g] for k in range(w_hh.shape[0])])


def _eqs_8_to_14(p, x, forget_gate="sigmoid"):
    """The paper's sLSTM, unstabilised (exp is safe in float64 at these scales), gate by
    gate with dense block-diagonal matrices: x (T, B, I) -> (h (T, B, H), c, n)."""
    T, B, _ = x.shape
    H = p["weight_ih"].shape[0] // 4
    W = {k: p["weight_ih"][g * H : (g + 1) * H] for g, k in enumerate("ifzo")}
    R = {k: _dense_R(p["weight_hh"], g) for g, k in enumerate("ifzo")}
    b = {k: p["bias"][g * H : (g + 1) * H] for g, k in enumerate("ifzo")}
    h = torch.zeros(B, H, dtype=x.dtype)
    c = torch.zeros(B, H, dtype=x.dtype)
    n = torch.zeros(B, H, dtype=x.dtype)
    hs = []
    for t in range(T):
        pre = {k: x[t] @ W[k].T + h @ R[k].T + b[k] for k in "ifzo"}
        z = torch.tanh(pre["z"])  # (11)
        i = torch.exp(pre["i"])  # (12)
        f = torch.sigmoid(pre["f"]) if forget_gate == "sigmoid" else torch.exp(pre["f"])  # (13)
        o = torch.sigmoid(pre["o"])  # (14)
        c = f * c + i * z  # (8)
        n = f * n + i  # (9)
        h = o * (c / n)  # (10)
        hs.append(h)
    return torch.stack(hs), c, n


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("H,N", [(6, 1), (8, 2), (12, 3), (8, 8)])
def test_equals_the_unstabilised_equations(forget_gate, H, N):
    m = _module(I=3, H=H, N=N, forget_gate=forget_gate, scale=0.4)
    x = torch.randn(9, 4, 3, dtype=D64)
    out, (h, c, n, mm) = m(x)
    want_h, want_c, want_n = _eqs_8_to_14(m.cell_params(0), x, forget_gate)
    torch.testing.assert_close(out, want_h, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h[0], want_h[-1], rtol=1e-10, atol=1e-12)
    # the cell keeps c and n divided by exp(m) (eqs. 15-17)
    torch.testing.assert_close(c[0] * torch.exp(mm[0]), want_c, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(n[0] * torch.exp(mm[0]), want_n, rtol=1e-9, atol=1e-12)


def test_stabiliser_keeps_float32_finite_where_the_plain_exponentials_overflow():
    m = _module(I=3, H=8, N=2, dtype=torch.float32, scale=0.3)
    with torch.no_grad():
        m.bias_l0[:8] += 95.0  # i~ ~ 95: exp(95) overflows float32 (max ~ exp(88.7))
    x = torch.randn(12, 3, 3)
    out, (h, c, n, mm) = m(x)
    assert torch.isfinite(out).all() and torch.isfinite(c).all() and torch.isfinite(n).all()
    assert (n >= 1).all()  # one of i'_t, f'_t is 1 at each step
    p64 = {k: v.detach().double() for k, v in m.cell_params(0).items()}
    want, _, _ = _eqs_8_to_14(p64, x.double())
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5)
    # the unstabilised float32 form really does overflow here: the test can fail
    bad, _, _ = _eqs_8_to_14({k: v.detach() for k, v in m.cell_params(0).items()}, x)
    assert not torch.isfinite(bad).all()


def test_hidden_state_is_bounded_and_normaliser_at_least_one():
    # c/n is a weighted mean of tanh values: |h| <= 1 whatever the weights
    m = _module(I=4, H=8, N=4, scale=3.0, dtype=torch.float32, forget_gate="exp")
    out, (h, c, n, mm) = m(torch.randn(30, 5, 4) * 3)
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0
    assert (n >= 1).all()


def test_empty_memory_first_step():
    """From the zero state: m_1 = i~_1, i'_1 = 1, c_1 = z_1, n_1 = 1, h_1 = o_1 z_1."""
    spec = sLSTMCellSpec(3, 4, num_heads=2)
    g = torch.Generator().manual_seed(1)
    p = {k: torch.randn(s, generator=g, dtype=D64) for k, s in spec.param_shapes().items()}
    xp = spec.input_projection(torch.randn(2, 3, dtype=D64), p)
    h, c, n, m = spec.step(xp, spec.initial_state(2, dtype=D64), p)
    i_pre, _, z_pre, o_pre = xp.chunk(4, -1)  # h_0 = 0: no recurrent part
    torch.testing.assert_close(m, i_pre)
    torch.testing.assert_close(n, torch.ones_like(n))
    torch.testing.assert_close(c, torch.tanh(z_pre))
    torch.testing.assert_close(h, torch.sigmoid(o_pre) * torch.tanh(z_pre))


def test_heads_do_not_mix():
    """Block-diagonal R: with no input, head 1's units never see head 0's."""
    m = _module(I=2, H=6, N=3, scale=0.8)
    h0 = torch.zeros(1, 1, 6, dtype=D64)
    h0[..., :2] = 0.9  # only head 0 starts non-zero
    z = torch.zeros(1, 1, 6, dtype=D64)
    with torch.no_grad():
        m.weight_ih_l0.zero_()
        m.bias_l0.zero_()
    x = torch.zeros(5, 1, 2, dtype=D64)
    out, _ = m(x, (h0, z, z, z))
    base, _ = m(x, (torch.zeros_like(h0), z, z, z))
    assert not torch.allclose(out[..., :2], base[..., :2])
    torch.testing.assert_close(out[..., 2:], base[..., 2:])


# ---- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_gradcheck_module(forget_gate):
    m = _module(I=2, H=4, N=2, num_layers=2, bidirectional=True, forget_gate=forget_gate, scale=0.6)
    x = torch.randn(4, 2, 2, dtype=D64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    params = list(m.parameters())
    names = [n for n, _ in m.named_parameters()]

    def f(x, *ps):
        out, state = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return (out, *state)

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-6, fast_mode=True)  # a random projection of the Jacobian: 1 s, not 18


def test_gradcheck_step_from_a_nonzero_state():
    spec = sLSTMCellSpec(2, 4, num_heads=2, forget_gate="sigmoid")
    g = torch.Generator().manual_seed(3)
    p = {k: torch.randn(s, generator=g, dtype=D64, requires_grad=True) for k, s in spec.param_shapes().items()}
    xp = torch.randn(3, 16, dtype=D64, requires_grad=True)
    h = torch.randn(3, 4, dtype=D64, requires_grad=True)
    c = torch.randn(3, 4, dtype=D64, requires_grad=True)
    n = (torch.rand(3, 4, dtype=D64) + 1).requires_grad_()
    mm = torch.randn(3, 4, dtype=D64, requires_grad=True)
    keys = list(p)

    def f(xp, h, c, n, mm, *ps):
        return spec.step(xp, (h, c, n, mm), dict(zip(keys, ps)))

    assert torch.autograd.gradcheck(f, (xp, h, c, n, mm, *p.values()), eps=1e-6, atol=1e-6)


# ---- lengths, directions, stacking, streaming --------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_equal_each_sequence_alone(bidirectional):
    m = _module(I=3, H=8, N=4, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(7, 3, 3, dtype=D64)
    lengths = torch.tensor([7, 4, 1])
    out, state = m(x, lengths=lengths)
    for b, L in enumerate(lengths.tolist()):
        alone, st = m(x[:L, b : b + 1])
        torch.testing.assert_close(out[:L, b : b + 1], alone)
        assert (out[L:, b] == 0).all()
        for s, s1 in zip(state, st):
            torch.testing.assert_close(s[:, b : b + 1], s1)


def test_bidirectional_reverse_is_the_flipped_sequence():
    m = _module(I=3, H=4, N=2, bidirectional=True)
    fwd = lstmkit.sLSTM(3, 4, num_heads=2, dtype=D64)
    with torch.no_grad():
        for k in ("weight_ih", "weight_hh", "bias"):
            getattr(fwd, f"{k}_l0").copy_(getattr(m, f"{k}_l0_reverse"))
    x = torch.randn(6, 2, 3, dtype=D64)
    out, (h, c, n, mm) = m(x)
    rev, (h1, *_) = fwd(x.flip(0))
    torch.testing.assert_close(out[..., 4:], rev.flip(0))
    torch.testing.assert_close(h[1], h1[0])


def test_stacking_is_layer_after_layer():
    m = _module(I=3, H=8, N=2, num_layers=2, bidirectional=True)
    x = torch.randn(5, 2, 3, dtype=D64)
    out, state = m(x)
    layers = []
    for k, n_in in ((0, 3), (1, 16)):
        one = lstmkit.sLSTM(n_in, 8, num_heads=2, bidirectional=True, dtype=D64)
        one.load_state_dict({name.replace(f"_l{k}", "_l0"): v for name, v in m.state_dict().items() if f"_l{k}" in name})
        layers.append(one)
    y, s0 = layers[0](x)
    y, s1 = layers[1](y)
    torch.testing.assert_close(out, y)
    for s, a, b in zip(state, s0, s1):
        torch.testing.assert_close(s, torch.cat([a, b]))


def test_streaming_in_chunks_and_stepper():
    m = _module(I=3, H=8, N=2, num_layers=2).eval()
    x = torch.randn(10, 2, 3, dtype=D64)
    with torch.no_grad():
        whole, final = m(x)
        state, outs = None, []
        for chunk in x.split(3):
            y, state = m(chunk, state)
            outs.append(y)
        torch.testing.assert_close(torch.cat(outs), whole)
        for a, b in zip(state, final):
            torch.testing.assert_close(a, b)
    step, state = m.stepper(), None
    for t in range(10):
        y, state = step(x[t], state)
        torch.testing.assert_close(y, whole[t])
    assert len(state) == 4


def test_batch_first_and_unbatched():
    m = _module(I=3, H=4, N=2, batch_first=True)
    x = torch.randn(2, 5, 3, dtype=D64)
    out, _ = m(x)
    m.batch_first = False
    out_t, _ = m(x.transpose(0, 1))
    torch.testing.assert_close(out, out_t.transpose(0, 1))
    one, (h, c, n, mm) = m(x[1].clone())  # unbatched (T, I)
    torch.testing.assert_close(one, out[1])
    assert h.shape == (1, 4)


def test_registered_and_found_by_name():
    fam = get_family("slstm")
    assert fam.module is lstmkit.sLSTM and fam.spec is sLSTMCellSpec
    from lstmkit.models import SequenceModel

    model = SequenceModel(3, 8, 2, cell="slstm", num_layers=2, readout="last")
    assert isinstance(model.rnn, lstmkit.sLSTM) and model.rnn.num_layers == 2 and model.rnn.num_heads == 4
    assert model(torch.randn(5, 2, 3))[0].shape == (2, 2)


# ---- initialisation -------------------------------------------------------------------------
def test_default_initialisation():
    m = lstmkit.sLSTM(64, 16, num_heads=4)
    b = m.bias_l0.detach()
    fb = forget_bias_init(4)
    torch.testing.assert_close(fb, torch.tensor([5.0, 5 - 12 * (1 / 3) ** 0.3, 5 - 12 * (2 / 3) ** 0.3, -7.0]))
    torch.testing.assert_close(b[16:32], fb.repeat(4))  # every head spread from +5 to -7
    assert (b[:16] == 0).all() and (b[32:] == 0).all()  # input gate (and z, o) bias 0
    assert (m.weight_hh_l0 == 0).all()
    assert abs(m.weight_ih_l0.std().item() - math.sqrt(2 / (5 * 64))) < 0.01
    e = lstmkit.sLSTM(4, 8, num_heads=2, forget_gate="exp")
    # exp(b_exp) = sigmoid(b_sigmoid): both gates start with the same forget factors
    torch.testing.assert_close(e.bias_l0.detach()[8:16].exp(), torch.sigmoid(forget_bias_init(4)).repeat(2))
    assert forget_bias_init(1).tolist() == [5.0]


# ---- the xlstm reference package --------------------------------------------------------------
def _xlstm():
    return pytest.importorskip(
        "xlstm.blocks.slstm.cell",
        reason="xlstm is not importable (install it with: pip install --no-deps xlstm; its CPU path needs "
        "only torch and packaging)",
    )


def _xlstm_cell(H, N, seed=0, scale=0.5, dtype=D64):
    xc = _xlstm()
    cell = xc.sLSTMCell(xc.sLSTMCellConfig(hidden_size=H, num_heads=N, backend="vanilla", output_shape="BSH"))
    cell = cell.to(dtype)
    g = torch.Generator().manual_seed(seed)
    cell.recurrent_kernel[:] = torch.randn(cell.recurrent_kernel.shape, generator=g, dtype=dtype) * scale
    cell.bias[:] = torch.randn(cell.bias.shape, generator=g, dtype=dtype) * scale
    return cell


@pytest.mark.parametrize("T", [1, 5, 17])
@pytest.mark.parametrize("H,N", [(4, 1), (8, 2), (12, 3), (16, 4)])
def test_equals_xlstm_vanilla_outputs_and_gradients(H, N, T):
    cell = _xlstm_cell(H, N, seed=T)
    I, B = 3, 2
    g = torch.Generator().manual_seed(100 + T)
    w_ih = torch.randn(4 * H, I, generator=g, dtype=D64) * 0.5
    ours = lstmkit.sLSTM.from_xlstm(cell, w_ih, batch_first=True)
    x = torch.randn(B, T, I, dtype=D64, generator=g)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    w_ref = w_ih.clone().requires_grad_()

    y_ref, s_ref = cell(F.linear(x1, w_ref))  # (B, T, H), (4, B, H) = (h, c, n, m)
    y, state = ours(x2)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-13)
    for k in range(4):  # same stabiliser convention: even c, n and m agree
        torch.testing.assert_close(state[k][0], s_ref[k], rtol=1e-12, atol=1e-13)

    gy = torch.randn(y.shape, generator=g, dtype=D64)
    gh = torch.randn(B, H, generator=g, dtype=D64)
    ((y_ref * gy).sum() + (s_ref[0] * gh).sum()).backward()
    ((y * gy).sum() + (state[0][0] * gh).sum()).backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.weight_ih_l0.grad, w_ref.grad, rtol=1e-10, atol=1e-12)
    want = params_from_xlstm(cell.recurrent_kernel.grad, cell.bias.grad)
    torch.testing.assert_close(ours.weight_hh_l0.grad, want["weight_hh"], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.bias_l0.grad, want["bias"], rtol=1e-10, atol=1e-12)


def test_equals_xlstm_from_a_given_state():
    cell = _xlstm_cell(8, 2, seed=5)
    g = torch.Generator().manual_seed(7)
    w_ih = torch.randn(32, 3, generator=g, dtype=D64) * 0.5
    ours = lstmkit.sLSTM.from_xlstm(cell, w_ih, batch_first=True)
    x = torch.randn(2, 6, 3, generator=g, dtype=D64)
    s0 = torch.randn(4, 2, 8, generator=g, dtype=D64)
    s0[2] = s0[2].abs() + 1  # a normaliser > 0: a memory that holds something
    y_ref, s_ref = cell(F.linear(x, w_ih), s0)
    y, state = ours(x, tuple(s0[k : k + 1] for k in range(4)))
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-13)
    for k in range(4):
        torch.testing.assert_close(state[k][0], s_ref[k], rtol=1e-12, atol=1e-13)


def test_to_xlstm_float32_and_identity_from_xlstm():
    _xlstm()
    m = _module(I=5, H=8, N=4, dtype=torch.float32, batch_first=True)
    cell = m.to_xlstm(output_shape="BSH")
    assert cell.config.backend == "vanilla"
    x = torch.randn(3, 11, 5)
    y_ref, _ = cell(F.linear(x, m.weight_ih_l0))
    torch.testing.assert_close(m(x)[0], y_ref, rtol=1e-5, atol=1e-6)
    # without weight_ih the module takes the cell's own pre-activations
    raw = lstmkit.sLSTM.from_xlstm(cell, batch_first=True)
    assert raw.input_size == 32
    u = torch.randn(3, 11, 32)
    torch.testing.assert_close(raw(u)[0], cell(u)[0], rtol=1e-5, atol=1e-6)
    # round trip
    r, b = params_to_xlstm(m.cell_params(0))
    torch.testing.assert_close(r, cell.recurrent_kernel[:])
    torch.testing.assert_close(b, cell.bias[:])


def test_default_init_is_xlstms():
    xc = _xlstm()
    cell = xc.sLSTMCell(xc.sLSTMCellConfig(hidden_size=16, num_heads=4, backend="vanilla"))
    p = params_from_xlstm(cell.recurrent_kernel[:], cell.bias[:])
    m = lstmkit.sLSTM(3, 16, num_heads=4)
    torch.testing.assert_close(m.bias_l0.detach(), p["bias"].float())
    torch.testing.assert_close(m.weight_hh_l0.detach(), p["weight_hh"].float())


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_configuration():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        lstmkit.sLSTM(3, 10, num_heads=4)
    with pytest.raises(ValueError, match="forget_gate"):
        lstmkit.sLSTM(3, 8, forget_gate="tanh")
    with pytest.raises(TypeError, match="num_heads"):
        lstmkit.sLSTM(3, 8, num_heads=2.0)
    with pytest.raises(ValueError, match="num_heads"):
        sLSTMCellSpec(3, 8, num_heads=0)
    with pytest.raises(ValueError, match="head_size"):
        forget_bias_init(0)
    with pytest.raises(TypeError):
        lstmkit.sLSTM(3, 8, 1, True, False, 0.0, False, 2)  # num_heads is a keyword


def test_bad_inputs_and_states():
    m = lstmkit.sLSTM(3, 8, num_heads=2)
    x = torch.randn(4, 2, 3)
    with pytest.raises(ValueError, match="input_size=3"):
        m(torch.randn(4, 2, 5))
    with pytest.raises(TypeError, match=r"\(h_0, c_0, n_0, m_0\)"):
        m(x, torch.zeros(1, 2, 8))
    with pytest.raises(TypeError, match="2-tuple"):
        m(x, (torch.zeros(1, 2, 8), torch.zeros(1, 2, 8)))
    z = torch.zeros(1, 2, 8)
    with pytest.raises(ValueError, match="n_0 must have shape"):
        m(x, (z, z, torch.zeros(1, 2, 4), z))
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=torch.tensor([5, 1]))


def test_bad_conversions():
    with pytest.raises(ValueError, match="recurrent_kernel"):
        params_from_xlstm(torch.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match="bias"):
        params_from_xlstm(torch.zeros(2, 3, 4, 3), torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="weight_hh"):
        params_to_xlstm({"weight_hh": torch.zeros(2, 3, 3, 3)})
    with pytest.raises(ValueError, match="num_layers=2"):
        lstmkit.sLSTM(3, 8, 2).to_xlstm()
    with pytest.raises(ValueError, match="sigmoid"):
        lstmkit.sLSTM(3, 8, forget_gate="exp").to_xlstm()
    _xlstm()
    with pytest.raises(TypeError, match="xlstm sLSTMCell"):
        lstmkit.sLSTM.from_xlstm(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="do not pass"):
        lstmkit.sLSTM(3, 8).to_xlstm(num_heads=2)
    cell = lstmkit.sLSTM(3, 8, num_heads=2).to_xlstm()
    with pytest.raises(ValueError, match="weight_ih"):
        lstmkit.sLSTM.from_xlstm(cell, torch.zeros(8, 3))
