"""The forecasting benchmark's series: every univariate forecasting series that ships inside
the installed packages (aeon, statsmodels, pmdarima), read from the packages' files without
any download, each with the standard horizon of its frequency.

Horizons follow the M competitions (M3/M4): yearly 6, quarterly 8, monthly 18, weekly 13,
daily 14, hourly (and half-hourly) 48; a series without a frequency gets 8. A series too
short for that horizon (fewer than ``2.5 H`` points; M1's shortest has 15 = 2.5 x 6) gets ``len // 6``, and the entry says
so (``note``). Seasons: 1 yearly, 4 quarterly, 12 monthly, 52 weekly, 48 half-hourly.

Example:
    >>> items = benchmark_series(quick=True)
    >>> [(b.dataset, b.horizon, b.season) for b in items][:2]
    [('M1 yearly', 6, 1), ('M1 yearly', 6, 1)]
"""

from __future__ import annotations

import ast
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .packaged import package_dir
from .series import TimeSeries

__all__ = ["BenchmarkSeries", "benchmark_series", "dataset_names", "STANDARD_HORIZONS", "QUICK"]

#: frequency -> (horizon, season), as the M3/M4 competitions.
STANDARD_HORIZONS = {"yearly": (6, 1), "quarterly": (8, 4), "monthly": (18, 12), "weekly": (13, 52),
                     "daily": (14, 7), "half-hourly": (48, 48), "none": (8, 1)}

_PANDAS_FREQ = {"yearly": "YS", "quarterly": "QS", "monthly": "MS", "weekly": "W-SAT"}

#: The ``--quick`` subset: short series of three frequencies (CI runs it).
QUICK = ("M1 yearly/T1", "M1 yearly/T7", "pmdarima austres", "aeon ShampooSales")


@dataclass
class BenchmarkSeries:
    """One benchmark series.

    Attributes:
        key: a unique name (``"M1 yearly/T17"``, ``"statsmodels macrodata/realgdp"``).
        dataset: the data set it belongs to (one markdown table per data set).
        series: the values (a :class:`~lstmkit.data.series.TimeSeries`).
        frequency: ``yearly``, ``quarterly``, ``monthly``, ``weekly``, ``half-hourly`` or ``none``.
        horizon: steps forecast (the held-out test tail). season: the season's length.
        note: why the horizon differs from the standard one, if it does.
    """

    key: str
    dataset: str
    series: TimeSeries
    frequency: str
    horizon: int
    season: int
    note: str = ""


def _make(key: str, dataset: str, values, frequency: str, start=None, source: str = "") -> BenchmarkSeries:
    import pandas as pd

    v = np.asarray(values, float)
    missing = int(np.isnan(v).sum())
    if missing:  # filled by linear interpolation, as a user's CSV (and counted)
        v = pd.Series(v).interpolate(limit_direction="both").to_numpy(float)
    h, s = STANDARD_HORIZONS[frequency]
    note = ""
    if len(v) < 2.5 * h:
        h, note = max(1, len(v) // 6), f"{len(v)} points: horizon {len(v) // 6} instead of {h} (len // 6)"
    index, freq = None, None
    if start is not None and frequency in _PANDAS_FREQ:
        freq = _PANDAS_FREQ[frequency]
        index = pd.date_range(pd.Timestamp(start), periods=len(v), freq=freq)
    name = key.split("/")[-1] if "/" in key else key.split(" ")[-1]
    ts = TimeSeries(values=v, name=name, source=source or key, index=index, freq=freq, n_rows=len(v), n_missing=missing)
    return BenchmarkSeries(key, dataset, ts, frequency, h, s, note)


def _aeon(name: str) -> Path:
    return package_dir("aeon", "benchmark") / "datasets" / "data" / name


def _m1_yearly() -> list[BenchmarkSeries]:
    out = []
    path = _aeon("m1_yearly_dataset") / "m1_yearly_dataset.tsf"
    data = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not data:
            data = line.strip().lower() == "@data"
            continue
        if not line.strip():
            continue
        name, start, vals = line.split(":", 2)
        year = start[:4]
        start_ts = f"{year}-01-01" if year.isdigit() and int(year) > 1000 else "1900-01-01"
        out.append(_make(f"M1 yearly/{name}", "M1 yearly", [float(x) for x in vals.split(",")], "yearly",
                         start_ts, source=f"aeon m1_yearly_dataset {name}"))
    return out


def _csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def _aeon_small() -> list[BenchmarkSeries]:
    out = []
    air = _csv(_aeon("Airline") / "Airline.csv")
    out.append(_make("aeon Airline", "aeon Airline", air["Passengers"], "monthly", "1949-01-01"))
    lynx = _csv(_aeon("Lynx") / "Lynx.csv")
    out.append(_make("aeon Lynx", "aeon Lynx", lynx.iloc[:, 1], "yearly", f"{int(lynx.iloc[0, 0])}-01-01"))
    sh = _csv(_aeon("ShampooSales") / "ShampooSales.csv")
    out.append(_make("aeon ShampooSales", "aeon ShampooSales", sh["Sales"], "monthly", "1991-01-01"))
    pbs = _csv(_aeon("PBS_dataset") / "PBS_dataset.csv")
    out.append(_make("aeon PBS", "aeon PBS", pbs["Scripts"], "monthly", "1991-07-01"))
    us = _csv(_aeon("Uschange") / "Uschange.csv")
    for col in ("Consumption", "Income", "Production", "Savings", "Unemployment"):
        out.append(_make(f"aeon Uschange/{col}", "aeon Uschange", us[col], "quarterly", "1970-01-01"))
    return out


def _statsmodels() -> list[BenchmarkSeries]:
    import pandas as pd

    root = package_dir("statsmodels", "forecast") / "datasets"
    out = []
    co2 = pd.read_csv(root / "co2" / "co2.csv")
    v = pd.Series(co2["co2"].values).interpolate(limit_direction="both").values
    out.append(_make("statsmodels co2", "statsmodels co2", v, "weekly", "1958-03-29"))
    sun = pd.read_csv(root / "sunspots" / "sunspots.csv")
    out.append(_make("statsmodels sunspots", "statsmodels sunspots", sun["SUNACTIVITY"], "yearly",
                     f"{int(sun['YEAR'].iloc[0])}-01-01"))
    nile = pd.read_csv(root / "nile" / "nile.csv")
    out.append(_make("statsmodels nile", "statsmodels nile", nile["volume"], "yearly",
                     f"{int(nile['year'].iloc[0])}-01-01"))
    el = pd.read_csv(root / "elnino" / "elnino.csv")
    months = el.drop(columns=["YEAR"]).to_numpy(float).ravel()
    out.append(_make("statsmodels elnino", "statsmodels elnino", months, "monthly",
                     f"{int(el['YEAR'].iloc[0])}-01-01"))
    ee = pd.read_csv(root / "elec_equip" / "elec_equip.csv")
    out.append(_make("statsmodels elec_equip", "statsmodels elec_equip", ee.iloc[:, -1], "monthly", "1996-01-01"))
    mac = pd.read_csv(root / "macrodata" / "macrodata.csv")
    for col in ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop",
                "infl", "realint"):
        out.append(_make(f"statsmodels macrodata/{col}", "statsmodels macrodata", mac[col], "quarterly",
                         "1959-01-01"))
    return out


