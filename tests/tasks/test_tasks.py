"""Task generators checked against the papers' definitions, and the success criteria."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmkit.models import SequenceModel
from lstmkit.tasks import EXPERIMENTS, TASKS, get_task
from lstmkit.tasks.adding import CRITERION, AddingProblem, adding_batch, multiplication_batch
from lstmkit.tasks.base import Batch, legal_set_right
from lstmkit.tasks.copy import copy_batch
from lstmkit.tasks.counting import accepts_counting, counting_batch
from lstmkit.tasks.longlag import NoiseFreeLongLag, very_long_lag_batch
from lstmkit.tasks.order import ORDER_SYMBOLS, temporal_order_batch
from lstmkit.tasks.parity import parity_batch
from lstmkit.tasks.reber import SYMBOLS, ReberStream, accepts_embedded_reber, embedded_reber_string, reber_string
from lstmkit.tasks.timing import GenerateTimedSpikes, MeasureSpikeDelays
from lstmkit.tasks.twoseq import two_sequence_batch


def _decode(x_col: torch.Tensor, alphabet: str, n: int) -> str:
    return "".join(alphabet[i] for i in x_col[:n].argmax(-1).tolist())


# ---- embedded Reber -------------------------------------------------------------------
def test_every_embedded_reber_string_is_accepted_and_legal_sets_hold():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        s, legal = embedded_reber_string(rng)
        assert accepts_embedded_reber(s), s
        assert s[1] == s[-2]
        assert len(legal) == len(s)
        for t in range(len(s) - 1):
            assert s[t + 1] in legal[t]
        assert legal[-1] == frozenset()
        # The long-lag step: after the inner E only the remembered symbol is legal.
        assert legal[-3] == frozenset(s[1])


def test_reber_legal_sets_are_exactly_the_grammar_continuations():
    # Brute force: a symbol is legal after prefix s[:t+1] iff some accepted string continues that way.
    rng = np.random.default_rng(1)
    strings = {reber_string(rng)[0] for _ in range(3000)}
    for _ in range(300):
        s, legal = reber_string(rng)
        for t in range(len(s) - 1):
            prefix = s[: t + 1]
            seen = {w[t + 1] for w in strings if w.startswith(prefix) and len(w) > t + 1}
            assert seen <= legal[t]


def test_parser_rejects_corruptions():
    assert not accepts_embedded_reber("BTBTXSEPE")  # wrong remembered symbol
    assert not accepts_embedded_reber("BTBTXXEPE")
    assert not accepts_embedded_reber("BTBPVVETE" + "E")
    assert accepts_embedded_reber("BPBPVVEPE")
    assert not accepts_embedded_reber("BPBPVEPE")
    with pytest.raises(TypeError):
        accepts_embedded_reber(3)


def test_reber_batch_encodes_strings():
    task = get_task("reber", n_train=32, n_test=8)
    b = task.sample(16, np.random.default_rng(0))
    for j in range(16):
        n = int(b.lengths[j])
        s = _decode(b.x[:, j], SYMBOLS, n) + SYMBOLS[int(b.y[n - 1, j])]
        assert accepts_embedded_reber(s)
        assert s in {w for w, _ in task.train_strings}
        assert bool(b.extra["legal"][torch.arange(n), j, b.y[:n, j]].all())


def test_reber_criterion_perfect_predictor_passes_and_blind_fails():
    task = get_task("reber", n_train=16, n_test=16)
    b = task.sample(8, np.random.default_rng(0))
    perfect = b.extra["legal"].float() * 5.0
    assert bool(task.judge(perfect, b)["right"].all())
    blind = torch.zeros_like(perfect)
    assert not bool(task.judge(blind, b)["right"].any())


def test_legal_set_right():
    legal = torch.tensor([[True, False, True]])
    assert legal_set_right(torch.tensor([[1.0, 0.0, 0.5]]), legal).item()
    assert not legal_set_right(torch.tensor([[1.0, 0.6, 0.5]]), legal).item()


def test_reber_stream_is_a_concatenation_of_strings_and_resumable():
    s = ReberStream(3, seed=0)
    chunks = [s.next(25) for _ in range(4)]
    saved = s.state_dict()
    nxt = s.next(25)
    s2 = ReberStream(3, seed=123)
    s2.load_state_dict(saved)
    again = s2.next(25)
    assert torch.equal(nxt.x, again.x) and torch.equal(nxt.y, again.y)
    text = "".join(_decode(c.x[:, 0], SYMBOLS, 25) for c in chunks)
    parts = text.split("E")
    # Strings end with "...(T|P)E"; each embedded string is B...E containing one inner E.
    joined = []
    k = 0
    while k + 1 < len(parts) - 1:
        joined.append(parts[k] + "E" + parts[k + 1] + "E")
        k += 2
    assert joined and all(accepts_embedded_reber(w) for w in joined)
    s.restart([True, False, False])
    b = s.next(5)
    assert b.reset.tolist() == [True, False, False]
    assert b.x[0, 0, 0] == 1.0  # a restarted stream begins with B


# ---- adding and multiplication ---------------------------------------------------------
def _recompute(x, lengths, combine, T, neutral):
    """The target from the input alone: combine the two marked values (the paper's rule:
    a marked first pair carries the neutral value, 0 for adding, 1 for multiplication)."""
    out = []
    first_marked = 0
    for b, n in enumerate(lengths.tolist()):
        v, m = x[:n, b, 0].double(), x[:n, b, 1]
        marked = torch.nonzero(m == 1).flatten().tolist()
        assert len(marked) == 2 and marked[0] < 10 and marked[1] < max(10, T // 2 - 1)
        assert (m[0] == -1 or marked[0] == 0) and m[n - 1] == -1
        assert int((m != 0).sum()) in (3, 4) and bool((x[n:, b] == 0).all())
        if marked[0] == 0:
            first_marked += 1
            assert float(v[0]) == neutral
        out.append(combine(float(v[marked[0]]), float(v[marked[1]])))
    assert first_marked > 0  # the batch exercises the rule
    return torch.tensor(out)


@pytest.mark.parametrize("T", [20, 100])
def test_adding_targets_recomputed(T):
    x, lengths, y = adding_batch(200, T, np.random.default_rng(T))
    assert bool(((lengths >= T) & (lengths <= T + T // 10)).all())
    torch.testing.assert_close(_recompute(x, lengths, lambda a, b: 0.5 + (a + b) / 4, T, 0.0).float(), y)


def test_multiplication_targets_recomputed():
    x, lengths, y = multiplication_batch(200, 100, np.random.default_rng(0))
    assert bool((x[..., 0] >= 0).all())
    torch.testing.assert_close(_recompute(x, lengths, lambda a, b: a * b, 100, 1.0).float(), y)


def test_adding_criterion_and_errors():
    task = AddingProblem(T=20)
    b = task.sample(4, np.random.default_rng(0))
    logit = torch.logit(b.y.double()).float().unsqueeze(-1)
    assert bool(task.judge(logit, b)["right"].all())
    shifted = torch.where(b.y > 0.5, b.y - 1.5 * CRITERION, b.y + 1.5 * CRITERION)
    off = torch.logit(shifted.double()).float().unsqueeze(-1)
    assert not bool(task.judge(off, b)["right"].any())
    assert task.solved({"wrong": 0, "squared_error": 0.001})
    assert not task.solved({"wrong": 1, "squared_error": 0.001})
    with pytest.raises(ValueError, match="T"):
        adding_batch(2, 10, np.random.default_rng(0))


# ---- temporal order, two-sequence, long lags --------------------------------------------
@pytest.mark.parametrize("version", ["6a", "6b"])
def test_temporal_order_definition(version):
    x, lengths, label, pos = temporal_order_batch(200, np.random.default_rng(0), version)
    windows = {"6a": [(10, 20), (50, 60)], "6b": [(10, 20), (33, 43), (66, 76)]}[version]
    for b in range(200):
        n = int(lengths[b])
        s = _decode(x[:, b], ORDER_SYMBOLS, n)
        assert 100 <= n <= 110 and s[0] == "E" and s[-1] == "B"
        xy = [(t, c) for t, c in enumerate(s) if c in "XY"]
        assert len(xy) == len(windows)
        assert all(lo <= t <= hi for (t, _), (lo, hi) in zip(xy, windows))
        assert set(s[1:-1]) <= set("abcdXY")
        assert int(label[b]) == int("".join("1" if c == "Y" else "0" for _, c in xy), 2)
    assert len(set(label.tolist())) == 2 ** len(windows)


def test_two_sequence_definition():
    x, lengths, y = two_sequence_batch(400, 100, 3, np.random.default_rng(0))
    assert bool(((lengths >= 100) & (lengths <= 110)).all())
    assert bool((x[:3, :, 0] == (2 * y - 1)).all())
    noise = torch.cat([x[3:n, b, 0] for b, n in enumerate(lengths.tolist())])
    assert abs(float(noise.mean())) < 0.02 and abs(float(noise.var()) - 0.2) < 0.01


def test_noise_free_long_lag_sequences():
    task = NoiseFreeLongLag(p=10)
    b = task.sample_test(2, np.random.default_rng(0))
    for j, first in enumerate((0, 1)):
        seq = b.x[:, j].argmax(-1).tolist() + [int(b.y[-1, j])]
        assert seq == [first] + list(range(2, 11)) + [first]


def test_very_long_lag_definition():
    q, p = 30, 10
    x, lengths, label = very_long_lag_batch(300, q, p, np.random.default_rng(0))
    assert int(lengths.min()) >= q + 3  # + the target x/y = q + 4
    # Geometric(1/10) extra distractors: mean length q + 13 with the target (the paper says ~q + 14).
    assert abs(float(lengths.float().mean()) + 1 - (q + 13)) < 2.0
    for b in range(300):
        s = x[: int(lengths[b]), b].argmax(-1).tolist()
        assert s[0] == p + 1 and s[1] == p + 2 + int(label[b]) and s[-1] == p
        assert all(0 <= c < p for c in s[2:-1])


# ---- counting languages, timing, copy, parity ---------------------------------------------
@pytest.mark.parametrize("letters", [2, 3])
def test_counting_strings_and_legal_sets(letters):
    ns = list(range(1, 15))
    x, lengths, legal = counting_batch(ns, letters)
    alphabet = "SabcT" if letters == 3 else "SabT"
    for b, n in enumerate(ns):
        m = int(lengths[b])
        s = _decode(x[:, b], alphabet, m)
        assert accepts_counting(s + "T", letters)
        # The legal set after each prefix: the symbols that some string of the language puts there.
        for t in range(m):
            prefix = s[: t + 1]
            want = {c for c in alphabet for k in range(1, 2 * n + 2)
                    if ("S" + "".join(ch * k for ch in "abc"[:letters]) + "T").startswith(prefix + c)}
            got = {alphabet[i] for i in torch.nonzero(legal[t, b]).flatten().tolist()}
            assert got == want, (s, t, got, want)


def test_counting_generalisation_measure():
    task = get_task("counting", letters=3)
    assert task.generalisation(np.array([True, True, False, True])) == 2
    assert task.generalisation(np.array([True] * 5)) == 5


def test_msd_targets_are_the_delays():
    task = MeasureSpikeDelays(F=5, I_max=3, intervals=6)
    b = task.sample(10, np.random.default_rng(0))
    for j in range(10):
        spikes = torch.nonzero(b.x[:, j, 0] == 1).flatten().tolist()
        assert spikes[0] == 0 and len(spikes) == 7 and int(b.lengths[j]) == spikes[-1] + 1
        for a, c in zip(spikes, spikes[1:]):
            assert bool(b.mask[c, j]) and float(b.y[c, j]) == c - a - 5


def test_gts_spikes_follow_cues():
    task = GenerateTimedSpikes(F=5, I_max=3, intervals=6)
    b = task.sample(10, np.random.default_rng(0))
    for j in range(10):
        cues = torch.nonzero(b.x[:, j, 0] == 1).flatten().tolist()
        spikes = torch.nonzero(b.y[:, j] == 1).flatten().tolist()
        assert len(cues) == len(spikes) == 6
        for c, s in zip(cues, spikes):
            assert s == c + 5 + round(float(b.x[c, j, 1]) * 3)


def test_copy_task_definition_and_baseline():
    x, y = copy_batch(8, 20, np.random.default_rng(0))
    inp = x.argmax(-1)
    assert x.shape == (40, 8, 10)
    assert bool((inp[:10] >= 1).all() and (inp[:10] <= 8).all())
    assert bool((inp[10:29] == 0).all() and (inp[29] == 9).all() and (inp[30:] == 0).all())
    assert bool((y[:30] == 0).all() and (y[30:] == inp[:10]).all())
    assert math.isclose(get_task("copy", T=20).chance_loss(), 10 * math.log(8) / 40)


def test_parity_targets():
    x, lengths, y = parity_batch(100, 12, np.random.default_rng(0))
    for b, n in enumerate(lengths.tolist()):
        assert int((x[:n, b, 0] > 0).sum()) % 2 == int(y[b]) and bool((x[n:, b] == 0).all())


def _constant_cell_model(variant: str, f_bias: float | None = None) -> SequenceModel:
    """A net whose cells ignore their input: i = 1 (bias +30), g = tanh(30) = 1, and, if
    the variant has one, f = sigmoid(f_bias). c_t = f c_{t-1} + 1, known by hand."""
    m = SequenceModel(7, 3, 7, variant=variant)
    with torch.no_grad():
        for p in m.rnn.parameters():
            p.zero_()
        spec = m.rnn.specs[0]
        for gate, b in (("i", 30.0), ("g", 30.0), ("f", f_bias)):
            if b is not None:
                m.rnn.bias_ih_l0[spec.gate_slice(gate)] = b
    return m


def test_cell_state_drift_of_a_hand_built_1997_cell_grows_by_one_per_symbol():
    from lstmkit.tasks.reber import ContinualReber

    task = ContinualReber(test_streams=2, test_length=350)
    rng = np.random.default_rng(0)
    # no forget gate: c_t = c_{t-1} + 1 = t after t symbols, on every stream and cell
    drift = task.cell_state_drift(_constant_cell_model("hochreiter1997"), rng, every=100)
    assert drift == pytest.approx([100.0, 200.0, 300.0, 350.0], rel=1e-5)
    # forget gate f = sigmoid(ln 3) = 0.75: c_t -> 1 / (1 - 0.75) = 4, bounded
    drift = task.cell_state_drift(_constant_cell_model("standard", math.log(3.0)), rng, length=300, every=100)
    assert drift == pytest.approx([4.0, 4.0, 4.0], rel=1e-5)
    with pytest.raises(ValueError, match="every"):
        task.cell_state_drift(_constant_cell_model("standard", 0.0), rng, every=0)


def test_cerg_test_records_the_state_drift():
    from lstmkit.tasks.reber import ContinualReber, max_abs_cell_state

    task = ContinualReber(test_streams=2, test_length=2500)
    res = task.evaluate(_constant_cell_model("hochreiter1997"), np.random.default_rng(0), test=True)
    assert res["cell_state_drift"] == pytest.approx([1000.0, 2000.0, 2500.0], rel=1e-5)
    assert res["cell_state_at_1000"] == pytest.approx(1000.0, rel=1e-5)
    assert res["max_abs_cell_state"] == pytest.approx(2500.0, rel=1e-5)
    gru = SequenceModel(7, 3, 7, cell="gru")  # no cell state: no drift record
    assert "max_abs_cell_state" not in task.evaluate(gru, np.random.default_rng(0), n=50, test=True)
    with pytest.raises(TypeError, match="state"):
        max_abs_cell_state(torch.zeros(1, 2, 3))


# ---- registry and batches ---------------------------------------------------------------
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_builds_and_runs_a_step(name):
    exp = EXPERIMENTS[name]
    task = exp.make_task(quick=True)
    assert task.published and task.criterion and task.paper
    b = task.make_stream(2, 0).next(12) if task.stream else task.sample(3, np.random.default_rng(0))
    torch.manual_seed(0)
    model = SequenceModel(task.input_size, 4, task.output_size, readout=task.readout, embed=exp.embed)
    out, _ = model(b.x, b.lengths)
    loss = task.loss(out, b)
    assert torch.isfinite(loss)
    loss.backward()
    assert task.judge(out.detach(), b)["right"].shape == (b.size,)


def test_get_task_rejects_unknown():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("nope")
    assert "reber" in TASKS


@settings(max_examples=30, deadline=None)
@given(B=st.integers(2, 9), data=st.data())
def test_batch_slice_keeps_sequences(B, data):
    start = data.draw(st.integers(0, B - 1))
    stop = data.draw(st.integers(start + 1, B))
    x, lengths, y = adding_batch(B, 20, np.random.default_rng(B))
    b = Batch(x, y, lengths).slice(start, stop)
    assert b.size == stop - start
    assert torch.equal(b.y, y[start:stop]) and torch.equal(b.lengths, lengths[start:stop])
    assert b.x.shape[0] == int(lengths[start:stop].max())
    assert torch.equal(b.x, x[: b.x.shape[0], start:stop])
