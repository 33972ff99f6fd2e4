"""``lstmkit demo``: a short, real end-to-end run.

Trains a peephole LSTM (Greff's "vanilla") on the adding problem of Hochreiter &
Schmidhuber 1997 and prints how well it did against the trivial baseline.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ..layers import LSTM
from ..tasks.adding import CRITERION, adding_batch
from .options import apply_threads, positive_int, runtime_parent


class _Regressor(nn.Module):
    def __init__(self, variant: str, hidden: int):
        super().__init__()
        self.lstm = LSTM(2, hidden, variant=variant)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, lengths):
        _, (h, _) = self.lstm(x, lengths=lengths)
        return self.head(h[-1]).squeeze(-1)


def run_demo(T: int = 30, steps: int = 1500, batch: int = 32, hidden: int = 32,
             variant: str = "vanilla", seed: int = 0, progress: bool = True) -> dict:
    """Train on the adding problem and evaluate on 1,000 fresh sequences.

    Returns a dict with the test MSE, the fraction of sequences right (|error| < 0.04),
    the same for the baseline that always answers the mean target, and the wall time.
    """
    for name, v in (("T", T), ("steps", steps), ("batch", batch), ("hidden", hidden)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = _Regressor(variant, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(steps, f"adding T={T} ({variant})", "batch")
    for step in range(steps):
        x, lengths, y = adding_batch(batch, T, rng)
        loss = ((model(x, lengths) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update()
            if step % 20 == 0:
                bar.set_postfix(mse=f"{loss.item():.4f}")
        elif progress and step % 200 == 0:
            print(f"  step {step:5d}  mse {loss.item():.4f}", flush=True)
    if bar is not None:
        bar.close()
    model.eval()
    with torch.no_grad():
        x, lengths, y = adding_batch(1000, T, np.random.default_rng(seed + 10_000))
        pred = model(x, lengths)
    err = (pred - y).abs()
    base = (y - 0.5).abs()  # the mean target is 0.5: the best answer that ignores the input
    return {
        "T": T,
        "variant": variant,
        "test_mse": float((err**2).mean()),
        "test_right": float((err < CRITERION).float().mean()),
        "baseline_mse": float((base**2).mean()),
        "baseline_right": float((base < CRITERION).float().mean()),
        "seconds": time.perf_counter() - start,
        "seed": seed,
    }


def _cmd(args) -> int:
    apply_threads(args)
    r = run_demo(T=args.T, steps=args.steps, variant=args.variant, seed=args.seed, progress=not args.no_progress)
    print(f"\nAdding problem (Hochreiter & Schmidhuber 1997, Exp. 4), T={r['T']}, "
          f"{r['variant']} LSTM, seed {r['seed']}, {r['seconds']:.0f} s")
    print(f"  {'':22s}{'test MSE':>10s}{'right (|err|<0.04)':>22s}")
    print(f"  {'LSTM':22s}{r['test_mse']:10.5f}{r['test_right']:21.1%}")
    print(f"  {'baseline (always 0.5)':22s}{r['baseline_mse']:10.5f}{r['baseline_right']:21.1%}")
    return 0


def register(sub) -> None:
    from .handwriting import lstm_preset

    p = sub.add_parser("demo", help="train a peephole LSTM on the adding problem (a 1-minute end-to-end run)",
                       parents=[runtime_parent()])
    p.add_argument("-T", type=positive_int, default=30, help="minimal sequence length (default 30)")
    p.add_argument("--steps", type=positive_int, default=1500, help="training batches of 32 (default 1500)")
    p.add_argument("--variant", type=lstm_preset, default="vanilla", help="LSTM variant preset (default vanilla)")
    p.set_defaults(func=_cmd)
