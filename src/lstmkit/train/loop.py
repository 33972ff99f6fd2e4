"""The one training loop: every trainer in lstmkit is a :class:`Feed` plus hooks run by :class:`Loop`.

What a loop does, for every kind of training (generator tasks, fixed data sets, language
models), lives here and only here:

- the update: the feed's loss, ``zero_grad``, ``backward``, gradient-norm clipping, the
  optimizer step, the learning rate of each update from a schedule;
- the budgets: updates, seconds (training time: sections in :meth:`Loop.untimed` and
  checkpoint writes do not count), and whatever the feed or a hook says (:meth:`Hook.should_stop`);
- checkpoints: model, optimizer, the torch RNG state (CPU, and CUDA where used), the
  counters and every hook's own state, written atomically (:mod:`.checkpoint`) every
  ``checkpoint_every`` updates, when a hook asks, and at the end; a resumed run continues
  bit for bit where the checkpoint left it;
- the progress bar (hooks add fields with :meth:`Loop.show`);
- data parallelism: with ``distributed=True`` the loop joins torchrun's process group
  (:mod:`.distributed`), wraps the model in DistributedDataParallel, asks the feed for this
  process's shard and writes checkpoints on rank 0 only.

A feed says what one batch is and what it costs (:meth:`Feed.step`); a hook watches the
events (:class:`Hook`). A feed is a hook too, always the first one called.

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Squares(Feed):
    ...     def step(self, net, loop):
    ...         x = torch.linspace(-1, 1, 8).unsqueeze(1)
    ...         return Step(((net(x) - x ** 2) ** 2).mean(), size=8)
    >>> torch.manual_seed(0) and None
    >>> m = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    >>> loop = Loop(m, torch.optim.Adam(m.parameters(), lr=1e-2), Squares(), max_updates=20)
    >>> loop.run().update, loop.stop_reason
    (20, 'update budget')
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ..io import claim_dir
from .checkpoint import CHECKPOINT_JSON, load_checkpoint, optimizer_from_flat, optimizer_to_flat, save_checkpoint
from .denormals import flush_denormals
from .distributed import distributed_context

__all__ = ["Loop", "Feed", "Hook", "Step", "Progress", "learning_rate", "cosine_factor"]

# Names the loop itself writes into a checkpoint; a hook's state may not reuse them.
_LOOP_META = ("update", "elapsed", "optimizer")
_LOOP_TENSOR_PREFIXES = ("model/", "optim/", "rng/")


# ---- learning-rate schedules ------------------------------------------------------------
def learning_rate(cfg, update: int, total: int) -> float:
    """The learning rate of update ``update`` (0-based) under ``cfg``'s schedule.

    ``cfg`` carries ``lr``, ``schedule`` (``"constant"``, ``"cosine"`` to 0 at ``total``,
    ``"step"``: times ``decay_gamma`` every ``decay_every`` updates, ``"inverse"``:
    lr / (1 + k / decay_every)) and ``warmup_updates`` of linear warm-up before it (a
    :class:`lstmkit.train.TrainConfig`).

    Args:
        cfg: the settings (a TrainConfig or anything with those attributes).
        update: the update's index (0-based).
        total: the run's number of updates (the cosine's horizon).

    Example:
        >>> from lstmkit.train import TrainConfig
        >>> cfg = TrainConfig(lr=1.0, schedule="step", decay_every=10, decay_gamma=0.5)
        >>> learning_rate(cfg, 0, 100), learning_rate(cfg, 25, 100)
        (1.0, 0.25)
    """
    lr = cfg.lr
    if cfg.warmup_updates and update < cfg.warmup_updates:
        return lr * (update + 1) / cfg.warmup_updates
    k = update - cfg.warmup_updates
    if cfg.schedule == "cosine":
        span = max(1, total - cfg.warmup_updates)
        return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, k / span)))
    if cfg.schedule == "step":
        return lr * cfg.decay_gamma ** (k // cfg.decay_every)
    if cfg.schedule == "inverse":
        return lr / (1.0 + k / cfg.decay_every)
    return lr


def cosine_factor(progress: float, floor: float = 0.1) -> float:
    """Cosine decay from 1 to ``floor`` as training ``progress`` goes 0 -> 1 (clamped).

    Args:
        progress: the share of the run done (0 at the start, 1 at the end).
        floor: the factor at the end.

    Example:
        >>> cosine_factor(0.0), cosine_factor(1.0), round(cosine_factor(0.5), 3)
        (1.0, 0.1, 0.55)
    """
    p = min(max(progress, 0.0), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


# ---- what feeds and hooks see -------------------------------------------------------------
@dataclass
class Step:
    """What one update did: its loss and what the feed wants to see again after it.

    Args:
        loss: the scalar loss the update descends.
        size: examples (or units) in the batch (weights running means).
        data: anything the feed needs after the update (the batch, outputs, carried state).
        epoch_end: set by the feed to the pass's number (1-based) when this update
            finished a pass over the data; the loop then calls every hook's
            :meth:`Hook.on_epoch_end` with it.
        value: ``float(loss)``, filled in by the loop.

    Example:
        >>> Step(torch.tensor(0.5), size=4).size
        4
    """

    loss: Tensor
    size: int = 1
    data: Any = None
    epoch_end: int | None = None
    value: float = math.nan


class Hook:
    """Something that watches a :class:`Loop`: every method is optional (a no-op here).

    Events, in order: :meth:`on_start` (after any resume, before the first update);
    per update :meth:`on_step_end` (counters advanced), then :meth:`on_epoch_end` when the
    feed finished a pass, then :meth:`on_checkpoint` when a checkpoint was written;
    :meth:`on_end` once the loop stopped normally (not on an exception).

    A hook with state of its own gives it to every checkpoint (:meth:`state_tensors`,
    :meth:`state_meta`: top-level JSON keys, unique across hooks) and takes it back on
    resume (:meth:`load_state`), after :meth:`check_resume` accepted the checkpoint.

    Example:
        >>> class Count(Hook):
        ...     def __init__(self):
        ...         self.updates = 0
        ...     def on_step_end(self, loop, step):
        ...         self.updates += 1
        >>> Count().updates
        0
    """

    def on_start(self, loop: "Loop") -> None:
        """Called once, after a resume and before the first update."""

    def on_step_end(self, loop: "Loop", step: Step) -> None:
        """Called after each update (``loop.update`` already counts it)."""

    def on_epoch_end(self, loop: "Loop", epoch: int) -> None:
        """Called after the update that finished pass number ``epoch`` (1-based)."""

    def on_checkpoint(self, loop: "Loop") -> None:
        """Called after a checkpoint was written (on the process that wrote it)."""

    def on_end(self, loop: "Loop") -> None:
        """Called once when the loop stopped by a budget or :meth:`Loop.stop`."""

    def should_stop(self, loop: "Loop") -> str | None:
        """A budget of the hook's own: a reason to stop before the next update, or None."""
        return None

    def check_resume(self, loop: "Loop", meta: dict) -> None:
        """Refuse a checkpoint (ValueError) before anything is loaded from it."""

    def state_tensors(self, loop: "Loop") -> dict[str, Tensor]:
        """The hook's tensors for a checkpoint."""
        return {}

    def state_meta(self, loop: "Loop") -> dict:
        """The hook's JSON-ready state for a checkpoint."""
        return {}

    def load_state(self, loop: "Loop", tensors: dict[str, Tensor], meta: dict) -> None:
        """Take the hook's state back from a checkpoint's ``tensors`` and ``meta``."""


