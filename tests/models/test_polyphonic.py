"""The polyphonic RNN (sigmoid output per key) and its baselines: exact NLL on toy cases,
proper normalisation of the chord n-gram, the sampler against the whole-sequence forward,
families through the registry, errors."""

import itertools
import math

import numpy as np
import pytest
import torch

from lstmkit.metrics import frame_accuracy
from lstmkit.models.polyphonic import ChordNGram, PitchMarginal, PolyphonicRNN, frame_nll, pad_rolls, shift_frames


def all_frames(P):
    return [np.array(bits, np.float32) for bits in itertools.product([0, 1], repeat=P)]


TOY = [np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], np.float32),
       np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], np.float32)]


def test_marginal_nll_by_hand():
    m = PitchMarginal.fit(TOY)
    n = 8  # frames
    on = np.array([5, 5, 1])  # key counts
    p = (on + 0.5) / (n + 1)
    assert np.allclose(m.p, p)
    frame = np.array([[1, 0, 1]])
    assert m.nll(frame)[0] == pytest.approx(-(math.log(p[0]) + math.log(1 - p[1]) + math.log(p[2])))
    assert sum(math.exp(m.log_prob(f[None])[0]) for f in all_frames(3)) == pytest.approx(1.0)


def test_ngram_nll_by_hand():
    m = ChordNGram.fit(TOY, order=2, beta=2.0)
    marg = PitchMarginal.fit(TOY)
    pm = lambda keys: math.exp(marg.log_prob_keys(keys))  # noqa: E731
    # unigram counts over 8 frames: (0,):1 (0,1):4 (1,):1 (2,):1 ():1
    uni = lambda c, k: (k + 2.0 * pm(c)) / (8 + 2.0)  # noqa: E731
    # after (0,1) came (1,), (2,), (0,1) and () once each: N(h) = 4
    want = (1 + 2.0 * uni((2,), 1)) / (4 + 2.0)
    got = math.exp(-m.nll(np.array([[1, 1, 0], [0, 0, 1]], np.float32))[1])
    assert got == pytest.approx(want, rel=1e-12)
    # the first frame follows the start symbol, seen twice: once before (0,), once before (0,1)
    first = math.exp(-m.nll(np.array([[1, 1, 0]], np.float32))[0])
    assert first == pytest.approx((1 + 2.0 * uni((0, 1), 4)) / (2 + 2.0))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_is_a_distribution_over_every_frame(order):
    m = ChordNGram.fit(TOY, order=order, beta=0.7)
    for hist in [np.zeros((0, 3)), TOY[0][:1], TOY[0][:3], np.array([[0, 0, 1], [0, 0, 1]], np.float32)]:
        total = 0.0
        for f in all_frames(3):
            seq = np.concatenate([hist, f[None]]).astype(np.float32)
            total += math.exp(-m.nll(seq)[-1])
        assert total == pytest.approx(1.0, abs=1e-12)


def test_ngram_predicts_the_most_probable_chord():
    rolls = [np.array([[1, 0, 0], [0, 1, 1]] * 6, np.float32)]
    m = ChordNGram.fit(rolls, order=2, beta=0.5)
    pred = m.predict(rolls[0])
    assert np.array_equal(pred[1:], rolls[0][1:])  # after each chord, the other one
    assert frame_accuracy(pred[1:], rolls[0][1:]) == 1.0
    with pytest.raises(ValueError, match="order"):
        ChordNGram.fit(rolls, order=0)


def test_frame_accuracy_bay_definition():
    pred = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]])
    true = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 1, 1]])
    # TP = 3, FP = 1, FN = 1
    assert frame_accuracy(pred, true) == pytest.approx(3 / 5)
    assert frame_accuracy([pred, pred], [true, true]) == pytest.approx(6 / 10)
    with pytest.raises(ValueError, match="differ in shape"):
        frame_accuracy(pred, true[:2])
    with pytest.raises(ValueError, match="undefined"):
        frame_accuracy(np.zeros((2, 2)), np.zeros((2, 2)))


def test_rnn_nll_is_the_bernoulli_likelihood_of_the_next_frame():
    torch.manual_seed(0)
    m = PolyphonicRNN(3, 5).eval()
    x, n = pad_rolls(TOY)
    logits = m(x, n)
    p = torch.sigmoid(logits)
    by_hand = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)
    mask = torch.arange(x.shape[0])[:, None] < n[None]
    assert torch.allclose(m.nll(x, n), by_hand * mask, atol=1e-5)
    # the output at t depends only on frames before t
    y = x.clone()
    y[2:] = 1 - y[2:]
    assert torch.allclose(m(y, n)[:3], logits[:3]) and not torch.allclose(m(y, n)[3:], logits[3:])
    assert torch.equal(shift_frames(x)[1:], x[:-1]) and not shift_frames(x)[0].any()
    assert float(frame_nll(logits, x, n)[4, 1].detach()) == 0.0  # past the second roll's length


@pytest.mark.parametrize("cell", ["lstm", "elman", "gru"])
def test_greedy_sample_agrees_with_the_whole_sequence_forward(cell):
    torch.manual_seed(1)
    m = PolyphonicRNN(6, 7, num_layers=2, cell=cell).eval()
    with torch.no_grad():
        m.net.head.bias.copy_(torch.tensor([2.0, -2.0, 1.0, -1.0, 0.5, -0.5]))
    prime = (torch.rand(4, 6) < 0.5).float()
    out = m.sample(8, prime=prime, temperature=0)
    seq = torch.cat([prime, out]).unsqueeze(1)
    logits = m(seq)[:, 0]
    assert torch.equal((logits[4:] > 0).float(), out)
    g = torch.Generator().manual_seed(0)
    s = m.sample(8, prime=prime, generator=g)
    assert s.shape == (8, 6) and set(s.unique().tolist()) <= {0.0, 1.0}


def test_output_bias_starts_at_the_marginal():
    m = PolyphonicRNN(3, 4)
    marg = PitchMarginal.fit(TOY)
    m.init_output_bias(marg.p)
    with torch.no_grad():
        m.net.head.weight.zero_()
    x, n = pad_rolls(TOY)
    with torch.no_grad():
        nll = float(m.nll(x, n).sum() / n.sum())
    assert nll == pytest.approx(float(np.concatenate([marg.nll(r) for r in TOY]).mean()), rel=1e-5)


def test_errors_name_the_argument():
    m = PolyphonicRNN(3, 4)
    with pytest.raises(ValueError, match=r"x must be \(T, B, 3\)"):
        m(torch.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="cell must be one of"):
        PolyphonicRNN(3, 4, cell="nosuch")
    with pytest.raises(ValueError, match="input_dropout"):
        PolyphonicRNN(3, 4, input_dropout=1.0)
    with pytest.raises(ValueError, match="temperature"):
        m.sample(3, temperature=-1)
    with pytest.raises(ValueError, match="prime must be"):
        m.sample(3, prime=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="rates must hold 3"):
        m.init_output_bias([0.5])
