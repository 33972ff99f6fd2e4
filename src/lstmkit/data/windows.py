"""Forecasting windows: a transformed series cut into (input window, target) pairs for a
:class:`~lstmkit.models.Forecaster`, and the model's outputs turned back into values on the
series' own scale (:class:`Windows`). The state of the transformation (the ``prep`` dict:
transform, season, window, horizon, scales) is JSON and is stored in a forecaster's model
directory, so that a forecast later is cut the same way.

Example:
    >>> import numpy as np
    >>> from lstmkit.data.series import TimeSeries
    >>> prep = {"transform": "none", "season": 1, "window": 4, "horizon": 2, "calendar": False,
    ...         "reference": "level", "scale": 1.0}
    >>> w = Windows(prep, TimeSeries(values=np.arange(10.0), name="y", source="ramp"))
    >>> z = w.z(w.series.values)
    >>> x, levels = w.inputs(z, [4, 6])
    >>> tuple(x.shape), levels.tolist(), w.targets(z, [4], levels[:1]).tolist()
    ((4, 2, 1), [3.0, 5.0], [[1.0, 2.0]])
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .series import TimeSeries, _to_offset, freq_unit

__all__ = ["Windows"]


def _phase(series: TimeSeries, positions: np.ndarray, season: int) -> np.ndarray:
    """The season's phase in [0, 1) at each position, the same for a timestamp wherever
    the series starts: the fraction of the year for weekly/monthly/quarterly/yearly
    timestamps (so 52.18 weeks a year do not drift), the count of steps since 1970 modulo
    the season for other regular timestamps (days, hours, business days), else the
    position (counted from the first row of the training series) modulo the season."""
    s = max(season, 1)
    if series.index is not None and series.freq and s > 1:
        import pandas as pd

        idx = series.index
        if len(idx) and positions.max(initial=0) >= len(idx):
            idx = pd.date_range(idx[0], periods=int(positions.max()) + 1, freq=series.freq)
        ts = idx[positions]
        unit = (freq_unit(series.freq) or ("", 1))[0]
        if unit in ("year", "quarter", "month", "week"):
            return np.asarray((ts.dayofyear - 1) / 365.25 % 1.0)
        if unit == "bday":
            steps = np.busday_count(np.datetime64("1970-01-01"), ts.values.astype("datetime64[D]"))
        else:
            t0 = pd.Timestamp("2000-01-01")
            step = (t0 + _to_offset(series.freq) - t0).value
            steps = ts.as_unit("ns").asi8 // step
        return (np.asarray(steps) % s) / s
    return ((positions + series.offset) % s) / s


class Windows:
    """Turns a transformed series ``z`` into (input window, target) pairs and back.

    Per input step: ``(z_t - level) / scale`` where the level is the mean of the window's
    last season (the shape of the season, whatever the level); with ``reference
    "seasonal"`` also the standardised seasonal difference ``(z_t - z_{t-s} - mean) / sd``
    (the year-on-year growth); with ``calendar`` sin and cos of the season's phase.

    Targets: with ``"seasonal"``, the standardised seasonal differences of the next
    ``horizon`` steps: the forecast is the same phase of the last season plus the
    predicted growth (beyond one season the forecast's own earlier values are the base);
    with ``"level"`` (no season), ``(z_{t+h} - level) / scale``.
    """

    def __init__(self, prep: dict, series: TimeSeries):
        self.p, self.series = prep, series
        self.seasonal = prep["reference"] == "seasonal"
        self.s = max(prep["season"], 1)
        self.diff_inputs = bool(self.seasonal and prep.get("diff_inputs", True))

    @property
    def n_features(self) -> int:
        return 1 + self.diff_inputs + 2 * bool(self.p["calendar"] and self.p["season"] > 1)

    @property
    def history(self) -> int:
        """Points needed before an origin."""
        return self.p["window"] + (self.s if self.diff_inputs else 0)

    def z(self, values) -> np.ndarray:
        v = np.asarray(values, float)
        return np.log(v) if self.p["transform"] == "log" else v

    def unz(self, z) -> np.ndarray:
        return np.exp(z) if self.p["transform"] == "log" else z

    def level(self, z: np.ndarray, origin: int) -> float:
        k = min(self.s, self.p["window"])
        return float(z[origin - k : origin].mean())

    def fit_scales(self, z: np.ndarray, origins) -> None:
        """Scale (and seasonal-difference mean/sd) from the training windows only."""
        W = self.p["window"]
        with np.errstate(over="ignore", invalid="ignore"):
            dev = np.concatenate([z[o - W : o] - self.level(z, o) for o in origins])
            self.p["scale"] = _check_scale(float(np.std(dev)), "scale", self.series)
            if self.diff_inputs:
                last = int(max(origins)) + self.p["horizon"]
                d = z[self.s : last] - z[: last - self.s]
                self.p["diff_mean"] = float(d.mean())
                self.p["diff_sd"] = _check_scale(float(d.std()), "seasonal-difference scale", self.series)
                if not math.isfinite(self.p["diff_mean"]):
                    _check_scale(math.inf, "seasonal-difference mean", self.series)

    def inputs(self, z: np.ndarray, origins) -> tuple[torch.Tensor, np.ndarray]:
        """(window, B, features) inputs for forecasts starting at each origin, and the levels."""
        W, sc, s = self.p["window"], self.p["scale"], self.s
        origins = np.asarray(origins)
        lv = np.array([self.level(z, o) for o in origins])
        feats = [np.stack([(z[o - W : o] - l) / sc for o, l in zip(origins, lv)], 1)]  # (W, B)
        if self.diff_inputs:
            feats.append(np.stack([(z[o - W : o] - z[o - W - s : o - s] - self.p["diff_mean"]) / self.p["diff_sd"]
                                   for o in origins], 1))
        if self.p["calendar"] and self.p["season"] > 1:
            pos = origins[None, :] - W + np.arange(W)[:, None]
            ph = _phase(self.series, pos.ravel(), self.p["season"]).reshape(pos.shape) * 2 * np.pi
            feats += [np.sin(ph), np.cos(ph)]
        return torch.tensor(np.stack(feats, -1), dtype=torch.float32), lv

    def targets(self, z: np.ndarray, origins, levels) -> torch.Tensor:
        H, s = self.p["horizon"], self.s
        if self.seasonal:
            t = [(z[o : o + H] - z[o - s : o + H - s]) / self.p["scale"] for o in origins]
        else:
            t = [(z[o : o + H] - l) / self.p["scale"] for o, l in zip(origins, levels)]
        return torch.tensor(np.stack(t), dtype=torch.float32)

    def decode(self, q: torch.Tensor, z: np.ndarray, origins, levels) -> np.ndarray:
        """(B, H, Q) model output -> quantiles on the original scale."""
        q = q.detach().numpy().astype(float)
        if not self.seasonal:
            return self.unz(q * self.p["scale"] + np.asarray(levels)[:, None, None])
        H, s = self.p["horizon"], self.s
        out = np.empty_like(q)
        growth = q * self.p["scale"]
        for b, o in enumerate(origins):
            for h in range(H):
                # beyond one season the base is this forecast's own value (each quantile
                # on its own: an approximation for the outer ones)
                base = z[o + h - s] if h < s else out[b, h - s]
                out[b, h] = base + growth[b, h]
        return self.unz(out)


def _check_scale(v: float, what: str, series: TimeSeries) -> float:
    """A scale fitted on the training windows, checked: finite (values near 1e308 overflow
    float64) and not zero (windows without any variation)."""
    if not math.isfinite(v):
        raise ValueError(f"{series.source}: column {series.name!r}: the {what} of the training windows overflows "
                         f"float64 (values too large, up to {np.nanmax(np.abs(series.values)):.3g}); rescale the "
                         f"series (e.g. divide by a power of ten)")
    if v <= 0:
        raise ValueError(f"{series.source}: column {series.name!r}: the {what} of the training windows is 0 "
                         f"(no variation within any input window); nothing to learn from")
    return v
