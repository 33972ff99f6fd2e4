"""Epoch training on a fixed data set of variable-length sequences (speech, handwriting,
sensor recordings): padding, shuffled minibatches, Adam, clipping, per-epoch checkpoints
that a killed run resumes from, a progress bar, and the best epoch on validation kept.

The classic experiments draw fresh sequences from a generator and use
:class:`lstmkit.train.Trainer`; applications with a fixed training set use this. Both run
through the one loop (:class:`lstmkit.train.loop.Loop`); this is its
:class:`~lstmkit.train.feeds.EpochFeed` with Adam at a constant rate.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .denormals import flush_denormals
from .feeds import EpochFeed
from .loop import Loop, Progress

__all__ = ["pad_sequences", "fit_supervised"]


def pad_sequences(seqs: Sequence[np.ndarray | Tensor], dtype=torch.float32) -> tuple[Tensor, Tensor]:
    """Stack variable-length (n_i, I) sequences into a zero-padded time-major batch.

    Returns:
        ``(x, lengths)``: x (T_max, B, I), lengths (B,) int64.

    Example:
        >>> import numpy as np
        >>> x, n = pad_sequences([np.ones((3, 2)), np.ones((1, 2))])
        >>> x.shape, n.tolist(), float(x[2, 1].sum())
        (torch.Size([3, 2, 2]), [3, 1], 0.0)
    """
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    arrs = [torch.as_tensor(np.asarray(s), dtype=dtype) for s in seqs]
    for k, a in enumerate(arrs):
        if a.dim() != 2 or a.shape[0] == 0:
            raise ValueError(f"sequence {k} must be a non-empty (n, features) array, got shape {tuple(a.shape)}")
        if a.shape[1] != arrs[0].shape[1]:
            raise ValueError(f"sequence {k} has {a.shape[1]} features, sequence 0 has {arrs[0].shape[1]}")
    lengths = torch.tensor([a.shape[0] for a in arrs], dtype=torch.long)
    x = torch.zeros(int(lengths.max()), len(arrs), arrs[0].shape[1], dtype=dtype)
    for b, a in enumerate(arrs):
        x[: a.shape[0], b] = a
    return x, lengths


@flush_denormals()  # long CPU runs otherwise slow down as values go denormal
def fit_supervised(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, list[int]], Tensor],
    n_train: int,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    clip: float | None = 1.0,
    seed: int = 0,
    evaluate: Callable[[nn.Module], float] | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    desc: str = "training",
) -> dict:
    """Train ``model`` for ``epochs`` passes over ``n_train`` examples.

    Args:
        model: the network; left holding the best weights (by ``evaluate``, higher is
            better; of equal scores the later epoch) or the last ones when there is no
            ``evaluate``.
        loss_fn: ``loss_fn(model, indices) -> scalar loss`` for a minibatch of example
            indices (it builds the batch: padding, targets).
        n_train: the number of training examples.
        epochs: passes over the data. batch_size: examples per update. lr: Adam's rate.
        clip: gradient-norm clipping threshold (None: none).
        seed: seeds the shuffling and torch's RNG (dropout).
        evaluate: ``evaluate(model) -> score`` after each epoch (model in eval mode).
        run_dir: where per-epoch checkpoints go (safetensors + JSON); with ``resume``,
            training continues from the last finished epoch there.
        progress: show a tqdm bar.

    Returns:
        a dict with ``history`` (per epoch: loss, score, seconds), ``best_epoch``,
        ``best_score``, ``seconds``, ``seed``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> torch.manual_seed(0) and None
        >>> m = nn.Linear(2, 1)
        >>> X, Y = torch.randn(64, 2), torch.randn(64, 1)
        >>> r = fit_supervised(m, lambda m, idx: ((m(X[idx]) - Y[idx]) ** 2).mean(), 64,
        ...                    epochs=3, progress=False)
        >>> len(r["history"])
        3
    """
    feed = EpochFeed(loss_fn, n_train, epochs=epochs, batch_size=batch_size, seed=seed, evaluate=evaluate)
    started = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    bar = Progress(desc, "batch", epochs * feed.batches_per_epoch) if progress else None
    Loop(model, opt, feed, seed=seed, clip_norm=clip, run_dir=run_dir, progress=bar,
         nonfinite="lower lr or clip").run(resume=resume)
    if feed.best_state is not None:
        model.load_state_dict(feed.best_state)
    model.eval()
    return {"history": feed.history, "best_epoch": feed.best_epoch,
            "best_score": feed.best_score if feed.best_epoch > 0 else None,
            "seconds": time.perf_counter() - started, "seed": seed}
