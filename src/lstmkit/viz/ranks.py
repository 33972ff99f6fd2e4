"""The mean-rank plot of a benchmark: each method's average rank over the data sets on one
axis (1 = best), the way the field shows classifier comparisons (Demsar 2006), as PNG."""

from __future__ import annotations

import os
from pathlib import Path

from .figures import pyplot, save_figure

__all__ = ["plot_mean_ranks"]


def plot_mean_ranks(mean_ranks: dict, path: str | os.PathLike, title: str = "", n_sets: int | None = None) -> Path:
    """Write a PNG with each method's mean rank marked on a rank axis (1 = best).

    Args:
        mean_ranks: method name -> mean rank over the data sets (1..number of methods).
        path: the PNG file to write (atomically).
        title: the plot's title. n_sets: the number of data sets (shown in the label).

    Example:
        >>> import tempfile, os
        >>> p = plot_mean_ranks({"lstm": 1.5, "1nn-dtw": 2.5}, os.path.join(tempfile.mkdtemp(), "r.png"))
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    if not isinstance(mean_ranks, dict) or not mean_ranks:
        raise ValueError("mean_ranks must be a non-empty dict of method -> mean rank")
    plt = pyplot()
    k = len(mean_ranks)
    items = sorted(mean_ranks.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * k))
    ax.set_xlim(k + 0.2, 0.8)  # best (rank 1) on the right, as in critical-difference plots
    ax.set_ylim(-0.5, k - 0.5)
    ax.set_yticks([])
    for j, (name, r) in enumerate(items):
        y = k - 1 - j
        ax.plot([r, r], [y, k - 0.5], color="0.7", lw=0.8)
        ax.plot([r], [y], "o", color="C0" if j else "C3")
        ax.text(r, y - 0.3, f"{name}  {r:.2f}", ha="center", va="top", fontsize=9)
    ax.set_xlabel("mean rank (1 = best)" + (f", over {n_sets} data sets" if n_sets else ""))
    ax.set_xticks(range(1, k + 1))
    if title:
        ax.set_title(title, fontsize=10)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return save_figure(fig, path)
