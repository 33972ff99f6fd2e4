"""Variable-length, multichannel, labelled sequences from the user's files and from the
data sets that ship inside packages.

Every reader returns a :class:`LabelledSequences`: a list of (steps, channels) float32
arrays, their labels (strings, or ``None`` for unlabelled files), an id per sequence and
the channel names. Three file formats:

- ``.ts`` (the sktime/aeon time-series format): read with aeon's ``load_from_ts_file``
  when aeon is installed (``pip install 'lstmkit[classify]'``), else with a small built-in
  parser for the common case (no time stamps). One case per line after ``@data``,
  channels separated by ``:``, values by ``,``, the label last.
- ``.npz`` (numpy, read with ``allow_pickle=False``):

  * ``X``: float, either padded ``(N, T, C)`` (with optional ``lengths`` (N,): the valid
    steps of each sequence, default all T) or concatenated frames ``(sum of lengths, C)``
    with ``lengths`` (N,) required;
  * ``y`` (N,) optional: labels, ints or strings;
  * ``ids`` (N,) optional: sequence ids; ``channels`` (C,) optional: channel names.

- ``.csv`` in long format: one row per time step, columns ``id`` (sequence id), ``time``
  (optional: the steps are sorted by it; without it, file order), ``label`` (optional for
  prediction) and the channels: every other column whose first value is numeric, or those
  named by ``channels``. UTF-8 (a BOM is fine); ``,`` separated (a semicolon-, tab- or
  pipe-separated file is read with its own delimiter, detected from the header).

Values must be finite (a missing value is an error: fill or remove it) and within
+-1e18 (:data:`lstmkit.data.files.MAX_FEATURE_VALUE`: the sequences are float32 and
their statistics square the values); a larger one is a one-line error telling to
rescale the channel.

Shipped examples (:func:`load_example`): aeon's JapaneseVowels (official 270/370 split),
seglearn's smartwatch exercises (split by subject) and modlamp's antimicrobial peptides
vs UniProt (one-hot amino acids, fixed stratified split).

Every error is one line naming the file, the row, column or sequence, and what to do.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import MAX_FEATURE_VALUE, csv_delimiter, plain, read_user_text

__all__ = ["LabelledSequences", "read_ts", "read_npz", "read_csv_long", "read_sequences", "load_example",
           "EXAMPLES", "check_label_counts", "stratified_split", "one_hot_protein", "AMINO_ACIDS", "FORMATS"]

FORMATS = ("ts", "npz", "csv")
EXAMPLES = ("japanese-vowels", "watch", "peptides")
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 standard amino acids, the channels of the one-hot peptide encoding."""


@dataclass
class LabelledSequences:
    """Sequences of shape (steps, channels), with labels, ids and channel names.

    Example:
        >>> import numpy as np
        >>> d = LabelledSequences([np.zeros((3, 2), np.float32)], ["a"], ["s0"], ["x", "y"], "mem")
        >>> d.n_channels, d.lengths.tolist(), d.classes
        (2, [3], ['a'])
    """

    X: list[np.ndarray]
    y: list[str] | None
    ids: list[str]
    channels: list[str]
    source: str = "<memory>"
    info: dict = field(default_factory=dict)
    #: per sequence, the (steps,) float64 sort keys of a CSV's time column (numbers, or ISO
    #: dates as nanoseconds), in step order; None when the file has no time column
    times: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.X)

    @property
    def n_channels(self) -> int:
        return int(self.X[0].shape[1]) if self.X else len(self.channels)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([x.shape[0] for x in self.X], dtype=np.int64)

    @property
    def classes(self) -> list[str]:
        """The distinct labels, sorted numerically when they all are numbers."""
        return sort_labels(set(self.y or []))

    def subset(self, idx) -> "LabelledSequences":
        idx = [int(i) for i in idx]
        return LabelledSequences([self.X[i] for i in idx], None if self.y is None else [self.y[i] for i in idx],
                                 [self.ids[i] for i in idx], list(self.channels), self.source, dict(self.info),
                                 None if self.times is None else [self.times[i] for i in idx])


