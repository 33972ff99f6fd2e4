"""Reading the user's own files: one place for the checks every reader needs first."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_user_text"]


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
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; expected {expected}")
    data = p.read_bytes()
    if not data.strip():
        raise ValueError(f"{p} is empty; expected {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"{p}: line {line} is not UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8, "
                         f"e.g. `iconv -f latin1 -t utf-8 {p.name} > fixed{p.suffix}`") from None
