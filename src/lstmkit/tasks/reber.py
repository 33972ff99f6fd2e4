"""The embedded Reber grammar (Hochreiter & Schmidhuber 1997, Exp. 1) and its continual
version (Gers, Schmidhuber & Cummins 2000).

Reber grammar (each branch taken with probability 1/2)::

    B -> 1;  1: T -> 2 | P -> 3;  2: S -> 2 | X -> 4;  3: T -> 3 | V -> 5
    4: X -> 3 | S -> 6;  5: P -> 4 | V -> 6;  6: E

Embedded: ``B, (T or P), a Reber string, the same T or P, E``. Seven one-hot symbols in
and out; at every step the net predicts the next symbol. A string is predicted right
when, at every step, the units of all legal next symbols are the most active. The only
long-lag prediction is the second-to-last symbol, which must repeat the second one.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Batch, Published, Task, check_positive_int, cross_entropy_steps, legal_set_right, masked_sequence_mean

__all__ = [
    "SYMBOLS", "reber_string", "embedded_reber_string", "accepts_embedded_reber", "EmbeddedReber",
    "ReberStream", "ContinualReber", "max_abs_cell_state",
]

SYMBOLS = "BTPSXVE"
_IDX = {s: i for i, s in enumerate(SYMBOLS)}
# node -> ((symbol, next node), (symbol, next node)); node 6 emits E and ends.
_GRAPH = {
    1: (("T", 2), ("P", 3)),
    2: (("S", 2), ("X", 4)),
    3: (("T", 3), ("V", 5)),
    4: (("X", 3), ("S", 6)),
    5: (("P", 4), ("V", 6)),
}


def reber_string(rng: np.random.Generator) -> tuple[str, list[frozenset]]:
    """One Reber string and, for each of its symbols, the set of legal next symbols.

    The set after the final E is empty.

    Example:
        >>> import numpy as np
        >>> s, legal = reber_string(np.random.default_rng(0))
        >>> s[0], s[-1], len(legal) == len(s), sorted(legal[0])
        ('B', 'E', True, ['P', 'T'])
    """
    out, legal = ["B"], [frozenset("TP")]
    node = 1
    while node != 6:
        pair = _GRAPH[node]
        sym, node = pair[int(rng.integers(2))]
        out.append(sym)
        legal.append(frozenset("E") if node == 6 else frozenset(s for s, _ in _GRAPH[node]))
    out.append("E")
    legal.append(frozenset())
    return "".join(out), legal


def embedded_reber_string(rng: np.random.Generator) -> tuple[str, list[frozenset]]:
    """One embedded Reber string ``B (T|P) <Reber> (same) E`` and its legal-next sets.

    The set after the final E is empty (a stream sets it to {B}).

    Example:
        >>> import numpy as np
        >>> s, legal = embedded_reber_string(np.random.default_rng(1))
        >>> s[1] == s[-2], accepts_embedded_reber(s), legal[-3] == frozenset(s[1])
        (True, True, True)
    """
    inner, inner_legal = reber_string(rng)
    mid = "TP"[int(rng.integers(2))]
    s = "B" + mid + inner + mid + "E"
    legal = [frozenset("TP"), frozenset("B")] + inner_legal[:-1] + [frozenset(mid), frozenset("E"), frozenset()]
    return s, legal


def _accepts_reber(s: str) -> bool:
    if len(s) < 2 or s[0] != "B" or s[-1] != "E":
        return False
    node = 1
    for sym in s[1:-1]:
        nxt = dict(_GRAPH.get(node, ()))
        if sym not in nxt:
            return False
        node = nxt[sym]
    return node == 6


def accepts_embedded_reber(s: str) -> bool:
    """Whether ``s`` is a string of the embedded Reber grammar (an independent parser).

    Example:
        >>> accepts_embedded_reber("BTBTXSETE"), accepts_embedded_reber("BTBTXSEPE")
        (True, False)
    """
    if not isinstance(s, str):
        raise TypeError(f"s must be a str, got {type(s).__name__}")
    return len(s) >= 7 and s[0] == "B" and s[1] in "TP" and s[-2] == s[1] and s[-1] == "E" and _accepts_reber(s[2:-2])


def _encode(strings: list[tuple[str, list[frozenset]]]) -> Batch:
    """Strings -> next-symbol batch: x = s[:-1], target = s[1:], legal sets of s[:-1]."""
    lengths = np.array([len(s) - 1 for s, _ in strings])
    T, B, K = int(lengths.max()), len(strings), len(SYMBOLS)
    x = np.zeros((T, B, K), dtype=np.float32)
    target = np.full((T, B), -1, dtype=np.int64)
    legal = np.zeros((T, B, K), dtype=bool)
    for b, (s, leg) in enumerate(strings):
        for t in range(len(s) - 1):
            x[t, b, _IDX[s[t]]] = 1.0
            target[t, b] = _IDX[s[t + 1]]
            for sym in leg[t]:
                legal[t, b, _IDX[sym]] = True
    return Batch(torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(lengths), per_step=True,
                 extra={"legal": torch.from_numpy(legal)})


class EmbeddedReber(Task):
    """Hochreiter & Schmidhuber 1997, Experiment 1: the embedded Reber grammar.

    A fixed training set of ``n_train`` strings and a test set of ``n_test`` strings are
    drawn from ``data_seed``; training minibatches are drawn from the training set.
    Success (the paper's): every symbol of every training AND test string predicted
    (legal next symbols the most active). The loss is the cross-entropy of the actual
    next symbol (the 1997 net was trained on the actual next symbol too, with squared
    error).

    Args:
        n_train, n_test: set sizes (paper: 256 and 256).
        data_seed: seed of the two sets (the trainer's seed picks the minibatches).

    Example:
        >>> import numpy as np
        >>> task = EmbeddedReber()
        >>> b = task.sample(4, np.random.default_rng(0))
        >>> b.x.shape[1:], b.extra["legal"].shape[-1]
        (torch.Size([4, 7]), 7)
    """

    name = "reber"
    title = "Embedded Reber grammar"
    paper = "Hochreiter & Schmidhuber 1997, Exp. 1"
    input_size = output_size = len(SYMBOLS)
    readout = "every"
    criterion = "every next-symbol prediction right (legal symbols most active) on all 256 training and 256 test strings"
    published = (
        Published("LSTM 3 blocks x 2 cells (276 w), lr 0.1", "100%", "21,730"),
        Published("LSTM 3 blocks x 2 cells, lr 0.5", "100%", "8,440", "range 3,800-24,100"),
        Published("LSTM 4 blocks x 1 cell (264 w), lr 0.5", "97%", "9,500"),
        Published("Elman net", "0%", "> 200,000"),
        Published("RCC", "50%", "182,000"),
    )

    def __init__(self, n_train: int = 256, n_test: int = 256, data_seed: int = 1997) -> None:
        self.n_train = check_positive_int("n_train", n_train)
        self.n_test = check_positive_int("n_test", n_test)
        self.data_seed = int(data_seed)
        rng = np.random.default_rng(self.data_seed)
        self.train_strings = [embedded_reber_string(rng) for _ in range(self.n_train)]
        self.test_strings = [embedded_reber_string(rng) for _ in range(self.n_test)]
        self._train_batch = _encode(self.train_strings)
        self._test_batch = _encode(self.test_strings)
        self.check_size = self.n_train + self.n_test
        self.test_size = self.n_test

    def config(self) -> dict:
        return {"name": self.name, "n_train": self.n_train, "n_test": self.n_test, "data_seed": self.data_seed}

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` strings drawn (with replacement) from the fixed training set."""
        check_positive_int("batch_size", batch_size)
        return _encode([self.train_strings[i] for i in rng.integers(0, self.n_train, size=batch_size)])

    def sample_test(self, n: int, rng: np.random.Generator) -> Batch:
        """``n`` FRESH strings (not the fixed sets): a generalisation test."""
        return _encode([embedded_reber_string(rng) for _ in range(n)])

    def sequence_loss(self, out, batch):
        return masked_sequence_mean(cross_entropy_steps(out, batch.y), batch.step_mask())

    def judge(self, out, batch):
        ok = legal_set_right(out, batch.extra["legal"]) | ~batch.step_mask()
        return {"right": ok.all(0), "symbols_wrong": (~ok).sum(0).double()}

    @torch.no_grad()
    def evaluate(self, model, rng, n=None, test=False):
        """During training (``test=False``): the paper's criterion on the fixed training
        and test sets. ``test=True``: ``n`` fresh strings (default ``test_size``)."""
        if test:
            return super().evaluate(model, rng, n, test=True)
        was = model.training
        model.eval()
        try:
            res = {}
            for part, batch in (("train", self._train_batch), ("test", self._test_batch)):
                out, _ = model(batch.x, batch.lengths)
                res[part] = int((~self.judge(out, batch)["right"]).sum())
                res[part + "_loss"] = float(self.sequence_loss(out, batch).mean())
        finally:
            model.train(was)
        wrong = res["train"] + res["test"]
        n = self.n_train + self.n_test
        return {"n": n, "wrong": wrong, "right": 1 - wrong / n, "loss": res["train_loss"],
                "train_wrong": res["train"], "test_wrong": res["test"], "solved": wrong == 0}

    def chance_loss(self) -> float:
        # Most steps have two equally likely successors: a blind predictor pays about log 2.
        return float(np.log(2.0))


# ---- continual embedded Reber (Gers et al. 2000) ---------------------------------------
class ReberStream:
    """B independent, endless streams of embedded Reber strings with no reset between them.

    Each call to :meth:`next` returns the next ``K`` symbols of every stream as a
    per-step next-symbol batch (legal sets included; after each E the legal next symbol
    is B). :meth:`restart` starts chosen streams afresh (their state must be reset; the
    next batch says so in ``reset``). The whole position is JSON-serialisable
    (:meth:`state_dict`), so a training run can be resumed exactly.

    Example:
        >>> import numpy as np
        >>> s = ReberStream(2, seed=0)
        >>> b = s.next(50)
        >>> b.x.shape, bool(b.reset.all())
        (torch.Size([50, 2, 7]), True)
        >>> bool(s.next(50).reset.any())
        False
    """

    def __init__(self, streams: int, seed: int) -> None:
        self.streams = check_positive_int("streams", streams)
        self.rng = np.random.default_rng(seed)
        self.buffers: list[list[tuple[str, str]]] = [[] for _ in range(self.streams)]
        self.fresh = [True] * self.streams

    def _fill(self, b: int, need: int) -> None:
        buf = self.buffers[b]
        while len(buf) < need:
            s, legal = embedded_reber_string(self.rng)
            legal = legal[:-1] + [frozenset("B")]
            buf.extend((sym, "".join(sorted(leg))) for sym, leg in zip(s, legal))

    def next(self, K: int) -> Batch:
        """The next K steps of every stream (x (K, B, 7), y (K, B) next-symbol ids)."""
        check_positive_int("K", K)
        x = np.zeros((K, self.streams, len(SYMBOLS)), dtype=np.float32)
        y = np.zeros((K, self.streams), dtype=np.int64)
        legal = np.zeros((K, self.streams, len(SYMBOLS)), dtype=bool)
        for b in range(self.streams):
            self._fill(b, K + 1)
            buf = self.buffers[b]
            for t in range(K):
                sym, leg = buf[t]
                x[t, b, _IDX[sym]] = 1.0
                y[t, b] = _IDX[buf[t + 1][0]]
                legal[t, b, [_IDX[c] for c in leg]] = True
            del buf[:K]
        reset = torch.tensor(self.fresh)
        self.fresh = [False] * self.streams
        return Batch(torch.from_numpy(x), torch.from_numpy(y), None, per_step=True, reset=reset,
                     extra={"legal": torch.from_numpy(legal)})

    def restart(self, which) -> None:
        """Start the streams flagged in ``which`` ((B,) bools) anew, at a string's B."""
        for b, flag in enumerate(which):
            if flag:
                self.buffers[b] = []
                self.fresh[b] = True

    def state_dict(self) -> dict:
        """The stream position as JSON-ready data."""
        return {"rng": self.rng.bit_generator.state, "buffers": [[list(p) for p in buf] for buf in self.buffers],
                "fresh": list(self.fresh)}

    def load_state_dict(self, d: dict) -> None:
        """Restore a position saved by :meth:`state_dict`."""
        self.rng.bit_generator.state = d["rng"]
        self.buffers = [[tuple(p) for p in buf] for buf in d["buffers"]]
        self.fresh = list(d["fresh"])


def max_abs_cell_state(state) -> float:
    """The largest |c| of an LSTM state ``(h, c)`` (any shapes): the size of the memory.

    Args:
        state: a model's or layer's LSTM state, a tuple whose second entry is the cell
            state c.

    Raises:
        TypeError: ``state`` is not a tuple of at least two tensors (a GRU's or Elman's
            state has no cell).

    Example:
        >>> import torch
        >>> max_abs_cell_state((torch.zeros(1, 2, 3), torch.tensor([[[0.5, -4.0, 1.0]]])))
        4.0
    """
    if not isinstance(state, (tuple, list)) or len(state) < 2 or not all(isinstance(s, torch.Tensor) for s in state):
        raise TypeError(f"state must be an LSTM state (h, c) of tensors, got {type(state).__name__}")
    return float(state[1].detach().abs().max())


class ContinualReber(Task):
    """Gers, Schmidhuber & Cummins 2000: the continual embedded Reber grammar (CERG).

    One endless stream of embedded Reber strings, no reset between strings: a cell with
    no forget gate has no way to empty its state. Training runs B streams in parallel by
    truncated BPTT (the state is carried across chunks, the gradient cut at chunk
    borders); as in the paper, a training stream that makes a prediction error is ended
    and a fresh one started (state reset). Test: ``test_streams`` streams of
    ``test_length`` symbols each; a stream's score is its error-free length.
    "Perfect": all test streams predicted without error; "good": mean error-free
    length > 1,000.

    Args:
        test_streams, test_length: the test (paper: 10 streams of 100,000 symbols).
        check_length: symbols per stream in the periodic check during training (the run
            stops when ``test_streams`` streams of this length are error-free).

    Example:
        >>> task = ContinualReber(test_length=200, check_length=100)
        >>> stream = task.make_stream(4, seed=0)
        >>> stream.next(30).x.shape
        torch.Size([30, 4, 7])
    """

    name = "cerg"
    title = "Continual embedded Reber grammar"
    paper = "Gers, Schmidhuber & Cummins 2000, Table 2"
    input_size = output_size = len(SYMBOLS)
    readout = "every"
    stream = True
    criterion = "perfect: 10 test streams of 100,000 symbols, every prediction right; good: mean error-free length > 1,000"
    published = (
        Published("1997 LSTM with external reset", "74% perfect", "", "26% rest <31>"),
        Published("1997 LSTM, no reset", "0% perfect", "", "1% good <1,166>, 99% rest <37>"),
        Published("LSTM with state decay 0.9", "0% perfect", "", "100% rest <56>"),
        Published("LSTM with forget gates", "18% perfect", "", "29% good <39,171>, 53% rest <145>"),
        Published("forget gates + lr decay", "62% perfect", "", "6% good <68,464>, 32% rest <30>"),
    )

    def __init__(self, test_streams: int = 10, test_length: int = 100_000, check_length: int = 10_000) -> None:
        self.test_streams = check_positive_int("test_streams", test_streams)
        self.test_length = check_positive_int("test_length", test_length)
        self.check_length = check_positive_int("check_length", check_length)

    def config(self) -> dict:
        return {"name": self.name, "test_streams": self.test_streams, "test_length": self.test_length,
                "check_length": self.check_length}

    def make_stream(self, streams: int, seed: int) -> ReberStream:
        """B training streams, positioned by ``seed``."""
        return ReberStream(streams, seed)

    def sequence_loss(self, out, batch):
        return masked_sequence_mean(cross_entropy_steps(out, batch.y), batch.step_mask())

    def judge(self, out, batch):
        ok = legal_set_right(out, batch.extra["legal"])
        return {"right": ok.all(0), "symbols_wrong": (~ok).sum(0).double()}

    def chance_loss(self) -> float:
        return float(np.log(2.0))

    @torch.no_grad()
    def cell_state_drift(self, model, rng: np.random.Generator, length: int | None = None,
                         streams: int | None = None, every: int = 1000) -> list[float]:
        """Why a cell without a forget gate fails the continual stream: the size of its
        memory along one long stream, errors or not (no reset, no stopping).

        Runs ``streams`` (default ``test_streams``) fresh streams of ``length`` (default
        ``test_length``) symbols through ``model`` in chunks of ``every`` symbols and
        records, after each chunk, the largest |c| over streams and cells
        (:func:`max_abs_cell_state`). A 1997 cell that keeps integrating its input
        drifts (the list grows with the stream); a forget gate can empty the cell, so a
        net that has learnt to use it stays bounded.

        Args:
            model: an LSTM :class:`lstmkit.models.SequenceModel` (its state is ``(h, c)``).
            rng: draws the streams' seed.
            length, streams: the stream (default: the test's).
            every: symbols between two records (the chunk length).

        Returns:
            ``ceil(length / every)`` floats: max |c| after ``every``, ``2 * every``, ...
            symbols (the last after ``length``).

        Example:
            >>> import numpy as np, torch
            >>> from lstmkit.models import SequenceModel
            >>> task = ContinualReber(test_streams=2, test_length=300)
            >>> torch.manual_seed(0) and None
            >>> drift = task.cell_state_drift(SequenceModel(7, 4, 7), np.random.default_rng(0), every=100)
            >>> len(drift), all(d > 0 for d in drift)
            (3, True)
        """
        length = self.test_length if length is None else check_positive_int("length", length)
        streams = self.test_streams if streams is None else check_positive_int("streams", streams)
        every = check_positive_int("every", every)
        stream = ReberStream(streams, int(rng.integers(2**31)))
        was = model.training
        model.eval()
        out, state, done = [], None, 0
        try:
            while done < length:
                k = min(every, length - done)
                _, state = model(stream.next(k).x, None, state)
                out.append(max_abs_cell_state(state))
                done += k
        finally:
            model.train(was)
        return out

    @torch.no_grad()
    def evaluate(self, model, rng, n=None, test=False):
        """Error-free length of ``test_streams`` streams of ``n`` symbols (default
        ``test_length`` for the test, ``check_length`` for a check). The test also
        records :meth:`cell_state_drift` along ``test_length`` symbols (LSTM models:
        ``max_abs_cell_state``, the largest |c| on it, ``cell_state_at_1000`` after the
        first 1,000 symbols, and the whole record every 1,000 symbols)."""
        length = n if n is not None else (self.test_length if test else self.check_length)
        stream = ReberStream(self.test_streams, int(rng.integers(2**31)))
        was = model.training
        model.eval()
        first_error = np.full(self.test_streams, -1, dtype=np.int64)
        state = None
        done = 0
        chunk = 1000
        loss_sum = 0.0
        try:
            while done < length and (first_error < 0).any():
                k = min(chunk, length - done)
                batch = stream.next(k)
                out, state = model(batch.x, None, state)
                loss_sum += float(self.sequence_loss(out, batch).mean()) * k
                ok = legal_set_right(out, batch.extra["legal"])  # (k, B)
                bad = (~ok).numpy()
                for b in range(self.test_streams):
                    if first_error[b] < 0 and bad[:, b].any():
                        first_error[b] = done + int(np.argmax(bad[:, b]))
                done += k
        finally:
            model.train(was)
        error_free = np.where(first_error < 0, length, first_error)
        perfect = bool((first_error < 0).all()) and done >= length
        mean_len = float(error_free.mean())
        res = {"n": self.test_streams, "stream_length": length, "wrong": int((first_error >= 0).sum()),
               "right": float((first_error < 0).mean()), "error_free_lengths": error_free.tolist(),
               "mean_error_free_length": mean_len, "loss": loss_sum / max(done, 1), "perfect": perfect,
               "good": (not perfect) and mean_len > 1000, "solved": perfect}
        if test and isinstance(state, tuple) and len(state) >= 2:  # an LSTM: it has a cell state
            drift = self.cell_state_drift(model, rng, length, every=1000)
            res.update(cell_state_drift=drift, max_abs_cell_state=max(drift), cell_state_at_1000=drift[0])
        return res
