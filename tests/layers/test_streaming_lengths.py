"""Chunked streaming equals one call; lengths masking equals running each sequence alone;
shapes for every input form (property tests with hypothesis)."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

import lstmkit
from conftest import ALL_PRESETS, randomize

I, H = 3, 4


def _module(kind, **kw):
    if kind == "gru":
        return lstmkit.GRU(I, H, dtype=torch.float64, **kw)
    if kind == "rnn":
        return lstmkit.RNN(I, H, dtype=torch.float64, **kw)
    return lstmkit.LSTM(I, H, variant=kind, dtype=torch.float64, **kw)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(ALL_PRESETS + ["gru", "rnn"]),
    cuts=st.lists(st.integers(1, 11), min_size=1, max_size=4, unique=True),
    num_layers=st.integers(1, 2),
    proj=st.booleans(),
)
def test_chunked_streaming_equals_whole(kind, cuts, num_layers, proj):
    kw = {"num_layers": num_layers}
    if proj and kind not in ("gru", "rnn"):
        kw["proj_size"] = 2
    m = _module(kind, **kw)
    randomize(m)
    x = torch.randn(12, 2, I, dtype=torch.float64)
    whole, final = m(x)
    bounds = [0] + sorted(cuts) + [12]
    state, pieces = None, []
    for a, b in zip(bounds[:-1], bounds[1:]):
        out, state = m(x[a:b], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces), whole, atol=1e-12, rtol=0)
    for s, f in zip(state if isinstance(state, tuple) else (state,), final if isinstance(final, tuple) else (final,)):
        torch.testing.assert_close(s, f, atol=1e-12, rtol=0)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(ALL_PRESETS + ["gru", "rnn"]),
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
)
def test_lengths_equal_each_sequence_alone(kind, lengths, bidirectional, batch_first):
    m = _module(kind, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    randomize(m)
    T, B = max(lengths), len(lengths)
    x = torch.randn(T, B, I, dtype=torch.float64)
    xin = x.transpose(0, 1) if batch_first else x
    out, state = m(xin, lengths=torch.tensor(lengths))
    out = out.transpose(0, 1) if batch_first else out
    state = state if isinstance(state, tuple) else (state,)
    D = 2 if bidirectional else 1
    assert out.shape == (T, B, D * H)
    for b, n in enumerate(lengths):
        alone = x[:n, b:b + 1]
        o, s = m(alone.transpose(0, 1) if batch_first else alone)
        o = o.transpose(0, 1) if batch_first else o
        s = s if isinstance(s, tuple) else (s,)
        torch.testing.assert_close(out[:n, b:b + 1], o, atol=1e-12, rtol=0)
        assert torch.equal(out[n:, b], torch.zeros_like(out[n:, b]))  # zero past the end
        for full, single in zip(state, s):
            torch.testing.assert_close(full[:, b:b + 1], single, atol=1e-12, rtol=0)


@settings(max_examples=30, deadline=None)
@given(
    T=st.integers(1, 5), B=st.integers(1, 3), num_layers=st.integers(1, 3),
    bidirectional=st.booleans(), batch_first=st.booleans(), proj=st.sampled_from([0, 2]),
    variant=st.sampled_from(ALL_PRESETS),
)
def test_shapes(T, B, num_layers, bidirectional, batch_first, proj, variant):
    m = lstmkit.LSTM(I, H, num_layers, batch_first=batch_first, bidirectional=bidirectional,
                     proj_size=proj, variant=variant)
    x = torch.randn(B, T, I) if batch_first else torch.randn(T, B, I)
    out, state = m(x)
    D, H_out = (2 if bidirectional else 1), (proj or H)
    assert out.shape == ((B, T, D * H_out) if batch_first else (T, B, D * H_out))
    assert state[0].shape == (num_layers * D, B, H_out)
    assert state[1].shape == (num_layers * D, B, H)
    assert len(state) == (3 if m.variant.full_gate_recurrence else 2)


def test_reverse_direction_final_state_is_after_first_step():
    m = lstmkit.LSTM(I, H, bidirectional=True, dtype=torch.float64)
    x = torch.randn(5, 2, I, dtype=torch.float64)
    out, (h, _) = m(x, lengths=torch.tensor([5, 3]))
    torch.testing.assert_close(h[1], out[0, :, H:])  # reverse direction ends at t = 0
    torch.testing.assert_close(h[0, 1], out[2, 1, :H])  # forward ends at the own last step


def test_lstm_cell_steps_equal_layer():
    for name in ALL_PRESETS:
        layer = lstmkit.LSTM(I, H, variant=name, dtype=torch.float64)
        randomize(layer)
        cell = lstmkit.LSTMCell(I, H, variant=name, dtype=torch.float64)
        cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
        x = torch.randn(6, 2, I, dtype=torch.float64)
        out, _ = layer(x)
        state = None
        for t in range(6):
            state = cell(x[t], state)
            torch.testing.assert_close(state[0], out[t], atol=1e-12, rtol=0)
