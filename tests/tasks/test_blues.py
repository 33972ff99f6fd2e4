"""The 12-bar blues generator keeps its structure by construction; the scorer finds every
kind of broken structure."""

import numpy as np
import pytest

from lstmkit.tasks import blues as B


def test_generator_keeps_the_progression_and_the_scale():
    piece = B.blues_piece(6, seed=3)
    assert piece.shape == (6 * B.CHORUS, 25)
    s = B.score_structure(piece)
    assert (s.bar_accuracy, s.choruses, s.choruses_kept, s.first_wrong_bar) == (1.0, 6, 6, None)
    # every frame holds exactly one chord of four notes, the bar's chord
    chords = piece[:, :12]
    assert (chords.sum(1) == 4).all()
    for bar, name in enumerate(B.PROGRESSION * 6):
        want = np.isin(B.CHORD_KEYS, B.CHORDS[name])
        assert (chords[bar * 8:(bar + 1) * 8] == want).all()
    # at most one melody note at a time, always from the blues scale
    melody = piece[:, 12:]
    assert melody.sum(1).max() == 1
    used = {B.MELODY_KEYS[k] for k in np.flatnonzero(melody.any(0))}
    assert used <= set(B.BLUES_SCALE) and len(used) >= 4
    # fresh melodies: two choruses differ, the same seed repeats
    assert not np.array_equal(piece[:96, 12:], piece[96:192, 12:])
    assert np.array_equal(B.blues_piece(2, seed=3), piece[:192])


def test_scorer_detects_broken_structure():
    good = B.blues_piece(4, seed=0)
    shuffled = good.reshape(48, 8, 25)[np.random.default_rng(0).permutation(48)].reshape(-1, 25)
    assert B.score_structure(shuffled).bar_accuracy < 0.8 and B.score_structure(shuffled).choruses_kept < 4
    # one bar of the third chorus played with the wrong chord
    wrong = good.copy()
    bar = 24 + 4  # an F7 bar
    wrong[bar * 8:(bar + 1) * 8, :12] = np.isin(B.CHORD_KEYS, B.CHORDS["G7"])
    s = B.score_structure(wrong)
    assert (s.first_wrong_bar, s.choruses_kept, s.choruses_right) == (bar, 2, 3)
    assert s.bar_accuracy == pytest.approx(47 / 48)
    # a chord held a bar too long, so the rest of the piece is one bar late
    late = np.concatenate([good[:8], good[:-8]])
    assert B.score_structure(late).bar_accuracy < 0.8
    # ... which is right when scored from the right phase
    assert B.score_structure(good[8:], start_bar=1).bar_accuracy == 1.0
    # an extra note in the chord for most of a bar is wrong; for one frame it is not
    extra = good.copy()
    extra[:5, 1] = 1
    assert B.score_structure(extra).first_wrong_bar == 0
    extra = good.copy()
    extra[:1, 1] = 1
    assert B.score_structure(extra).first_wrong_bar is None
    # silence keeps nothing
    assert B.score_structure(np.zeros((96, 25))).bar_accuracy == 0.0


def test_errors():
    with pytest.raises(ValueError, match="choruses must be"):
        B.blues_piece(0)
    with pytest.raises(ValueError, match=r"frames must be \(T, 25\)"):
        B.score_structure(np.zeros((96, 24)))
    with pytest.raises(ValueError, match="not one whole bar"):
        B.score_structure(np.zeros((7, 25)))
    with pytest.raises(ValueError, match="start_bar"):
        B.score_structure(np.zeros((8, 25)), start_bar=-1)
