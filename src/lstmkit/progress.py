"""Progress bars, one way everywhere: tqdm on a terminal; to a file or a pipe (CI, nohup,
a log) one line every 30 s at most instead of every update; nothing when disabled or when
tqdm is not installed.

Example:
    >>> bar = progress_bar(3, "work", enabled=False)
    >>> bar is None
    True
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar", "NON_TTY_INTERVAL_S"]

#: Seconds between two lines of a progress bar written to something that is not a terminal.
NON_TTY_INTERVAL_S = 30.0


def progress_bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True, initial: int = 0,
                 leave: bool = True, file=None) -> Any:
    """A tqdm bar on stderr (or ``file``), or ``None`` when ``enabled`` is false or tqdm is
    missing; callers write ``if bar: bar.update(n)``.

    Args:
        total: the number of units (None: unknown).
        desc: the bar's label.
        unit: what one unit is ("batch", "upd", "line").
        enabled: False for no bar at all (``--no-progress``).
        initial: units already done (a resumed run).
        leave: keep the finished bar on screen.
    """
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    file = sys.stderr if file is None else file
    tty = bool(getattr(file, "isatty", lambda: False)())
    kw = {} if tty else {"mininterval": NON_TTY_INTERVAL_S, "maxinterval": NON_TTY_INTERVAL_S * 4,
                         "miniters": 0, "ncols": 100}
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=file, leave=leave,
                dynamic_ncols=tty, **kw)
