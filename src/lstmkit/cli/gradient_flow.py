"""``lstmkit gradient-flow``: the vanishing-gradient picture.

For an Elman RNN, a standard LSTM (forget gate) and the 1997 LSTM cell (no forget gate),
all with the same hidden size, on the same adding-problem batch: the norm of
dLoss/dx_t, where the loss is read at the last step only, against the lag between t
and the last step. Averaged over seeds (initial weights); optionally after a short
training. Writes a PNG and prints a table.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.sequence import SequenceModel
from ..tasks.adding import adding_batch
from .options import apply_threads, nonneg_int, positive_int, threads_parent

MODELS = (("Elman RNN", "elman", None), ("standard LSTM", "lstm", "standard"), ("1997 LSTM", "lstm", "hochreiter1997"))


def gradient_norms(cell: str, variant: str | None, T: int = 100, hidden: int = 16, batch: int = 32,
                   seed: int = 0, train_steps: int = 0) -> np.ndarray:
    """(T,) mean over the batch of ||dLoss/dx_t||, t = 0..T-1, for one freshly seeded model.

    The loss is the squared error of the adding-problem target at the last step (all
    sequences of length exactly T), computed in float64. ``train_steps`` Adam steps on the adding problem first.

    Example:
        >>> g = gradient_norms("elman", None, T=30, hidden=4, batch=2)
        >>> g.shape, bool(g[-1] > 0)
        ((30,), True)
    """
    torch.manual_seed(seed)
    model = SequenceModel(2, hidden, 1, cell=cell, variant=variant or "vanilla", readout="last")
    rng = np.random.default_rng(seed)
    if train_steps:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(train_steps):
            x, lengths, y = adding_batch(batch, T, rng)
            out, _ = model(x, lengths)
            loss = ((torch.sigmoid(out.squeeze(-1)) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    # Float64, so that the vanishing curves are not cut off by float32 underflow (~1e-38).
    model = model.double()
    x, _, y = adding_batch(batch, T, rng, dtype=torch.float64)
    x = x[:T].clone().requires_grad_(True)
    out, _ = model(x)
    loss = ((torch.sigmoid(out.squeeze(-1)) - y) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=-1).mean(dim=1).numpy()


def _cmd(args) -> int:
    from ..io import claim_dir, register_files, write_json

    apply_threads(args)
    out, _ = claim_dir(args.out, "run", "--out directory")  # a foreign non-empty one is refused now
    T = args.T
    curves = {}
    table = {}
    for label, cell, variant in MODELS:
        g = np.mean([gradient_norms(cell, variant, T, args.hidden_size, 32, s, args.train_steps) for s in range(args.seeds)],
                    axis=0)
        lags = np.arange(T)
        norms = g[::-1]  # lag 0 = the last step
        curves[label] = (lags.tolist(), norms.tolist())
        table[label] = norms
    marks = [m for m in (0, 1, 5, 10, 25, 50, 75, 99, 199, 499, 999) if m < T]
    print(f"|| dLoss/dx_t || against lag (adding problem inputs, T={T}, hidden {args.hidden_size}, "
          f"mean of {args.seeds} seeds, {'after ' + str(args.train_steps) + ' Adam steps' if args.train_steps else 'at initialisation'})")
    print()
    print("| lag | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for m in marks:
        print(f"| {m} | " + " | ".join(f"{table[k][m]:.2e}" for k in table) + " |")
    print("| ratio lag " + str(marks[-1]) + " / lag 0 | " + " | ".join(f"{table[k][marks[-1]] / table[k][0]:.1e}" for k in table) + " |")
    write_json(out / "gradient_flow.json",
               {"T": T, "hidden": args.hidden_size, "seeds": args.seeds, "train_steps": args.train_steps,
                "curves": {k: v[1] for k, v in curves.items()}})
    register_files(out, ["gradient_flow.json"])
    try:
        from ..viz.curves import plot_gradient_flow

        plot_gradient_flow(curves, out / "gradient_flow.png", title=f"gradient flow, T={T}, hidden {args.hidden_size}")
        register_files(out, ["gradient_flow.png"])
        print(f"\nwritten: {out}/gradient_flow.png and gradient_flow.json")
    except ImportError as e:
        print(f"\n(no plot: {e})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("gradient-flow", help="norm of dLoss/dx_t against lag: Elman RNN vs LSTM vs the 1997 cell",
                       parents=[threads_parent()])
    p.add_argument("-T", type=positive_int, default=200, help="sequence length (default 200)")
    p.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=16,
                   help="hidden units (default 16)")
    p.add_argument("--seeds", type=positive_int, default=5, help="seeds averaged (default 5)")
    p.add_argument("--train-steps", type=nonneg_int, default=0,
                   help="Adam steps on the adding problem first (default 0)")
    p.add_argument("--out", default="runs/gradient_flow", help="output directory (default runs/gradient_flow)")
    p.set_defaults(func=_cmd)
