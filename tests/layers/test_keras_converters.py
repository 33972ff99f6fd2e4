"""lstmkit.LSTM / GRU <-> Keras 3 (torch backend) LSTM / GRU: outputs, states and input
gradients agree on random shapes, stacks, directions, bias on and off."""

from __future__ import annotations

import pytest
import torch

import lstmkit


def _randomize(layer, seed):
    g = torch.Generator().manual_seed(seed)
    layer.set_weights([(torch.randn(w.shape, generator=g, dtype=torch.float64) * 0.5).numpy()
                       for w in layer.get_weights()])


def _keras_stack(keras, cls_name, I, H, L, bidirectional, bias, seed, **kw):
    layers = []
    for k in range(L):
        layer = getattr(keras.layers, cls_name)(H, use_bias=bias, return_sequences=True,
                                                return_state=k == L - 1, dtype="float64", **kw)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, dtype="float64")
        layer.build((None, None, I if k == 0 else H * (2 if bidirectional else 1)))
        _randomize(layer, seed + k)
        layers.append(layer)
    return layers


def _run_keras(layers, x_bt):
    """Run the stack; returns (sequence, [final h per (layer, direction) of the LAST layer])."""
    y = x_bt
    for layer in layers[:-1]:
        y = layer(y)
    res = layers[-1](y)
    return res[0], list(res[1:])


CASES = [  # (family, T, B, I, H, L, bidirectional, bias)
    ("LSTM", 5, 3, 4, 6, 1, False, True),
    ("LSTM", 7, 2, 3, 5, 2, True, False),
    ("LSTM", 1, 1, 2, 3, 3, False, True),
    ("GRU", 6, 4, 5, 3, 1, False, True),
    ("GRU", 4, 2, 3, 4, 2, True, True),
    ("GRU", 3, 1, 2, 2, 1, True, False),
]


