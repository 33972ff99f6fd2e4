"""Epoch training on a fixed data set of variable-length sequences (speech, handwriting,
sensor recordings): padding, shuffled minibatches, Adam, clipping, per-epoch checkpoints
that a killed run resumes from, a progress bar, and the best epoch on validation kept.

The classic experiments draw fresh sequences from a generator and use
:class:`lstmkit.train.Trainer`; applications with a fixed training set use this.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import CHECKPOINT_JSON, load_checkpoint, optimizer_from_flat, optimizer_to_flat, save_checkpoint
from .denormals import flush_denormals

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
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    best_score, best_epoch, best_state = -math.inf, -1, None
    start_epoch = 0
    run_dir = Path(run_dir) if run_dir is not None else None
    if resume and run_dir is not None and (run_dir / CHECKPOINT_JSON).exists():
        tensors, meta = load_checkpoint(run_dir)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
        optimizer_from_flat(opt, tensors, meta["optimizer"])
        torch.set_rng_state(tensors["rng/torch"])
        history, start_epoch = meta["history"], meta["epoch"]
        best_score, best_epoch = meta["best_score"], meta["best_epoch"]
        if any(k.startswith("best/") for k in tensors):
            best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(epochs * math.ceil(n_train / batch_size), desc, "batch",
                           initial=start_epoch * math.ceil(n_train / batch_size))
    started = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(n_train)
        total, count, t0 = 0.0, 0, time.perf_counter()
        for k in range(0, n_train, batch_size):
            idx = order[k : k + batch_size].tolist()
            loss = loss_fn(model, idx)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; lower lr or clip")
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
            if bar is not None:
                bar.update()
                bar.set_postfix(epoch=epoch + 1, loss=f"{total / count:.4f}")
        row = {"epoch": epoch + 1, "loss": total / count, "seconds": time.perf_counter() - t0}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                row["score"] = float(evaluate(model))
            if row["score"] >= best_score:  # ties go to the later, longer-trained epoch
                best_score, best_epoch = row["score"], epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, loss=f"{row['loss']:.4f}", score=f"{row['score']:.4f}")
        history.append(row)
        if run_dir is not None:
            tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
            opt_t, opt_meta = optimizer_to_flat(opt)
            tensors.update(opt_t)
            tensors["rng/torch"] = torch.get_rng_state()
            if best_state is not None:
                tensors.update({f"best/{k}": v for k, v in best_state.items()})
            save_checkpoint(run_dir, epoch + 1, tensors, {"epoch": epoch + 1, "history": history,
                                                         "optimizer": opt_meta, "best_score": best_score,
                                                         "best_epoch": best_epoch, "seed": seed})
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"history": history, "best_epoch": best_epoch, "best_score": best_score if best_epoch > 0 else None,
            "seconds": time.perf_counter() - started, "seed": seed}
