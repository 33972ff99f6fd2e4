"""Connectionist temporal classification (Graves et al. 2006): loss, decoders, error rate.

A CTC network emits, at every step t, a distribution y_t over the labels plus a blank.
A path is one symbol per step; collapsing it (merge repeats, then drop blanks) gives a
labelling; p(l | x) sums the probabilities of every path that collapses to l.

- :func:`ctc_loss`: -log p(l | x), torch's implementation behind input checks that name
  the offending sequence.
- :func:`best_path_decode`: collapse the most probable path (fast, approximate).
- :func:`prefix_search_decode`: Graves 2006's prefix search: best-first over prefixes,
  exact (returns the most probable labelling) when it finishes within its budget.
- :func:`beam_search_decode`: CTC prefix beam search, optionally with a character n-gram
  language model (:class:`CharNgramLM`).
- :func:`label_error_rate`: total edit distance / total target length (defined in
  :mod:`lstmkit.metrics`, importable from here too).

Decoders take the probabilities of ONE sequence as a (T, C) array (torch or NumPy; log
probabilities with ``log=True``) and return a list of label indices without blanks.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..metrics import label_error_rate

__all__ = [
    "ctc_loss",
    "collapse",
    "best_path_decode",
    "prefix_search_decode",
    "beam_search_decode",
    "CharNgramLM",
    "label_error_rate",
    "PREFIX_MAX_EXPANSIONS",
    "PREFIX_MAX_SECTION",
    "PREFIX_MAX_SECONDS",
    "BEAM_MAX_SECONDS",
]


# ---- loss ---------------------------------------------------------------------------------
def ctc_loss(
    log_probs: Tensor,
    targets: Tensor | Sequence[Sequence[int]],
    input_lengths: Tensor | Sequence[int],
    target_lengths: Tensor | Sequence[int] | None = None,
    *,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """CTC loss -log p(targets | inputs), with inputs checked first.

    Args:
        log_probs: (T, B, C) log-probabilities (log_softmax over C = labels + blank).
        targets: (B, S) padded label indices, or a 1-D concatenation of all targets, or a
            list of B label lists (then ``target_lengths`` may be omitted).
        input_lengths: (B,) valid steps of each sequence, 1 <= n <= T.
        target_lengths: (B,) labels of each target.
        blank: index of the blank in C.
        reduction: ``"mean"`` (torch's: each loss divided by its target length, then
            averaged), ``"sum"`` or ``"none"``.
        zero_infinity: replace infinite losses (impossible alignments) by 0.

    Raises:
        ValueError: a label out of range or equal to ``blank``; a length out of range; a
            target that cannot fit its input (it needs its length plus one step per
            repeated neighbour, for the blank between them).

    Example:
        >>> import torch
        >>> lp = torch.randn(10, 2, 5).log_softmax(-1)
        >>> float(ctc_loss(lp, [[1, 2, 2], [3]], [10, 8])) > 0
        True
    """
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 3 or not log_probs.is_floating_point():
        got = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs).__name__
        raise ValueError(f"log_probs must be a float (T, B, C) tensor, got {got}")
    T, B, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank must be in [0, {C}) for C={C} classes, got {blank}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(targets, Tensor):
        seqs = [list(map(int, s)) for s in targets]
        if len(seqs) != B:
            raise ValueError(f"targets has {len(seqs)} sequences but log_probs has batch {B}")
        if target_lengths is None:
            target_lengths = [len(s) for s in seqs]
        targets = torch.tensor([v for s in seqs for v in s], dtype=torch.long)
    input_lengths = torch.as_tensor(input_lengths, dtype=torch.long).cpu()
    if target_lengths is None:
        raise ValueError("target_lengths is required when targets is a tensor")
    target_lengths = torch.as_tensor(target_lengths, dtype=torch.long).cpu()
    for name, t in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if t.shape != (B,):
            raise ValueError(f"{name} must have shape ({B},), got {tuple(t.shape)}")
    if (input_lengths < 1).any() or (input_lengths > T).any():
        b = int(((input_lengths < 1) | (input_lengths > T)).nonzero()[0])
        raise ValueError(f"input_lengths[{b}] = {int(input_lengths[b])} is outside [1, T={T}]")
    if (target_lengths < 0).any():
        raise ValueError(f"target_lengths must be >= 0, got {target_lengths.tolist()}")
    tgt = targets.detach().cpu().long()
    if tgt.dim() == 2:
        if tgt.shape[0] != B or (B and tgt.shape[1] < int(target_lengths.max())):
            raise ValueError(f"padded targets must be (B={B}, S>=max target length), got {tuple(tgt.shape)}")
        rows = [tgt[b, : int(target_lengths[b])] for b in range(B)]
    elif tgt.dim() == 1:
        if tgt.numel() != int(target_lengths.sum()):
            raise ValueError(
                f"concatenated targets have {tgt.numel()} labels but target_lengths sum to {int(target_lengths.sum())}"
            )
        rows = list(torch.split(tgt, target_lengths.tolist()))
    else:
        raise ValueError(f"targets must be 1-D (concatenated) or 2-D (padded), got {tgt.dim()}-D")
    for b, row in enumerate(rows):
        if row.numel() and (row.min() < 0 or row.max() >= C):
            raise ValueError(f"targets[{b}] has a label outside [0, {C}): {row.tolist()}")
        if (row == blank).any():
            raise ValueError(f"targets[{b}] contains the blank index {blank}: {row.tolist()}")
        need = row.numel() + int((row[1:] == row[:-1]).sum()) if row.numel() else 0
        if need > int(input_lengths[b]) and not zero_infinity:
            raise ValueError(
                f"targets[{b}] needs at least {need} steps (length {row.numel()} plus one blank per "
                f"repeated label) but input_lengths[{b}] = {int(input_lengths[b])}"
            )
    return F.ctc_loss(
        log_probs, targets.to(log_probs.device), input_lengths, target_lengths,
        blank=blank, reduction=reduction, zero_infinity=zero_infinity,
    )


# ---- decoding -----------------------------------------------------------------------------
def _as_log_probs(probs, log: bool) -> np.ndarray:
    a = probs.detach().cpu().double().numpy() if isinstance(probs, Tensor) else np.asarray(probs, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"probs must be (T, C) for one sequence, got shape {a.shape}")
    if log:
        return a
    with np.errstate(divide="ignore"):
        return np.log(a)


def collapse(path: Iterable[int], blank: int = 0) -> list[int]:
    """The labelling of a path: merge repeated symbols, then remove blanks.

    Example:
        >>> collapse([0, 1, 1, 0, 1, 2, 2, 0], blank=0)
        [1, 1, 2]
    """
    out, prev = [], None
    for s in path:
        s = int(s)
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return out


def best_path_decode(probs, blank: int = 0, log: bool = False) -> list[int]:
    """Collapse the most probable path (argmax at every step).

    Example:
        >>> import numpy as np
        >>> best_path_decode(np.array([[.1, .8, .1], [.6, .3, .1], [.1, .2, .7]]))
        [1, 2]
    """
    lp = _as_log_probs(probs, log)
    return collapse(lp.argmax(axis=1), blank)


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


#: Defaults that bound the work of :func:`prefix_search_decode` (docs/ctc.md, "Bounded work").
PREFIX_MAX_EXPANSIONS = 10_000
"""Prefix expansions per section of the input (each costs O(T_section x C))."""
PREFIX_MAX_SECTION = 400
"""Longest section (frames) searched as one: a longer input is cut at its most blank frames."""
PREFIX_MAX_SECONDS = 2.0
"""Time budget per sequence; when spent, each remaining section keeps its best labelling so far."""
BEAM_MAX_SECONDS = 10.0
"""Time budget per sequence of :func:`beam_search_decode`; when spent, the rest of the
sequence is decoded with a beam of one."""


def _warn(text: str) -> None:
    import warnings

    warnings.warn(f"lstmkit: {text}", RuntimeWarning, stacklevel=3)


def _sections(lp: np.ndarray, blank: int, max_len: int) -> list[tuple[int, int]]:
    """Cut ``range(T)`` into sections of at most ``max_len`` frames, each cut just after
    the most blank frame of the second half of the window (Graves 2006, section 3.2: the
    output is split where a blank is most likely, and the sections decoded apart)."""
    T = lp.shape[0]
    if T <= max_len:
        return [(0, T)]
    out, start = [], 0
    while T - start > max_len:
        lo, hi = start + max_len // 2, start + max_len
        cut = lo + int(np.argmax(lp[lo:hi, blank])) + 1  # the blank frame ends the section
        out.append((start, cut))
        start = cut
    out.append((start, T))
    return out


def _labelling_log_prob(lp: np.ndarray, labels: Sequence[int], blank: int) -> float:
    """log p(labels | x) by the CTC forward recursion (Graves 2006, eq. 5-7)."""
    T = lp.shape[0]
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    S = ext.size
    skip = np.zeros(S, dtype=bool)  # s may be reached from s-2: a label unlike the one before
    if S > 2:
        skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(S, -math.inf)
    alpha[0] = lp[0, blank]
    if S > 1:
        alpha[1] = lp[0, ext[1]]
    for t in range(1, T):
        prev = alpha
        a = prev.copy()
        a[1:] = np.logaddexp(a[1:], prev[:-1])
        a[2:] = np.where(skip[2:], np.logaddexp(a[2:], prev[:-2]), a[2:])
        alpha = a + lp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if S > 1 else alpha[-1])


def _prefix_search(lp: np.ndarray, blank: int, max_expansions: int, deadline: float) -> tuple[list[int], bool]:
    """Prefix search on one section; returns (labelling, whether a bound was hit)."""
    T, C = lp.shape
    ninf = -math.inf
    labels = np.array([k for k in range(C) if k != blank], dtype=np.int64)
    if labels.size == 0:
        return [], False
    y = lp[:, labels]  # (T, K)
    y_blank = lp[:, blank]
    # Start from the best path's labelling with its true probability: the search can only
    # improve on it, and a search cut short returns at least that.
    best = tuple(collapse(lp.argmax(axis=1), blank))
    best_lp = _labelling_log_prob(lp, best, blank)
    empty_lp = float(np.sum(y_blank))
    if empty_lp > best_lp:
        best, best_lp = (), empty_lp
    g_b = np.cumsum(y_blank)
    g_n = np.full(T, ninf)
    counter = 0
    heap = [(-0.0, counter, (), g_n, g_b, 0.0)]
    expansions, hit = 0, False
    while heap:
        if expansions >= max_expansions or (expansions and time.perf_counter() > deadline):
            hit = True
            break
        neg_prefix_lp, _, prefix, pn, pb, prefix_lp = heapq.heappop(heap)
        # what extending this prefix could still reach: p(prefix...) - p(prefix)
        whole = _logsumexp(float(pn[-1]), float(pb[-1]))
        gap = whole - prefix_lp
        # (when p(prefix) is all of p(prefix...), up to rounding, nothing is left to add)
        rest = ninf if gap >= -1e-15 else prefix_lp + math.log1p(-math.exp(gap))
        if rest <= best_lp:
            if -neg_prefix_lp <= best_lp:
                break  # the heap is ordered by prefix probability: nothing better remains
            continue
        expansions += 1
        # every label k at once: new_label[t] = log p(prefix ending by t, k may follow at t+1)
        both = np.logaddexp(pb, pn)
        new_label = np.repeat(both[:, None], labels.size, axis=1)
        if prefix:
            new_label[:, labels == prefix[-1]] = pb[:, None]
        qn = np.full((T, labels.size), ninf)
        qb = np.full((T, labels.size), ninf)
        if not prefix:
            qn[0] = y[0]
        for t in range(1, T):
            qn[t] = y[t] + np.logaddexp(new_label[t - 1], qn[t - 1])
            qb[t] = y_blank[t] + np.logaddexp(qb[t - 1], qn[t - 1])
        q_prefix = np.logaddexp.reduce(np.vstack([qn[:1], y[1:] + new_label[:-1]]), axis=0)
        p_whole = np.logaddexp(qn[-1], qb[-1])
        for j, k in enumerate(labels.tolist()):
            new = prefix + (k,)
            if p_whole[j] > best_lp:
                best, best_lp = new, float(p_whole[j])
            if q_prefix[j] > best_lp:
                counter += 1
                heapq.heappush(heap, (-float(q_prefix[j]), counter, new, qn[:, j].copy(), qb[:, j].copy(),
                                      float(q_prefix[j])))
    return list(best), hit


def prefix_search_decode(probs, blank: int = 0, log: bool = False, max_expansions: int = PREFIX_MAX_EXPANSIONS,
                         max_section: int = PREFIX_MAX_SECTION, max_seconds: float = PREFIX_MAX_SECONDS) -> list[int]:
    """Prefix search decoding (Graves et al. 2006, section 3.2), with bounded work.

    Best-first search over prefixes. For each prefix it keeps the forward variables
    gamma_t(p, n) and gamma_t(p, b) (p emitted by step t, ending in its last label / in a
    blank), from which p(p | x) (p is the whole labelling) and p(p... | x) (p is a prefix)
    follow. It stops when the best complete labelling is at least as probable as what any
    unexpanded prefix could still add: then the answer is the most probable labelling.

    The search is exponential in the worst case, so its work is bounded:

    - an input longer than ``max_section`` frames (default 400: 8 s of speech at 20 ms a
      frame) is cut into sections of at most that many frames, each ending at the most
      blank frame of its second half, and the sections are searched one by one (Graves
      2006 splits the output the same way); inputs up to ``max_section`` frames are
      searched whole, as before;
    - at most ``max_expansions`` prefixes (default 10,000) are expanded per section;
    - at most ``max_seconds`` (default 2 s) are spent on the whole sequence, shared out
      over its sections.

    When a bound is hit, each section keeps the most probable labelling found so far,
    which is never less probable than the best path's (the search starts from it), and a
    one-line warning says so.

    Args:
        probs: (T, C) probabilities of one sequence (log probabilities with ``log=True``).
        blank: the blank's index in C.
        max_expansions, max_section, max_seconds: the bounds above (positive).

    Example:
        >>> import numpy as np
        >>> y = np.array([[.4, .3, .3], [.4, .3, .3]])  # blank = 0
        >>> best_path_decode(y), prefix_search_decode(y)  # p("") = .16 < p("1") = .33
        ([], [1])
    """
    lp = _as_log_probs(probs, log)
    T, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank must be in [0, {C}), got {blank}")
    for name, v in (("max_expansions", max_expansions), ("max_section", max_section)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0 \
            or not math.isfinite(max_seconds):
        raise ValueError(f"max_seconds must be a finite number > 0, got {max_seconds!r}")
    if T == 0:
        return []
    sections = _sections(lp, blank, max_section)
    end = time.perf_counter() + max_seconds
    out: list[int] = []
    hits = 0
    for n, (a, b) in enumerate(sections):
        now = time.perf_counter()
        labels, hit = _prefix_search(lp[a:b], blank, max_expansions, now + max(0.0, end - now) / (len(sections) - n))
        hits += hit
        out.extend(labels)
    if hits:
        _warn(f"prefix search hit its bound (max_expansions={max_expansions} per section of at most "
              f"{max_section} frames, max_seconds={max_seconds:g} per sequence) in {hits} of {len(sections)} "
              f"sections; returned the most probable labelling found so far")
    return out


class CharNgramLM:
    """A character (label) n-gram language model with add-k smoothing.

    ``logprob(label, context)`` is log P(label | last order-1 labels of context), with a
    start symbol padding short contexts. Labels are any hashable symbols (ints here).

    Example:
        >>> lm = CharNgramLM(order=2, alphabet=[1, 2]).fit([[1, 2, 1, 2], [1, 2]])
        >>> lm.logprob(2, [1]) > lm.logprob(1, [1])
        True
    """

    _START = "<s>"

    def __init__(self, order: int, alphabet: Sequence, k: float = 0.1) -> None:
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be a positive int, got {order!r}")
        if k <= 0:
            raise ValueError(f"k (add-k smoothing) must be > 0, got {k}")
        self.order, self.alphabet, self.k = order, list(alphabet), float(k)
        self.counts: dict[tuple, dict] = defaultdict(lambda: defaultdict(float))

    def fit(self, texts: Iterable[Sequence]) -> "CharNgramLM":
        """Count n-grams over ``texts`` (each a sequence of labels). Returns self."""
        for text in texts:
            ctx = [self._START] * (self.order - 1)
            for ch in text:
                self.counts[tuple(ctx[len(ctx) - self.order + 1 :]) if self.order > 1 else ()][ch] += 1
                ctx.append(ch)
        return self

    def logprob(self, label, context: Sequence) -> float:
        """log P(label | context)."""
        if self.order > 1:
            ctx = ([self._START] * (self.order - 1) + list(context))[-(self.order - 1) :]
        else:
            ctx = []
        row = self.counts.get(tuple(ctx), {})
        total = sum(row.values())
        return math.log((row.get(label, 0.0) + self.k) / (total + self.k * len(self.alphabet)))


def beam_search_decode(
    probs,
    blank: int = 0,
    beam_width: int = 16,
    log: bool = False,
    lm: CharNgramLM | None = None,
    lm_weight: float = 0.5,
    insertion_bonus: float = 0.0,
    max_seconds: float = BEAM_MAX_SECONDS,
) -> list[int]:
    """CTC prefix beam search, with an optional character language model.

    Keeps the ``beam_width`` most probable prefixes, each with the probability of its
    paths ending in blank and in its last label. When a prefix is extended by a label,
    the extension is weighted by P_lm(label | prefix) ** lm_weight times
    exp(insertion_bonus). Without a language model and with a wide enough beam it finds
    the most probable labelling on small problems.

    The work is O(T x beam_width x C) (prefixes are kept in a tree, so a long labelling
    costs nothing extra); ``max_seconds`` (default 10 s per sequence) bounds the time:
    when it is spent, the remaining frames are decoded with a beam of one and a one-line
    warning says so.

    Example:
        >>> import numpy as np
        >>> beam_search_decode(np.array([[.4, .3, .3], [.4, .3, .3]]), beam_width=8)
        [1]
    """
    lp = _as_log_probs(probs, log)
    T, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank must be in [0, {C}), got {blank}")
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be an int >= 1, got {beam_width!r}")
    for name, v in (("lm_weight", lm_weight), ("insertion_bonus", insertion_bonus)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0 \
            or not math.isfinite(max_seconds):
        raise ValueError(f"max_seconds must be a finite number > 0, got {max_seconds!r}")
    ninf = -math.inf
    # The prefix tree: node 0 is the empty prefix; node n is parent[n] + (label[n],).
    parent, label = [-1], [-1]
    children: dict[tuple[int, int], int] = {}
    lm_order = lm.order if lm is not None else 0

    def materialise(key) -> int:
        if isinstance(key, int):
            return key
        n = children[key] = len(parent)
        parent.append(key[0])
        label.append(key[1])
        return n

    def context(node: int) -> list[int]:
        ctx = []
        while node > 0 and len(ctx) < max(lm_order - 1, 0):
            ctx.append(label[node])
            node = parent[node]
        return ctx[::-1]

    lm_cache: dict[tuple, float] = {}
    width = beam_width
    deadline = time.perf_counter() + max_seconds
    cut_at = None
    beams: dict[int, list[float]] = {0: [0.0, ninf]}  # node -> [log p_blank, log p_label]
    for t in range(T):
        if cut_at is None and width > 1 and t % 16 == 0 and time.perf_counter() > deadline:
            cut_at, width = t, 1
        # keys: a node of the tree, or (node, label) for a prefix not in it yet (only the
        # survivors of this step become nodes, so the tree grows by at most a beam a frame)
        nxt: dict = defaultdict(lambda: [ninf, ninf])
        for node, (pb, pn) in beams.items():
            total = _logsumexp(pb, pn)
            last = label[node] if node else None
            # stay: emit blank, or repeat the last label (merged)
            e = nxt[node]
            e[0] = _logsumexp(e[0], total + lp[t, blank])
            if node:
                e[1] = _logsumexp(e[1], pn + lp[t, last])
            for k in range(C):
                if k == blank:
                    continue
                new = children.get((node, k), (node, k))
                bonus = insertion_bonus
                if lm is not None:
                    ctx = tuple(context(node))
                    if (ctx, k) not in lm_cache:
                        lm_cache[(ctx, k)] = lm.logprob(k, ctx)
                    bonus += lm_weight * lm_cache[(ctx, k)]
                # a repeated label needs a blank in between
                src = pb if last == k else total
                e2 = nxt[new]
                e2[1] = _logsumexp(e2[1], src + lp[t, k] + bonus)
        ranked = sorted(nxt.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)
        beams = {materialise(key): v for key, v in ranked[:width]}
    node = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))[0]
    if cut_at is not None:
        _warn(f"beam search hit its time bound (max_seconds={max_seconds:g} per sequence) at frame {cut_at} "
              f"of {T}; decoded the rest with a beam of one")
    out = []
    while node > 0:
        out.append(label[node])
        node = parent[node]
    return out[::-1]
