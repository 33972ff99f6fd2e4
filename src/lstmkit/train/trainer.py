"""The trainer of the classic experiments: generator tasks, minibatch or online, single
process or DDP, run through the one loop (:mod:`.loop`).

Determinism is by construction: the data of update ``k`` is drawn from
``numpy.random.default_rng([seed, 0, k])`` and the check after update ``k`` from
``[seed, 1, k]``, so a resumed run sees exactly the data an uninterrupted one would, and
every data-parallel process can draw the same global batch and keep its own shard.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..io import atomic_write_text, register_files
from .config import ConfigDict, check_fields
from .denormals import flush_denormals
from .feeds import pack_state, unpack_state
from .loop import Feed, Hook, Loop, Progress, Step, learning_rate

__all__ = ["TrainConfig", "Trainer", "train", "learning_rate"]

_OPTIMIZERS = ("adam", "sgd")
_SCHEDULES = ("constant", "cosine", "step", "inverse")
# Changing any of these changes the trajectory: a resume must keep them.
_TRAJECTORY = ("optimizer", "lr", "momentum", "weight_decay", "batch_size", "clip_norm", "schedule",
               "warmup_updates", "decay_every", "decay_gamma", "tbptt", "seed", "eval_every", "stop_on_success")


@dataclass
class TrainConfig(ConfigDict):
    """Everything that decides a training run (recorded in its result and checkpoints).

    Attributes:
        optimizer: ``"adam"`` or ``"sgd"`` (with ``momentum``; 0 gives plain SGD).
        lr: base learning rate. momentum: SGD momentum. weight_decay: L2 penalty.
        batch_size: GLOBAL sequences per update (1 = online training, as in 1997); with
            data parallelism each of W processes takes batch_size / W of them.
        clip_norm: clip the global gradient norm to this (None: no clipping).
        schedule: ``"constant"``, ``"cosine"`` (to 0 at the budget), ``"step"``
            (times ``decay_gamma`` every ``decay_every`` updates) or ``"inverse"``
            (lr / (1 + k / decay_every)); after ``warmup_updates`` of linear warm-up.
        max_sequences: budget of training sequences (stream tasks: of symbols).
        max_updates: optional budget of updates. max_seconds: optional wall-time budget.
        eval_every: updates between checks of the task's success criterion (0: none).
        stop_on_success: stop at the first check that meets the criterion.
        tbptt: chunk length of truncated BPTT for stream tasks (state carried across
            chunks, gradient cut at their borders).
        checkpoint_every: updates between checkpoints (0: only at the end).
        log_every: updates between learning-curve records.
        seed: the run's seed (data, checks and, through the caller, the initial weights).
        progress: show a tqdm progress bar.
        final_test: evaluate on fresh test data at the end.

    Example:
        >>> cfg = TrainConfig(optimizer="sgd", lr=0.1, batch_size=1, max_sequences=1000)
        >>> cfg.total_updates()
        1000
        >>> TrainConfig(optimizer="rmsprop")
        Traceback (most recent call last):
        ...
        ValueError: optimizer must be one of ('adam', 'sgd'), got 'rmsprop'
    """

    optimizer: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 32
    clip_norm: float | None = 1.0
    schedule: str = "constant"
    warmup_updates: int = 0
    decay_every: int = 1000
    decay_gamma: float = 0.5
    max_sequences: int = 100_000
    max_updates: int | None = None
    max_seconds: float | None = None
    eval_every: int = 50
    stop_on_success: bool = True
    tbptt: int = 50
    checkpoint_every: int = 0
    log_every: int = 10
    seed: int = 0
    progress: bool = True
    final_test: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")
        check_fields(self, "positive int", "batch_size", "max_sequences", "decay_every", "tbptt", "log_every")
        check_fields(self, "int >= 0", "eval_every", "checkpoint_every", "warmup_updates")
        check_fields(self, "positive", "lr")
        check_fields(self, "positive or None", "clip_norm", "max_updates", "max_seconds")

    def total_updates(self, units_per_update: int | None = None) -> int:
        """Updates the budget allows (the horizon of the cosine schedule)."""
        per = units_per_update or self.batch_size
        n = math.ceil(self.max_sequences / per)
        return min(n, self.max_updates) if self.max_updates else n


def _make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _detach_state(state):
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)


def _reset_state(state, reset: Tensor | None):
    """Zero the carried state of the streams flagged in ``reset`` ((B,) bool)."""
    if state is None or reset is None or not bool(reset.any()):
        return state
    keep = (~reset).to(torch.float32)

    def one(s):
        return s * keep.to(s.dtype).view(1, -1, 1)

    return one(state) if isinstance(state, Tensor) else tuple(one(s) for s in state)


class Trainer(Feed):
    """Trains ``model`` on ``task`` under ``config``; see :func:`train` for the short form.

    The model must be called as ``model(x, lengths, state) -> (output, state)`` (a
    :class:`lstmkit.models.SequenceModel`); the task provides batches, the loss and the
    success criterion (:class:`lstmkit.tasks.Task`). The Trainer is the generator-task
    :class:`~lstmkit.train.loop.Feed` of the one loop (:class:`~lstmkit.train.loop.Loop`),
    which owns the update, the schedule, clipping, budgets, checkpoints, resume and DDP.

    Args:
        model: the network (its initial weights are the caller's: seed before building).
        task: the task.
        config: a :class:`TrainConfig`.
        run_dir: where checkpoints, ``result.json`` and ``curve.png`` go (None: nowhere).
        meta: extra JSON-ready data recorded in the result (model description, ...).
        callback: called as ``callback(trainer)`` after every update, after any
            checkpoint (tests use it to simulate a crash).
        hooks: further :class:`~lstmkit.train.loop.Hook` objects for the loop.
        plot: ``plot(result, path)`` draws the learning curve into ``path``
            (``run_dir/curve.png``), e.g. :func:`lstmkit.viz.curves.plot_learning_curve`;
            an ImportError from it (no matplotlib) is ignored. None: no curve.

    Example:
        >>> from lstmkit.models import SequenceModel
        >>> from lstmkit.tasks import get_task
        >>> task = get_task("parity", L=6)
        >>> torch.manual_seed(0) and None
        >>> model = SequenceModel(1, 8, 2, readout="last")
        >>> cfg = TrainConfig(max_sequences=640, eval_every=0, progress=False, final_test=False)
        >>> result = Trainer(model, task, cfg).fit()
        >>> result["updates"], result["sequences"]
        (20, 640)
    """

    def __init__(self, model: nn.Module, task, config: TrainConfig, run_dir: str | os.PathLike | None = None,
                 meta: dict | None = None, callback: Callable[["Trainer"], None] | None = None,
                 hooks: Sequence[Hook] = (), plot: Callable[[dict, Path], Any] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if plot is not None and not callable(plot):
            raise TypeError(f"plot must be callable or None, got {type(plot).__name__}")
        self.model = model
        self.task = task
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.meta = dict(meta or {})
        self.callback = callback
        self.hooks = list(hooks)
        self.plot = plot
        self.optimizer = _make_optimizer(config, model.parameters())
        self.loop: Loop | None = None
        self.sequences = 0
        self.history: list[dict] = []
        self.checks: list[dict] = []
        self.solved_at: dict | None = None
        self._loss_sum = 0.0
        self._loss_n = 0
        self.stream = None
        self.carry = None
        self._rank, self._world = 0, 1

    # ---- what the loop counts -----------------------------------------------------------
    @property
    def update(self) -> int:
        """Updates done (resumed ones included)."""
        return self.loop.update if self.loop is not None else 0

    @property
    def elapsed(self) -> float:
        """Training seconds so far (resumed sessions included)."""
        return self.loop.elapsed if self.loop is not None else 0.0

    @property
    def stop_reason(self) -> str | None:
        """Why training stopped (None while it runs)."""
        return self.loop.stop_reason if self.loop is not None else None

    def _unit(self) -> int:
        return self.config.batch_size * (self.config.tbptt if self.task.stream else 1)

    # ---- the feed ---------------------------------------------------------------------------
    def shard(self, rank: int, world: int) -> None:
        if world > 1 and self.task.stream:
            raise ValueError("stream tasks (truncated BPTT) run in one process; launch without torchrun")
        if self.config.batch_size % world:
            raise ValueError(f"batch_size={self.config.batch_size} must be divisible by the world size {world}")
        self._rank, self._world = rank, world

    def should_stop(self, loop: Loop) -> str | None:
        return "sequence budget" if self.sequences >= self.config.max_sequences else None

    def step(self, net: nn.Module, loop: Loop) -> Step:
        cfg, task = self.config, self.task
        if task.stream:
            if self.stream is None:
                self.stream = task.make_stream(cfg.batch_size, cfg.seed)
            batch = self.stream.next(cfg.tbptt)
            self.carry = _reset_state(self.carry, batch.reset)
            out, carry = net(batch.x, None, self.carry)
            return Step(task.loss(out, batch), size=self._unit(), data=(batch, out, carry))
        rng = np.random.default_rng([cfg.seed, 0, loop.update])
        batch = task.sample(cfg.batch_size, rng)
        if self._world > 1:
            b = cfg.batch_size // self._world
            batch = batch.slice(self._rank * b, (self._rank + 1) * b)
        out, _ = net(batch.x, batch.lengths)
        return Step(task.loss(out, batch), size=self._unit(), data=(batch, out, None))

    def on_step_end(self, loop: Loop, step: Step) -> None:
        cfg, task = self.config, self.task
        batch, out, carry = step.data
        if task.stream:
            self.carry = _detach_state(carry)
            with torch.no_grad():
                right = task.judge(out.detach(), batch)["right"]
            self.stream.restart((~right).tolist())
        self.sequences += self._unit()
        self._loss_sum += step.value
        self._loss_n += 1
        now = loop.elapsed
        if loop.update % cfg.log_every == 0:
            self.history.append({"update": loop.update, "sequences": self.sequences, "seconds": round(now, 3),
                                 "loss": self._loss_sum / self._loss_n, "lr": loop.lr})
            self._loss_sum, self._loss_n = 0.0, 0
        if cfg.eval_every and loop.update % cfg.eval_every == 0:
            self._check(loop, now)
        if self.history:
            right = self.checks[-1]["right"] if self.checks else float("nan")
            loop.show(loss=f"{self.history[-1]['loss']:.4f}", right=f"{right:.3f}")

    def _check(self, loop: Loop, now: float) -> None:
        rng = np.random.default_rng([self.config.seed, 1, loop.update])
        m = self.task.evaluate(self.model, rng)
        rec = {"update": loop.update, "sequences": self.sequences, "seconds": round(now, 3)}
        rec.update({k: v for k, v in m.items() if not isinstance(v, list)})
        self.checks.append(rec)
        if m["solved"] and self.solved_at is None:
            self.solved_at = {"update": loop.update, "sequences": self.sequences, "seconds": round(now, 3)}
            if self.config.stop_on_success:
                loop.stop("solved")

    # ---- checkpoints ------------------------------------------------------------------------
    def check_resume(self, loop: Loop, meta: dict) -> None:
        old = meta["config"]
        mine = self.config.to_dict()
        diff = [k for k in _TRAJECTORY if old.get(k) != mine.get(k)]
        if diff:
            raise ValueError(f"cannot resume: the checkpoint was trained with different {diff} "
                             f"({ {k: old.get(k) for k in diff} } vs { {k: mine.get(k) for k in diff} })")

    def state_tensors(self, loop: Loop) -> dict[str, Tensor]:
        return pack_state("carry", self.carry)[0]

    def state_meta(self, loop: Loop) -> dict:
        return {
            "sequences": self.sequences, "history": self.history, "checks": self.checks,
            "loss_sum": self._loss_sum, "loss_n": self._loss_n,
            "config": self.config.to_dict(), "task": self.task.config(),
            "stream": self.stream.state_dict() if self.stream is not None else None,
            "carry_kind": pack_state("carry", self.carry)[1], "meta": self.meta,
        }

    def load_state(self, loop: Loop, tensors: dict[str, Tensor], meta: dict) -> None:
        self.sequences = meta["sequences"]
        self.history, self.checks = meta["history"], meta["checks"]
        self._loss_sum, self._loss_n = meta["loss_sum"], meta["loss_n"]
        if meta.get("stream") is not None:
            self.stream = self.task.make_stream(self.config.batch_size, self.config.seed)
            self.stream.load_state_dict(meta["stream"])
        self.carry = unpack_state("carry", tensors, meta["carry_kind"])

    # ---- the run ----------------------------------------------------------------------------
    @flush_denormals()  # long CPU runs otherwise slow down as values go denormal
    def fit(self, resume: bool = False) -> dict:
        """Train until the criterion, the budget or the time runs out; return the result.

        Args:
            resume: continue from ``run_dir``'s checkpoint if there is one.

        Returns:
            The result dict (also written to ``run_dir/result.json``): config, seed,
            sequences seen, updates, wall seconds, whether and when the criterion was
            met, the checks, the final test metrics and the learning curve.
        """
        cfg = self.config
        total = cfg.total_updates(self._unit())
        progress = Progress(getattr(self.task, "name", "train"), "upd", total, leave=False) if cfg.progress else None
        self.loop = Loop(self.model, self.optimizer, self, hooks=self.hooks, seed=cfg.seed, clip_norm=cfg.clip_norm,
                         schedule=lambda loop: learning_rate(cfg, loop.update, total),
                         max_updates=cfg.max_updates, max_seconds=cfg.max_seconds, run_dir=self.run_dir,
                         checkpoint_every=cfg.checkpoint_every, progress=progress, distributed=True,
                         callback=(lambda loop: self.callback(self)) if self.callback is not None else None)
        self.loop.run(resume=resume)
        result = self._result()
        if self.loop.is_main and self.run_dir is not None:
            self.write_outputs(result)
        return result

    def _result(self) -> dict:
        cfg = self.config
        if self.solved_at is None:
            for c in self.checks:  # a resumed run finds its solution in the restored checks
                if c.get("solved"):
                    self.solved_at = {k: c[k] for k in ("update", "sequences", "seconds")}
                    break
        test = None
        if cfg.final_test:
            test = self.task.evaluate(self.model, np.random.default_rng([cfg.seed, 2]), test=True)
        units = "symbols" if self.task.stream else "sequences"
        return {
            "task": self.task.config(), "seed": cfg.seed, "config": cfg.to_dict(), "meta": self.meta,
            "units": units, "sequences": self.sequences, "updates": self.update, "wall_seconds": round(self.elapsed, 3),
            "stop_reason": self.stop_reason, "solved": self.solved_at is not None, "solved_at": self.solved_at,
            "checks": self.checks, "test": test, "history": self.history,
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def write_outputs(self, result: dict) -> None:
        """``result.json`` and (with ``plot``, where matplotlib is there) ``curve.png`` in ``run_dir``."""
        atomic_write_text(self.run_dir / "result.json", json.dumps(result, indent=1, default=str))
        written = ["result.json"]
        if self.plot is not None:
            try:
                self.plot(result, self.run_dir / "curve.png")
                written.append("curve.png")
            except ImportError:
                pass
        register_files(self.run_dir, written)


def train(model: nn.Module, task, config: TrainConfig | None = None, run_dir=None, resume: bool = False,
          **overrides: Any) -> dict:
    """Train ``model`` on ``task``; the short form of :class:`Trainer`.

    Args:
        model: ``model(x, lengths, state) -> (output, state)``.
        task: a :class:`lstmkit.tasks.Task`.
        config: a :class:`TrainConfig` (default: ``TrainConfig(**overrides)``).
        run_dir: directory for checkpoints and results (None: keep nothing on disk).
        resume: continue from ``run_dir``'s checkpoint.
        **overrides: TrainConfig fields, applied on top of ``config``.

    Returns:
        The result dict (see :meth:`Trainer.fit`).

    Example:
        >>> import torch
        >>> from lstmkit.models import SequenceModel
        >>> from lstmkit.tasks import get_task
        >>> torch.manual_seed(0) and None
        >>> task = get_task("adding", T=20)
        >>> model = SequenceModel(2, 8, 1, readout="last")
        >>> r = train(model, task, max_sequences=320, eval_every=0, progress=False)
        >>> r["sequences"], r["test"]["n"]
        (320, 2560)
    """
    cfg = config or TrainConfig()
    if overrides:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **overrides})
    return Trainer(model, task, cfg, run_dir=run_dir).fit(resume=resume)
