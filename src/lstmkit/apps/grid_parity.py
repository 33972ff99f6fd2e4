"""k-bit parity with a tied 1-LSTM grid network beside a stacked LSTM (Kalchbrenner,
Danihelka & Graves 2016, Sec. 4.1 and appendix: the k bits given at once through one
projection; the paper reports a 1-LSTM learning parity of up to 250 bits).

``lstmkit study parity`` runs it and prints the table: for each k, the accuracy each
network reaches on fresh strings after a fixed number of Adam updates.
"""

from __future__ import annotations

import time

__all__ = ["grid_parity", "format_parity", "PAPER_CLAIM"]

PAPER_CLAIM = "Kalchbrenner et al. 2016: a tied 1-LSTM network learns k-bit parity up to k = 250 (unverified settings)"


def grid_parity(ks=(4, 6, 8, 10, 12), hidden_size: int = 64, updates: int = 3000, batch_size: int = 128,
                lr: float = 3e-3, seed: int = 0, models=("grid", "stacked"), log=None) -> dict:
    """Train each model on random k-bit strings (bits as ±1, target the parity) for
    ``updates`` Adam steps; depth N = k for both; score 4,000 fresh strings.

    Args:
        ks: string lengths. hidden_size: H of both nets. updates, batch_size, lr: Adam's run.
        seed: seeds the initialisation and the strings. models: ``"grid"`` (tied 1-LSTM),
            ``"stacked"`` (a stacked LSTM of N layers over one step).
        log: called with one line per finished run, or None.

    Returns:
        ``{"rows": [{"k", "model", "accuracy", "curve", "seconds"}], "config": {...}}``;
        ``curve`` is the minibatch accuracy every 500 updates.

    Example:
        >>> r = grid_parity(ks=(2,), hidden_size=8, updates=20)
        >>> [(row["k"], row["model"]) for row in r["rows"]]
        [(2, 'grid'), (2, 'stacked')]
    """
    import torch
    import torch.nn.functional as F

    from ..models.grid_lstm import GridLSTM1D, StackedLSTMClassifier

    ks, models = tuple(ks), tuple(models)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive ints, got {ks!r}")
    bad = [m for m in models if m not in ("grid", "stacked")]
    if bad or not models:
        raise ValueError(f"models must be some of grid, stacked, got {models!r}")
    rows = []
    for k in ks:
        for name in models:
            torch.manual_seed(seed)
            net = GridLSTM1D(k, hidden_size, k) if name == "grid" else StackedLSTMClassifier(k, hidden_size, k)
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            g = torch.Generator().manual_seed(seed + 1)
            curve, t0 = [], time.perf_counter()
            for u in range(updates):
                bits = torch.randint(0, 2, (batch_size, k), generator=g).float()
                y = (bits.sum(1) % 2).long()
                out = net(2 * bits - 1)
                loss = F.cross_entropy(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if u % 500 == 499:
                    curve.append(float((out.argmax(1) == y).float().mean()))
            bits = torch.randint(0, 2, (4000, k), generator=torch.Generator().manual_seed(seed + 2)).float()
            with torch.no_grad():
                acc = float((net(2 * bits - 1).argmax(1) == (bits.sum(1) % 2).long()).float().mean())
            rows.append({"k": k, "model": name, "accuracy": acc, "curve": curve, "seconds": time.perf_counter() - t0})
            if log is not None:
                log(f"k {k:3} {name:8} accuracy {acc:.2%}")
    return {"rows": rows, "paper": PAPER_CLAIM,
            "config": {"ks": list(ks), "hidden_size": hidden_size, "updates": updates, "batch_size": batch_size,
                       "lr": lr, "seed": seed, "depth": "k", "optimizer": "Adam"}}


def format_parity(r: dict) -> str:
    """The table: per k, each model's accuracy on fresh strings.

    Example:
        >>> print(format_parity({"rows": [{"k": 4, "model": "grid", "accuracy": 1.0, "seconds": 2.0}]}))
            k  grid (1-LSTM, tied)  stacked LSTM
            4              100.00%             -
    """
    lines = [f"{'k':>5}  {'grid (1-LSTM, tied)':>19}  {'stacked LSTM':>12}"]
    for k in dict.fromkeys(row["k"] for row in r["rows"]):
        cell = {row["model"]: f"{row['accuracy']:.2%}" for row in r["rows"] if row["k"] == k}
        lines.append(f"{k:>5}  {cell.get('grid', '-'):>19}  {cell.get('stacked', '-'):>12}")
    return "\n".join(lines)
