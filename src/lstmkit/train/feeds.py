"""Feeds for the one loop (:mod:`.loop`): a fixed data set in epochs, and a token stream.

- :class:`EpochFeed`: shuffled minibatches of a fixed training set (classification, CTC,
  forecasting windows: whatever ``loss_fn(model, indices)`` builds), one pass per epoch,
  an evaluation after each pass and the best epoch's weights kept
  (:func:`lstmkit.train.supervised.fit_supervised` runs it).
- :class:`TokenStreamFeed`: truncated BPTT over one long sequence of token ids cut into
  contiguous streams read ``seq_len`` tokens at a time, the state carried from chunk to
  chunk (a language model; :func:`lstmkit.apps.text.train_char_lm` runs it).

Both keep everything a resumed run needs (position in the epoch, carried state, running
sums, history, best weights) in the loop's checkpoints.
"""

from __future__ import annotations

import json
import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .loop import Feed, Loop, Step

__all__ = ["EpochFeed", "TokenStreamFeed", "pack_state", "unpack_state"]


def pack_state(prefix: str, state) -> tuple[dict[str, Tensor], str | None]:
    """A carried recurrent state (a tensor, a tuple of tensors, or None) as named tensors.

    Args:
        prefix: the names' prefix (``"carry"`` gives ``carry/0``, ``carry/1``, ...).
        state: the state.

    Returns:
        ``(tensors, kind)`` with kind ``"tensor"``, ``"tuple"`` or None (no state);
        :func:`unpack_state` is its inverse.

    Example:
        >>> t, kind = pack_state("s", (torch.zeros(1), torch.ones(1)))
        >>> sorted(t), kind
        (['s/0', 's/1'], 'tuple')
    """
    if state is None:
        return {}, None
    if isinstance(state, Tensor):
        return {f"{prefix}/0": state}, "tensor"
    return {f"{prefix}/{i}": s for i, s in enumerate(state)}, "tuple"


def unpack_state(prefix: str, tensors: dict[str, Tensor], kind: str | None):
    """Inverse of :func:`pack_state`.

    Example:
        >>> unpack_state("s", *pack_state("s", torch.ones(2))).tolist()
        [1.0, 1.0]
    """
    if kind is None:
        return None
    parts = []
    while f"{prefix}/{len(parts)}" in tensors:
        parts.append(tensors[f"{prefix}/{len(parts)}"])
    return parts[0] if kind == "tensor" else tuple(parts)


def _refuse(loop: Loop, what: str) -> None:
    raise ValueError(f"the checkpoint in {loop.run_dir} was made with other settings or data ({what}); "
                     f"start afresh without --resume or name another run directory")


