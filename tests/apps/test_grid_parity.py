"""The parity study: rows per (k, model), the table; a 2-bit parity (XOR) is learned by the
grid network in a few hundred updates."""

from __future__ import annotations

import pytest

from lstmkit.apps.grid_parity import format_parity, grid_parity


def test_xor_is_learned_and_the_table():
    r = grid_parity(ks=(2,), hidden_size=16, updates=300, models=("grid",))
    assert r["rows"][0]["accuracy"] > 0.95
    assert f"{r['rows'][0]['accuracy']:.2%}" in format_parity(r).splitlines()[1]
    with pytest.raises(ValueError, match="models must be"):
        grid_parity(models=("tree",))
    with pytest.raises(ValueError, match="ks must be positive ints"):
        grid_parity(ks=(0,))
