"""The one loop (lstmkit.train.loop): it drives generator tasks, fixed data sets and the
language model; resume through it is bit-identical for each; hooks see their events."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmkit.models import CharLM, SequenceClassifier, SequenceModel
from lstmkit.tasks import get_task
from lstmkit.train import EpochFeed, Hook, Loop, Step, TokenStreamFeed, TrainConfig, Trainer
from lstmkit.train.loop import Feed, Progress
from lstmkit.train.supervised import fit_supervised, pad_sequences

pytestmark = pytest.mark.usefixtures("one_thread")


class Recorder(Hook):
    """Every event with the update count at which it came."""

    def __init__(self):
        self.events = []

    def on_start(self, loop):
        self.events.append(("start", loop.update))

    def on_step_end(self, loop, step):
        assert isinstance(step, Step) and math.isfinite(step.value)
        self.events.append(("step", loop.update))

    def on_epoch_end(self, loop, epoch):
        self.events.append(("epoch", loop.update, epoch))

    def on_checkpoint(self, loop):
        self.events.append(("checkpoint", loop.update))

    def on_end(self, loop):
        self.events.append(("end", loop.update, loop.stop_reason))

    def of(self, kind):
        return [e[1:] for e in self.events if e[0] == kind]


class _Crash(Exception):
    pass


class CrashAt(Hook):
    def __init__(self, update):
        self.update = update

    def on_step_end(self, loop, step):
        if loop.update == self.update:
            raise _Crash()


# ---- the three kinds, each as a (build, run) pair ---------------------------------------------
def _toy_sequences(seed=0, n=40):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 9)), 4)).astype(np.float32) for _ in range(n)]
    y = torch.tensor([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def _epoch_run(run_dir, hooks=(), resume=False, seed=0, checkpoint_every=0, epochs=4):
    """A fixed data set (a classifier with dropout: the RNG state matters) through EpochFeed."""
    X, y = _toy_sequences()
    torch.manual_seed(seed)
    m = SequenceClassifier(4, 2, hidden_size=6, num_layers=2, dropout=0.3)

    def loss_fn(model, idx):
        x, n = pad_sequences([X[i] for i in idx])
        return F.cross_entropy(model(x, n), y[idx])

    def score(model):
        x, n = pad_sequences(X[:16])
        return float((model(x, n).argmax(1) == y[:16]).float().mean())

    feed = EpochFeed(loss_fn, len(X), epochs=epochs, batch_size=16, seed=3, evaluate=score)
    loop = Loop(m, torch.optim.Adam(m.parameters(), lr=1e-2), feed, hooks=hooks, seed=1, clip_norm=1.0,
                run_dir=run_dir, checkpoint_every=checkpoint_every)
    loop.run(resume=resume)
    return m, loop, [{k: v for k, v in h.items() if k != "seconds"} for h in feed.history]


_TEXT = "to be or not to be, that is the question.\n" * 12


def _lm_run(run_dir, hooks=(), resume=False, seed=0, checkpoint_every=4, steps=22):
    """The character LM (state carried across chunks, epochs of 6 chunks) through TokenStreamFeed."""
    from lstmkit.apps.text import bits_per_character
    from lstmkit.data.text import CharVocab

    vocab = CharVocab.fit(_TEXT)
    ids = vocab.encode_array(_TEXT)
    torch.manual_seed(seed)
    m = CharLM(len(vocab), embedding_dim=6, hidden_size=12, num_layers=2, dropout=0.2)
    feed = TokenStreamFeed(ids[:-100], seq_len=15, batch_size=4, seed=2, eval_every=5,
                           evaluate=lambda model: bits_per_character(model, ids[-100:]),
                           settings={"config": m.config})
    loop = Loop(m, torch.optim.Adam(m.parameters(), lr=1e-2), feed, hooks=hooks, seed=1, clip_norm=1.0,
                schedule=lambda lp: 1e-2 * (1 - lp.update / (steps + 1)), max_updates=steps, run_dir=run_dir,
                checkpoint_every=checkpoint_every)
    loop.run(resume=resume)
    return m, loop, [{k: v for k, v in h.items() if k != "seconds"} for h in feed.history]


def _task_run(run_dir, hooks=(), resume=False, seed=0, checkpoint_every=5, kind="adding"):
    """A generator task (fresh data every update) through the Trainer feed."""
    params = {"adding": {"T": 20}, "cerg": {"test_streams": 2, "test_length": 100, "check_length": 50}}[kind]
    task = get_task(kind, **params)
    task.check_size = min(task.check_size, 128)
    torch.manual_seed(seed)
    m = SequenceModel(task.input_size, 6, task.output_size, variant="vanilla", readout=task.readout)
    cfg = TrainConfig(batch_size=8, max_sequences=10**9, max_updates=17, eval_every=4, log_every=2,
                      progress=False, final_test=False, schedule="cosine", tbptt=10,
                      checkpoint_every=checkpoint_every)
    trainer = Trainer(m, task, cfg, run_dir=run_dir, hooks=hooks)
    r = trainer.fit(resume=resume)
    return m, trainer.loop, [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]


def _same_weights(a, b):
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


# ---- bit-identical resume through the one loop, for each kind ----------------------------------
@pytest.mark.parametrize("run,crash,every", [
    (_epoch_run, 6, 2),           # a fixed data set, killed mid-epoch (3 batches an epoch), checkpoint mid-epoch
    (_epoch_run, 7, 0),           # ... with epoch-end checkpoints only
    (_lm_run, 15, 4),             # the LM, killed in its third epoch, checkpoint after an epoch boundary
    (_task_run, 13, 5),           # a generator task
    (lambda *a, **k: _task_run(*a, kind="cerg", **k), 9, 4),  # a stream task (truncated BPTT)
])
def test_resume_through_the_loop_is_bit_identical(tmp_path, run, crash, every):
    full, full_loop, full_hist = run(tmp_path / "full", checkpoint_every=every)
    with pytest.raises(_Crash):
        run(tmp_path / "killed", hooks=[CrashAt(crash)], checkpoint_every=every)
    saved = json.loads((tmp_path / "killed" / "checkpoint.json").read_text())["update"]
    assert 0 < saved < crash
    # a new process: other initial weights prove that the checkpoint is what continues
    resumed, loop, hist = run(tmp_path / "killed", resume=True, seed=99, checkpoint_every=every)
    _same_weights(full, resumed)
    assert loop.update == full_loop.update and loop.stop_reason == full_loop.stop_reason
    assert hist == full_hist
    opt_a, opt_b = full_loop.optimizer.state_dict()["state"], loop.optimizer.state_dict()["state"]
    assert sorted(opt_a) == sorted(opt_b)
    for i, a in opt_a.items():
        assert all(torch.equal(a[n], opt_b[i][n]) for n in a if torch.is_tensor(a[n])), i


def test_each_kind_runs_through_the_one_loop(tmp_path, monkeypatch):
    """Trainer.fit, fit_supervised and train_char_lm are thin users of Loop.run."""
    from lstmkit.apps.text import train_char_lm
    from lstmkit.data.text import CharVocab

    feeds = []
    real = Loop.run

    def spy(self, resume=False):
        feeds.append(type(self.feed).__name__)
        return real(self, resume)

    monkeypatch.setattr(Loop, "run", spy)
    task = get_task("parity", L=4)
    Trainer(SequenceModel(1, 4, 2, readout="last"), task,
            TrainConfig(max_updates=2, eval_every=0, progress=False, final_test=False)).fit()
    X, y = _toy_sequences(n=8)
    fit_supervised(torch.nn.Linear(4, 2), lambda m, idx: F.cross_entropy(m(torch.stack([torch.as_tensor(X[i][0])
                   for i in idx])), y[idx]), len(X), epochs=1, batch_size=4, progress=False)
    v = CharVocab.fit(_TEXT)
    train_char_lm(CharLM(len(v), embedding_dim=4, hidden_size=8, num_layers=1), v.encode_array(_TEXT), None,
                  steps=3, seq_len=10, batch_size=2, progress=False)
    assert feeds == ["Trainer", "EpochFeed", "TokenStreamFeed"]


# ---- hooks see the events they should ----------------------------------------------------------
def test_hook_events_of_a_fixed_data_set(tmp_path):
    rec = Recorder()
    _, loop, hist = _epoch_run(tmp_path, hooks=[rec], epochs=3)  # 40 examples, batches of 16: 3 an epoch
    assert rec.of("start") == [(0,)] and rec.of("end") == [(9, "epochs")]
    assert rec.of("step") == [(k,) for k in range(1, 10)]
    assert rec.of("epoch") == [(3, 1), (6, 2), (9, 3)]
    assert rec.of("checkpoint") == [(3,), (6,), (9,)]  # one per epoch; the end adds none
    # the order inside an update: step, then epoch end, then checkpoint
    i = rec.events.index(("step", 6))
    assert rec.events[i + 1 : i + 3] == [("epoch", 6, 2), ("checkpoint", 6)]
    assert [h["epoch"] for h in hist] == [1, 2, 3] and all("score" in h for h in hist)


def test_hook_events_of_the_lm_and_of_a_generator_task(tmp_path):
    rec = Recorder()
    _, loop, hist = _lm_run(tmp_path / "lm", hooks=[rec], steps=14, checkpoint_every=4)
    assert rec.of("epoch") == [(7, 1), (14, 2)]  # 4 streams of 103 characters: 7 chunks of 15 an epoch
    assert rec.of("checkpoint") == [(4,), (8,), (12,), (14,)]  # and the final one
    assert rec.of("end") == [(14, "update budget")]
    assert [h["step"] for h in hist] == [5, 10, 14]  # every 5 updates and at the end
    assert hist[1]["epoch"] == pytest.approx(1 + 3 / 7) and hist[2]["epoch"] == 2 and "val_bpc" in hist[0]

    rec = Recorder()
    _task_run(tmp_path / "task", hooks=[rec], checkpoint_every=5)
    assert rec.of("epoch") == []  # generator tasks have no epochs
    assert rec.of("step") == [(k,) for k in range(1, 18)]
    assert rec.of("checkpoint") == [(5,), (10,), (15,), (17,)]
    assert rec.of("end") == [(17, "update budget")]


def test_a_hook_keeps_its_state_through_a_resume_and_may_stop_the_loop(tmp_path):
    class Counter(Hook):
        def __init__(self):
            self.seen = 0

        def on_step_end(self, loop, step):
            self.seen += 1
            if self.seen == 9:
                loop.stop("enough")

        def state_meta(self, loop):
            return {"counter": self.seen}

        def load_state(self, loop, tensors, meta):
            self.seen = meta["counter"]

    with pytest.raises(_Crash):
        _task_run(tmp_path, hooks=[Counter(), CrashAt(7)], checkpoint_every=5)
    c = Counter()
    _, loop, _ = _task_run(tmp_path, hooks=[c], resume=True)
    assert c.seen == 9 and loop.update == 9 and loop.stop_reason == "enough"

    class Greedy(Hook):
        def state_meta(self, loop):
            return {"update": 0}

    with pytest.raises(ValueError, match="'update' is taken"):
        _task_run(tmp_path / "x", hooks=[Greedy()])


# ---- what the loop itself owns -----------------------------------------------------------------
class _Line(Feed):
    def __init__(self, bad_at=None):
        self.bad_at = bad_at

    def step(self, net, loop):
        x = torch.arange(4.0).unsqueeze(1)
        loss = ((net(x) - 2 * x) ** 2).mean()
        if loop.update + 1 == self.bad_at:
            loss = loss * float("nan")
        return Step(loss, size=4)


def _linear():
    torch.manual_seed(0)
    m = torch.nn.Linear(1, 1)
    return m, torch.optim.SGD(m.parameters(), lr=0.01)


def test_schedule_clipping_and_budgets():
    m, opt = _linear()
    lrs = []

    class Lr(Hook):
        def on_step_end(self, loop, step):
            lrs.append(loop.optimizer.param_groups[0]["lr"])

    loop = Loop(m, opt, _Line(), hooks=[Lr()], schedule=lambda lp: 0.1 / (1 + lp.update), max_updates=3)
    assert loop.run().stop_reason == "update budget" and lrs == [0.1, 0.05, 0.1 / 3]
    m, opt = _linear()
    big = torch.nn.Linear(1, 1)

    class GradNorm(Hook):
        def on_step_end(self, loop, step):
            lrs.append(float(torch.cat([p.grad.flatten() for p in loop.model.parameters()]).norm()))

    lrs.clear()
    Loop(m, opt, _Line(), hooks=[GradNorm()], clip_norm=1e-3, max_updates=2).run()
    assert all(g == pytest.approx(1e-3) for g in lrs)
    m, opt = _linear()
    assert Loop(m, opt, _Line(), max_seconds=0.05).run().stop_reason == "time budget"
    with pytest.raises(ValueError, match="clip_norm"):
        Loop(big, opt, _Line(), clip_norm=0)
    with pytest.raises(TypeError, match="feed"):
        Loop(big, opt, object())
    with pytest.raises(TypeError, match="hooks"):
        Loop(big, opt, _Line(), hooks=[print])


def test_untimed_sections_are_not_training_time():
    import time

    m, opt = _linear()

    class Slow(Hook):
        def on_step_end(self, loop, step):
            with loop.untimed():
                time.sleep(0.05)

    loop = Loop(m, opt, _Line(), hooks=[Slow()], max_updates=4).run()
    assert loop.elapsed < 0.1  # four sleeps of 0.05 s were not counted


def test_a_nonfinite_loss_stops_at_once_naming_where(tmp_path):
    m, opt = _linear()
    with pytest.raises(FloatingPointError, match="loss became nan at update 3; lower lr"):
        Loop(m, opt, _Line(bad_at=3), max_updates=5, nonfinite="lower lr").run()
    m, opt = _linear()
    Loop(m, opt, _Line(bad_at=3), max_updates=5).run()  # nonfinite=None lets it through
    X, y = _toy_sequences(n=8)
    with pytest.raises(FloatingPointError, match="at epoch 1; lower lr or clip"):
        fit_supervised(torch.nn.Linear(4, 2), lambda mm, idx: torch.tensor(float("inf"), requires_grad=True),
                       len(X), epochs=1, progress=False)


def test_a_foreign_or_other_checkpoint_is_refused(tmp_path):
    _epoch_run(tmp_path / "a", epochs=1)
    X, y = _toy_sequences()
    m = torch.nn.Linear(4, 2)
    other = EpochFeed(lambda mm, idx: mm(torch.zeros(len(idx), 4)).sum(), len(X) + 1, epochs=2, batch_size=16, seed=3)
    with pytest.raises(ValueError, match="other settings or data"):
        Loop(m, torch.optim.Adam(m.parameters()), other, run_dir=tmp_path / "a").run(resume=True)
    # the checkpoints of the loops before the one loop carry no loop counters: refused by name
    from lstmkit.train.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "old", 2, {"rng/torch": torch.get_rng_state()}, {"epoch": 2, "history": []})
    with pytest.raises(ValueError, match="older lstmkit trainer"):
        Loop(m, torch.optim.Adam(m.parameters()), other, run_dir=tmp_path / "old").run(resume=True)


def test_progress_bar_is_drawn_from_the_loop(capsys):
    pytest.importorskip("tqdm")
    m, opt = _linear()
    Loop(m, opt, _Line(), max_updates=3, progress=Progress("line fit", "upd", 3)).run()
    err = capsys.readouterr().err
    assert "line fit" in err and "3/3" in err


def test_train_imports_nothing_above_it():
    """The layer order (DESIGN.md): train/ may not import models, apps or viz."""
    root = Path(__import__("lstmkit.train", fromlist=["x"]).__file__).parent
    bad = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                top = (node.module or "").split(".")[0]
                if top in ("models", "apps", "viz", "cli"):
                    bad.append(f"{path.name}: from {'.' * node.level}{node.module}")
            elif isinstance(node, ast.Import):
                bad += [f"{path.name}: import {a.name}" for a in node.names
                        if a.name.startswith(("lstmkit.models", "lstmkit.apps", "lstmkit.viz", "lstmkit.cli"))]
    assert bad == []
