"""Irregularly sampled sequences whose classes differ only in their timing (in the spirit
of the T-LSTM paper's synthetic data, Baytas et al. 2017), and a long-CSV writer for them.

Every sequence has the same number of steps, the same values' distribution and two
marker steps a fixed number of steps apart; the steps' elapsed times are random. The
label says whether the *time* between the two markers is longer than the median: a
model that ignores the timestamps sees nothing that tells the classes apart.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from .sequences import LabelledSequences

__all__ = ["timing_classes", "write_long_csv", "GAMMA_MEDIAN"]

GAMMA_MEDIAN = {1: 0.6931, 2: 1.6783, 3: 2.6741, 4: 3.6721, 5: 4.6709, 6: 5.6702, 8: 7.6692}
"""The median of a sum of k unit-rate exponential gaps (Gamma(k, 1)), for the labels."""


def timing_classes(n: int, steps: int = 24, marker_gap: int = 6, margin: float = 0.5, seed: int = 0,
                   source: str = "timing-classes") -> LabelledSequences:
    """``n`` sequences of ``steps`` steps, one channel, labelled ``"short"``/``"long"`` by
    the time between their two markers.

    Each step's elapsed time is 0.05 + Exp(1); the channel is 1 at the two marker steps
    (``marker_gap`` steps apart, at a random place) and N(0, 0.1^2) noise elsewhere, the
    same for both classes. Label: the sum of the ``marker_gap`` gaps between the markers
    above (``"long"``) or below (``"short"``) its median; sequences within ``margin`` of it
    are drawn again (the classes are separable from the times alone). Balanced.

    Args:
        n: number of sequences (even numbers give exactly balanced classes).
        steps: steps per sequence (> marker_gap + 1).
        marker_gap: steps between the two markers (a key of :data:`GAMMA_MEDIAN`).
        margin: the band around the median left out.
        seed: the generator's seed.
        source: the name recorded as the data's source.

    Returns:
        :class:`~lstmkit.data.sequences.LabelledSequences` with ``times`` (cumulative).

    Example:
        >>> d = timing_classes(4, seed=1)
        >>> len(d), d.X[0].shape, sorted(set(d.y)), d.times[0].shape
        (4, (24, 1), ['long', 'short'], (24,))
    """
    for name, v in (("n", n), ("steps", steps), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "seed" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} int, got {v!r}")
    if marker_gap not in GAMMA_MEDIAN:
        raise ValueError(f"marker_gap must be one of {sorted(GAMMA_MEDIAN)}, got {marker_gap!r}")
    if steps < marker_gap + 2:
        raise ValueError(f"steps must be at least marker_gap + 2 = {marker_gap + 2}, got {steps}")
    if not 0 <= margin < GAMMA_MEDIAN[marker_gap]:
        raise ValueError(f"margin must be in [0, {GAMMA_MEDIAN[marker_gap]}), got {margin!r}")
    rng = np.random.default_rng(seed)
    med = GAMMA_MEDIAN[marker_gap]
    X, y, times, ids = [], [], [], []
    want = ["short", "long"] * (n // 2) + (["short"] if n % 2 else [])
    for k, label in enumerate(want):
        while True:
            gaps = 0.05 + rng.exponential(1.0, steps)
            start = int(rng.integers(1, steps - marker_gap))
            between = float(gaps[start + 1:start + marker_gap + 1].sum() - 0.05 * marker_gap)
            if abs(between - med) >= margin and (between > med) == (label == "long"):
                break
        x = rng.normal(0.0, 0.1, (steps, 1)).astype(np.float32)
        x[start, 0] = x[start + marker_gap, 0] = 1.0
        X.append(x)
        y.append(label)
        times.append(np.cumsum(gaps) - gaps[0])
        ids.append(f"s{k}")
    perm = rng.permutation(n)
    return LabelledSequences([X[i] for i in perm], [y[i] for i in perm], [ids[i] for i in perm], ["x"], source,
                             {"time_column": "time"}, [times[i] for i in perm])


def write_long_csv(data: LabelledSequences, path: str | os.PathLike) -> None:
    """Write sequences with ``times`` as a long CSV (``id,time,<channels>,label``), the
    format ``lstmkit classify train FILE --time-column time`` reads; refuses an existing file.

    Args:
        data: sequences with ``times`` (and labels).
        path: a new file.

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> write_long_csv(timing_classes(2), p)
        >>> open(p).readline().strip()
        'id,time,x,label'
    """
    from ..io import atomic_write_text

    if data.times is None:
        raise ValueError("data has no times; write_long_csv needs sequences with times")
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists; give a new path")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "time", *data.channels] + (["label"] if data.y is not None else []))
    for k, (sid, x, t) in enumerate(zip(data.ids, data.X, data.times)):
        for j in range(len(x)):
            w.writerow([sid, f"{t[j]:.6f}", *[f"{v:.6g}" for v in x[j]]] + ([data.y[k]] if data.y is not None else []))
    atomic_write_text(path, buf.getvalue())
