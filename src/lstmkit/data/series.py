"""One numeric time series for forecasting: read from a user's CSV, or one of the examples
that ship inside installed packages (statsmodels' weekly Mauna Loa co2, the Box & Jenkins
airline passengers in pmdarima).

Reading is strict about what it cannot repair and lenient about what it can: missing
values (empty cells, ``NA``/``NaN`` and timestamps absent from a regular time grid) are
filled by linear interpolation and counted; a semicolon-, tab- or pipe-separated file is
read with its own delimiter (:func:`lstmkit.data.files.csv_delimiter`); everything else (a
missing column, text in a number column, infinity, a value beyond +-1e30
(:data:`lstmkit.data.files.MAX_SERIES_VALUE`), an unparseable date, a constant series, an
empty file, a file that is not UTF-8) is a one-line error naming the file, the row or
column and what to do.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import MAX_SERIES_VALUE, csv_delimiter, read_user_text
from .packaged import package_dir

__all__ = ["TimeSeries", "read_series", "load_example", "EXAMPLES", "season_for_freq", "freq_unit", "future_index",
           "read_panel"]

EXAMPLES = {
    "co2": "weekly Mauna Loa CO2 (ppm), 1958-2001, 2,284 weeks with 59 missing (statsmodels)",
    "airline": "monthly international airline passengers (thousands), 1949-1960, 144 months (pmdarima)",
}
"""The shipped example series: name -> description."""

_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")
_SEP_NAMES = {";": "semicolon", "\t": "tab", "|": "pipe"}

# Cells that mean "no value here" (pandas' defaults, minus the ones that could be real text).
_NA = {"", "na", "nan", "n/a", "#n/a", "null", "none", "-nan", "nat", "#na", "<na>"}


@dataclass
class TimeSeries:
    """A regular, gap-free numeric series (gaps already filled).

    Attributes:
        values: (N,) float64, no NaN.
        name: the column's name.
        source: the file (or example) it came from.
        index: a ``pandas.DatetimeIndex`` (regular when ``freq`` is set) or None (positions).
        freq: the pandas frequency string (``"W-SAT"``, ``"MS"``) or None.
        n_missing: values filled by interpolation (missing cells + timestamps absent from
            the grid).
        n_gaps: of those, timestamps that were absent from the grid (rows added).
        n_rows: data rows in the file.
        notes: remarks for the report (rows sorted, irregular timestamps).
        offset: the position of the first value in a longer series this is the end of
            (a model directory stores the end of its training series).
    """

    values: np.ndarray
    name: str
    source: str
    index: object = None
    freq: str | None = None
    n_missing: int = 0
    n_gaps: int = 0
    n_rows: int = 0
    notes: list = field(default_factory=list)
    offset: int = 0

    def __len__(self) -> int:
        return len(self.values)

    def summary(self) -> dict:
        """JSON-ready facts for the report."""
        d = {"source": self.source, "column": self.name, "points": len(self), "rows_in_file": self.n_rows,
             "missing_filled": self.n_missing, "timestamps_added": self.n_gaps, "frequency": self.freq,
             "notes": list(self.notes)}
        if self.index is not None:
            d["start"], d["end"] = str(self.index[0]), str(self.index[-1])
        return d


# Aliases pandas has since removed (pandas 3 refuses them), as users and older model
# directories still write them -> the alias pandas reads today. Tried only when pandas'
# own parser refuses a string, so "MS" (month start) and "ms" (millisecond) keep pandas'
# meaning.
_LEGACY_ALIASES = {
    "T": "min", "H": "h", "S": "s", "L": "ms", "U": "us", "N": "ns", "BH": "bh", "CBH": "cbh",
    "M": "ME", "BM": "BME", "CBM": "CBME", "SM": "SME", "Q": "QE", "BQ": "BQE",
    "A": "YE", "Y": "YE", "BA": "BYE", "BY": "BYE", "AS": "YS", "BAS": "BYS",
}
_ALIAS = re.compile(r"^([+-]?\d*)([A-Za-z]+)(-[A-Za-z]+)?$")


def _to_offset(freq: str):
    """A pandas ``DateOffset`` for ``freq``, through pandas' own parser; a removed alias
    (``"H"``, ``"15T"``, ``"M"``, ``"A-DEC"``) is read as the one that replaced it.

    Raises:
        TypeError: ``freq`` is not a string.
        ValueError: pandas does not know ``freq`` (one line naming it).
    """
    import warnings

    from pandas.tseries.frequencies import to_offset

    if not isinstance(freq, str):
        raise TypeError(f"freq must be a pandas frequency string such as '30min', 'h', 'D', 'W-SUN' or 'MS', "
                        f"got {type(freq).__name__}")
    tries = [freq.strip()]
    m = _ALIAS.match(tries[0])
    if m and m.group(2) in _LEGACY_ALIASES:
        tries.append(m.group(1) + _LEGACY_ALIASES[m.group(2)] + (m.group(3) or ""))
    for f in tries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # aliases pandas deprecates but still reads
                return to_offset(f)
        except (ValueError, TypeError):
            continue
    raise ValueError(f"freq {freq!r} is not a pandas frequency: use an offset alias such as '30min', 'h', "
                     f"'2h', 'D', 'B', 'W-SUN', 'MS', 'ME', 'QS-DEC' or 'YS'")


def freq_unit(freq: str | None) -> tuple[str, int] | None:
    """A pandas frequency as ``(unit, n)``: unit one of ``"year"``, ``"quarter"``,
    ``"month"``, ``"week"``, ``"bday"``, ``"day"``, ``"hour"``, ``"minute"``, ``"second"``,
    ``"sub-second"``; None for no frequency or one pandas does not know.

    Read through pandas' own parser, so aliases and case follow pandas (``"MS"`` is a month
    start, ``"ms"`` a millisecond, ``"30min"`` half an hour); aliases pandas has removed
    (``"15T"``, ``"H"``, ``"M"``, ``"Q"``, ``"A"``) are read as their replacements.

    Example:
        >>> freq_unit("30min"), freq_unit("MS"), freq_unit("W-SAT"), freq_unit("2H"), freq_unit(None)
        (('minute', 30), ('month', 1), ('week', 1), ('hour', 2), None)
    """
    if not freq:
        return None
    try:
        off = _to_offset(freq)
    except (ValueError, TypeError):
        return None
    return _offset_unit(off)


def _offset_unit(off) -> tuple[str, int] | None:
    from pandas.tseries import offsets

    n = abs(int(getattr(off, "n", 1) or 1))
    kinds = (
        ((offsets.YearBegin, offsets.YearEnd, offsets.BYearBegin, offsets.BYearEnd), "year"),
        ((offsets.QuarterBegin, offsets.QuarterEnd, offsets.BQuarterBegin, offsets.BQuarterEnd), "quarter"),
        ((offsets.MonthBegin, offsets.MonthEnd, offsets.BusinessMonthBegin, offsets.BusinessMonthEnd,
          offsets.CustomBusinessMonthBegin, offsets.CustomBusinessMonthEnd,
          offsets.SemiMonthBegin, offsets.SemiMonthEnd), "month"),
        ((offsets.Week,), "week"),
        ((offsets.BusinessDay, offsets.CustomBusinessDay), "bday"),
        ((offsets.Day,), "day"),
        ((offsets.Hour, offsets.BusinessHour, offsets.CustomBusinessHour), "hour"),
        ((offsets.Minute,), "minute"),
        ((offsets.Second,), "second"),
        ((offsets.Milli, offsets.Micro, offsets.Nano), "sub-second"),
    )
    for types, unit in kinds:
        if isinstance(off, types):
            return unit, n
    return None


#: Periods of one unit in its natural cycle: weeks in a year, days in a week, hours in a day...
_CYCLES = {"year": 1, "quarter": 4, "month": 12, "week": 52, "bday": 5, "day": 7, "hour": 24,
           "minute": 1440, "second": 60}


def season_for_freq(freq: str | None) -> int:
    """The season length for a pandas frequency: the number of periods in its natural cycle.

    52 weekly (weeks in a year), 12 monthly (semi-monthly too), 4 quarterly, 1 yearly (no
    season), 7 daily (the week), 5 business-daily, 24 hourly (the day), the business day for
    business hours (8 for ``"bh"``, 09:00-17:00), the day for minutes
    (48 for ``"30min"``, 96 for ``"15min"``; the hour, 60/n, where a day would be longer
    than 288 steps, so ``"min"`` is 60), 60/n for seconds, 1 below a second.

    A multiple divides the cycle: ``"2h"`` is 12, ``"3MS"`` 4, ``"2W"`` 26; a multiple that
    does not divide it (``"7h"``, ``"2D"``) has no whole season and gives 1.

    The string is read by pandas' own parser (``pandas.tseries.frequencies.to_offset``), so
    every offset alias with its multiple and anchor works (``"W-SUN"``, ``"QS-DEC"``,
    ``"ME"``, ``"YS"``), and case follows pandas (``"MS"`` month start, ``"ms"``
    millisecond); aliases pandas has removed (``"15T"``, ``"H"``, ``"2H"``, ``"M"``,
    ``"Q"``, ``"A"``, ``"Y"``) are read as their replacements.

    Args:
        freq: a pandas frequency string, or None (no frequency: 1).

    Raises:
        TypeError: ``freq`` is neither a string nor None.
        ValueError: ``freq`` is not a frequency pandas knows.

    Example:
        >>> season_for_freq("W-SAT"), season_for_freq("MS"), season_for_freq(None)
        (52, 12, 1)
        >>> season_for_freq("30min"), season_for_freq("h"), season_for_freq("2H"), season_for_freq("ms")
        (48, 24, 12, 1)
    """
    from pandas.tseries import offsets

    if freq is None:
        return 1
    off = _to_offset(freq)
    unit = _offset_unit(off)
    if unit is None or unit[0] not in _CYCLES:
        return 1
    kind, n = unit
    cycle = _CYCLES[kind]
    if isinstance(off, (offsets.BusinessHour, offsets.CustomBusinessHour)):
        # the business day: its opening hours (8 for the default 09:00-17:00)
        minutes = sum((e.hour * 60 + e.minute - s.hour * 60 - s.minute) % 1440 for s, e in zip(off.start, off.end))
        cycle = minutes // 60 if minutes % 60 == 0 else 1
    if kind == "minute" and cycle // n > 288:
        cycle = 60  # the hour, not a day of 1440 steps
    return cycle // n if cycle % n == 0 and cycle // n > 1 else 1


def future_index(series: TimeSeries, steps: int):
    """The ``steps`` timestamps after the series' end (a ``DatetimeIndex``), or the next
    positions (a numpy int array) when the series has no regular time index."""
    if series.index is not None and series.freq:
        import pandas as pd

        return pd.date_range(series.index[-1], periods=steps + 1, freq=series.freq)[1:]
    return np.arange(len(series), len(series) + steps)


def _infer_freq(times) -> str | None:
    """A pandas frequency for sorted timestamps that may have gaps, or None if irregular."""
    import pandas as pd

    if len(times) < 3:
        return None
    f = pd.infer_freq(times)
    if f:
        return f
    times = times.as_unit("ns")
    diffs = np.diff(times.asi8)
    uniq, counts = np.unique(diffs, return_counts=True)
    step, day = int(uniq[counts.argmax()]), 86400 * 10**9
    if 28 * day <= step <= 31 * day:
        candidates = ["MS", "ME"]
    elif 90 * day <= step <= 92 * day:
        candidates = ["QS", "QE"]
    elif 365 * day <= step <= 366 * day:
        candidates = ["YS", "YE"]
    elif step == 7 * day:
        candidates = [f"W-{times[0].day_name()[:3].upper()}"]
    elif step % day == 0:
        candidates = ["D" if step == day else f"{step // day}D"]
    else:
        candidates = [pd.tseries.frequencies.to_offset(pd.Timedelta(step, unit="ns")).freqstr]
    for c in candidates:
        grid = pd.date_range(times[0], times[-1], freq=c)
        if len(grid) and times.isin(grid).all():
            return c
    return None


def read_series(path: str | os.PathLike, column: str, time_column: str | None = None) -> TimeSeries:
    """Read one numeric column of a CSV as a gap-free series.

    A semicolon-, tab- or pipe-separated file is read as such (detected from the header,
    noted in ``notes``). Values beyond +-1e30 are refused (one line naming the row): they
    would make the scaling, and so every forecast and MASE, meaningless.

    With ``time_column``, the rows are sorted by that column (parsed as dates), the
    frequency is inferred when the timestamps sit on a regular grid (missing timestamps
    are added and filled), and duplicates are an error. Missing values are filled by
    linear interpolation (the ends by the nearest value) and counted.

    Args:
        path: the CSV (UTF-8, a header row).
        column: the column to forecast.
        time_column: optional column of dates/times.

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty file, not UTF-8, missing column, a non-numeric or infinite
            value, a value beyond +-1e30, an unparseable or duplicate date, no values at
            all, a constant series.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
        >>> _ = open(p, "w").write("month,sales\\n2020-01,1\\n2020-02,\\n2020-04,4\\n")
        >>> s = read_series(p, "sales", time_column="month")
        >>> s.values.tolist(), s.freq, s.n_missing, s.n_gaps
        ([1.0, 2.0, 3.0, 4.0], 'MS', 2, 1)
    """
    path = Path(path)
    df = _read_frame(path)
    _check_columns(df, path, ((column, "--column"), (time_column, "--time-column")))
    if len(df) == 0:
        raise ValueError(f"{path} has a header but no data rows: add one row per time step")
    return _series_from_frame(df, path, column, time_column)


def read_panel(path: str | os.PathLike, column: str, id_column: str,
               time_column: str | None = None) -> dict[str, TimeSeries]:
    """Read a long CSV of many series (one row per series and time step) as a panel.

    The rows of each value of ``id_column`` make one series, read as
    :func:`read_series` reads a file (sorted by ``time_column``, gaps filled, missing
    values interpolated); errors name the file, the line and the series' id.

    Args:
        path: the CSV (UTF-8, a header row).
        column: the column of values.
        id_column: the column naming the series each row belongs to.
        time_column: optional column of dates/times (each series sorted by it).

    Returns:
        ``{id: TimeSeries}`` in the order the ids first appear; each series' ``source`` is
        ``"FILE [ID_COLUMN=ID]"``.

    Raises:
        ValueError: as :func:`read_series`, plus: an empty id, fewer than two series
            (forecast a single series without ``--id-column``).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "panel.csv")
        >>> _ = open(p, "w").write("store,week,sales\\na,1,1\\nb,1,5\\na,2,2\\nb,2,7\\na,3,4\\nb,3,6\\n")
        >>> panel = read_panel(p, "sales", "store")
        >>> {k: v.values.tolist() for k, v in panel.items()}
        {'a': [1.0, 2.0, 4.0], 'b': [5.0, 7.0, 6.0]}
    """
    path = Path(path)
    df = _read_frame(path)
    _check_columns(df, path, ((column, "--column"), (id_column, "--id-column"), (time_column, "--time-column")))
    if len(df) == 0:
        raise ValueError(f"{path} has a header but no data rows: add one row per series and time step")
    ids = df[id_column].str.strip()
    empty = ids == ""
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise ValueError(f"{path}: column {id_column!r} (--id-column), row {i + 1} (line {i + 2}) is empty: "
                         f"every row must name its series")
    order = list(dict.fromkeys(ids.tolist()))
    if len(order) < 2:
        raise ValueError(f"{path}: column {id_column!r} (--id-column) names only one series ({order[0]!r}): "
                         f"forecast it without --id-column")
    panel = {}
    for key in order:
        mask = (ids == key).to_numpy()
        panel[key] = _series_from_frame(df[mask], path, column, time_column, source=f"{path} [{id_column}={key}]",
                                        sep=df.attrs.get("sep", ","), rows=np.flatnonzero(mask))
    return panel


def _read_frame(path: Path):
    """The CSV as a frame of stripped strings (separator detected), one-line errors."""
    import pandas as pd

    text = read_user_text(path, "a CSV with a header row and one row per time step")
    sep = csv_delimiter(text, path)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: expected a CSV with a header row and one row per time step") from None
    except pd.errors.ParserError as e:
        raise ValueError(f"{path} is not a well-formed CSV ({str(e).strip().splitlines()[-1]}): "
                         f"fix the row it names") from None
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["sep"] = sep
    return df


def _check_columns(df, path: Path, wanted) -> None:
    for col, what in wanted:
        if col is not None and col not in df.columns:
            raise ValueError(f"{path}: no column {col!r} (for {what}); the columns are "
                             f"{', '.join(map(repr, df.columns))}")


def _series_from_frame(df, path: Path, column: str, time_column: str | None, source: str | None = None,
                       sep: str | None = None, rows=None) -> TimeSeries:
    """One series from the rows of ``df`` (a whole file, or one series' rows of a panel:
    ``rows`` holds each row's position in the file, so errors name the file's lines)."""
    import pandas as pd

    sep = df.attrs.get("sep", ",") if sep is None else sep
    where = source or str(path)
    rows = np.arange(len(df)) if rows is None else np.asarray(rows)
    cells = df[column].str.strip()
    missing = cells.str.lower().isin(_NA)
    values = pd.to_numeric(cells.where(~missing), errors="coerce")
    bad = (~missing) & (values.isna() | ~np.isfinite(values.astype(float).fillna(0)))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        hint = " (a decimal comma? write it with a point)" if _DECIMAL_COMMA.fullmatch(cells.iloc[i]) else ""
        raise ValueError(f"{where}: column {column!r}, row {rows[i] + 1} (line {rows[i] + 2}) holds {cells.iloc[i]!r}, "
                         f"not a number{hint}: fix it, or leave the cell empty to have it interpolated")
    values = values.astype(float)
    big = np.flatnonzero((values.abs() > MAX_SERIES_VALUE).to_numpy())
    if len(big):
        i = int(big[0])
        raise ValueError(f"{where}: column {column!r}, row {rows[i] + 1} (line {rows[i] + 2}) holds {cells.iloc[i]}: too large "
                         f"for float32 training (the limit is +-{MAX_SERIES_VALUE:g}); rescale the column (e.g. "
                         f"thousands or millions) or fix that cell")
    index, freq, n_gaps, notes = None, None, 0, []
    if sep != ",":
        notes.append(f"read as {_SEP_NAMES[sep]}-separated")
    if time_column is not None:
        tcells = df[time_column].str.strip()
        with _quiet():
            times = pd.to_datetime(tcells, errors="coerce")
            if times.isna().any() and tcells.str.fullmatch(r"\d{8}").all():
                times = pd.to_datetime(tcells, format="%Y%m%d", errors="coerce")
            elif times.isna().any():  # pandas infers one format from the first row; allow a mix
                times = pd.to_datetime(tcells, format="mixed", errors="coerce")
        if times.isna().any():
            i = int(np.flatnonzero(times.isna().to_numpy())[0])
            raise ValueError(f"{where}: column {time_column!r}, row {rows[i] + 1} (line {rows[i] + 2}) holds {tcells.iloc[i]!r}, "
                             f"not a date: use one format such as 2020-01-31 or 2020-01-31 13:00 in every row")
        dup = times.duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise ValueError(f"{where}: column {time_column!r}, row {rows[i] + 1} (line {rows[i] + 2}) repeats the date "
                             f"{tcells.iloc[i]!r}: keep one row per time step")
        order = np.argsort(times.to_numpy(), kind="stable")
        if (order != np.arange(len(order))).any():
            notes.append("rows sorted by time")
        times = pd.DatetimeIndex(times.to_numpy()[order])
        values = pd.Series(values.to_numpy()[order], index=times)
        freq = _infer_freq(times)
        if freq is not None:
            grid = pd.date_range(times[0], times[-1], freq=freq)
            n_gaps = len(grid) - len(times)
            values = values.reindex(grid)
            index = grid
        else:
            index = times
            notes.append("timestamps are irregular: treated as equally spaced steps")
    values = pd.Series(values.to_numpy(dtype=float))
    n_missing = int(values.isna().sum())
    if n_missing == len(values):
        raise ValueError(f"{where}: column {column!r} has no values (all {len(values)} cells are empty): "
                         f"pick the column that holds the numbers")
    filled = values.interpolate(method="linear", limit_direction="both").to_numpy()
    if np.ptp(filled) == 0:
        raise ValueError(f"{where}: column {column!r} is constant ({filled[0]:g} in all {len(filled)} rows): "
                         f"there is nothing to forecast; check the column")
    return TimeSeries(values=filled, name=column, source=where, index=index, freq=freq, n_missing=n_missing,
                      n_gaps=n_gaps, n_rows=len(df), notes=notes)


class _quiet:
    """Silence pandas' 'could not infer format' warnings while parsing dates."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _airline_values() -> list[float]:
    """The 144 monthly totals, read from pmdarima's source file without importing it
    (importing pmdarima takes ~2 s; the numbers sit in an array literal)."""
    import ast

    src = (package_dir("pmdarima", "forecast") / "datasets" / "airpassengers.py").read_text()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.List) and len(node.elts) == 144:
            return [float(ast.literal_eval(e)) for e in node.elts]
    from pmdarima.datasets import load_airpassengers  # pragma: no cover - layout changed

    return [float(v) for v in load_airpassengers()]  # pragma: no cover


def load_example(name: str) -> TimeSeries:
    """One of the shipped example series (:data:`EXAMPLES`).

    - ``"co2"``: statsmodels' weekly Mauna Loa CO2, 1958-03-29 to 2001-12-29, 2,284 weeks of
      which 59 are missing (filled and counted, like a user's CSV).
    - ``"airline"``: Box & Jenkins' monthly airline passengers, 1949-01 to 1960-12.

    Example:
        >>> s = load_example("airline")
        >>> len(s), s.freq, s.values[:3].tolist()
        (144, 'MS', [112.0, 118.0, 132.0])
    """
    import pandas as pd

    if name == "co2":
        path = package_dir("statsmodels", "forecast") / "datasets" / "co2" / "co2.csv"
        s = read_series(path, "co2", time_column="date")
        s.source = "statsmodels co2 (example)"
        return s
    if name == "airline":
        vals = np.array(_airline_values())
        index = pd.date_range("1949-01-01", periods=len(vals), freq="MS")
        return TimeSeries(values=vals, name="passengers", source="pmdarima airline passengers (example)",
                          index=index, freq="MS", n_rows=len(vals))
    raise ValueError(f"unknown example {name!r}; expected one of {sorted(EXAMPLES)}")
