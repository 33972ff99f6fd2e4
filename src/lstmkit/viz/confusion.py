"""Confusion matrix as a PNG: counts in the cells, colour = row-normalised share (recall)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .figures import figure_png, pyplot

__all__ = ["plot_confusion_matrix", "confusion_matrix_png"]


def confusion_matrix_png(cm, class_names, title: str = "") -> bytes:
    """The PNG bytes of :func:`plot_confusion_matrix` (to store inside a model directory).

    Example:
        >>> confusion_matrix_png([[1, 0], [0, 1]], ["a", "b"])[:4]
        b'\\x89PNG'
    """
    return figure_png(_figure(np.asarray(cm), [str(c) for c in class_names], title))


def plot_confusion_matrix(cm, class_names, path: str | os.PathLike, title: str = "") -> Path:
    """Draw a confusion matrix (rows = true class, columns = predicted) and write it atomically.

    Each cell shows its count; the colour is the count divided by its row's total, so a
    rare class is as visible as a frequent one.

    Args:
        cm: (K, K) counts, e.g. from :func:`lstmkit.apps.classify.confusion_matrix`.
        class_names: K labels for the axes.
        path: the PNG to write.
        title: figure title.

    Example:
        >>> import tempfile, os
        >>> p = plot_confusion_matrix([[5, 1], [0, 4]], ["a", "b"], os.path.join(tempfile.mkdtemp(), "cm.png"))
        >>> p.exists()
        True
    """
    from ..io import atomic_write_bytes

    atomic_write_bytes(path, confusion_matrix_png(cm, class_names, title))
    return Path(path)


def _figure(cm: np.ndarray, names: list[str], title: str):
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(names):
        raise ValueError(f"cm must be a square ({len(names)}, {len(names)}) matrix matching class_names, "
                         f"got shape {tuple(cm.shape)}")
    plt = pyplot()
    k = len(names)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(3.5, min(0.55 * k + 2.0, 14.0))
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    try:
        im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
        ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right" if
                      max(map(len, names)) > 3 else "center")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        fs = 9 if k <= 12 else 7
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=fs,
                        color="white" if share[i, j] > 0.5 else "black")
        if title:
            ax.set_title(title)
    except BaseException:
        plt.close(fig)
        raise
    return fig