@pytest.mark.parametrize("family,T,B,I,H,L,bidi,bias", CASES)
def test_from_keras_matches_keras(keras, family, T, B, I, H, L, bidi, bias):
    """Keras stack -> from_keras: the same sequence, last-layer states and input gradient."""
    kw = {"reset_after": True} if family == "GRU" else {}
    layers = _keras_stack(keras, family, I, H, L, bidi, bias, seed=T * 10 + H, **kw)
    x = torch.randn(B, T, I, dtype=torch.float64, generator=torch.Generator().manual_seed(L))
    xk = x.clone().requires_grad_()
    seq_k, states_k = _run_keras(layers, xk)
    seq_k.square().sum().backward()

    m = getattr(lstmkit, family).from_keras(layers if L > 1 else layers[0], batch_first=True)
    assert (m.num_layers, m.bidirectional, m.bias, m.hidden_size) == (L, bidi, bias, H)
    assert m.weight_ih_l0.dtype == torch.float64
    xt = x.clone().requires_grad_()
    out, state = m(xt)
    out.square().sum().backward()

    assert out.abs().max() > 0.05
    torch.testing.assert_close(out, seq_k.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(xt.grad, xk.grad, rtol=1e-5, atol=1e-5)
    D = 2 if bidi else 1
    h_n = state[0] if family == "LSTM" else state
    if family == "LSTM":  # Keras: [h_f, c_f(, h_b, c_b)]
        hs, cs = states_k[0::2], states_k[1::2]
        for d in range(D):
            torch.testing.assert_close(h_n[(L - 1) * D + d], hs[d].detach(), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(state[1][(L - 1) * D + d], cs[d].detach(), rtol=1e-5, atol=1e-5)
    else:
        for d in range(D):
            torch.testing.assert_close(h_n[(L - 1) * D + d], states_k[d].detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["LSTM", "GRU"])
@pytest.mark.parametrize("L,bidi,bias", [(1, False, True), (2, True, True), (2, False, False)])
def test_to_keras_matches_lstmkit(keras, family, L, bidi, bias):
    """lstmkit module -> to_keras: Keras computes what the module computes (float32, 1e-5),
    and from_keras(to_keras(m)) computes the same again."""
    torch.manual_seed(L * 7 + bias)
    I, H, T, B = 3, 5, 6, 2
    m = getattr(lstmkit, family)(I, H, num_layers=L, bidirectional=bidi, bias=bias, batch_first=True)
    x = torch.randn(B, T, I)
    out, state = m(x)
    conv = m.to_keras(return_sequences=True, return_state=True)
    layers = conv if L > 1 else [conv]
    assert len(layers) == L
    seq_k, _ = _run_keras(layers, x)
    torch.testing.assert_close(seq_k.detach(), out.detach(), rtol=1e-5, atol=1e-5)
    # only the last step of the last layer
    last = m.to_keras(return_sequences=False)
    y = x
    for layer in (last if L > 1 else [last])[:-1]:
        y = layer(y)
    y = (last if L > 1 else [last])[-1](y)
    want = out[:, -1] if not bidi else torch.cat([out[:, -1, :H], out[:, 0, H:]], -1)
    torch.testing.assert_close(y.detach(), want.detach(), rtol=1e-5, atol=1e-5)
    back = type(m).from_keras(conv, batch_first=True)
    torch.testing.assert_close(back(x)[0], out, rtol=1e-5, atol=1e-5)
    if family == "GRU":  # both biases survive: the round trip is exact
        for k, v in m.state_dict().items():
            assert torch.equal(back.state_dict()[k], v), k


def test_go_backwards_reads_reversed_time(keras):
    """A Keras go_backwards layer is the reverse direction: Bidirectional's backward layer
    maps onto weight_*_reverse, and a lone go_backwards layer is refused with the way out."""
    fwd = keras.layers.LSTM(3, return_sequences=True, go_backwards=True, dtype="float64")
    fwd.build((None, None, 2))
    _randomize(fwd, 5)
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="go_backwards=True outside a Bidirectional"):
        lstmkit.LSTM.from_keras(fwd)
    # the same weights read forwards, fed the reversed input, give Keras' (reversed-order) outputs
    plain = keras.layers.LSTM(3, return_sequences=True, dtype="float64")
    plain.build((None, None, 2))
    plain.set_weights(fwd.get_weights())
    m = lstmkit.LSTM.from_keras(plain, batch_first=True)
    torch.testing.assert_close(m(x.flip(1))[0], fwd(x).detach(), rtol=1e-5, atol=1e-5)


def test_errors(keras):
    g = keras.layers.GRU(3, reset_after=False)
    g.build((None, None, 2))
    with pytest.raises(ValueError, match="reset_after=False"):
        lstmkit.GRU.from_keras(g)
    with pytest.raises(ValueError, match="must be built"):
        lstmkit.LSTM.from_keras(keras.layers.LSTM(3))
    with pytest.raises(TypeError, match="keras.layers.LSTM"):
        lstmkit.LSTM.from_keras(g)
    relu = keras.layers.LSTM(3, activation="relu")
    relu.build((None, None, 2))
    with pytest.raises(ValueError, match="activation"):
        lstmkit.LSTM.from_keras(relu)
    a, b = keras.layers.LSTM(3), keras.layers.LSTM(3)
    a.build((None, None, 2))
    b.build((None, None, 2))  # reads 2 features, the layer below gives 3
    with pytest.raises(ValueError, match=r"layer\[1\] reads 2 features"):
        lstmkit.LSTM.from_keras([a, b])
    s = keras.layers.Bidirectional(keras.layers.LSTM(3), merge_mode="sum")
    s.build((None, None, 2))
    with pytest.raises(ValueError, match="merge_mode"):
        lstmkit.LSTM.from_keras(s)
    with pytest.raises(ValueError, match="non-empty"):
        lstmkit.LSTM.from_keras([])
    with pytest.raises(ValueError, match="variant 'standard'"):
        lstmkit.LSTM(2, 3, variant="vanilla").to_keras()
    with pytest.raises(ValueError, match="proj_size=0"):
        lstmkit.LSTM(2, 3, proj_size=2).to_keras()


@pytest.mark.parametrize("family", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidi", [False, True])
def test_lengths_match_keras_mask(keras, family, bidi):
    """lengths= against Keras' mask: the same valid outputs and final states (Keras repeats
    the last output past a sequence's end where lstmkit writes zeros; Bidirectional zeros)."""
    kw = {"reset_after": True} if family == "GRU" else {}
    layer = _keras_stack(keras, family, 3, 4, 1, bidi, True, seed=9, **kw)[0]
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    n = torch.tensor([6, 4, 2])
    mask = torch.arange(6)[None] < n[:, None]
    res = layer(x, mask=mask)
    seq_k, states_k = res[0].detach(), [s.detach() for s in res[1:]]
    m = getattr(lstmkit, family).from_keras(layer, batch_first=True)
    out, state = m(x, lengths=n)
    valid = mask[..., None].expand_as(out)
    torch.testing.assert_close(out[valid], seq_k[valid], rtol=1e-5, atol=1e-5)
    if bidi:
        torch.testing.assert_close(out, seq_k, rtol=1e-5, atol=1e-5)
    h = state[0] if family == "LSTM" else state
    step = 2 if family == "LSTM" else 1
    for d in range(2 if bidi else 1):
        torch.testing.assert_close(h[d], states_k[d * step], rtol=1e-5, atol=1e-5)
