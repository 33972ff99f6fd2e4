"""CTC: the loss against hand-computed and brute-force values, decoders against
brute-force enumeration of every path on tiny alphabets, input checks, label error rate."""

import itertools
import math

import numpy as np
import pytest
import torch

from lstmkit.train.ctc import (
    CharNgramLM,
    beam_search_decode,
    best_path_decode,
    collapse,
    ctc_loss,
    label_error_rate,
    prefix_search_decode,
)


def labelling_probs(y: np.ndarray, blank: int = 0) -> dict:
    """p(l | x) for every labelling l, by summing over all C^T paths."""
    T, C = y.shape
    out: dict = {}
    for path in itertools.product(range(C), repeat=T):
        p = float(np.prod([y[t, s] for t, s in enumerate(path)]))
        key = tuple(collapse(path, blank))
        out[key] = out.get(key, 0.0) + p
    return out


def random_probs(rng, T, C, peaky=1.0):
    z = rng.normal(size=(T, C)) * peaky
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


def test_loss_hand_computed():
    # T=2, labels {blank=0, 1}; target "1": paths (1,1), (1,0), (0,1)
    y = np.array([[0.3, 0.7], [0.6, 0.4]])
    p = 0.7 * 0.4 + 0.7 * 0.6 + 0.3 * 0.4
    lp = torch.tensor(np.log(y), dtype=torch.float64).unsqueeze(1)
    loss = ctc_loss(lp, [[1]], [2], reduction="sum")
    assert loss.item() == pytest.approx(-math.log(p), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_loss_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    T, C = 5, 3
    y = random_probs(rng, T, C)
    probs = labelling_probs(y)
    targets = [(1,), (1, 2), (2, 2), (1, 1, 2), ()]
    lp = torch.tensor(np.log(y), dtype=torch.float64).unsqueeze(1).expand(T, len(targets), C).contiguous()
    losses = ctc_loss(lp, [list(t) for t in targets], [T] * len(targets), reduction="none")
    for t, loss in zip(targets, losses):
        assert loss.item() == pytest.approx(-math.log(probs[t]), rel=1e-10)


@pytest.mark.parametrize("seed", range(30))
def test_decoders_against_enumeration(seed):
    rng = np.random.default_rng(seed)
    T, C = int(rng.integers(2, 6)), int(rng.integers(2, 4))
    y = random_probs(rng, T, C, peaky=float(rng.uniform(0.5, 3)))
    probs = labelling_probs(y)
    best = max(probs.values())
    # prefix search is exact: its answer is a most probable labelling
    ps = tuple(prefix_search_decode(y))
    assert probs[ps] == pytest.approx(best, rel=1e-9)
    # a beam as wide as the alphabet^T holds everything: also exact
    bs = tuple(beam_search_decode(y, beam_width=C ** T))
    assert probs[bs] == pytest.approx(best, rel=1e-9)
    # best path collapses the single most probable path
    path = tuple(int(k) for k in y.argmax(1))
    assert tuple(best_path_decode(y)) == tuple(collapse(path))
    # log input gives the same answers
    assert prefix_search_decode(np.log(y), log=True) == list(ps)


def test_prefix_search_beats_best_path_where_paths_split():
    y = np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]])
    assert best_path_decode(y) == []
    assert prefix_search_decode(y) in ([1], [2])


def test_language_model_breaks_a_tie():
    y = np.array([[0.1, 0.45, 0.45], [0.9, 0.05, 0.05]])  # "1" and "2" equally likely
    lm = CharNgramLM(order=1, alphabet=[1, 2]).fit([[2, 2, 2, 1]])
    assert beam_search_decode(y, beam_width=4, lm=lm, lm_weight=1.0) == [2]
    lm1 = CharNgramLM(order=1, alphabet=[1, 2]).fit([[1, 1, 1, 2]])
    assert beam_search_decode(y, beam_width=4, lm=lm1, lm_weight=1.0) == [1]


def test_ngram_lm_normalises():
    lm = CharNgramLM(order=3, alphabet=list("abc")).fit(["abcabc", "aab"])
    for ctx in ([], ["a"], ["a", "b"], ["c", "c"]):
        assert sum(math.exp(lm.logprob(ch, ctx)) for ch in "abc") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="order"):
        CharNgramLM(order=0, alphabet="ab")


def test_label_error_rate():
    assert label_error_rate([[1, 2, 3]], [[1, 2, 3]]) == 0.0
    assert label_error_rate([[1, 2, 3], [4]], [[1, 3], [4, 4]]) == 0.5  # 1 insertion + 1 deletion / 4
    assert label_error_rate([[]], [[1, 2]]) == 1.0
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        label_error_rate([[1], [2]], [[1]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(targets=[[1, 5]]), r"label outside \[0, 4\)"),
        (dict(targets=[[1, 0]]), "contains the blank index 0"),
        (dict(targets=[[1, 1, 1]], input_lengths=[4]), r"needs at least 5 steps"),
        (dict(input_lengths=[7]), r"input_lengths\[0\] = 7 is outside \[1, T=6\]"),
        (dict(input_lengths=[0]), "outside"),
        (dict(blank=4), r"blank must be in \[0, 4\)"),
        (dict(targets=[[1], [2]]), "targets has 2 sequences but log_probs has batch 1"),
    ],
)
def test_loss_input_checks(kwargs, match):
    args = dict(targets=[[1, 2]], input_lengths=[6])
    args.update(kwargs)
    lp = torch.randn(6, 1, 4).log_softmax(-1)
    with pytest.raises(ValueError, match=match):
        ctc_loss(lp, args.pop("targets"), args.pop("input_lengths"), **args)


