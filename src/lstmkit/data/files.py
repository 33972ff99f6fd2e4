"""Reading the user's own files: one place for the checks every reader needs first."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

__all__ = ["check_user_file", "read_user_text", "csv_delimiter", "plain", "MAX_SERIES_VALUE", "MAX_FEATURE_VALUE"]

MAX_SERIES_VALUE = 1e30
"""The largest magnitude a forecasting series may hold. The series is kept in float64 and
scaled before float32 training, but a value beyond this makes the scale (and every MASE)
meaningless, and at 1e308 sums overflow to infinity."""

MAX_FEATURE_VALUE = 1e18
"""The largest magnitude a classification feature may hold: sequences are float32, whose
largest value is 3.4e38, and a standard deviation squares the values (1e18 squared is
1e36, still finite)."""

_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def check_user_file(path: str | os.PathLike, expected: str) -> Path:
    """The checks every reader of a user's file makes first: it exists, is not a directory
    and is not empty; each failure one line naming the file and what was expected.

    Example:
        >>> try:
        ...     check_user_file("no/such.wav", "an audio file")
        ... except FileNotFoundError as e:
        ...     print(e)
        no/such.wav: no such file; check the path
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; expected {expected}")
    if p.stat().st_size == 0:
        raise ValueError(f"{p} is empty; expected {expected}")
    return p


def read_user_text(path: str | os.PathLike, expected: str) -> str:
    """The text of a user's file, decoded as UTF-8 (a byte-order mark is dropped).

    Args:
        path: the file.
        expected: what the file should be, for the errors ("a CSV file with a header row").

    Raises:
        FileNotFoundError: no such file.
        ValueError: a directory, an empty (or blank) file, or bytes that are not UTF-8; the
            message names the file, the line and what to do, on one line.

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
        >>> _ = open(p, "wb").write("x\\n1\\ncaf\\u00e9\\n".encode("latin-1"))
        >>> try:
        ...     read_user_text(p, "a CSV file")
        ... except ValueError as e:
        ...     print(str(e).split(": ", 1)[1].split(";")[0])
        line 3 is not UTF-8 (byte 0xe9)
    """
    p = check_user_file(path, expected)
    data = p.read_bytes()
    if not data.strip():
        raise ValueError(f"{p} is empty; expected {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"{p}: line {line} is not UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8, "
                         f"e.g. `iconv -f latin1 -t utf-8 {p.name} > fixed{p.suffix}`") from None


def csv_delimiter(text: str, path: str | os.PathLike) -> str:
    """The field delimiter of a CSV's text: ``","``, or ``";"``, tab or ``"|"`` when the
    header has no comma but splits on one of those and every row (the first 200 are
    looked at) has as many fields as the header.

    lstmkit reads such a file with the delimiter found: no conversion needed. A header
    that looks semicolon- (tab-, pipe-) separated while the rows disagree is a one-line
    error naming the first row that does not fit (unless no row splits at all: then it is
    a one-column file whose header happens to hold the character).

    Example:
        >>> csv_delimiter("a;b\\n1;2\\n", "x.csv"), csv_delimiter("a,b\\n1,2\\n", "x.csv")
        (';', ',')
    """
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if len(next(csv.reader([first]), [])) > 1:
        return ","
    for d, name in _DELIMITERS.items():
        if d not in first:
            continue
        reader = csv.reader(io.StringIO(text), delimiter=d)
        counts = []  # (line, fields) of the first 200 non-blank rows, the header first
        try:
            for row in reader:
                if any(c.strip() for c in row):
                    counts.append((reader.line_num, len(row)))
                if len(counts) > 200:
                    break
        except csv.Error:  # a NUL byte, a huge field: the reader that follows names it
            return ","
        if not counts:
            return ","
        n = counts[0][1]
        odd = [(line, k) for line, k in counts[1:] if k != n]
        if not odd:
            return d
        if all(k == 1 for _, k in counts[1:]):  # one column whose name holds a ';'
            return ","
        line, k = odd[0]
        raise ValueError(f"{path}: the header looks {name}-separated ({n} fields) but line {line} has {k}; give "
                         f"every line the same fields, separated by commas (or all by {name}s)")
    return ","


def plain(v):
    """A numpy scalar as the Python value it holds (so that messages show ``'slow'``, not
    ``np.str_('slow')``); anything else unchanged.

    Example:
        >>> import numpy as np
        >>> repr(plain(np.str_("slow"))), repr(plain(np.int64(3))), plain("a")
        ("'slow'", '3', 'a')
    """
    import numpy as np

    return v.item() if isinstance(v, np.generic) else v
