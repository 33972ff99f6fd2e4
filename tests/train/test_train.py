"""The trainer: configuration, schedules, checkpoints, exact resume, DDP, outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from lstmkit.models import SequenceModel
from lstmkit.tasks import get_task
from lstmkit.train import TrainConfig, Trainer, learning_rate, load_checkpoint, save_checkpoint, train


def _model(task, hidden=6, seed=0, variant="vanilla", cell="lstm", forget_bias=None):
    torch.manual_seed(seed)
    return SequenceModel(task.input_size, hidden, task.output_size, cell=cell, variant=variant, readout=task.readout,
                         forget_bias=forget_bias)


def _cfg(**kw):
    base = dict(batch_size=8, max_sequences=10**9, max_updates=24, eval_every=6, progress=False, final_test=False,
                log_every=3)
    base.update(kw)
    return TrainConfig(**base)


# ---- configuration ----------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("optimizer", "rmsprop"), ("schedule", "linear"), ("batch_size", 0),
                                         ("lr", -1.0), ("clip_norm", 0.0), ("eval_every", -1), ("tbptt", 0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_config_round_trip_and_unknown_field():
    cfg = TrainConfig(lr=0.3, optimizer="sgd")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"learning_rate": 1})


def test_learning_rate_schedules():
    assert learning_rate(TrainConfig(lr=1.0), 500, 1000) == 1.0
    cos = TrainConfig(lr=1.0, schedule="cosine")
    assert learning_rate(cos, 0, 100) == 1.0 and abs(learning_rate(cos, 100, 100)) < 1e-12
    assert abs(learning_rate(cos, 50, 100) - 0.5) < 1e-12
    warm = TrainConfig(lr=1.0, warmup_updates=4)
    assert [learning_rate(warm, k, 10) for k in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert learning_rate(TrainConfig(lr=1.0, schedule="inverse", decay_every=10), 10, 100) == 0.5


def test_trainer_rejects_bad_arguments():
    task = get_task("parity", L=5)
    with pytest.raises(TypeError, match="model"):
        Trainer("model", task, TrainConfig())
    with pytest.raises(TypeError, match="config"):
        Trainer(_model(task), task, {"lr": 1})


# ---- checkpoints ------------------------------------------------------------------------
def test_checkpoint_round_trip_is_atomic_and_keeps_one(tmp_path):
    save_checkpoint(tmp_path, 1, {"a": torch.arange(3.0)}, {"x": 1})
    save_checkpoint(tmp_path, 2, {"a": torch.arange(4.0), "s": torch.tensor(5.0)}, {"x": 2})
    tensors, meta = load_checkpoint(tmp_path)
    assert meta["x"] == 2 and tensors["a"].tolist() == [0, 1, 2, 3] and float(tensors["s"]) == 5.0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint.json", "ckpt-000000002.safetensors", "lstmkit.json"]  # no temporaries, old file gone
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")


def test_checkpoint_contains_no_pickle(tmp_path):
    task = get_task("adding", T=20)
    Trainer(_model(task), task, _cfg(max_updates=3), run_dir=tmp_path).fit()
    for p in tmp_path.iterdir():
        if p.suffix in (".safetensors", ".json"):
            assert b"\x80\x04" not in p.read_bytes()[:2]  # not a pickle stream
    json.loads((tmp_path / "checkpoint.json").read_text())


# ---- exact resume -----------------------------------------------------------------------
class _Crash(Exception):
    pass


def _crash_at(update):
    def cb(trainer):
        if trainer.update == update:
            raise _Crash()

    return cb


@pytest.mark.parametrize("kind,params,cfg", [
    ("adding", {"T": 20}, dict(optimizer="adam", schedule="cosine", clip_norm=0.5)),
    ("reber", {"n_train": 32, "n_test": 16}, dict(optimizer="sgd", lr=0.3, momentum=0.9, clip_norm=None)),
    ("cerg", {"test_streams": 2, "test_length": 200, "check_length": 100}, dict(optimizer="adam", tbptt=12)),
])
def test_resume_after_a_crash_gives_the_same_weights(tmp_path, kind, params, cfg):
    task = get_task(kind, **params)
    task.check_size = min(task.check_size, 256)  # keep the checks cheap
    config = _cfg(checkpoint_every=5, **cfg)
    ref_model = _model(task)
    ref = Trainer(ref_model, task, config, run_dir=tmp_path / "ref").fit()

    model = _model(task)
    with pytest.raises(_Crash):
        Trainer(model, task, config, run_dir=tmp_path / "run", callback=_crash_at(13)).fit()
    # A new process would rebuild the model from scratch: different initial weights prove the load.
    fresh = _model(task, seed=99)
    resumed = Trainer(fresh, task, config, run_dir=tmp_path / "run").fit(resume=True)
    for (k, a), (_, b) in zip(ref_model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), k
    assert resumed["updates"] == ref["updates"] == 24
    assert resumed["sequences"] == ref["sequences"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in ref["history"]]
    strip = lambda checks: [{k: v for k, v in c.items() if k != "seconds"} for c in checks]  # noqa: E731
    assert strip(resumed["checks"]) == strip(ref["checks"])


def test_resume_refuses_a_different_trajectory(tmp_path):
    task = get_task("adding", T=20)
    Trainer(_model(task), task, _cfg(max_updates=2), run_dir=tmp_path).fit()
    with pytest.raises(ValueError, match="lr"):
        Trainer(_model(task), task, _cfg(max_updates=4, lr=0.5), run_dir=tmp_path).fit(resume=True)
    # A larger budget is fine: the run continues.
    r = Trainer(_model(task), task, _cfg(max_updates=4), run_dir=tmp_path).fit(resume=True)
    assert r["updates"] == 4


# ---- stopping and outputs -----------------------------------------------------------------
def test_budgets_and_success_stop():
    task = get_task("parity", L=4)
    r = train(_model(task), task, _cfg(max_updates=None, max_sequences=40, eval_every=0))
    assert (r["updates"], r["sequences"], r["stop_reason"]) == (5, 40, "sequence budget")
    r = train(_model(task), task, _cfg(max_updates=10**6, max_seconds=0.5, eval_every=0))
    assert r["stop_reason"] == "time budget"

    class Easy(type(task)):
        def solved(self, m):
            return True

    easy = Easy(L=4)
    r = train(_model(easy), easy, _cfg(eval_every=2))
    assert r["stop_reason"] == "solved" and r["solved_at"]["update"] == 2 and r["updates"] == 2


def test_online_training_with_sgd():
    task = get_task("adding", T=20)
    r = train(_model(task), task, _cfg(batch_size=1, optimizer="sgd", momentum=0.0, lr=0.5, clip_norm=None,
                                       max_updates=20))
    assert r["sequences"] == 20 and r["config"]["batch_size"] == 1


def test_result_json_and_curve_are_written(tmp_path):
    task = get_task("parity", L=5)
    from lstmkit.apps.experiment import plot_curve  # the plotting hook comes from above train/

    r = Trainer(_model(task), task, _cfg(final_test=True), run_dir=tmp_path, meta={"label": "x"},
                plot=plot_curve).fit()
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["seed"] == 0 and saved["config"]["batch_size"] == 8 and saved["wall_seconds"] >= 0
    assert saved["sequences"] == r["sequences"] == 24 * 8 and saved["test"]["n"] == task.test_size
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_the_same_seed_gives_the_same_run():
    task = get_task("adding", T=20)
    a, b = _model(task), _model(task)
    train(a, task, _cfg(eval_every=0))
    train(b, task, _cfg(eval_every=0))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


# ---- data parallelism ---------------------------------------------------------------------
_WORKER = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from lstmkit.models import SequenceModel
    from lstmkit.tasks import get_task
    from lstmkit.train import TrainConfig, Trainer
    from lstmkit.train.distributed import world_info
    task = get_task("adding", T=20)
    torch.manual_seed(0)
    model = SequenceModel(2, 6, 1, variant="vanilla", readout="last")
    cfg = TrainConfig(batch_size=8, max_updates=6, max_sequences=10**9, eval_every=0, progress=False,
                      final_test=False, clip_norm=0.5)
    Trainer(model, task, cfg).fit()
    rank, world = world_info()
    if rank == 0:
        import safetensors.torch as st
        st.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[1])
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_workers(script) -> None:
    """Kill any process still running ``script`` (this test's own workers, by their path)."""
    me = str(script).encode()
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if me in (d / "cmdline").read_bytes():
                os.kill(int(d.name), 9)
        except (OSError, ValueError):
            pass


def test_ddp_two_processes_equal_one_process(tmp_path):
    import safetensors.torch as st

    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    # The reference loop: the subprocesses need no compiled kernel (this test is about DDP).
    env["LSTMKIT_BACKEND"] = "reference"
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one.safetensors")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path / "two.safetensors")]
    # stderr to a file, not a pipe: a worker orphaned by a stopped launcher (torchrun starts
    # its workers in their own sessions) must not keep this test waiting on the pipe.
    err_path = tmp_path / "torchrun.err"
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err_file, text=True,
                                start_new_session=True)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            # Rank 0 writes the weights after training; a launcher slow to wind down does not
            # invalidate them. Stop it (its own process group only) and its workers.
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
        _kill_workers(script)
    err = err_path.read_text(errors="replace")
    if not (tmp_path / "two.safetensors").exists():
        pytest.skip(f"torchrun could not run 2 processes: {(err or '')[-500:]}")
    a = st.load_file(str(tmp_path / "one.safetensors"))
    b = st.load_file(str(tmp_path / "two.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5, msg=k)
    # And training actually moved the weights.
    torch.manual_seed(0)
    init = SequenceModel(2, 6, 1, variant="vanilla", readout="last").state_dict()
    assert not torch.allclose(init["head.weight"], a["head.weight"])


def test_ddp_batch_must_divide(monkeypatch):
    import lstmkit.train.loop as tr  # the one loop joins the process group
    from contextlib import contextmanager

    @contextmanager
    def fake():
        yield 0, 3

    monkeypatch.setattr(tr, "distributed_context", fake)
    task = get_task("parity", L=4)
    with pytest.raises(ValueError, match="divisible"):
        Trainer(_model(task), task, _cfg()).fit()


# ---- quick learning: loss well under chance ----------------------------------------------
@pytest.mark.parametrize("kind,params,hidden,updates,frac,fb", [
    ("reber", {}, 8, 300, 0.75, None),
    ("longlag2c", {"q": 20, "p": 20}, 8, 250, 0.3, 5.0),
    ("counting", {"letters": 2, "test_max": 30}, 4, 300, 0.2, None),
    ("parity", {"L": 8}, 16, 400, 0.3, None),
])
def test_quick_learning_beats_chance(kind, params, hidden, updates, frac, fb):
    torch.set_num_threads(1)
    task = get_task(kind, **params)
    model = _model(task, hidden=hidden, forget_bias=fb)
    r = train(model, task, _cfg(batch_size=16, lr=0.02, max_updates=updates, eval_every=0, final_test=True))
    assert r["test"]["loss"] < frac * task.chance_loss(), r["test"]


def test_quick_stream_learning_beats_chance():
    torch.set_num_threads(1)
    task = get_task("cerg", test_streams=4, test_length=500, check_length=200)
    model = _model(task, hidden=8)
    r = train(model, task, _cfg(batch_size=8, tbptt=30, lr=0.02, max_updates=250, eval_every=0, final_test=True))
    assert r["units"] == "symbols" and r["sequences"] == 250 * 8 * 30
    assert r["history"][-1]["loss"] < 0.8 * task.chance_loss()
    assert r["test"]["mean_error_free_length"] >= 1


def test_training_flushes_denormals_inside_and_restores_them_after():
    """Denormals slow long CPU runs many times over; both trainers flush them, and only while training."""
    from lstmkit.train.denormals import flush_denormals
    from lstmkit.train.supervised import fit_supervised

    tiny = torch.tensor([1e-39])
    seen = []

    def loss_fn(m, idx):
        seen.append(float(tiny * 1))
        return (m(torch.ones(len(idx), 1)) ** 2).mean()

    fit_supervised(torch.nn.Linear(1, 1), loss_fn, 4, epochs=1, batch_size=2, progress=False)
    assert seen == [0.0, 0.0]
    assert float(tiny * 1) > 0
    with flush_denormals():
        with flush_denormals():
            pass
        assert float(tiny * 1) == 0.0  # re-entrant: the inner exit leaves it on
    assert float(tiny * 1) > 0

    class Spy(SequenceModel):
        def forward(self, x, lengths=None):
            seen.append(float(tiny * 1))
            return super().forward(x, lengths)

    seen.clear()
    train(Spy(1, 4, 2, readout="last"), get_task("parity", L=3), TrainConfig(max_sequences=64, eval_every=0, progress=False))
    assert seen and set(seen) == {0.0}
    assert float(tiny * 1) > 0


def test_foreign_run_dir_is_refused_before_training(tmp_path):
    task = get_task("adding", T=20)
    (tmp_path / "notes.md").write_text("mine")
    trainer = Trainer(_model(task), task, _cfg(max_updates=3), run_dir=tmp_path,
                      callback=lambda t: pytest.fail("training started"))
    with pytest.raises(ValueError, match="refusing to write into"):
        trainer.fit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_keyboard_interrupt_keeps_the_last_checkpoint(tmp_path):
    task = get_task("adding", T=20)
    config = _cfg(checkpoint_every=5)

    def interrupt(trainer):
        if trainer.update == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(_model(task), task, config, run_dir=tmp_path, callback=interrupt).fit()
    assert json.loads((tmp_path / "checkpoint.json").read_text())["update"] == 5
    r = Trainer(_model(task, seed=99), task, config, run_dir=tmp_path).fit(resume=True)
    assert r["updates"] == 24
    from lstmkit.io import read_manifest

    assert {"checkpoint.json", "result.json"} <= set(read_manifest(tmp_path)["files"])