def sort_labels(labels) -> list[str]:
    """Sort label strings, numerically when every one is a number.

    Example:
        >>> sort_labels(["10", "9", "1"]), sort_labels(["b", "a"])
        (['1', '9', '10'], ['a', 'b'])
    """
    labels = list(labels)
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _label_str(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


# ----------------------------------------------------------------------------- checks


def _check(X: list[np.ndarray], path, what=lambda k: f"sequence {k}") -> None:
    """0 steps, inconsistent channel counts and non-finite values, named by sequence."""
    if not X:
        raise ValueError(f"{path}: no sequences found; check the file's contents")
    c0 = X[0].shape[1]
    for k, x in enumerate(X):
        if x.ndim != 2:
            raise ValueError(f"{path}: {what(k)} has shape {x.shape}, expected (steps, channels)")
        if x.shape[0] == 0:
            raise ValueError(f"{path}: {what(k)} has 0 steps; remove it or give it at least one step")
        if x.shape[1] != c0:
            raise ValueError(f"{path}: {what(k)} has {x.shape[1]} channels but {what(0)} has {c0}; "
                             f"every sequence needs the same channels")
        if not np.all(np.isfinite(x)):
            t, c = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{path}: {what(k)} has a missing or non-finite value at step {t}, channel {c}; "
                             f"fill or remove it")
        if np.abs(x).max(initial=0) > MAX_FEATURE_VALUE:
            t, c = np.argwhere(np.abs(x) > MAX_FEATURE_VALUE)[0]
            raise ValueError(f"{path}: {what(k)}, step {t}, channel {c} holds {float(x[t, c]):g}: "
                             f"{_TOO_LARGE}")


_TOO_LARGE = (f"too large for float32 training (the limit is +-{MAX_FEATURE_VALUE:g}); rescale that channel "
              f"(e.g. divide it by a power of ten) or fix the value")


def _float32(a: np.ndarray, path, what=lambda k: f"sequence {k}") -> list[np.ndarray]:
    """Sequences as float32, checked (see :func:`_check`) BEFORE the cast, which would
    turn a value beyond float32's range into infinity."""
    for k, x in enumerate(a):
        x = np.asarray(x)
        if x.ndim == 2 and x.size and np.issubdtype(x.dtype, np.number):
            big = np.isfinite(x) & (np.abs(x.astype(np.float64)) > MAX_FEATURE_VALUE)
            if big.any():
                t, c = np.argwhere(big)[0]
                raise ValueError(f"{path}: {what(k)}, step {t}, channel {c} holds {float(x[t, c]):g}: "
                                 f"{_TOO_LARGE}")
    return [np.asarray(x, dtype=np.float32) for x in a]


def check_label_counts(y: list[str], source) -> None:
    """Raise if a label occurs only once (it cannot be in both the training and the
    validation part) or if there are fewer than two classes.

    Example:
        >>> check_label_counts(["a", "a", "b"], "f.csv")
        Traceback (most recent call last):
        ...
        ValueError: f.csv: label 'b' occurs only once, so it cannot be in both training and validation; remove its sequence or add more examples of it
    """
    if y is None:
        raise ValueError(f"{source}: the sequences have no labels; training needs a label per sequence")
    labels, counts = np.unique(np.asarray(y, dtype=str), return_counts=True)
    if len(labels) < 2:
        raise ValueError(f"{source}: only one class ({plain(labels[0])!r}) found; classification needs at least two")
    for lab, n in zip(labels.tolist(), counts.tolist()):
        if n < 2:
            raise ValueError(f"{source}: label {lab!r} occurs only once, so it cannot be in both training and "
                             f"validation; remove its sequence or add more examples of it")