def test_loss_accepts_padded_and_concatenated_targets():
    lp = torch.randn(8, 2, 4).log_softmax(-1)
    a = ctc_loss(lp, torch.tensor([[1, 2, 0], [3, 3, 1]]), [8, 7], [2, 3])
    b = ctc_loss(lp, torch.tensor([1, 2, 3, 3, 1]), [8, 7], [2, 3])
    c = ctc_loss(lp, [[1, 2], [3, 3, 1]], [8, 7])
    assert torch.allclose(a, b) and torch.allclose(a, c)


# ---- bounded work (issue 11) --------------------------------------------------------------
def _reference_prefix_search(probs, blank=0, max_expansions=10_000):
    """The unbounded prefix search as it was before its work was bounded (per-label loops)."""
    import heapq
    import math

    def lse(a, b):
        if a == -math.inf:
            return b
        if b == -math.inf:
            return a
        m = max(a, b)
        return m + math.log(math.exp(a - m) + math.exp(b - m))

    lp = np.log(np.asarray(probs, dtype=np.float64))
    T, C = lp.shape
    ninf = -math.inf
    g_b, g_n = np.cumsum(lp[:, blank]), np.full(T, ninf)
    best, best_lp = (), float(g_b[-1])
    counter, heap, expansions = 0, [(-0.0, 0, (), g_n, g_b, 0.0)], 0
    while heap and expansions < max_expansions:
        neg, _, prefix, pn, pb, prefix_lp = heapq.heappop(heap)
        whole = lse(float(pn[-1]), float(pb[-1]))
        gap = whole - prefix_lp
        rest = ninf if gap >= -1e-15 else prefix_lp + math.log1p(-math.exp(gap))
        if rest <= best_lp:
            if -neg <= best_lp:
                break
            continue
        expansions += 1
        for k in range(C):
            if k == blank:
                continue
            qn, qb = np.full(T, ninf), np.full(T, ninf)
            last = prefix[-1] if prefix else None
            qn[0] = lp[0, k] if not prefix else ninf
            q_prefix = qn[0]
            for t in range(1, T):
                new_label = pb[t - 1] if last == k else lse(pb[t - 1], pn[t - 1])
                qn[t] = lp[t, k] + lse(new_label, qn[t - 1])
                qb[t] = lp[t, blank] + lse(qb[t - 1], qn[t - 1])
                q_prefix = lse(q_prefix, lp[t, k] + new_label)
            p_whole = lse(float(qn[-1]), float(qb[-1]))
            new = prefix + (k,)
            if p_whole > best_lp:
                best, best_lp = new, p_whole
            if q_prefix > best_lp:
                counter += 1
                heapq.heappush(heap, (-q_prefix, counter, new, qn, qb, q_prefix))
    return list(best)


def test_bounded_prefix_search_matches_the_unbounded_one_on_short_inputs():
    rng = np.random.default_rng(5)
    for _ in range(150):
        T, C = int(rng.integers(1, 16)), int(rng.integers(2, 6))
        y = rng.dirichlet(np.ones(C) * rng.uniform(0.2, 2.0), size=T)
        assert prefix_search_decode(y) == _reference_prefix_search(y), (T, C)


def test_prefix_and_beam_search_are_bounded_on_a_long_random_sequence():
    # a 225 s recording ran past 150 s and 1.1 GB before the bounds; random softmax outputs
    # are the worst case (every prefix is about as likely as every other)
    import time
    import warnings

    from lstmkit.train.ctc import PREFIX_MAX_SECONDS

    y = np.random.default_rng(0).dirichlet(np.ones(11), size=20_000)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = prefix_search_decode(y)
    assert time.perf_counter() - t0 < PREFIX_MAX_SECONDS + 6
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and "prefix search hit its bound" in msgs[0] and "\n" not in msgs[0]
    assert len(out) > 1000 and all(1 <= k <= 10 for k in out)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        beam = beam_search_decode(y, beam_width=8, max_seconds=0.5)
    assert time.perf_counter() - t0 < 6
    assert len(beam) > 1000
    assert [str(w.message) for w in caught][0].startswith("lstmkit: beam search hit its time bound")


def test_prefix_search_splits_long_inputs_at_blank_frames():
    # two words separated by confident blanks: the long input is cut there and each part
    # searched exactly; the answer is the same as searching it whole would give
    rng = np.random.default_rng(1)
    part = rng.dirichlet(np.ones(4), size=6)
    blanks = np.tile([[0.97, 0.01, 0.01, 0.01]], (10, 1))
    y = np.vstack([part, blanks, part, blanks, part])
    whole = prefix_search_decode(y)
    split = prefix_search_decode(y, max_section=16)
    assert split == whole
    with pytest.raises(ValueError, match="max_section must be a positive int, got 0"):
        prefix_search_decode(y, max_section=0)
    with pytest.raises(ValueError, match="max_seconds must be a finite number > 0, got nan"):
        prefix_search_decode(y, max_seconds=float("nan"))
    with pytest.raises(ValueError, match="beam_width must be an int >= 1, got 0"):
        beam_search_decode(y, beam_width=0)
