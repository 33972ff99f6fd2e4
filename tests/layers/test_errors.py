"""Every bad input raises ValueError/TypeError naming the argument, what was expected
and what came. Nothing is broadcast silently."""

import pytest
import torch

import lstmkit

I, H = 3, 4


@pytest.fixture
def lstm():
    return lstmkit.LSTM(I, H, num_layers=2)


@pytest.mark.parametrize("shape", [(5,), (2, 5, 3, 3)])
def test_wrong_rank(lstm, shape):
    with pytest.raises(ValueError, match=r"input must be 3-D .* got a \d-D tensor"):
        lstm(torch.randn(*shape))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="input has 5 features .* expected input_size=3"):
        lstm(torch.randn(4, 2, 5))


def test_non_tensor_and_integer_input(lstm):
    with pytest.raises(TypeError, match="input must be a Tensor"):
        lstm([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="floating-point"):
        lstm(torch.ones(4, 2, 3, dtype=torch.long))


def test_empty_sequence(lstm):
    with pytest.raises(ValueError, match="zero time steps"):
        lstm(torch.randn(0, 2, I))


@pytest.mark.parametrize(
    "lengths, exc, match",
    [
        ([4, 0], ValueError, "every length must be >= 1, got min 0"),
        ([4, -1], ValueError, ">= 1"),
        ([4, 5], ValueError, "may not exceed the sequence length T=4, got max 5"),
        ([4], ValueError, r"lengths must have shape \(2,\)"),
        ([[4, 4]], ValueError, r"lengths must have shape \(2,\)"),
        ([4.0, 2.0], TypeError, "lengths must hold integers"),
        ("ab", TypeError, "lengths must"),
    ],
)
def test_bad_lengths(lstm, lengths, exc, match):
    with pytest.raises(exc, match=match):
        lstm(torch.randn(4, 2, I), lengths=lengths)


def test_lengths_with_packed_or_unbatched(lstm):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(4, 2, I), [4, 2])
    with pytest.raises(ValueError, match="lengths must be None when input is a PackedSequence"):
        lstm(packed, lengths=[4, 2])
    with pytest.raises(ValueError, match="only accepted with batched"):
        lstm(torch.randn(4, I), lengths=[4])


def test_state_batch_or_size_mismatch(lstm):
    x = torch.randn(4, 2, I)
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 2, 4\).* got \(2, 3, 4\)"):
        lstm(x, (torch.zeros(2, 3, H), torch.zeros(2, 2, H)))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(2, 2, 4\).* got \(2, 2, 5\)"):
        lstm(x, (torch.zeros(2, 2, H), torch.zeros(2, 2, 5)))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 2, 4\)"):
        lstm(x, (torch.zeros(1, 2, H), torch.zeros(2, 2, H)))  # no broadcasting over layers
    with pytest.raises(TypeError, match=r"hx must be \(h_0, c_0\), got Tensor"):
        lstm(x, torch.zeros(2, 2, H))
    with pytest.raises(TypeError, match="got a 3-tuple"):
        lstm(x, (torch.zeros(2, 2, H),) * 3)
    gru = lstmkit.GRU(I, H)
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 2, 4\)"):
        gru(x, torch.zeros(1, 2, 5))
    with pytest.raises(TypeError, match="hx must be a Tensor"):
        gru(x, (torch.zeros(1, 2, H),))


def test_dtype_and_device_mismatch(lstm):
    x = torch.randn(4, 2, I)
    with pytest.raises(TypeError, match="h_0 has dtype torch.float64 but input has torch.float32"):
        lstm(x, (torch.zeros(2, 2, H, dtype=torch.float64), torch.zeros(2, 2, H)))
    with pytest.raises(TypeError, match="input dtype torch.float64 does not match the parameters' dtype torch.float32"):
        lstm(x.double())
    with pytest.raises(ValueError, match="h_0 is on meta but input is on cpu"):
        lstm(x, (torch.zeros(2, 2, H, device="meta"), torch.zeros(2, 2, H)))
    with pytest.raises(ValueError, match="input is on meta but the parameters are on cpu"):
        lstm(torch.randn(4, 2, I, device="meta"))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(variant="lstm"), ValueError, "unknown variant 'lstm'"),
        (dict(num_layers=0), ValueError, "num_layers must be a positive int, got 0"),
        (dict(dropout=1.0), ValueError, r"dropout must be in \[0, 1\), got 1.0"),
        (dict(dropout="x"), TypeError, "dropout must be a float"),
        (dict(recurrent_dropout=-0.1), ValueError, "recurrent_dropout must be in"),
        (dict(zoneout=(0.1,)), ValueError, "zoneout must be a float, or a"),
        (dict(proj_size=4), ValueError, r"proj_size must be smaller than hidden_size \(4\), got 4"),
        (dict(proj_size=-1), ValueError, "proj_size must be >= 0"),
        (dict(bidirectional=1), TypeError, "bidirectional must be a bool"),
        (dict(forget_bias="1"), TypeError, "forget_bias must be a float"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        lstmkit.LSTM(I, H, **kwargs)


@pytest.mark.parametrize("args, exc, match", [
    ((0, 4), ValueError, "input_size must be a positive int, got 0"),
    ((3, 2.5), TypeError, "hidden_size must be an int"),
])
def test_bad_sizes(args, exc, match):
    with pytest.raises(exc, match=match):
        lstmkit.LSTM(*args)


def test_rnn_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        lstmkit.RNN(I, H, nonlinearity="sigmoid")


def test_cell_errors():
    cell = lstmkit.LSTMCell(I, H)
    with pytest.raises(ValueError, match="input has 2 features, expected input_size=3"):
        cell(torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"state c must have shape \(5, 4\), got \(1, 4\)"):
        cell(torch.randn(5, I), (torch.zeros(5, H), torch.zeros(1, H)))
    with pytest.raises(ValueError, match="input must be 2-D"):
        cell(torch.randn(1, 5, I))
    with pytest.raises(TypeError, match="state h has dtype"):
        cell(torch.randn(5, I), (torch.zeros(5, H, dtype=torch.float64), torch.zeros(5, H)))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_forget_bias_must_be_finite(bad):
    # nan used to be accepted: every forget gate of the network was then nan
    from lstmkit.models.sequence import SequenceModel

    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        lstmkit.LSTM(3, 4, forget_bias=bad)
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        lstmkit.LSTMCell(3, 4, forget_bias=bad)
    for cell in ("lstm", "gru", "elman"):
        with pytest.raises(ValueError, match="forget_bias must be a finite number"):
            SequenceModel(2, 4, 1, cell=cell, forget_bias=bad)
    for name in ("dropout", "recurrent_dropout", "zoneout"):
        with pytest.raises(ValueError, match=f"{name} must be in \\[0, 1\\)"):
            lstmkit.LSTM(3, 4, num_layers=2, **{name: bad})