class EpochFeed(Feed):
    """Epochs of shuffled minibatches over a fixed training set of ``n_train`` examples.

    The order of epoch ``e`` is ``numpy.random.default_rng([seed, e]).permutation``; the
    last batch of an epoch may be smaller. After each pass (:meth:`on_epoch_end`) the
    model is scored by ``evaluate`` (eval mode, no gradients), the weights of the best
    epoch are kept (higher is better; of equal scores the later epoch), a history row is
    added and a checkpoint asked for.

    Args:
        loss_fn: ``loss_fn(model, indices) -> scalar loss`` for a minibatch of example
            indices (it builds the batch: padding, targets).
        n_train: the number of training examples.
        epochs: passes over the data (the feed's budget: the loop stops after them).
        batch_size: examples per update.
        seed: seeds the shuffling.
        evaluate: ``evaluate(model) -> score`` after each epoch (None: no scores).

    Attributes:
        epoch: passes done. history: one row per pass (epoch, loss, seconds, score).
        best_epoch, best_score, best_state: the best pass so far (-1, -inf, None before one).

    Example:
        >>> from lstmkit.train.loop import Loop
        >>> torch.manual_seed(0) and None
        >>> m = nn.Linear(2, 1)
        >>> X, Y = torch.randn(40, 2), torch.randn(40, 1)
        >>> feed = EpochFeed(lambda m, idx: ((m(X[idx]) - Y[idx]) ** 2).mean(), 40, epochs=2, batch_size=16)
        >>> loop = Loop(m, torch.optim.Adam(m.parameters()), feed).run()
        >>> loop.update, feed.epoch, loop.stop_reason
        (6, 2, 'epochs')
    """

    def __init__(self, loss_fn: Callable[[nn.Module, list[int]], Tensor], n_train: int, *, epochs: int,
                 batch_size: int = 32, seed: int = 0, evaluate: Callable[[nn.Module], float] | None = None) -> None:
        if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 1:
            raise ValueError(f"n_train must be >= 1, got {n_train}")
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        self.loss_fn, self.n_train, self.epochs = loss_fn, int(n_train), int(epochs)
        self.batch_size, self.seed, self.evaluate = int(batch_size), seed, evaluate
        self.epoch, self.pos = 0, 0
        self._sum, self._count = 0.0, 0
        self.history: list[dict] = []
        self.best_score, self.best_epoch, self.best_state = -math.inf, -1, None
        self._order: np.ndarray | None = None
        self._order_epoch: int | None = None
        self._t0: float | None = None

    @property
    def batches_per_epoch(self) -> int:
        """Updates in one pass."""
        return math.ceil(self.n_train / self.batch_size)

    def should_stop(self, loop):
        return "epochs" if self.epoch >= self.epochs else None

    def position(self, loop):
        return f"epoch {self.epoch + 1}"

    def on_start(self, loop):
        self._t0 = time.perf_counter()

    def step(self, net, loop):
        if self.pos == 0:
            self._t0 = time.perf_counter()
        if self._order_epoch != self.epoch:
            self._order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n_train)
            self._order_epoch = self.epoch
        idx = self._order[self.pos : self.pos + self.batch_size].tolist()
        last = self.pos + self.batch_size >= self.n_train
        return Step(self.loss_fn(net, idx), size=len(idx), epoch_end=self.epoch + 1 if last else None)

    def on_step_end(self, loop, step):
        self._sum += step.value * step.size
        self._count += step.size
        self.pos += self.batch_size
        loop.show(epoch=self.epoch + 1, loss=f"{self._sum / self._count:.4f}")

    def on_epoch_end(self, loop, epoch):
        row = {"epoch": epoch, "loss": self._sum / self._count, "seconds": time.perf_counter() - self._t0}
        model = loop.model
        if self.evaluate is not None:
            model.eval()
            with torch.no_grad():
                row["score"] = float(self.evaluate(model))
            model.train()
            if row["score"] >= self.best_score:  # ties go to the later, longer-trained epoch
                self.best_score, self.best_epoch = row["score"], epoch
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            loop.show(epoch=epoch, loss=f"{row['loss']:.4f}", score=f"{row['score']:.4f}")
        self.history.append(row)
        self.epoch, self.pos, self._sum, self._count = epoch, 0, 0.0, 0
        loop.request_checkpoint()

    # ---- checkpoints --------------------------------------------------------------------------
    def _identity(self) -> dict:
        return {"n_train": self.n_train, "batch_size": self.batch_size, "seed": self.seed}

    def check_resume(self, loop, meta):
        if meta.get("data") != self._identity():
            _refuse(loop, f"{meta.get('data')} vs {self._identity()}")

    def state_tensors(self, loop):
        return {f"best/{k}": v for k, v in (self.best_state or {}).items()}

    def state_meta(self, loop):
        return {"epoch": self.epoch, "position": self.pos, "epoch_loss": [self._sum, self._count],
                "history": self.history, "best_score": self.best_score, "best_epoch": self.best_epoch,
                "seed": self.seed, "data": self._identity()}

    def load_state(self, loop, tensors, meta):
        self.epoch, self.pos = meta["epoch"], meta["position"]
        self._sum, self._count = meta["epoch_loss"]
        self.history, self.best_score, self.best_epoch = meta["history"], meta["best_score"], meta["best_epoch"]
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
        self.best_state = best or None


