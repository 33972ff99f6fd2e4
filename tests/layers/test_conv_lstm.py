"""The peephole ConvLSTM (Shi et al. 2015, eq. 3): equations, gradients, Keras 3, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lstmkit.cells.conv_lstm import ConvLSTMCellSpec, params_from_keras, params_to_keras

# many small convolutions: one thread is several times faster on the shared 2-core machine
pytestmark = pytest.mark.usefixtures("one_thread")


def _params(spec: ConvLSTMCellSpec, dtype=torch.float64, scale: float = 0.4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g, dtype=dtype) * scale for k, s in spec.param_shapes().items()}


def _run(spec, p, x, state=None, recurrent_mask=None):
    """A plain time loop over the spec (the generic loop's job; kept here so the cell is
    tested on its own): x (T, B, C_in, Hgt, Wdt) -> (outputs (T, B, C_h, Hgt, Wdt), (h, c))."""
    if state is None:
        state = spec.initial_state(x.shape[1], x.shape[2:], dtype=x.dtype)
    xp = spec.input_projection(x, p)
    outs = []
    for t in range(x.shape[0]):
        state = spec.step(xp[t], state, p, recurrent_mask)
        outs.append(state[0])
    return torch.stack(outs), state


# ---- an independent re-derivation of eq. 3 ---------------------------------------------
def _corr_same(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """'Same'-padded 2-D cross-correlation written out as a sum over kernel offsets
    (no conv2d): x (B, I, H, W), w (O, I, kh, kw) -> (B, O, H, W)."""
    O, I, kh, kw = w.shape
    B, _, H, W = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xpad = torch.zeros(B, I, H + 2 * ph, W + 2 * pw, dtype=x.dtype)
    xpad[:, :, ph : ph + H, pw : pw + W] = x
    out = torch.zeros(B, O, H, W, dtype=x.dtype)
    for dy in range(kh):
        for dx in range(kw):
            out += torch.einsum("oi,bihw->bohw", w[:, :, dy, dx], xpad[:, :, dy : dy + H, dx : dx + W])
    return out


def _eq3(p, x, C_h, peepholes, bias, h=None, c=None):
    """Eq. 3 of Shi et al. (2015) gate by gate, from the paper's symbols."""
    T, B, _, H, W = x.shape
    blk = lambda name, g: p[name][g * C_h : (g + 1) * C_h]  # noqa: E731
    I, Fg, G, O = 0, 1, 2, 3  # (i, f, g, o) blocks of weight_ih / weight_hh / biases
    W_x = {k: blk("weight_ih", g) for k, g in zip("ifco", (I, Fg, G, O))}
    W_h = {k: blk("weight_hh", g) for k, g in zip("ifco", (I, Fg, G, O))}
    if bias:
        b = {k: (blk("bias_ih", g) + blk("bias_hh", g))[None, :, None, None] for k, g in zip("ifco", (I, Fg, G, O))}
    else:
        b = dict.fromkeys("ifco", 0.0)
    if peepholes:
        W_ci, W_cf, W_co = (p["weight_ch"][k * C_h : (k + 1) * C_h] for k in range(3))
    else:
        W_ci = W_cf = W_co = torch.zeros(C_h, H, W, dtype=x.dtype)
    h = torch.zeros(B, C_h, H, W, dtype=x.dtype) if h is None else h
    c = torch.zeros(B, C_h, H, W, dtype=x.dtype) if c is None else c
    sig = torch.sigmoid
    hs = []
    for t in range(T):
        X = x[t]
        i = sig(_corr_same(X, W_x["i"]) + _corr_same(h, W_h["i"]) + W_ci * c + b["i"])
        f = sig(_corr_same(X, W_x["f"]) + _corr_same(h, W_h["f"]) + W_cf * c + b["f"])
        c = f * c + i * torch.tanh(_corr_same(X, W_x["c"]) + _corr_same(h, W_h["c"]) + b["c"])
        o = sig(_corr_same(X, W_x["o"]) + _corr_same(h, W_h["o"]) + W_co * c + b["o"])
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs), (h, c)


@pytest.mark.parametrize(
    "kernel,frame,peepholes,bias",
    [(3, (5, 6), True, True), ((3, 5), (4, 7), True, False), (1, (3, 3), True, True), ((5, 3), (6, 5), False, True)],
)
def test_step_is_eq3(kernel, frame, peepholes, bias):
    spec = ConvLSTMCellSpec(3, 4, kernel, bias=bias, peepholes=peepholes, frame_size=frame if peepholes else None)
    p = _params(spec)
    x = torch.randn(4, 2, 3, *frame, dtype=torch.float64)
    h0 = torch.randn(2, 4, *frame, dtype=torch.float64) * 0.5
    c0 = torch.randn(2, 4, *frame, dtype=torch.float64) * 0.5
    out, (h, c) = _run(spec, p, x, (h0, c0))
    ref, (h_ref, c_ref) = _eq3(p, x, 4, peepholes, bias, h0, c0)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(c, c_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h, h_ref, rtol=1e-10, atol=1e-10)
    assert out.abs().max() > 0.05  # the check sees non-trivial values


