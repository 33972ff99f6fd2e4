"""Learning curves, gradient-flow curves and box plots, written as PNG files."""

from __future__ import annotations

import os
from pathlib import Path

from .figures import pyplot, save_figure

__all__ = ["plot_learning_curve", "plot_gradient_flow", "plot_boxes"]


def plot_learning_curve(results, path: str | os.PathLike, title: str | None = None) -> Path:
    """Training loss (log scale) and the checks' fraction right against sequences seen.

    Args:
        results: one trainer result dict or a list of them (one line each, e.g. seeds).
        path: the PNG to write (atomically).
        title: figure title (default: the task's name).

    Example:
        >>> import tempfile, os
        >>> r = {"task": {"name": "demo"}, "units": "sequences", "meta": {"label": "x"},
        ...      "history": [{"sequences": 10, "loss": 1.0}, {"sequences": 20, "loss": 0.5}],
        ...      "checks": [{"sequences": 20, "right": 0.5}]}
        >>> plot_learning_curve(r, os.path.join(tempfile.mkdtemp(), "c.png")).exists()
        True
    """
    plt = pyplot()
    if isinstance(results, dict):
        results = [results]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax2 = ax.twinx()
    for i, r in enumerate(results):
        color = f"C{i % 10}"
        label = r.get("meta", {}).get("label") or f"seed {r.get('seed', i)}"
        h = r.get("history", [])
        if h:
            ax.plot([p["sequences"] for p in h], [max(p["loss"], 1e-8) for p in h], color=color, lw=1, label=label)
        c = r.get("checks", [])
        if c:
            ax2.plot([p["sequences"] for p in c], [p["right"] for p in c], color=color, ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(f"training {results[0].get('units', 'sequences')} seen")
    ax.set_ylabel("training loss (solid)")
    ax2.set_ylabel("fraction right in checks (dashed)")
    ax2.set_ylim(-0.02, 1.02)
    ax.set_title(title or results[0].get("task", {}).get("name", ""))
    if len(results) <= 12 and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


def plot_gradient_flow(curves: dict, path: str | os.PathLike, title: str = "") -> Path:
    """Gradient norm against lag, one line per model, log scale.

    Args:
        curves: label -> (lags, norms) sequences.
        path: the PNG.

    Example:
        >>> import tempfile, os
        >>> plot_gradient_flow({"a": ([0, 1], [1.0, 0.1])}, os.path.join(tempfile.mkdtemp(), "g.png")).exists()
        True
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (lags, norms) in curves.items():
        ax.plot(lags, [max(float(n), 1e-30) for n in norms], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("lag t' - t (steps back from the loss)")
    ax.set_ylabel("|| dLoss / dx_t ||")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def plot_boxes(groups: dict, path: str | os.PathLike, ylabel: str, title: str = "", log: bool = False) -> Path:
    """A box plot, one box per group (label -> list of values).

    Example:
        >>> import tempfile, os
        >>> plot_boxes({"a": [1, 2, 3], "b": [2, 3]}, os.path.join(tempfile.mkdtemp(), "b.png"), "loss").exists()
        True
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(groups) + 2), 4))
    labels = list(groups)
    ax.boxplot([groups[k] for k in labels])
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    return save_figure(fig, path)
