"""The depth experiment: every (kind, depth, lr, gate bias) run, the best per net, the
table and the figure (refusing an existing file), with a tiny budget."""

from __future__ import annotations

import math

import pytest

from lstmkit.apps.highway import format_highway, highway_depth, plot_highway

pytest.importorskip("mlxtend")


def test_depth_experiment_small(tmp_path):
    r = highway_depth(depths=(2, 4), updates=30, lrs=(0.05,), gate_biases=(-1.0, -3.0), highway_width=16,
                      plain_width=16)
    assert len(r["runs"]) == 2 * 3 and len(r["best"]) == 4
    for run in r["runs"]:
        assert run["diverged"] or (math.isfinite(run["train_loss"]) and len(run["curve"]) == 3)
    # 30 updates of a shallow net learn something: below the 2.30 of a uniform guess
    best2 = [b for b in r["best"] if b["depth"] == 2]
    assert min(b["train_loss"] for b in best2) < 2.2
    assert "b_T" in format_highway(r)
    png = plot_highway(r, tmp_path / "h.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(FileExistsError):
        plot_highway(r, png)
    with pytest.raises(ValueError, match="depths must be positive ints"):
        highway_depth(depths=(0,))