def test_output_peephole_sees_new_cell_state():
    """Only the o block of weight_ch is non-zero: its effect on h must be through C_t."""
    spec = ConvLSTMCellSpec(2, 3, 3, frame_size=(4, 4))
    p = _params(spec)
    p["weight_ch"][: 2 * 3] = 0
    x = torch.randn(1, 2, 2, 4, 4, dtype=torch.float64)
    c0 = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    h0 = torch.zeros_like(c0)
    (h, c) = spec.step(spec.input_projection(x, p)[0], (h0, c0), p)
    pre = spec.input_projection(x, p)[0] + F.conv2d(h0, p["weight_hh"], padding=1)
    o_new = torch.sigmoid(pre[:, 9:] + p["weight_ch"][6:] * c)
    o_old = torch.sigmoid(pre[:, 9:] + p["weight_ch"][6:] * c0)
    torch.testing.assert_close(h, o_new * torch.tanh(c))
    assert not torch.allclose(h, o_old * torch.tanh(c))


def test_recurrent_mask_multiplies_h_before_the_recurrent_conv():
    spec = ConvLSTMCellSpec(2, 3, 3, frame_size=(4, 5))
    p = _params(spec)
    x = torch.randn(1, 2, 2, 4, 5, dtype=torch.float64)
    h0 = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    c0 = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    mask = (torch.rand(2, 3, 4, 5) > 0.5).double() * 2.0
    xp = spec.input_projection(x, p)[0]
    masked = spec.step(xp, (h0, c0), p, recurrent_mask=mask)
    expected = spec.step(xp, (h0 * mask, c0), p)  # only h's way into weight_hh changes
    for a, b in zip(masked, expected):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(masked[0], spec.step(xp, (h0, c0), p)[0])


