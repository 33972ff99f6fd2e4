"""The timing-classes generator: balanced, labelled by the time between the markers alone,
values alike across classes; the long CSV round trip keeps the times."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit.data.irregular import GAMMA_MEDIAN, timing_classes, write_long_csv
from lstmkit.data.sequences import read_csv_long


def test_labels_come_from_the_times_only():
    d = timing_classes(200, steps=20, marker_gap=6, seed=3)
    assert d.y.count("long") == d.y.count("short") == 100
    for x, t, label in zip(d.X, d.times, d.y):
        marks = np.flatnonzero(x[:, 0] == 1.0)
        assert len(marks) == 2 and marks[1] - marks[0] == 6
        between = t[marks[1]] - t[marks[0]] - 0.05 * 6
        assert (between > GAMMA_MEDIAN[6]) == (label == "long") and abs(between - GAMMA_MEDIAN[6]) >= 0.5
        assert bool((np.diff(t) > 0).all()) and t[0] == 0
    # the marker positions and the noise say nothing about the class
    pos = {c: np.mean([np.flatnonzero(x[:, 0] == 1.0)[0] for x, y in zip(d.X, d.y) if y == c]) for c in ("long", "short")}
    assert abs(pos["long"] - pos["short"]) < 1.5
    with pytest.raises(ValueError, match="marker_gap must be one of"):
        timing_classes(4, marker_gap=7)
    with pytest.raises(ValueError, match="steps must be at least"):
        timing_classes(4, steps=5)


def test_long_csv_round_trip_keeps_the_times(tmp_path):
    d = timing_classes(6, seed=1)
    p = tmp_path / "t.csv"
    write_long_csv(d, p)
    back = read_csv_long(p, time_column="time")
    assert back.y == d.y and back.ids == d.ids
    for a, b in zip(back.times, d.times):
        assert np.allclose(a, b, atol=1e-6)
    with pytest.raises(FileExistsError):
        write_long_csv(d, p)
