"""The forecast plot: history, the held-out tail with the LSTM's and the baselines'
forecasts of it, and the forecast beyond the end with its interval band."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .figures import pyplot, save_figure

__all__ = ["plot_forecast"]


def _x(series, start: int, stop: int, future: dict | None = None):
    if future is not None:
        if series.index is not None and series.freq:
            import pandas as pd

            return pd.DatetimeIndex(pd.to_datetime(future["time"]))
        return np.arange(len(series), len(series) + len(future["point"]))
    if series.index is not None and series.freq:
        return series.index[start:stop]
    return np.arange(start, stop)  # no regular time index: steps, as the forecast CSV numbers them


def plot_forecast(series, report: dict, path: str | os.PathLike, show: int | None = None) -> Path:
    """Write a PNG: the last ``show`` points of the history (default: 4 seasons or 6
    horizons, whichever is longer), the held-out test tail (when ``report`` has one) with
    each model's forecast of it and the LSTM's interval, and the future forecast with its
    band.

    Args:
        series: the :class:`~lstmkit.data.series.TimeSeries` forecast.
        report: a dict with ``future`` (time, point, lower, upper) and optionally ``test``
            and ``preprocessing`` as :func:`lstmkit.apps.forecast.train_forecaster` returns.
        path: the PNG to write (atomically).

    Example:
        >>> import numpy as np, tempfile, os
        >>> from lstmkit.data.series import TimeSeries
        >>> s = TimeSeries(values=np.arange(10.0), name="y", source="demo")
        >>> r = {"future": {"time": ["10", "11"], "point": [10, 11], "lower": [9, 9], "upper": [11, 13]}}
        >>> plot_forecast(s, r, os.path.join(tempfile.mkdtemp(), "f.png")).exists()
        True
    """
    plt = pyplot()
    n = len(series)
    prep = report.get("preprocessing", {})
    H, season = prep.get("horizon", len(report["future"]["point"])), max(prep.get("season", 1), 1)
    if show is None:
        show = max(4 * season, 6 * H)
    start = max(0, n - show)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(_x(series, start, n), series.values[start:], color="black", lw=1.3, zorder=5,
            label=f"{series.name} (observed)")
    test = report.get("test")
    if test:
        t0 = n - len(test["actual"])
        xt = _x(series, t0, n)
        ax.axvspan(xt[0], xt[-1], color="0.93", zorder=0, label="held-out tail")
        ax.fill_between(xt, test["lower"], test["upper"], color="tab:blue", alpha=0.18, lw=0)
        styles = {"seasonal naive": ("tab:gray", ":"), "ETS": ("tab:green", "--"), "ETS (log)": ("tab:olive", "--"),
                  "ARIMA": ("tab:orange", "-."), "ARIMA (log)": ("tab:red", "-."), "Theta": ("tab:brown", ":"),
                  "combination": ("tab:pink", "--"), "hybrid": ("tab:cyan", "-")}
        for name, f in test["forecasts"].items():
            m = test["metrics"].get(name, {})
            lab = f"{name} (MASE {m['mase']:.2f})" if "mase" in m else name
            if name == "LSTM":
                ax.plot(xt, f, color="tab:blue", lw=1.8, label=lab)
            else:
                c, ls = styles.get(name, ("tab:purple", "--"))
                ax.plot(xt, f, color=c, ls=ls, lw=1.1, label=lab)
    fut = report["future"]
    xf = _x(series, 0, 0, future=fut)
    ax.fill_between(xf, fut["lower"], fut["upper"], color="tab:purple", alpha=0.2, lw=0,
                    label="forecast interval (10%-90%)")
    saved = (report.get("output") or {}).get("name", "LSTM")
    ax.plot(xf, fut["point"], color="tab:purple", lw=1.8, label=f"{saved} forecast")
    ax.set_title(f"{series.name}: {series.source}")
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return save_figure(fig, path)
