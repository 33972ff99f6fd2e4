"""A piano roll as a PNG: time across, pitch up, a filled cell where a key sounds."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .figures import figure_png, pyplot

__all__ = ["piano_roll_png"]

_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def piano_roll_png(roll, pitches: Sequence[int], step: float = 0.5, title: str = "", prime: int = 0,
                   bars: float | None = 4.0) -> bytes:
    """PNG bytes of a piano roll.

    Args:
        roll: (T, K) frames (1: the key sounds).
        pitches: the MIDI pitch of each of the K keys.
        step: quarter notes per frame (the time axis is labelled in quarter notes).
        title: the figure's title.
        prime: the first ``prime`` frames were given, not generated: shaded.
        bars: quarter notes per bar for the bar lines (None: none).

    Example:
        >>> r = np.zeros((16, 3)); r[:8, 0] = 1; r[4:, 2] = 1
        >>> piano_roll_png(r, [60, 62, 64])[:4]
        b'\\x89PNG'
    """
    r = np.asarray(roll, dtype=float)
    if r.ndim != 2 or r.shape[1] != len(pitches):
        raise ValueError(f"roll must be (T, {len(pitches)}) frames (one column per pitch), got shape {r.shape}")
    plt = pyplot()
    used = np.flatnonzero(r.any(0))
    lo = int(min(pitches[used[0]] if len(used) else pitches[0], pitches[0] if len(pitches) < 30 else 127))
    hi = int(max(pitches[used[-1]] if len(used) else pitches[-1], pitches[-1] if len(pitches) < 30 else 0))
    lo, hi = max(0, lo - 2), min(127, hi + 2)
    img = np.zeros((hi - lo + 1, len(r)))
    for k, p in enumerate(pitches):
        if lo <= p <= hi:
            img[p - lo] = np.maximum(img[p - lo], r[:, k])
    width = min(16.0, 3.0 + len(r) * step / 8)
    fig, ax = plt.subplots(figsize=(width, 3.5))
    try:
        T = len(r) * step
        ax.imshow(img, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(0, T, lo - 0.5, hi + 0.5), vmin=0, vmax=1)
        if prime:
            ax.axvspan(0, prime * step, color="tab:blue", alpha=0.12, label="given")
            ax.legend(loc="upper right", fontsize=8)
        if bars:
            for x in np.arange(0, T + 1e-9, bars):
                ax.axvline(x, color="tab:red", lw=0.4, alpha=0.4)
        ticks = [p for p in range(lo, hi + 1) if p % 12 == 0]
        ax.set_yticks(ticks, [f"{_NAMES[p % 12]}{p // 12 - 1}" for p in ticks])
        ax.set_xlabel("time (quarter notes)")
        ax.set_ylabel("pitch")
        if title:
            ax.set_title(title)
    except BaseException:
        plt.close(fig)
        raise
    return figure_png(fig, dpi=100)
