"""An attention heat map: which source pieces each output piece looked at (Bahdanau et al.
2015, Fig. 3), as PNG bytes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .figures import figure_png, pyplot

__all__ = ["attention_png"]


def attention_png(weights, source: Sequence[str], target: Sequence[str], title: str = "") -> bytes:
    """Rows: the output pieces (``target``), columns: the source pieces; a cell's shade is
    the attention weight (each row sums to 1).

    Raises:
        ValueError: ``weights`` is not (len(target), len(source)).

    Example:
        >>> png = attention_png([[0.9, 0.1], [0.2, 0.8]], ["▁hola", "▁mundo"], ["▁hello", "▁world"])
        >>> png[:4]
        b'\\x89PNG'
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape != (len(target), len(source)):
        raise ValueError(f"weights must be ({len(target)}, {len(source)}) (target x source pieces), "
                         f"got shape {w.shape}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(3.0, 0.38 * len(source) + 1.5), max(2.5, 0.32 * len(target) + 1.2)))
    try:
        ax.imshow(w, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)), [s.replace("\u2581", "_") for s in source], rotation=75, fontsize=8)
        ax.set_yticks(range(len(target)), [t.replace("\u2581", "_") for t in target], fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        if title:
            ax.set_title(title)
    except BaseException:
        plt.close(fig)
        raise
    return figure_png(fig)
