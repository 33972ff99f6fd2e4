"""The benchmark's rank plot: each model's mean rank (1 = best on every series) per group of
series (all, M1 yearly, the others), lstmkit's entry highlighted."""

from __future__ import annotations

from .figures import figure_png, pyplot

__all__ = ["plot_ranks"]


def plot_ranks(summary: dict) -> bytes:
    """A PNG (bytes) of the mean ranks in ``summary`` (as
    :func:`lstmkit.apps.benchmark_forecast.summarize` returns): one row of dots per model,
    one colour per group of series.

    Args:
        summary: group name -> ``{"models": name -> {"mean_rank": ...}, "series": n}``.

    Example:
        >>> s = {"all": {"series": 2, "models": {"lstmkit": {"mean_rank": 1.5}, "ETS": {"mean_rank": 2.5}}}}
        >>> plot_ranks(s)[:4] == b"\\x89PNG"
        True
    """
    if not isinstance(summary, dict) or not summary:
        raise ValueError("summary must be a non-empty dict of groups")
    plt = pyplot()
    models = list(dict.fromkeys(k for g in summary.values() for k, v in g["models"].items() if "mean_rank" in v))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(models) + 1.6))
    for j, (name, g) in enumerate(summary.items()):
        xs = [g["models"][k]["mean_rank"] if k in g["models"] else float("nan") for k in models]
        ys = [i + (j - (len(summary) - 1) / 2) * 0.18 for i in range(len(models))]
        ax.scatter(xs, ys, s=40, label=f"{name} ({g['series']} series)", zorder=3)
    ax.set_yticks(range(len(models)))
    ax.set_yticklabels(models)
    for t in ax.get_yticklabels():
        if t.get_text() == "lstmkit":
            t.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlabel("mean rank by MASE (1 = best)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("lstmkit benchmark forecast")
    fig.tight_layout()
    return figure_png(fig, tight=False)