class Feed(Hook):
    """The data side of a :class:`Loop`: what one update's batch is and its loss.

    Subclasses implement :meth:`step`; a feed that can split its batches over the
    processes of a data-parallel run implements :meth:`shard`.

    Example:
        >>> class Constant(Feed):
        ...     def step(self, net, loop):
        ...         return Step(net(torch.ones(1, 1)).sum())
        >>> isinstance(Constant(), Hook)
        True
    """

    def step(self, net: nn.Module, loop: "Loop") -> Step:
        """The next batch's loss, computed with ``net`` (the model, or its DDP wrapper)."""
        raise NotImplementedError(f"{type(self).__name__} must implement step(net, loop)")

    def shard(self, rank: int, world: int) -> None:
        """Take this process's share of every batch (rank of world); refuse with
        ValueError when the feed cannot be split. The default refuses world > 1."""
        if world > 1:
            raise ValueError(f"{type(self).__name__} runs in one process; launch without torchrun")

    def position(self, loop: "Loop") -> str:
        """Where the run is, in words, for messages (``"update 12"``)."""
        return f"update {loop.update + 1}"


@dataclass
class Progress:
    """How the loop's progress bar looks (:func:`lstmkit.progress.progress_bar`).

    Args:
        desc: the bar's label. unit: what one update is called ("upd", "batch", "step").
        total: the number of updates (None: unknown). leave: keep the bar when done.

    Example:
        >>> Progress("char LM", "step", 2000).unit
        'step'
    """

    desc: str
    unit: str = "upd"
    total: int | None = None
    leave: bool = True


