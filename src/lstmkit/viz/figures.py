"""Where every lstmkit figure becomes a PNG: pyplot on the file-only Agg backend (with the
extra to install when matplotlib is missing), a finished figure as PNG bytes, and a figure
written atomically (through :func:`lstmkit.io.atomic_write_bytes`). Plots in viz/ and the
apps' own figures use these three, so a figure is saved one way everywhere."""

from __future__ import annotations

import io
import os
from pathlib import Path

__all__ = ["pyplot", "figure_png", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no window, files only).

    Raises:
        ImportError: matplotlib is not installed (names the extra, ``lstmkit[viz]``).

    Example:
        >>> plt = pyplot()
        >>> plt.get_backend().lower()
        'agg'
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install 'lstmkit[viz]'") from e
    return plt


def figure_png(fig, dpi: int = 110, tight: bool = True) -> bytes:
    """The PNG bytes of a finished matplotlib figure; the figure is closed afterwards
    (also when saving fails), so a caller never leaks one.

    Args:
        fig: a ``matplotlib.figure.Figure``.
        dpi: dots per inch.
        tight: crop to the drawn content (``bbox_inches="tight"``).

    Example:
        >>> fig, ax = pyplot().subplots()
        >>> _ = ax.plot([0, 1], [1, 0])
        >>> figure_png(fig, dpi=50)[:4]
        b'\\x89PNG'
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ValueError(f"dpi must be a positive int, got {dpi!r}")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def save_figure(fig, path: str | os.PathLike, dpi: int = 110, tight: bool = True) -> Path:
    """Write a finished figure to ``path`` as a PNG, atomically, and close it.

    Args:
        fig: a ``matplotlib.figure.Figure``.
        path: the PNG file (replaced if it exists; callers that must not replace one check first).
        dpi, tight: as :func:`figure_png`.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import os, tempfile
        >>> fig, ax = pyplot().subplots()
        >>> save_figure(fig, os.path.join(tempfile.mkdtemp(), "f.png"), dpi=50).read_bytes()[:4]
        b'\\x89PNG'
    """
    from ..io import atomic_write_bytes

    atomic_write_bytes(path, figure_png(fig, dpi=dpi, tight=tight))
    return Path(path)
