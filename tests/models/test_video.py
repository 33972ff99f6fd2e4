"""The encoding-forecasting ConvLSTM network and the FC-LSTM baseline (models/video.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lstmkit.models.video import EncoderForecaster, FCLSTMForecaster, sequence_cross_entropy

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sequence_cross_entropy_is_the_summed_bce_per_sequence():
    logits, target = torch.randn(3, 2, 4, 4), torch.rand(3, 2, 4, 4)
    p = torch.sigmoid(logits)
    by_hand = -(target * p.log() + (1 - target) * (1 - p).log()).sum() / 3
    torch.testing.assert_close(sequence_cross_entropy(logits, target), by_hand)
    with pytest.raises(ValueError, match="one shape"):
        sequence_cross_entropy(logits, target[:, :1])


def test_forecaster_starts_from_the_encoder_states_and_reads_no_input():
    torch.manual_seed(0)
    m = EncoderForecaster(16, [6, 5], kernel_size=3, recurrent_kernel_size=1, patch=4).eval()
    x = torch.rand(2, 4, 16, 16)
    y = m(x, horizon=3)
    assert y.shape == (2, 3, 16, 16)
    # by hand: patches -> encoder stack -> forecaster from the copied states on zeros -> 1x1 conv
    z = F.pixel_unshuffle(x.reshape(8, 1, 16, 16), 4).reshape(2, 4, 16, 4, 4)
    states = []
    for layer in m.encoder:
        z, st = layer(z)
        states.append(st)
    f, outs = torch.zeros(2, 3, 1, 4, 4), []
    for layer, st in zip(m.forecaster, states):
        f, _ = layer(f, st)
        outs.append(f)
    ref = F.pixel_shuffle(m.head(torch.cat(outs, 2).flatten(0, 1)), 4).reshape(2, 3, 16, 16)
    torch.testing.assert_close(y, ref)
    # the prediction depends on the input frames (through the states) and on the horizon only in length
    assert not torch.allclose(m(torch.rand(2, 4, 16, 16), 3), y)
    torch.testing.assert_close(m(x, horizon=2), y[:, :2])
    assert m.encoder[0].weight_hh_l0.shape[2:] == (1, 1) and m.encoder[0].weight_ih_l0.shape[2:] == (3, 3)


def test_fc_lstm_shapes_gradients_and_errors():
    m = FCLSTMForecaster(8, [16, 8])
    x = torch.rand(2, 5, 8, 8)
    y = m(x, horizon=4)
    assert y.shape == (2, 4, 8, 8)
    sequence_cross_entropy(y, torch.rand_like(y)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    with pytest.raises(ValueError, match=r"frames must be \(B, T, 8, 8\)"):
        m(torch.rand(2, 5, 9, 9))
    with pytest.raises(ValueError, match="divisible by patch"):
        EncoderForecaster(18, [4], patch=4)
    with pytest.raises(ValueError, match="horizon"):
        EncoderForecaster(16, [4], kernel_size=3)(torch.rand(1, 2, 16, 16), horizon=0)
    with pytest.raises(ValueError, match=r"hidden\[1\]"):
        EncoderForecaster(16, [4, 0])


def test_a_convlstm_learns_to_continue_a_moving_dot():
    # a dot moving one patch to the right per frame: after training, the predicted next
    # frame's cross-entropy falls well below the untrained network's and below predicting
    # the last frame again
    torch.manual_seed(0)
    T, n = 6, 16

    def videos(B):
        v = torch.zeros(B, T, n, n)
        start = torch.randint(0, 4, (B,))
        rows = torch.randint(2, n - 2, (B,))
        for b in range(B):
            for t in range(T):
                c = 4 * ((start[b] + t) % 4) + 1
                v[b, t, rows[b] - 1:rows[b] + 1, c:c + 2] = 1.0
        return v

    m = EncoderForecaster(n, [8], kernel_size=3, recurrent_kernel_size=3, patch=4)
    test = videos(16)
    with torch.no_grad():
        before = float(sequence_cross_entropy(m(test[:, :4], 2), test[:, 4:]))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(120):
        v = videos(16)
        loss = sequence_cross_entropy(m(v[:, :4], 2), v[:, 4:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(sequence_cross_entropy(m(test[:, :4], 2), test[:, 4:]))
    last = test[:, 3:4].repeat(1, 2, 1, 1).clamp(0.01, 0.99)
    repeat_last = float(-(test[:, 4:] * last.log() + (1 - test[:, 4:]) * (1 - last).log()).sum() / 16)
    assert math.isfinite(after) and after < 0.3 * before and after < repeat_last, (before, after, repeat_last)