class TokenStreamFeed(Feed):
    """Truncated BPTT over one long sequence of token ids (a language model).

    The ids are cut into ``B = min(batch_size, n // seq_len)`` contiguous streams (a
    random offset per epoch from ``default_rng([seed, epoch])``), read ``seq_len`` tokens
    at a time; the model's state is carried from chunk to chunk, detached at the borders,
    and dropped at each new epoch. The loss is the mean cross-entropy of the next token.
    Every ``eval_every`` updates and at the end a history row records the mean training
    loss since the last row in bits (``loss_bpc``), the training seconds and, with
    ``evaluate``, ``val_bpc`` (evaluation time is not training time).

    Args:
        ids: int array of token ids.
        seq_len: tokens per chunk (the BPTT truncation).
        batch_size: parallel streams (fewer when the text is short).
        seed: seeds the per-epoch offsets.
        eval_every: updates between history rows (0: only at the end).
        evaluate: ``evaluate(model) -> bits per token`` on held-out data (None: none).
        settings: JSON-ready data a resume must match besides the data's shape (the
            model's configuration, ...).

    The model is called as ``model(x, state) -> (logits, state)`` with x (seq_len, B).

    Example:
        >>> from lstmkit.models import CharLM
        >>> from lstmkit.train.loop import Loop
        >>> torch.manual_seed(0) and None
        >>> m = CharLM(5, embedding_dim=4, hidden_size=8, num_layers=1)
        >>> feed = TokenStreamFeed(np.arange(200) % 5, seq_len=10, batch_size=4)
        >>> loop = Loop(m, torch.optim.Adam(m.parameters(), lr=1e-2), feed, max_updates=12).run()
        >>> feed.streams, feed.chunks_per_epoch, feed.epoch, [h["step"] for h in feed.history]
        (4, 5, 2, [12])
    """

    def __init__(self, ids, *, seq_len: int, batch_size: int, seed: int = 0, eval_every: int = 0,
                 evaluate: Callable[[nn.Module], float] | None = None, settings: dict | None = None) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1:
            raise ValueError(f"ids must be a 1-d array of token ids, got shape {ids.shape}")
        for name, v in (("seq_len", seq_len), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if isinstance(eval_every, bool) or not isinstance(eval_every, (int, np.integer)) or eval_every < 0:
            raise ValueError(f"eval_every must be an int >= 0, got {eval_every!r}")
        n = len(ids) - 1
        B = max(1, min(batch_size, n // seq_len))
        per_stream = n // B
        if per_stream < 2:
            raise ValueError(f"the training text holds {len(ids)} characters: too few for sequence length "
                             f"{seq_len}; use a longer text or a smaller --seq-len")
        self.ids, self.seq_len, self.seed = ids, int(seq_len), seed
        self.streams, self.per_stream, self._n = B, per_stream, n
        self.chunks_per_epoch = math.ceil(per_stream / seq_len)
        self.eval_every, self.evaluate = int(eval_every), evaluate
        self.settings = json.loads(json.dumps({**(settings or {}), "seq_len": self.seq_len, "batch_size": B,
                                               "n_train": len(ids), "seed": seed}))
        self.epoch, self.chunk, self.state = 0, 0, None
        self._window = [0.0, 0]
        self.history: list[dict] = []
        self._arrays: tuple[Tensor, Tensor] | None = None
        self._arrays_epoch: int | None = None

    @property
    def epochs_done(self) -> float:
        """Passes over the text so far, the current one in part."""
        return self.epoch + self.chunk / self.chunks_per_epoch

    def position(self, loop):
        return f"step {loop.update + 1}"

    def _stream_arrays(self) -> tuple[Tensor, Tensor]:
        B, per, L = self.streams, self.per_stream, self.seq_len
        rng = np.random.default_rng([self.seed, self.epoch])
        offset = int(rng.integers(0, min(L, self._n - B * per) + 1))
        data = self.ids[offset : offset + B * per + 1]
        return (torch.as_tensor(data[:-1].reshape(B, per).T.copy()),
                torch.as_tensor(data[1:].reshape(B, per).T.copy()))

    def step(self, net, loop):
        if self._arrays_epoch != self.epoch:
            self._arrays, self._arrays_epoch = self._stream_arrays(), self.epoch
        X, Y = self._arrays
        k, L = self.chunk, self.seq_len
        logits, state = net(X[k * L : (k + 1) * L], self.state)
        state = tuple(s.detach() for s in state) if isinstance(state, (tuple, list)) else state.detach()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y[k * L : (k + 1) * L].reshape(-1))
        last = k + 1 >= self.chunks_per_epoch
        return Step(loss, size=int(logits.shape[0] * logits.shape[1]), data=state,
                    epoch_end=self.epoch + 1 if last else None)

    def on_step_end(self, loop, step):
        self.state = step.data
        self.chunk += 1
        self._window[0] += step.value
        self._window[1] += 1
        loop.show(epoch=self.epoch + 1, bpc=f"{step.value / math.log(2):.3f}")
        if self.eval_every and loop.update % self.eval_every == 0:
            self._record(loop)

    def on_epoch_end(self, loop, epoch):
        self.epoch, self.chunk, self.state = epoch, 0, None

    def on_end(self, loop):
        if self._window[1] and not (self.history and self.history[-1]["step"] == loop.update):
            self._record(loop)
            loop.request_checkpoint()

    def _record(self, loop: Loop) -> None:
        row = {"step": loop.update, "epoch": self.epochs_done,
               "loss_bpc": self._window[0] / self._window[1] / math.log(2), "seconds": loop.elapsed}
        if self.evaluate is not None:
            with loop.untimed():  # evaluation is not training time
                row["val_bpc"] = float(self.evaluate(loop.model))
            loop.model.train()
            loop.show(epoch=self.epoch + 1, bpc=f"{row['loss_bpc']:.3f}", val_bpc=f"{row['val_bpc']:.3f}")
        self.history.append(row)
        self._window = [0.0, 0]

    # ---- checkpoints --------------------------------------------------------------------------
    def check_resume(self, loop, meta):
        if meta.get("lm") != self.settings:
            _refuse(loop, "a different model, text, sequence length, batch or seed")

    def state_tensors(self, loop):
        return pack_state("state", self.state)[0]

    def state_meta(self, loop):
        return {"lm": self.settings, "epoch": self.epoch, "chunk": self.chunk, "window": self._window,
                "history": self.history, "state_kind": pack_state("state", self.state)[1]}

    def load_state(self, loop, tensors, meta):
        self.epoch, self.chunk, self._window, self.history = meta["epoch"], meta["chunk"], meta["window"], meta["history"]
        self.state = unpack_state("state", tensors, meta["state_kind"])
