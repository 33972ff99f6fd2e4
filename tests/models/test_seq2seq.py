"""models/seq2seq.py: shapes for every attention and several families, attention weights,
source reversal, the fused encoder path over lengths, stepwise decoding against teacher
forcing, beam search (= greedy at beam 1, scores and length normalisation), errors, and a
tiny reversal task learned quickly."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit.models.seq2seq import Seq2Seq, length_batches, length_penalty, pad_batch, reverse_within_lengths

ATTN = [None, "luong", "bahdanau"]


def _src(V=17, S=7, B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (S, B), generator=g)
    lengths = torch.tensor([S, 4, 1][:B])
    for b in range(B):
        src[lengths[b]:, b] = 0
    return src, lengths


@pytest.mark.parametrize("attention", ATTN)
@pytest.mark.parametrize("enc,dec,bi", [("lstm", "lstm", False), ("gru", "lstm", True), ("elman", "gru", False),
                                        ("cifg", "vanilla", False)])
def test_shapes(attention, enc, dec, bi):
    torch.manual_seed(0)
    m = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8, num_layers=2, encoder=enc, decoder=dec,
                attention=attention, bidirectional_encoder=bi)
    src, n = _src()
    logits, attn = m(src, n, torch.randint(3, 19, (5, 3)))
    assert logits.shape == (5, 3, 19)
    if attention is None:
        assert attn is None
    else:
        assert attn.shape == (5, 3, 7)
    logits.sum().backward()
    assert m.src_embedding.weight.grad is not None and m.encoder.weight_hh_l0.grad is not None
    same_family = type(m.encoder) is type(m.decoder)
    assert m.bridge == ("copy" if same_family and not bi else "linear")


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_attention_weights_sum_to_one_and_skip_padding(attention):
    torch.manual_seed(1)
    m = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8, attention=attention).eval()
    src, n = _src()
    with torch.no_grad():
        _, attn = m(src, n, torch.randint(3, 19, (4, 3)))
    assert torch.allclose(attn.sum(-1), torch.ones(4, 3), atol=1e-6)
    for b, L in enumerate(n.tolist()):
        assert float(attn[:, b, L:].detach().abs().sum()) == 0.0


def test_reverse_within_lengths_and_reversal_option():
    x = torch.arange(1, 13).view(4, 3)
    n = torch.tensor([4, 2, 3])
    r = reverse_within_lengths(x, n)
    for b, L in enumerate(n.tolist()):
        assert r[:L, b].tolist() == x[:L, b].flip(0).tolist() and r[L:, b].tolist() == x[L:, b].tolist()
    assert torch.equal(reverse_within_lengths(r, n), x)
    # reverse_source=True is the same network reading the reversed sentence
    torch.manual_seed(2)
    a = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8, reverse_source=True).eval()
    b = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8).eval()
    b.load_state_dict(a.state_dict())
    src, n = _src()
    tgt = torch.randint(3, 19, (4, 3))
    assert torch.allclose(a(src, n, tgt)[0], b(reverse_within_lengths(src, n), n, tgt)[0], atol=1e-6)


def test_encoder_over_lengths_takes_the_fused_path(monkeypatch):
    from lstmkit.kernels import _build

    if _build.load_extension() is None:
        pytest.skip(f"fused extension unavailable: {_build.extension_error()}")
    import lstmkit.kernels as kernels

    def boom(*a, **k):
        raise AssertionError("the reference loop ran")

    torch.manual_seed(3)
    m = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8, attention="luong")
    src, n = _src()
    ref = m.encode(src, n).memory.detach()
    monkeypatch.setattr(kernels, "run_recurrence", boom)
    for train in (True, False):
        m.train(train)
        mem = m.encode(src, n)
        assert torch.allclose(mem.memory, ref, atol=1e-5)
    m.train()
    m.loss(src, n, torch.randint(3, 19, (4, 3))).backward()  # training too: encoder and whole-target decoder


@pytest.mark.parametrize("attention", ATTN)
def test_stepwise_decoding_matches_teacher_forcing(attention):
    torch.manual_seed(4)
    m = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8, attention=attention, reverse_source=attention is None).eval()
    src, n = _src()
    outs = m.greedy(src, n, max_len=6)
    for b, out in enumerate(outs):
        tgt_in = torch.tensor([m.bos_id] + out).unsqueeze(1)
        logits, _ = m(src[:, b : b + 1], n[b : b + 1], tgt_in)
        pred = logits[:, 0].argmax(-1).tolist()
        # every greedy token is the teacher-forced argmax; then eos (or the length limit)
        assert pred[: len(out)] == out
        assert len(out) == 6 or pred[len(out)] == m.eos_id


@pytest.mark.parametrize("attention", ATTN)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_one_is_greedy(attention, seed):
    torch.manual_seed(seed)
    m = Seq2Seq(17, 9, embedding_dim=6, hidden_size=8, attention=attention)
    src, n = _src(seed=seed)
    assert m.beam_search(src, n, beam=1, max_len=8) == m.greedy(src, n, max_len=8)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_scores_are_length_normalised_log_probabilities(alpha):
    torch.manual_seed(5)
    m = Seq2Seq(17, 6, embedding_dim=6, hidden_size=8, attention="luong").eval()
    src, n = _src(B=1)
    hyps = m.beam_search(src, n, beam=4, alpha=alpha, max_len=5, n_best=4)[0]
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True)
    for toks, s in hyps:
        full = toks + ([m.eos_id] if len(toks) < 5 else [])  # max_len reached: no eos scored
        logits, _ = m(src, n, torch.tensor([m.bos_id] + full[:-1]).unsqueeze(1))
        logp = torch.log_softmax(logits[:, 0].double(), -1).gather(1, torch.tensor(full).unsqueeze(1)).sum()
        assert math.isclose(s, float(logp) / length_penalty(len(full), alpha), rel_tol=1e-5, abs_tol=1e-6)


def test_length_penalty_and_a_longer_choice():
    assert length_penalty(1, 0.6) == 1.0
    assert math.isclose(length_penalty(11, 0.5), (16 / 6) ** 0.5)
    # with normalisation a longer hypothesis of the same per-token log-probability wins over
    # a short one it loses to without normalisation
    short, long_ = -2.0, -2.5  # log p of a 1-token and of a 5-token output
    assert short > long_ and short / length_penalty(1, 1.0) < long_ / length_penalty(5, 1.0)


def test_sampling_is_seeded_and_differs_from_greedy():
    torch.manual_seed(6)
    m = Seq2Seq(17, 19, embedding_dim=6, hidden_size=8)
    src, n = _src()
    a = m.sample(src, n, temperature=2.0, max_len=8, generator=torch.Generator().manual_seed(0))
    b = m.sample(src, n, temperature=2.0, max_len=8, generator=torch.Generator().manual_seed(0))
    assert a == b
    assert a != m.greedy(src, n, max_len=8)
    with pytest.raises(ValueError, match="temperature"):
        m.sample(src, n, temperature=0)


def test_length_batches_pad_little():
    lengths = [int(x) for x in torch.randint(1, 50, (500,), generator=torch.Generator().manual_seed(0))]
    batches = length_batches(lengths, batch_tokens=200)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 200 or len(b) == 1
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded < 1.15 * sum(lengths)  # random batches of the same count pad ~2x


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="attention"):
        Seq2Seq(10, 10, attention="dot")
    with pytest.raises(ValueError, match="encoder"):
        Seq2Seq(10, 10, encoder="transformer")
    with pytest.raises(ValueError, match="side inputs"):
        Seq2Seq(10, 10, decoder="tlstm")
    with pytest.raises(ValueError, match="bridge='copy'"):
        Seq2Seq(10, 10, encoder="gru", bridge="copy")
    m = Seq2Seq(10, 10, embedding_dim=4, hidden_size=4)
    with pytest.raises(TypeError, match="src"):
        m(torch.zeros(3, 2), torch.tensor([3, 3]), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="src_lengths"):
        m(torch.zeros(3, 2, dtype=torch.long), torch.tensor([3]), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="src ids"):
        m.greedy(torch.full((3, 1), 12), torch.tensor([3]))
    with pytest.raises(ValueError, match="beam"):
        m.beam_search(torch.full((3, 1), 4), torch.tensor([3]), beam=0)


def test_pad_batch():
    x, n = pad_batch([[5, 6, 7], [8]], bos=1, eos=2)
    assert x.T.tolist() == [[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]] and n.tolist() == [5, 3]


def _reverse_data(n, g):
    L = torch.randint(3, 8, (n,), generator=g)
    return [torch.randint(3, 13, (int(k),), generator=g).tolist() for k in L]


def test_learns_to_reverse_quickly():
    """Reversal of 3-7 symbols with Luong attention: >= 90% exact outputs on unseen
    sequences within 300 updates (checked every 25; an untrained model gets none)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    m = Seq2Seq(13, 13, embedding_dim=16, hidden_size=48, attention="luong")
    test = _reverse_data(200, torch.Generator().manual_seed(1))
    src, n = pad_batch(test)

    def exact():
        return sum(o == x[::-1] for o, x in zip(m.greedy(src, n), test)) / len(test)

    before = exact()
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    after, updates = before, 0
    while after < 0.9 and updates < 300:
        xs = _reverse_data(32, g)
        s, k = pad_batch(xs)
        t, _ = pad_batch([x[::-1] for x in xs], eos=2)
        loss = m.loss(s, k, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        updates += 1
        if updates % 25 == 0:
            after = exact()
    assert before < 0.05 and after >= 0.9, (before, after, updates)
    assert m.beam_search(src[:, :20], n[:20], beam=3) == [x[::-1] for x in test[:20]] or after < 1.0