def _literal(path: Path, length: int | None = None) -> list[float]:
    """The longest numeric list literal in a source file (pmdarima keeps its data sets so)."""
    best = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) > len(best) and len(node.elts) > 20:
            try:
                vals = [float("nan") if (v := ast.literal_eval(e)) is None else float(v) for e in node.elts]
            except (ValueError, TypeError, SyntaxError):
                continue
            if length is None or len(vals) == length:
                best = vals
    if not best:
        raise ValueError(f"{path}: no data array found (has pmdarima changed its layout?)")
    return best


def _pmdarima() -> list[BenchmarkSeries]:
    root = package_dir("pmdarima", "forecast") / "datasets"
    out = [
        _make("pmdarima ausbeer", "pmdarima ausbeer", _literal(root / "ausbeer.py"), "quarterly", "1956-01-01"),
        _make("pmdarima austres", "pmdarima austres", _literal(root / "austres.py"), "quarterly", "1971-04-01"),
        _make("pmdarima wineind", "pmdarima wineind", _literal(root / "wineind.py"), "monthly", "1980-01-01"),
        _make("pmdarima woolyrnq", "pmdarima woolyrnq", _literal(root / "woolyrnq.py"), "quarterly", "1965-01-01"),
        _make("pmdarima heartrate", "pmdarima heartrate", _literal(root / "heartrate.py"), "none"),
        # half-hourly electricity demand: no pandas index (a minute frequency), season 48 (a day)
        _make("pmdarima taylor", "pmdarima taylor", _literal(root / "taylor.py"), "half-hourly"),
    ]
    with gzip.open(root / "data" / "sunspots.txt.gz", "rt") as f:
        vals = [float(x) for line in f for x in line.split() if _is_number(x)]
    out.append(_make("pmdarima sunspots", "pmdarima sunspots (monthly)", vals, "monthly", "1749-01-01"))
    # airpassengers and lynx are aeon's Airline and Lynx again: not counted twice
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def dataset_names(items: list[BenchmarkSeries]) -> list[str]:
    """The data sets of ``items`` in order of first appearance."""
    return list(dict.fromkeys(b.dataset for b in items))


def benchmark_series(quick: bool = False, only: list[str] | None = None) -> list[BenchmarkSeries]:
    """Every benchmark series (M1 yearly first), or the :data:`QUICK` subset.

    Args:
        quick: only :data:`QUICK` (a few short series; CI).
        only: keep the series whose key or data set contains one of these texts
            (case-insensitive; a text equal to a key keeps that series alone); a text that
            matches nothing is an error naming it.

    Example:
        >>> len([b for b in benchmark_series() if b.dataset == "M1 yearly"])
        181
    """
    items = _m1_yearly() + _aeon_small() + _statsmodels() + _pmdarima()
    if quick:
        items = [b for b in items if b.key in QUICK]
    if only:
        keep = []
        for text in only:
            hit = ([b for b in items if b.key.lower() == text.lower()]  # an exact key: that series alone
                   or [b for b in items if text.lower() in b.key.lower() or text.lower() in b.dataset.lower()])
            if not hit:
                raise ValueError(f"--only {text!r} matches no benchmark series; data sets: "
                                 + ", ".join(dataset_names(items)))
            keep += [b for b in hit if b not in keep]
        items = [b for b in items if b in keep]
    return items