# ---- the loop -----------------------------------------------------------------------------
class Loop:
    """The one training loop (see the module docstring for what it owns).

    Args:
        model: the network (``loop.model``; feeds call ``net``, which is the model or its
            DistributedDataParallel wrapper).
        optimizer: its optimizer.
        feed: a :class:`Feed` (batches and their loss).
        hooks: further :class:`Hook` objects, called after the feed in this order.
        seed: torch's RNG is seeded with it before any resume (dropout, initial draws).
        clip_norm: clip the global gradient norm to this (None: no clipping).
        schedule: ``schedule(loop) -> lr`` for the next update (None: leave the
            optimizer's rate alone).
        max_updates: stop after this many updates (None: no limit).
        max_seconds: stop after this much training time, resumed sessions included.
        run_dir: the checkpoint directory (None: no checkpoints, no resume).
        checkpoint_every: updates between checkpoints (0: only when a hook asks and at
            the end).
        progress: a :class:`Progress` (None: no bar).
        distributed: join torchrun's process group and train with DDP (the feed must
            :meth:`~Feed.shard`).
        nonfinite: None to let a non-finite loss through, else the advice added to the
            FloatingPointError raised at once (``"lower lr or clip"``).
        callback: ``callback(loop)`` at the very end of every update, after any checkpoint.

    Attributes:
        update: updates done (resumed ones included). stop_reason: why the loop stopped
        (``"update budget"``, ``"time budget"``, a hook's reason). rank, world: this
        process in a data-parallel run. net: what the feed calls.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> class Line(Feed):
        ...     def step(self, net, loop):
        ...         x = torch.arange(4.0).unsqueeze(1)
        ...         return Step(((net(x) - 2 * x) ** 2).mean(), size=4)
        >>> torch.manual_seed(0) and None
        >>> m = nn.Linear(1, 1)
        >>> seen = []
        >>> class Watch(Hook):
        ...     def on_step_end(self, loop, step):
        ...         seen.append(loop.update)
        >>> _ = Loop(m, torch.optim.SGD(m.parameters(), lr=0.05), Line(), hooks=[Watch()], max_updates=3,
        ...          schedule=lambda loop: 0.05 / (1 + loop.update)).run()
        >>> seen
        [1, 2, 3]
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, feed: Feed, *,
                 hooks: Sequence[Hook] = (), seed: int = 0, clip_norm: float | None = None,
                 schedule: Callable[["Loop"], float] | None = None, max_updates: int | None = None,
                 max_seconds: float | None = None, run_dir: str | os.PathLike | None = None,
                 checkpoint_every: int = 0, progress: Progress | None = None, distributed: bool = False,
                 nonfinite: str | None = None, callback: Callable[["Loop"], None] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if not isinstance(feed, Feed):
            raise TypeError(f"feed must be a lstmkit.train.loop.Feed, got {type(feed).__name__}")
        hooks = list(hooks)
        for h in hooks:
            if not isinstance(h, Hook):
                raise TypeError(f"hooks must be lstmkit.train.loop.Hook objects, got {type(h).__name__}")
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive or None, got {clip_norm!r}")
        if max_updates is not None and (isinstance(max_updates, bool) or not isinstance(max_updates, int)
                                        or max_updates < 0):
            raise ValueError(f"max_updates must be an int >= 0 or None, got {max_updates!r}")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError(f"max_seconds must be positive or None, got {max_seconds!r}")
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be an int >= 0, got {checkpoint_every!r}")
        if progress is not None and not isinstance(progress, Progress):
            raise TypeError(f"progress must be a Progress or None, got {type(progress).__name__}")
        self.model, self.optimizer, self.feed = model, optimizer, feed
        self.hooks: list[Hook] = [feed, *hooks]
        self.seed, self.clip_norm, self.schedule = seed, clip_norm, schedule
        self.max_updates, self.max_seconds = max_updates, max_seconds
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.checkpoint_every, self.progress = checkpoint_every, progress
        self.distributed, self.nonfinite, self.callback = distributed, nonfinite, callback
        self.update = 0
        self.stop_reason: str | None = None
        self.rank, self.world = 0, 1
        self.net: nn.Module = model
        self.lr: float | None = None
        self._base = 0.0        # training seconds of finished segments (resumed sessions included)
        self._since: float | None = None  # start of the running segment (None: clock stopped)
        self._bar = None
        self._saved_at: int | None = None
        self._want_checkpoint = False

    # ---- the clock --------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Training seconds so far, resumed sessions included (untimed sections excluded)."""
        return self._base + (time.perf_counter() - self._since if self._since is not None else 0.0)

    @contextlib.contextmanager
    def untimed(self) -> Iterator[None]:
        """A section that is not training time (an evaluation, a checkpoint write).

        Example:
            >>> loop = Loop(torch.nn.Linear(1, 1), torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1),
            ...             Feed())
            >>> with loop.untimed():
            ...     pass
        """
        running = self._since is not None
        if running:
            self._base += time.perf_counter() - self._since
            self._since = None
        try:
            yield
        finally:
            if running:
                self._since = time.perf_counter()

    # ---- what hooks may ask -----------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Stop before the next update, for ``reason`` (the first reason given wins)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def request_checkpoint(self) -> None:
        """Write a checkpoint after this update (or, from :meth:`Hook.on_end`, at the end)."""
        self._want_checkpoint = True

    def show(self, **fields: Any) -> None:
        """Fields shown beside the progress bar (replacing the previous ones)."""
        if self._bar is not None:
            self._bar.set_postfix(refresh=False, **fields)

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    # ---- checkpoints ------------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Tensor], dict]:
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        opt_t, opt_meta = optimizer_to_flat(self.optimizer)
        tensors.update(opt_t)
        tensors["rng/torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda/{i}"] = s
        meta = {"update": self.update, "elapsed": self.elapsed, "optimizer": opt_meta}
        for h in self.hooks:
            for k, v in h.state_tensors(self).items():
                if k in tensors or k.startswith(_LOOP_TENSOR_PREFIXES):
                    raise ValueError(f"{type(h).__name__}.state_tensors: the name {k!r} is taken")
                tensors[k] = v
            for k, v in h.state_meta(self).items():
                if k in meta or k in ("tensors", "format"):
                    raise ValueError(f"{type(h).__name__}.state_meta: the key {k!r} is taken")
                meta[k] = v
        return tensors, meta

    def save(self) -> None:
        """Write a checkpoint to ``run_dir`` now (rank 0 only; a no-op without ``run_dir``)."""
        self._want_checkpoint = False
        if self.run_dir is None or not self.is_main:
            return
        with self.untimed():
            tensors, meta = self._state()
            save_checkpoint(self.run_dir, self.update, tensors, meta)
        self._saved_at = self.update
        for h in self.hooks:
            h.on_checkpoint(self)

    def load(self) -> bool:
        """Restore the checkpoint in ``run_dir`` (every rank); False if there is none."""
        if self.run_dir is None or not (self.run_dir / CHECKPOINT_JSON).exists():
            return False
        tensors, meta = load_checkpoint(self.run_dir)
        if not all(k in meta for k in _LOOP_META):
            raise ValueError(f"the checkpoint in {self.run_dir} was written by an older lstmkit trainer and "
                             f"cannot be resumed; start afresh without --resume or name another run directory")
        for h in self.hooks:
            h.check_resume(self, meta)
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
        optimizer_from_flat(self.optimizer, tensors, meta["optimizer"])
        torch.set_rng_state(tensors["rng/torch"])
        cuda = [tensors[f"rng/cuda/{i}"] for i in range(64) if f"rng/cuda/{i}" in tensors]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        self.update, self._base = int(meta["update"]), float(meta["elapsed"])
        for h in self.hooks:
            h.load_state(self, tensors, meta)
        return True

    # ---- running ----------------------------------------------------------------------------
    def _budget_reason(self) -> str | None:
        if self.stop_reason is not None:
            return self.stop_reason
        for h in self.hooks:
            reason = h.should_stop(self)
            if reason is not None:
                return reason
        if self.max_updates is not None and self.update >= self.max_updates:
            return "update budget"
        if self.max_seconds is not None and self.elapsed >= self.max_seconds:
            return "time budget"
        return None

    def _one_update(self) -> Step:
        if self.schedule is not None:
            self.lr = float(self.schedule(self))
            for g in self.optimizer.param_groups:
                g["lr"] = self.lr
        step = self.feed.step(self.net, self)
        if not isinstance(step, Step):
            raise TypeError(f"{type(self.feed).__name__}.step must return a Step, got {type(step).__name__}")
        step.value = float(step.loss.detach())
        if self.nonfinite is not None and not math.isfinite(step.value):
            raise FloatingPointError(f"loss became {step.value} at {self.feed.position(self)}; {self.nonfinite}")
        self.optimizer.zero_grad(set_to_none=True)
        step.loss.backward()
        if self.clip_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.optimizer.step()
        return step

    @flush_denormals()  # long CPU runs otherwise slow down as values go denormal
    def run(self, resume: bool = False) -> "Loop":
        """Train until a budget, a hook or an error stops it; return the loop.

        Args:
            resume: continue from ``run_dir``'s checkpoint if there is one.

        A KeyboardInterrupt or an error leaves the last checkpoint as it was (the run
        resumes from it); a normal stop writes a final one.
        """
        ctx = distributed_context() if self.distributed else contextlib.nullcontext((0, 1))
        with ctx as (rank, world):
            self.rank, self.world = rank, world
            self.feed.shard(rank, world)
            if self.is_main and self.run_dir is not None:
                # a non-empty foreign run directory is refused now, before any training
                claim_dir(self.run_dir, "run", "run directory")
            torch.manual_seed(self.seed)
            if resume:
                self.load()
            self.net = nn.parallel.DistributedDataParallel(self.model) if world > 1 else self.model
            self.model.train()
            self._since = time.perf_counter()
            try:
                for h in self.hooks:
                    h.on_start(self)
                if self.progress is not None and self.is_main:
                    from ..progress import progress_bar

                    p = self.progress
                    self._bar = progress_bar(p.total, p.desc, p.unit, initial=self.update, leave=p.leave)
                while True:
                    reason = self._budget_reason()
                    if reason is not None:
                        self.stop_reason = reason
                        break
                    step = self._one_update()
                    self.update += 1
                    for h in self.hooks:
                        h.on_step_end(self, step)
                    if step.epoch_end is not None:
                        for h in self.hooks:
                            h.on_epoch_end(self, step.epoch_end)
                    if self._bar is not None:
                        self._bar.update(1)
                    if self._want_checkpoint or (self.checkpoint_every and self.update % self.checkpoint_every == 0):
                        self.save()
                    if self.callback is not None:
                        self.callback(self)
                for h in self.hooks:
                    h.on_end(self)
                if self._want_checkpoint or self._saved_at != self.update:
                    self.save()
            finally:
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
                if self._since is not None:
                    self._base += time.perf_counter() - self._since
                    self._since = None
        return self