def stratified_split(y, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (kept, held-out) index split with ``fraction`` of each class held out
    (rounded, at least one of each class that has two or more, never all of a class).

    Example:
        >>> keep, held = stratified_split(["a"] * 8 + ["b"] * 4, 0.25, seed=0)
        >>> len(keep), len(held), sorted(held.tolist()) == sorted(set(held.tolist()))
        (9, 3, True)
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    y = np.asarray(y, dtype=str)
    rng = np.random.default_rng(seed)
    held = []
    for lab in sort_labels(set(y.tolist())):
        idx = np.flatnonzero(y == lab)
        if len(idx) < 2:
            continue
        k = min(max(int(round(len(idx) * fraction)), 1), len(idx) - 1)
        held.extend(rng.permutation(idx)[:k].tolist())
    held = np.sort(np.array(held, dtype=np.int64))
    keep = np.setdiff1d(np.arange(len(y)), held)
    return keep, held


# ----------------------------------------------------------------------------- .ts


def _parse_ts(path: Path, text: str):
    """Built-in .ts parser (no time stamps): (list of (T, C) arrays, labels or None)."""
    lines = text.splitlines()
    labelled, data_line = None, None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        low = line.lower()
        if low.startswith("@classlabel"):
            parts = line.split()
            labelled = len(parts) > 1 and parts[1].lower() == "true"
        elif low.startswith("@timestamps") and line.split()[-1].lower() == "true":
            raise ValueError(f"{path}: line {i + 1}: .ts files with time stamps need aeon: "
                             f"pip install 'lstmkit[classify]'")
        elif low.startswith("@data"):
            data_line = i + 1
            break
        elif not low.startswith("@"):
            raise ValueError(f"{path}: line {i + 1}: expected a @-header line before @data, got {line[:40]!r}; "
                             f"is this a .ts file? (use --format)")
    if data_line is None:
        raise ValueError(f"{path}: no @data line found; a .ts file needs a header ending in @data")
    X, y, rows = [], [], []
    for i in range(data_line, len(lines)):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if labelled:
            if len(parts) < 2:
                raise ValueError(f"{path}: line {i + 1}: expected channels and a label separated by ':'")
            y.append(parts[-1].strip())
            parts = parts[:-1]
        chans = []
        for c, part in enumerate(parts):
            vals = [v.strip() for v in part.split(",")] if part.strip() else []
            arr = []
            for v in vals:
                if v == "?":
                    arr.append(np.nan)
                    continue
                try:
                    f = float(v)
                except ValueError:
                    raise ValueError(f"{path}: line {i + 1}, channel {c}: non-numeric value {v!r}; "
                                     f"fix or remove it") from None
                if abs(f) > MAX_FEATURE_VALUE and np.isfinite(f):
                    raise ValueError(f"{path}: line {i + 1}, channel {c} holds {v}: {_TOO_LARGE}")
                arr.append(f)
            chans.append(arr)
        n = {len(a) for a in chans}
        if len(n) > 1:
            raise ValueError(f"{path}: line {i + 1}: channels have different lengths {sorted(n)}; "
                             f"every channel of a case needs the same number of steps")
        if X and len(chans) != X[0].shape[1]:
            raise ValueError(f"{path}: line {i + 1}: {len(chans)} channels but line {rows[0]} has "
                             f"{X[0].shape[1]}; every case needs the same channels")
        X.append(np.array(chans, dtype=np.float32).reshape(len(chans), -1).T.copy())
        rows.append(i + 1)
    if not X:
        raise ValueError(f"{path}: no cases after @data; add data lines")
    _check(X, path, lambda k: f"line {rows[k]} (case {k})")
    return X, (y if labelled else None)


def read_ts(path: str | os.PathLike) -> LabelledSequences:
    """Read a ``.ts`` file (sktime/aeon format) into (steps, channels) sequences.

    Uses ``aeon.datasets.load_from_ts_file`` when aeon is installed; otherwise, or to
    name the line of a problem aeon reports, a built-in parser.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.ts")
        >>> _ = open(p, "w").write("@problemName a\\n@univariate false\\n@dimensions 2\\n@equalLength false\\n"
        ...                        "@classLabel true x y\\n@data\\n1,2,3:4,5,6:x\\n7:8:y\\n")
        >>> d = read_ts(p)
        >>> [a.shape for a in d.X], d.y
        ([(3, 2), (1, 2)], ['x', 'y'])
    """
    path = Path(path)
    text = read_user_text(path, "a data file with a header and data rows")
    try:
        from aeon.datasets import load_from_ts_file
    except ImportError:
        X, y = _parse_ts(path, text)
    else:
        try:
            Xa, ya = load_from_ts_file(str(path))
        except Exception as e:  # aeon's messages name no line: find it with the built-in parser
            _parse_ts(path, text)
            raise ValueError(f"{path}: aeon cannot read it: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                             f"; check the header against the .ts format") from None
        X = [np.ascontiguousarray(x) for x in _float32([np.asarray(a, dtype=np.float64).T for a in Xa], path,
                                                      lambda k: f"case {k}")]
        has_labels = any(line.strip().lower().startswith("@classlabel true") for line in text.splitlines()[:200])
        y = [_label_str(v) for v in np.asarray(ya).tolist()] if has_labels and len(ya) == len(X) else None
        try:
            _check(X, path, lambda k: f"case {k}")
        except ValueError:
            _parse_ts(path, text)  # a line number if the built-in parser can give one
            raise
    return LabelledSequences(X, y, [str(k) for k in range(len(X))],
                             [f"ch{c}" for c in range(X[0].shape[1])], str(path))


# ----------------------------------------------------------------------------- .npz


def read_npz(path: str | os.PathLike) -> LabelledSequences:
    """Read an ``.npz`` (``allow_pickle=False``): ``X`` padded (N, T, C) + optional
    ``lengths``, or ``X`` concatenated (sum of lengths, C) + ``lengths``; optional ``y``,
    ``ids``, ``channels``.

    Example:
        >>> import tempfile, os, numpy as np
        >>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
        >>> np.savez(p, X=np.arange(10.).reshape(5, 2), lengths=[3, 2], y=["a", "b"])
        >>> d = read_npz(p)
        >>> [a.shape for a in d.X], d.y
        ([(3, 2), (2, 2)], ['a', 'b'])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty; save arrays into it with numpy.savez")
    def unreadable(e) -> ValueError:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return ValueError(f"{path}: not a readable .npz file ({why}); save it with numpy.savez")

    broken = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, NotImplementedError)
    with open(path, "rb") as f:  # opened here: np.load leaves the file open when the zip is broken
        try:
            z = np.load(f, allow_pickle=False)
        except broken as e:
            raise unreadable(e) from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: holds a single array, not an .npz archive; save X, lengths, y with "
                             f"numpy.savez")
        with z:
            arrays = {}
            for k in z.files:
                try:
                    arrays[k] = z[k]
                except ValueError as e:
                    if "pickle" not in str(e):
                        raise unreadable(e) from None
                    raise ValueError(f"{path}: holds an object (pickled) array, which is not read for safety; "
                                     f"save ragged sequences as concatenated X + lengths") from None
                except broken as e:
                    raise unreadable(e) from None
    if "X" not in arrays:
        raise ValueError(f"{path}: no array 'X' (found: {', '.join(sorted(arrays)) or 'none'}); "
                         f"save the sequences as X")
    X = arrays["X"]
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{path}: X has dtype {X.dtype}; it must be real numbers (float or int)")
    lengths = arrays.get("lengths")
    if lengths is not None:
        lengths = np.asarray(lengths).reshape(-1)
        if not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"{path}: lengths has dtype {lengths.dtype}; it must hold integers")
        bad = np.flatnonzero(lengths <= 0)
        if len(bad):
            raise ValueError(f"{path}: sequence {bad[0]} has {lengths[bad[0]]} steps (lengths[{bad[0]}]); "
                             f"remove it or give it at least one step")
    if X.ndim == 3:
        n, t = X.shape[:2]
        if lengths is None:
            lengths = np.full(n, t)
        if len(lengths) != n:
            raise ValueError(f"{path}: lengths has {len(lengths)} entries but X holds {n} sequences")
        if lengths.max(initial=0) > t:
            k = int(np.argmax(lengths))
            raise ValueError(f"{path}: lengths[{k}] = {lengths[k]} exceeds X's {t} steps")
        seqs = [X[k, : lengths[k]] for k in range(n)]
    elif X.ndim == 2:
        if lengths is None:
            raise ValueError(f"{path}: X is 2-D {X.shape}: give lengths (steps per sequence) for concatenated "
                             f"frames, or save X padded as (N, T, C)")
        if int(lengths.sum()) != X.shape[0]:
            raise ValueError(f"{path}: lengths sum to {int(lengths.sum())} but X has {X.shape[0]} rows; "
                             f"they must match")
        seqs = np.split(X, np.cumsum(lengths)[:-1])
    else:
        raise ValueError(f"{path}: X has shape {X.shape}; expected (N, T, C) or (frames, C)")
    seqs = _float32(seqs, path)
    _check(seqs, path)
    y = arrays.get("y")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(seqs):
            raise ValueError(f"{path}: y has {len(y)} labels but X holds {len(seqs)} sequences; one label each")
        y = [_label_str(v) for v in y.tolist()]
    ids = arrays.get("ids")
    ids = [str(v) for v in np.asarray(ids).reshape(-1).tolist()] if ids is not None else \
        [str(k) for k in range(len(seqs))]
    if len(ids) != len(seqs):
        raise ValueError(f"{path}: ids has {len(ids)} entries but X holds {len(seqs)} sequences")
    ch = arrays.get("channels")
    channels = [str(c) for c in np.asarray(ch).reshape(-1).tolist()] if ch is not None else \
        [f"ch{c}" for c in range(seqs[0].shape[1])]
    if len(channels) != seqs[0].shape[1]:
        raise ValueError(f"{path}: channels names {len(channels)} channels but X has {seqs[0].shape[1]}")
    return LabelledSequences(seqs, y, ids, channels, str(path))


# ----------------------------------------------------------------------------- .csv (long)


def _num(v: str):
    try:
        return float(v)
    except ValueError:
        return None


def read_csv_long(path: str | os.PathLike, id_column: str = "id", time_column: str | None = None,
                  label_column: str | None = "label", channels: list[str] | None = None,
                  require_labels: bool = False) -> LabelledSequences:
    """Read a long-format CSV: one row per time step of one sequence.

    Args:
        id_column: the sequence id column (rows with the same id form one sequence).
        time_column: sorts the steps of each sequence (numbers or ISO dates); ``None``:
            use ``"time"`` if there is such a column, else the file order.
        label_column: the label column (constant within a sequence); if the file lacks it
            and ``require_labels`` is false, the sequences are unlabelled.
        channels: the channel columns; default every other column whose first value is
            numeric.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
        >>> _ = open(p, "w").write("id,time,x,label\\ns1,1,0.5,up\\ns1,0,0.1,up\\ns2,0,3,down\\n")
        >>> d = read_csv_long(p)
        >>> d.ids, [a[:, 0].tolist() for a in d.X], d.y, d.channels
        (['s1', 's2'], [[0.10000000149011612, 0.5], [3.0]], ['up', 'down'], ['x'])
    """
    path = Path(path)
    text = read_user_text(path, "a data file with a header and data rows")
    reader = csv.reader(io.StringIO(text), delimiter=csv_delimiter(text, path))
    try:
        header = [h.strip() for h in next(reader)]
        rows = [r for r in reader if any(c.strip() for c in r)]
    except StopIteration:
        raise ValueError(f"{path}: the file is empty; give a header and data rows") from None
    except csv.Error as e:
        raise ValueError(f"{path}: line {reader.line_num} is not well-formed CSV ({e}); fix that line") from None
    if not rows:
        raise ValueError(f"{path}: has a header but no data rows; add one row per time step")
    cols = {h: i for i, h in enumerate(header)}
    avail = ", ".join(header)

    def need(name, flag):
        if name not in cols:
            raise ValueError(f"{path}: column {name!r} not found (columns: {avail}); name the right one "
                             f"with {flag}")
        return cols[name]

    i_id = need(id_column, "--id-column")
    if time_column is None:
        i_time = cols.get("time")
    else:
        i_time = need(time_column, "--time-column")
    if label_column is not None and (label_column in cols or require_labels):
        i_label = need(label_column, "--label-column")
    else:
        i_label = None
    reserved = {i_id, i_time, i_label} - {None}
    if channels:
        i_ch = [need(c, "--channels") for c in channels]
    else:
        first = rows[0]
        i_ch = [i for i, h in enumerate(header) if i not in reserved and i < len(first)
                and _num(first[i].strip()) is not None]
        if not i_ch:
            raise ValueError(f"{path}: no numeric channel columns besides {', '.join(header[i] for i in reserved)}"
                             f" (columns: {avail}); name them with --channels")
    ncol = len(header)
    values = np.empty((len(rows), len(i_ch)), dtype=np.float32)
    times = []
    for r, row in enumerate(rows):
        line = r + 2
        if len(row) != ncol:
            raise ValueError(f"{path}: line {line} has {len(row)} fields but the header has {ncol}; fix that row")
        for j, c in enumerate(i_ch):
            v = row[c].strip()
            f = _num(v) if v else None
            if f is None:
                what = "is empty" if not v else f"has non-numeric value {v!r}"
                raise ValueError(f"{path}: line {line}, column {header[c]!r} {what}; fix or remove that row "
                                 f"(or leave the column out with --channels)")
            if not np.isfinite(f):
                raise ValueError(f"{path}: line {line}, column {header[c]!r} holds {v}, not a finite number; "
                                 f"fix or remove that row")
            if abs(f) > MAX_FEATURE_VALUE:
                raise ValueError(f"{path}: line {line}, column {header[c]!r} holds {v}: {_TOO_LARGE}")
            values[r, j] = f
        if i_time is not None:
            times.append(row[i_time].strip())
    if i_time is not None:
        nums = [_num(t) for t in times]
        if all(v is not None for v in nums):
            tkey = np.array(nums, dtype=np.float64)
        else:
            try:
                tkey = np.array(times, dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
            except ValueError:
                bad = next(k for k, v in enumerate(nums) if v is None)
                raise ValueError(f"{path}: line {bad + 2}, column {header[i_time]!r} has {times[bad]!r}, neither "
                                 f"a number nor an ISO date; fix it or leave out --time-column") from None
    order: dict[str, list[int]] = {}
    for r, row in enumerate(rows):
        order.setdefault(row[i_id].strip(), []).append(r)
    X, y, ids = [], [] if i_label is not None else None, []
    step_times = [] if i_time is not None else None
    for sid, idx in order.items():
        idx = np.array(idx)
        if i_time is not None:
            idx = idx[np.argsort(tkey[idx], kind="stable")]
            dup = np.flatnonzero(np.diff(tkey[idx]) == 0)
            if len(dup):
                raise ValueError(f"{path}: lines {idx[dup[0]] + 2} and {idx[dup[0] + 1] + 2}: sequence {sid!r} has "
                                 f"time {times[idx[dup[0]]]!r} twice; remove the duplicate")
        X.append(values[idx])
        if step_times is not None:
            step_times.append(tkey[idx])
        ids.append(sid)
        if y is not None:
            labs = {rows[r][i_label].strip() for r in idx}
            if len(labs) > 1:
                bad = next(r for r in idx if rows[r][i_label].strip() != rows[idx[0]][i_label].strip())
                raise ValueError(f"{path}: line {bad + 2}: sequence {sid!r} has more than one label "
                                 f"({', '.join(sorted(labs))}); give each sequence one label")
            lab = labs.pop()
            if not lab:
                raise ValueError(f"{path}: line {idx[0] + 2}: sequence {sid!r} has an empty label; fill it in")
            y.append(lab)
    _check(X, path, lambda k: f"sequence {ids[k]!r}")
    return LabelledSequences(X, y, ids, [header[c] for c in i_ch], str(path),
                             {"id_column": id_column, "time_column": header[i_time] if i_time is not None else None,
                              "label_column": label_column}, step_times)


def read_sequences(path: str | os.PathLike, format: str | None = None, **csv_options) -> LabelledSequences:
    """Read a .ts, .npz or long .csv file (``format`` overrides the suffix); ``csv_options``
    go to :func:`read_csv_long`.

    Example:
        >>> import tempfile, os, numpy as np
        >>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
        >>> np.savez(p, X=np.ones((2, 4, 3)), y=[0, 1])
        >>> read_sequences(p).y
        ['0', '1']
    """
    path = Path(path)
    fmt = format or path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                         f"pass --format ts, npz or csv")
    if fmt == "ts":
        return read_ts(path)
    if fmt == "npz":
        return read_npz(path)
    return read_csv_long(path, **csv_options)


# ----------------------------------------------------------------------------- examples


def one_hot_protein(seq: str, source: str = "sequence") -> np.ndarray:
    """A protein sequence as a (length, 20) one-hot float32 array over :data:`AMINO_ACIDS`.

    Example:
        >>> one_hot_protein("ACW").argmax(1).tolist()
        [0, 1, 18]
    """
    seq = seq.strip().upper()
    idx = np.array([AMINO_ACIDS.find(a) for a in seq], dtype=np.int64)
    if (idx < 0).any():
        bad = seq[int(np.argmax(idx < 0))]
        raise ValueError(f"{source}: {bad!r} is not one of the 20 standard amino acids {AMINO_ACIDS}")
    out = np.zeros((len(seq), len(AMINO_ACIDS)), dtype=np.float32)
    out[np.arange(len(seq)), idx] = 1.0
    return out


def _japanese_vowels():
    from .packaged import package_dir

    d = package_dir("aeon", "classify") / "datasets" / "data" / "JapaneseVowels"
    train, test = read_ts(d / "JapaneseVowels_TRAIN.ts"), read_ts(d / "JapaneseVowels_TEST.ts")
    for part, name in ((train, "train"), (test, "test")):
        part.ids = [f"{name}{k}" for k in range(len(part))]
        part.channels = [f"lpc{c + 1}" for c in range(12)]
    return train, test, {"split": "official 270 train / 370 test (UCI)", "task": "speaker (1-9) from vowel /ae/ LPC"}


def _watch():
    from .packaged import package_dir

    path = package_dir("seglearn", "classify") / "data" / "watch_dataset.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: reinstall seglearn (pip install 'lstmkit[classify]')")
    # A file shipped inside the seglearn package (trusted); the only place lstmkit reads a pickle.
    d = np.load(path, allow_pickle=True).item()
    names = [str(s) for s in d["y_labels"]]
    subject = np.asarray(d["subject"])
    test_subjects = sorted(set(subject.tolist()))[-3:]
    data = LabelledSequences([np.asarray(x, dtype=np.float32) for x in d["X"]], [names[int(v)] for v in d["y"]],
                             [f"subject{s}-{k}" for k, s in enumerate(subject.tolist())],
                             [str(c) for c in d["X_labels"]], str(path))
    te = np.flatnonzero(np.isin(subject, test_subjects))
    tr = np.setdiff1d(np.arange(len(data)), te)
    return data.subset(tr), data.subset(te), {
        "split": f"by subject: test subjects {test_subjects}, the other {len(set(subject.tolist())) - 3} train",
        "task": "7 shoulder exercises from a smartwatch (accelerometer + gyroscope, 50 Hz)"}


def _peptides():
    try:
        from modlamp.datasets import load_AMPvsUniProt
    except ImportError as e:
        raise ImportError("the peptide example ships inside modlamp: pip install modlamp") from e
    d = load_AMPvsUniProt()
    names = [str(n) for n in d.target_names]
    X = [one_hot_protein(str(s), f"modlamp AMPvsUniProt sequence {k}") for k, s in enumerate(d.sequences)]
    y = [names[int(t)] for t in d.target]
    data = LabelledSequences(X, y, [f"pep{k}" for k in range(len(X))], list(AMINO_ACIDS), "modlamp AMPvsUniProt")
    tr, te = stratified_split(y, 0.2, seed=0)
    return data.subset(tr), data.subset(te), {
        "split": "fixed stratified 80/20 (seed 0)", "task": "antimicrobial peptide (AMP) vs UniProt sequence"}


def load_example(name: str) -> tuple[LabelledSequences, LabelledSequences, dict]:
    """A shipped example as ``(train, test, info)``.

    - ``"japanese-vowels"``: aeon's JapaneseVowels, 12 LPC channels, lengths 7-29, 9
      speakers; the official 270/370 split.
    - ``"watch"``: seglearn's smartwatch shoulder exercises, 6 channels at 50 Hz, 7
      classes, 10 subjects; the last three subjects are the test set.
    - ``"peptides"``: modlamp's 2600 antimicrobial peptides vs 2600 UniProt sequences,
      one-hot over 20 amino acids; a fixed stratified 80/20 split.
    """
    loaders = {"japanese-vowels": _japanese_vowels, "watch": _watch, "peptides": _peptides}
    if name not in loaders:
        raise ValueError(f"unknown example {name!r}; expected one of {', '.join(EXAMPLES)}")
    train, test, info = loaders[name]()
    info = {"example": name, **info}
    train.info, test.info = dict(info), dict(info)
    return train, test, info