def test_zero_peepholes_equal_no_peepholes():
    with_p = ConvLSTMCellSpec(3, 2, 3, frame_size=(5, 5))
    without = ConvLSTMCellSpec(3, 2, 3, peepholes=False)
    p = _params(with_p)
    q = {k: v for k, v in p.items() if k != "weight_ch"}
    assert set(without.param_shapes()) == set(q)
    p["weight_ch"].zero_()
    x = torch.randn(3, 2, 3, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(_run(with_p, p, x)[0], _run(without, q, x)[0])


def test_no_peepholes_runs_on_any_frame_size():
    spec = ConvLSTMCellSpec(2, 3, (3, 5), peepholes=False)
    p = _params(spec)
    for frame in [(1, 1), (4, 9), (7, 2)]:
        x = torch.randn(2, 3, 2, *frame, dtype=torch.float64)
        out, (h, c) = _run(spec, p, x)
        assert out.shape == (2, 3, 3, *frame) and c.shape == (3, 3, *frame)
        assert spec.state_shapes((2, *frame)) == ((3, *frame), (3, *frame))


def test_input_projection_folds_time_and_batch():
    spec = ConvLSTMCellSpec(2, 3, 3, frame_size=(4, 5))
    p = _params(spec)
    x = torch.randn(5, 3, 2, 4, 5, dtype=torch.float64)
    xp = spec.input_projection(x, p)
    assert xp.shape == (5, 3, 12, 4, 5)
    for t in range(5):
        one = F.conv2d(x[t], p["weight_ih"], p["bias_ih"] + p["bias_hh"], padding=1)
        torch.testing.assert_close(xp[t], one)
    torch.testing.assert_close(spec.input_projection(x[0], p), xp[0])  # no time axis


def test_gradcheck_float64():
    spec = ConvLSTMCellSpec(2, 2, 3, frame_size=(2, 3))
    p = _params(spec, scale=0.6)
    names = list(p)
    x = torch.randn(3, 2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = (torch.randn(2, 2, 2, 3, dtype=torch.float64) * 0.5).requires_grad_()
    c0 = (torch.randn(2, 2, 2, 3, dtype=torch.float64) * 0.5).requires_grad_()
    mask = (torch.rand(2, 2, 2, 3) > 0.3).double() / 0.7

    def f(x, h0, c0, *flat):
        out, (h, c) = _run(spec, dict(zip(names, flat)), x, (h0, c0), recurrent_mask=mask)
        return out, h, c

    flat = tuple(p[n].clone().requires_grad_() for n in names)
    assert torch.autograd.gradcheck(f, (x, h0, c0) + flat, eps=1e-6, atol=1e-6)


def test_reset_parameters_bound():
    spec = ConvLSTMCellSpec(2, 5, (3, 5), frame_size=(6, 6))
    p = {k: torch.empty(s) for k, s in spec.param_shapes().items()}
    spec.reset_parameters(p)
    bound = 1 / math.sqrt(5 * 3 * 5)
    for t in p.values():
        assert t.abs().max() <= bound and t.abs().max() > 0.8 * bound


def test_shapes_and_states():
    spec = ConvLSTMCellSpec(2, 5, 3, frame_size=(6, 7))
    assert spec.feature_axes == 3 and spec.state_names == ("h", "c") and spec.output_size == 5
    assert spec.param_shapes() == {
        "weight_ih": (20, 2, 3, 3),
        "weight_hh": (20, 5, 3, 3),
        "bias_ih": (20,),
        "bias_hh": (20,),
        "weight_ch": (15, 6, 7),
    }
    assert spec.state_shapes() == spec.state_shapes((2, 6, 7)) == ((5, 6, 7), (5, 6, 7))
    h, c = spec.initial_state(3, dtype=torch.float64)
    assert h.shape == c.shape == (3, 5, 6, 7) and h.dtype == torch.float64 and not h.any()
    assert [t.shape for t in spec.zero_state(2)] == [(2, 5, 6, 7)] * 2
    assert "frame_size=(6, 7)" in repr(spec)


# ---- bad inputs --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(kernel_size=2, peepholes=False), ValueError, "kernel_size must be odd"),
        (dict(kernel_size=(3, 4), peepholes=False), ValueError, "kernel_size must be odd"),
        (dict(kernel_size=0, peepholes=False), ValueError, "kernel_size must be positive"),
        (dict(kernel_size=(3, 3, 3), peepholes=False), TypeError, "kernel_size must be an int or a pair"),
        (dict(kernel_size=3.0, peepholes=False), TypeError, "kernel_size"),
        (dict(kernel_size=3), ValueError, "frame_size .* is required when peepholes=True"),
        (dict(kernel_size=3, frame_size=(4, 0)), ValueError, "frame_size must be positive"),
        (dict(kernel_size=3, peepholes=1, frame_size=4), TypeError, "peepholes must be a bool"),
    ],
)
def test_bad_construction(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ConvLSTMCellSpec(2, 3, **kwargs)


def test_bad_input_shapes():
    spec = ConvLSTMCellSpec(2, 3, 3, frame_size=(4, 5))
    with pytest.raises(ValueError, match=r"input channels: expected 2 \(input_size\), got 3"):
        spec.check_input_shape((3, 4, 5))
    with pytest.raises(ValueError, match=r"frame size: expected .* \(4, 5\) .*peephole.*got \(5, 4\)"):
        spec.check_input_shape((2, 5, 4))
    with pytest.raises(ValueError, match=r"\(C_in, Hgt, Wdt\).*got frame shape \(2, 4\)"):
        spec.check_input_shape((2, 4))
    with pytest.raises(ValueError, match="frame size"):
        spec.state_shapes((2, 3, 3))
    spec.check_input_shape(torch.Size([2, 4, 5]))  # the right shape passes
    free = ConvLSTMCellSpec(2, 3, 3, peepholes=False)
    with pytest.raises(ValueError, match="pass input_shape"):
        free.state_shapes()
    with pytest.raises(TypeError, match="state_shapes"):
        free.state_sizes()


def test_keras_converter_errors():
    spec = ConvLSTMCellSpec(2, 3, 3, frame_size=4)
    with pytest.raises(ValueError, match="peepholes=False"):
        params_to_keras(_params(spec))
    with pytest.raises(ValueError, match="4-D"):
        params_from_keras(torch.zeros(3, 2, 12), torch.zeros(3, 3, 3, 12))
    with pytest.raises(ValueError, match="recurrent_kernel: expected shape"):
        params_from_keras(torch.zeros(3, 3, 2, 12), torch.zeros(3, 3, 4, 12))
    with pytest.raises(ValueError, match=r"bias: expected shape \(12,\)"):
        params_from_keras(torch.zeros(3, 3, 2, 12), torch.zeros(3, 3, 3, 12), torch.zeros(8))


# ---- Keras 3 (torch backend) -------------------------------------------------------------
def _keras_layer(keras, C_h, kernel, bias, x_shape, go_backwards=False):
    layer = keras.layers.ConvLSTM2D(
        C_h,
        kernel,
        padding="same",
        data_format="channels_first",
        use_bias=bias,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        dtype="float64",
    )
    layer.build((x_shape[1], x_shape[0], *x_shape[2:]))  # Keras is batch-first
    return layer


@pytest.mark.parametrize("kernel,bias", [((3, 3), True), ((3, 5), False)])
def test_keras_to_lstmkit_outputs_and_gradients(keras, kernel, bias):
    """Keras' weights -> params_from_keras: same outputs, states and every gradient."""
    T, B, C_in, C_h, H, W = 4, 2, 3, 2, 5, 6
    layer = _keras_layer(keras, C_h, kernel, bias, (T, B, C_in, H, W))
    g = torch.Generator().manual_seed(1)
    layer.set_weights([(torch.randn(w.shape, generator=g, dtype=torch.float64) * 0.4).numpy() for w in layer.get_weights()])
    x = torch.randn(T, B, C_in, H, W, dtype=torch.float64)

    xk = x.transpose(0, 1).clone().requires_grad_()
    seq, h_k, c_k = layer(xk)
    (seq.square().sum() + (c_k * 0.5).sum()).backward()

    spec = ConvLSTMCellSpec(C_in, C_h, kernel, bias=bias, peepholes=False)
    p = {k: v.requires_grad_() for k, v in params_from_keras(*layer.get_weights()).items()}
    xt = x.clone().requires_grad_()
    out, (h, c) = _run(spec, p, xt)
    (out.square().sum() + (c * 0.5).sum()).backward()

    assert out.abs().max() > 0.05
    torch.testing.assert_close(out, seq.detach().transpose(0, 1), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(h, h_k.detach(), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(c, c_k.detach(), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(xt.grad, xk.grad.transpose(0, 1), rtol=1e-9, atol=1e-10)
    k_grads = [v.value.grad for v in layer.weights]  # [kernel, recurrent_kernel, (bias)]
    torch.testing.assert_close(p["weight_ih"].grad, k_grads[0].permute(3, 2, 0, 1))
    torch.testing.assert_close(p["weight_hh"].grad, k_grads[1].permute(3, 2, 0, 1))
    if bias:
        torch.testing.assert_close(p["bias_ih"].grad, k_grads[2])
        torch.testing.assert_close(p["bias_hh"].grad, k_grads[2])


def test_lstmkit_to_keras_outputs(keras):
    """Our params -> params_to_keras -> set_weights: Keras computes what the cell does,
    channels-last and backwards included."""
    T, B, C_in, C_h, H, W = 5, 3, 2, 3, 4, 7
    spec = ConvLSTMCellSpec(C_in, C_h, (5, 3), peepholes=False)
    p = _params(spec, seed=3)
    x = torch.randn(T, B, C_in, H, W, dtype=torch.float64)
    out, (h, c) = _run(spec, p, x)
    for go_backwards in (False, True):
        layer = _keras_layer(keras, C_h, (5, 3), True, x.shape, go_backwards=go_backwards)
        layer.set_weights(params_to_keras(p))
        seq, h_k, c_k = layer(x.transpose(0, 1))
        ref_out, (ref_h, ref_c) = (out, (h, c)) if not go_backwards else _run(spec, p, x.flip(0))
        torch.testing.assert_close(seq.detach().transpose(0, 1), ref_out, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(h_k.detach(), ref_h, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(c_k.detach(), ref_c, rtol=1e-9, atol=1e-10)
    # channels_last: the kernel layout does not depend on data_format
    last = keras.layers.ConvLSTM2D(C_h, (5, 3), padding="same", return_sequences=True, dtype="float64")
    last.build((B, T, H, W, C_in))
    last.set_weights(params_to_keras(p))
    seq = last(x.permute(1, 0, 3, 4, 2))
    torch.testing.assert_close(seq.detach().permute(1, 0, 4, 2, 3), out, rtol=1e-9, atol=1e-10)
    # and back: the round trip is exact (bias_hh folds into bias_ih)
    back = params_from_keras(*params_to_keras(p))
    torch.testing.assert_close(back["weight_ih"], p["weight_ih"])
    torch.testing.assert_close(back["weight_hh"], p["weight_hh"])
    torch.testing.assert_close(back["bias_ih"] + back["bias_hh"], p["bias_ih"] + p["bias_hh"])


# ---- the module: lstmkit.ConvLSTM --------------------------------------------------------
import lstmkit  # noqa: E402
from torch.func import functional_call  # noqa: E402


def _randomize(m, scale=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * scale)
    return m


def _layer_params(m, k, s=""):
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ch")
    return {n: getattr(m, f"{n}_l{k}{s}") for n in names if hasattr(m, f"{n}_l{k}{s}")}


def _reference(m, x, lengths=None):
    """The module's job spelled out with the cell and the plain loop: per sequence (its own
    length), per layer, both directions; outputs past a sequence's end are zero."""
    T, B = x.shape[:2]
    D = 2 if m.bidirectional else 1
    lengths = [T] * B if lengths is None else [int(n) for n in lengths]
    outs, hs, cs = [], [], []
    for b in range(B):
        inp = x[: lengths[b], b : b + 1]
        h_b, c_b = [], []
        for k in range(m.num_layers):
            C_in = inp.shape[2]
            spec = ConvLSTMCellSpec(C_in, m.hidden_channels, m.kernel_size, bias=m.bias,
                                    peepholes=m.peepholes, frame_size=m.frame_size)
            dirs = []
            for d, s in enumerate(("", "_reverse")[:D]):
                p = _layer_params(m, k, s)
                seq = inp if d == 0 else inp.flip(0)
                out, (h, c) = _run(spec, p, seq)
                dirs.append(out if d == 0 else out.flip(0))
                h_b.append(h)
                c_b.append(c)
            inp = torch.cat(dirs, dim=2)
        pad = inp.new_zeros(T - lengths[b], *inp.shape[1:])
        outs.append(torch.cat([inp, pad]))
        hs.append(torch.cat(h_b))  # (L*D, C_h, H, W)
        cs.append(torch.cat(c_b))
    return torch.cat(outs, 1), (torch.stack(hs, 1), torch.stack(cs, 1))


@pytest.mark.parametrize(
    "num_layers,bidirectional,peepholes,lengths",
    [(1, False, True, None), (2, False, True, [5, 3, 1]), (1, True, True, [4, 5, 2]), (2, True, False, [5, 2, 3])],
)
def test_module_matches_cell_reference(num_layers, bidirectional, peepholes, lengths):
    m = lstmkit.ConvLSTM(2, 3, 3, num_layers=num_layers, bidirectional=bidirectional, peepholes=peepholes,
                         frame_size=(4, 5) if peepholes else None).double()
    _randomize(m)
    x = torch.randn(5, 3, 2, 4, 5, dtype=torch.float64)
    lt = None if lengths is None else torch.tensor(lengths)
    out, (h_n, c_n) = m(x, lengths=lt)
    D = 2 if bidirectional else 1
    assert out.shape == (5, 3, D * 3, 4, 5)
    assert h_n.shape == c_n.shape == (num_layers * D, 3, 3, 4, 5)
    ref, (h_ref, c_ref) = _reference(m, x, lengths)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h_n, h_ref)
    torch.testing.assert_close(c_n, c_ref)


def test_module_parameters_and_repr():
    m = lstmkit.ConvLSTM(2, 3, (3, 5), num_layers=2, bidirectional=True, frame_size=(6, 7))
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes["weight_ih_l0"] == (12, 2, 3, 5)
    assert shapes["weight_ih_l1_reverse"] == (12, 6, 3, 5)  # layer 1 sees both directions
    assert shapes["weight_hh_l1"] == (12, 3, 3, 5)
    assert shapes["bias_ih_l0"] == shapes["bias_hh_l1_reverse"] == (12,)
    assert shapes["weight_ch_l0_reverse"] == (9, 6, 7)
    assert len(shapes) == 2 * 2 * 5
    no_peep = lstmkit.ConvLSTM(2, 3, 3, bias=False, peepholes=False)
    assert sorted(n for n, _ in no_peep.named_parameters()) == ["weight_hh_l0", "weight_ih_l0"]
    bound = 1 / math.sqrt(3 * 3 * 5)
    assert all(p.abs().max() <= bound for p in m.parameters())


def test_module_batch_first_and_initial_state():
    m = _randomize(lstmkit.ConvLSTM(2, 3, 3, frame_size=(4, 4)).double())
    mb = lstmkit.ConvLSTM(2, 3, 3, frame_size=(4, 4), batch_first=True).double()
    mb.load_state_dict(m.state_dict())
    x = torch.randn(6, 2, 2, 4, 4, dtype=torch.float64)
    h0 = torch.randn(1, 2, 3, 4, 4, dtype=torch.float64)
    c0 = torch.randn(1, 2, 3, 4, 4, dtype=torch.float64)
    out, (h, c) = m(x, (h0, c0))
    out_b, (h_b, c_b) = mb(x.transpose(0, 1), (h0, c0))
    torch.testing.assert_close(out_b, out.transpose(0, 1))
    torch.testing.assert_close(h_b, h)
    torch.testing.assert_close(c_b, c)
    assert not torch.allclose(out, m(x)[0])  # the given state was used


def test_module_streaming_in_chunks():
    m = _randomize(lstmkit.ConvLSTM(2, 3, 3, num_layers=2, frame_size=(4, 5)).double())
    x = torch.randn(9, 2, 2, 4, 5, dtype=torch.float64)
    full, (h_full, c_full) = m(x)
    state, parts = None, []
    for chunk in (x[:4], x[4:5], x[5:]):
        out, state = m(chunk, state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts), full)
    torch.testing.assert_close(state[0], h_full)
    torch.testing.assert_close(state[1], c_full)


def test_module_dropout_between_layers():
    m = _randomize(lstmkit.ConvLSTM(2, 3, 3, num_layers=2, dropout=0.5, frame_size=(4, 4)).double())
    x = torch.randn(3, 2, 2, 4, 4, dtype=torch.float64)
    m.eval()
    torch.testing.assert_close(m(x)[0], _reference(m, x)[0])
    m.train()
    assert not torch.allclose(m(x)[0], _reference(m, x)[0])


def test_module_gradcheck_float64():
    m = _randomize(lstmkit.ConvLSTM(1, 1, 3, num_layers=2, bidirectional=True, frame_size=(2, 3)).double(), scale=0.6)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in m.named_parameters())
    x = torch.randn(3, 2, 1, 2, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])

    def f(x, *flat):
        out, (h, c) = functional_call(m, dict(zip(names, flat)), (x,), {"lengths": lengths})
        return out, h, c

    assert torch.autograd.gradcheck(f, (x,) + params, eps=1e-6, atol=1e-6)


def test_module_bad_input():
    m = lstmkit.ConvLSTM(2, 3, 3, frame_size=(4, 5))
    with pytest.raises(ValueError, match="frame_size"):
        lstmkit.ConvLSTM(2, 3, 3)  # peepholes need the frame size
    with pytest.raises(ValueError, match="odd"):
        lstmkit.ConvLSTM(2, 3, 4, peepholes=False)
    with pytest.raises(ValueError, match="channels"):
        m(torch.randn(3, 2, 5, 4, 5))
    with pytest.raises(ValueError, match="frame size"):
        m(torch.randn(3, 2, 2, 5, 5))
    for bad in (torch.randn(3, 2, 4), torch.randn(3, 2, 2, 4, 5, 1)):
        with pytest.raises(ValueError, match=r"input must be 5-D \(batched\) or 4-D \(unbatched\)"):
            m(bad)
    with pytest.raises(ValueError, match=r"initial state h_0 must have shape \(1, 2, 3, 4, 5\)"):
        m(torch.randn(3, 2, 2, 4, 5), (torch.zeros(1, 2, 3, 4, 4), torch.zeros(1, 2, 3, 4, 4)))
    with pytest.raises(TypeError, match=r"hx must be \(h_0, c_0\)"):
        m(torch.randn(3, 2, 2, 4, 5), torch.zeros(1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="lengths"):
        m(torch.randn(3, 2, 2, 4, 5), lengths=torch.tensor([4, 1]))
    free = lstmkit.ConvLSTM(2, 3, 3, peepholes=False)
    with pytest.raises(ValueError, match="to_keras needs frame_size"):
        free.to_keras()
    with pytest.raises(ValueError, match="peepholes=False"):
        m.to_keras()
    with pytest.raises(ValueError, match="one layer, one direction"):
        lstmkit.ConvLSTM(2, 3, 3, peepholes=False, bidirectional=True).to_keras((4, 4))


def test_module_unbatched_and_stepper():
    m = _randomize(lstmkit.ConvLSTM(2, 3, 3, num_layers=2, frame_size=(4, 5)).double())
    x = torch.randn(6, 1, 2, 4, 5, dtype=torch.float64)
    out, (h, c) = m(x)
    out_u, (h_u, c_u) = m(x[:, 0])
    assert out_u.shape == (6, 3, 4, 5) and h_u.shape == (2, 3, 4, 5)
    torch.testing.assert_close(out_u, out[:, 0])
    torch.testing.assert_close(c_u, c[:, 0])
    step, state = m.stepper(), None
    for t in range(6):
        y, state = step(x[t], state)
        torch.testing.assert_close(y, out[t])
    torch.testing.assert_close(state[1], c)


def test_module_recurrent_dropout_and_zoneout():
    base = _randomize(lstmkit.ConvLSTM(2, 3, 3, frame_size=(4, 4)).double())
    x = torch.randn(4, 2, 2, 4, 4, dtype=torch.float64)
    ref = base(x)[0]
    rd = lstmkit.ConvLSTM(2, 3, 3, frame_size=(4, 4), recurrent_dropout=0.5).double()
    rd.load_state_dict(base.state_dict())
    torch.testing.assert_close(rd.eval()(x)[0], ref)  # evaluation: no mask
    assert not torch.allclose(rd.train()(x)[0], ref)
    zo = lstmkit.ConvLSTM(2, 3, 3, frame_size=(4, 4), zoneout=0.3).double().eval()
    zo.load_state_dict(base.state_dict())
    assert not torch.allclose(zo(x)[0], ref)


def test_registered_family():
    from lstmkit.families import family_of, get_family, resolve_model

    fam = get_family("conv_lstm")
    assert fam.module is lstmkit.ConvLSTM and fam.spec is ConvLSTMCellSpec and fam.feature_axes == 3
    assert get_family("convlstm") is fam and family_of(lstmkit.ConvLSTM(1, 1, 1, peepholes=False)) is fam
    with pytest.raises(ValueError, match=r"unknown model 'conv_lstm'; expected a family \(lstm"):
        resolve_model("conv_lstm", feature_axes=1)  # not offered where vectors are expected


def test_module_from_keras_and_to_keras(keras):
    """Module-level converters, both directions, against Keras 3 on its torch backend,
    with lengths against Keras' mask (right-padded sequences)."""
    T, B, C_in, C_h, H, W = 5, 3, 2, 3, 4, 6
    layer = _keras_layer(keras, C_h, (3, 5), True, (T, B, C_in, H, W))
    g = torch.Generator().manual_seed(2)
    layer.set_weights([(torch.randn(w.shape, generator=g, dtype=torch.float64) * 0.4).numpy() for w in layer.get_weights()])
    m = lstmkit.ConvLSTM.from_keras(layer, batch_first=True)
    assert m.weight_ih_l0.dtype == torch.float64 and not m.peepholes and m.kernel_size == (3, 5)
    x = torch.randn(B, T, C_in, H, W, dtype=torch.float64)
    seq, h_k, c_k = layer(x)
    out, (h, c) = m(x)
    torch.testing.assert_close(out, seq.detach(), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(h[0], h_k.detach(), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(c[0], c_k.detach(), rtol=1e-9, atol=1e-10)
    lengths = torch.tensor([5, 2, 4])
    mask = torch.arange(T)[None, :] < lengths[:, None]
    seq_m, h_m, c_m = layer(x, mask=mask)
    out_l, (h_l, c_l) = m(x, lengths=lengths)
    torch.testing.assert_close(out_l[mask], seq_m.detach()[mask], rtol=1e-9, atol=1e-10)
    assert not out_l[~mask].any()
    torch.testing.assert_close(h_l[0], h_m.detach(), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(c_l[0], c_m.detach(), rtol=1e-9, atol=1e-10)

    # and back: a module of ours -> Keras, channels-last too
    ours = _randomize(lstmkit.ConvLSTM(C_in, C_h, 3, peepholes=False).double(), seed=5)
    xt = x.transpose(0, 1)
    ref, (h_ref, c_ref) = ours(xt)
    for data_format in ("channels_first", "channels_last"):
        k = ours.to_keras((H, W), data_format=data_format)
        xk = x if data_format == "channels_first" else x.permute(0, 1, 3, 4, 2)
        seq, h_k, c_k = (t.detach() for t in k(xk))
        if data_format == "channels_last":
            seq, h_k, c_k = seq.permute(0, 1, 4, 2, 3), h_k.permute(0, 3, 1, 2), c_k.permute(0, 3, 1, 2)
        torch.testing.assert_close(seq.transpose(0, 1), ref, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(c_k, c_ref[0], rtol=1e-9, atol=1e-10)
    back = lstmkit.ConvLSTM.from_keras(ours.to_keras((H, W)))
    torch.testing.assert_close(back(xt)[0], ref)


def test_module_from_keras_refuses(keras):
    x_shape = (3, 2, 2, 4, 4)
    layer = keras.layers.ConvLSTM2D(3, 3, padding="valid", data_format="channels_first", dtype="float64")
    layer.build((2, 3, 2, 4, 4))
    with pytest.raises(ValueError, match="layer padding: a ConvLSTM needs 'same', got 'valid'"):
        lstmkit.ConvLSTM.from_keras(layer)
    rev = _keras_layer(keras, 3, 3, True, x_shape, go_backwards=True)
    with pytest.raises(ValueError, match="go_backwards"):
        lstmkit.ConvLSTM.from_keras(rev)
    with pytest.raises(ValueError, match="must be built"):
        lstmkit.ConvLSTM.from_keras(keras.layers.ConvLSTM2D(3, 3, padding="same"))
    with pytest.raises(TypeError, match="keras.layers.ConvLSTM2D"):
        lstmkit.ConvLSTM.from_keras(keras.layers.LSTM(3))


def test_conv_lstm_cell_is_one_step_of_the_module():
    # The stepwise cell (the generic CellModule over the same spec) = each step of the
    # module, with the same parameters; bad input names what was expected.
    torch.manual_seed(5)
    m = lstmkit.ConvLSTM(2, 3, 3, frame_size=(5, 6)).double()
    cell = lstmkit.ConvLSTMCell(2, 3, 3, frame_size=(5, 6)).double()
    cell.load_state_dict({k[: -len("_l0")]: v for k, v in m.state_dict().items()})
    x = torch.randn(4, 2, 2, 5, 6, dtype=torch.float64)
    out, (hn, cn) = m(x)
    state = None
    for t in range(4):
        state = cell(x[t], state)
        assert torch.allclose(state[0], out[t], atol=1e-12)
    assert torch.allclose(state[1], cn[0], atol=1e-12)
    h1, c1 = cell(x[0, 0])  # unbatched
    assert h1.shape == (3, 5, 6) and torch.allclose(h1, out[0, 0], atol=1e-12)
    assert lstmkit.families.get_family("conv_lstm").cell_module is lstmkit.ConvLSTMCell
    with pytest.raises(ValueError, match="4-D"):
        cell(torch.randn(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError):
        cell(torch.randn(2, 3, 5, 6, dtype=torch.float64))  # 3 channels, the cell takes 2


# ---- state-to-state kernels of their own size (Shi et al. 2015, Table 1: 5x5 vs 1x1) ----
@pytest.mark.parametrize("kernel,recurrent,peepholes", [(3, 1, True), (5, 3, False), ((3, 5), (1, 3), True)])
def test_recurrent_kernel_size_is_eq3(kernel, recurrent, peepholes):
    frame = (5, 6)
    spec = ConvLSTMCellSpec(3, 4, kernel, peepholes=peepholes, frame_size=frame, recurrent_kernel_size=recurrent)
    rk = (recurrent, recurrent) if isinstance(recurrent, int) else recurrent
    assert spec.param_shapes()["weight_hh"][2:] == rk
    p = _params(spec)
    x = torch.randn(4, 2, 3, *frame, dtype=torch.float64)
    out, (h, c) = _run(spec, p, x)
    ref, (h_ref, c_ref) = _eq3(p, x, 4, peepholes, True)  # _corr_same pads by each kernel's own size
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(c, c_ref, rtol=1e-10, atol=1e-10)
    assert out.abs().max() > 0.05


def test_recurrent_kernel_size_module_gradcheck_and_keras_refusal():
    m = lstmkit.ConvLSTM(2, 3, 3, num_layers=2, peepholes=False, recurrent_kernel_size=1).double()
    assert m.weight_hh_l1.shape == (12, 3, 1, 1) and m.weight_ih_l1.shape == (12, 3, 3, 3)
    assert "recurrent_kernel_size=(1, 1)" in repr(m)
    x = torch.randn(3, 2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: m(x)[0], (x,))
    one = lstmkit.ConvLSTM(2, 3, 3, peepholes=False, recurrent_kernel_size=1)
    with pytest.raises(ValueError, match="recurrent_kernel_size == kernel_size"):
        one.to_keras((4, 4))
    with pytest.raises(ValueError, match="recurrent_kernel_size must be odd"):
        lstmkit.ConvLSTM(2, 3, 3, peepholes=False, recurrent_kernel_size=2)
    cell = lstmkit.ConvLSTMCell(2, 3, 3, peepholes=False, recurrent_kernel_size=1)
    assert cell.weight_hh.shape == (12, 3, 1, 1)


def test_recurrent_kernel_size_survives_tracing():
    # tracing records the pure-torch twin (layers/portable.py): it must pad the 1x1
    # state-to-state convolution by its own size, not the input kernel's
    m = lstmkit.ConvLSTM(2, 3, 5, peepholes=False, recurrent_kernel_size=1).eval()
    x = torch.randn(4, 2, 2, 6, 6)
    traced = torch.jit.trace(m, (x,), check_trace=False)
    torch.testing.assert_close(traced(x)[0], m(x)[0])
