"""Speech augmentation (lstmkit.data.augment): the same seed gives the same result, shapes
and levels are what each function says, the input is never changed, unknown names fail."""

import numpy as np
import pytest

from lstmkit.data.augment import (WAVEFORM_AUGMENTATIONS, add_noise, augment_waveform, check_augmentations,
                                  random_gain, speed_perturb, spec_augment)


def _tone(n=8000, amp=0.3):
    return (amp * np.sin(np.arange(n) / 4.0)).astype(np.float32)


def test_speed_changes_the_length_by_the_factor_and_keeps_the_tone_at_1():
    y = _tone()
    assert speed_perturb(y, 1.1).shape == (7273,) and speed_perturb(y, 0.9).shape == (8889,)
    np.testing.assert_allclose(speed_perturb(y, 1.0), y, atol=1e-7)
    # twice as fast: every second sample
    np.testing.assert_allclose(speed_perturb(y, 2.0), y[::2], atol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        speed_perturb(y, 3.0)
    with pytest.raises(ValueError, match="1-D signal"):
        speed_perturb(np.zeros((2, 3)), 1.0)


def test_noise_hits_the_asked_snr_for_both_colours_and_is_seeded():
    y = _tone(16000)
    for color in ("white", "pink"):
        z = add_noise(y, 10.0, np.random.default_rng(3), color)
        snr = 10 * np.log10((y.astype(np.float64) ** 2).mean() / ((z - y).astype(np.float64) ** 2).mean())
        assert snr == pytest.approx(10.0, abs=0.05)
        np.testing.assert_array_equal(z, add_noise(y, 10.0, np.random.default_rng(3), color))
        assert not np.array_equal(z, add_noise(y, 10.0, np.random.default_rng(4), color))
    # pink noise has more power in the low half of the band than white noise
    w = np.abs(np.fft.rfft(add_noise(y, 0.0, np.random.default_rng(0), "white") - y)) ** 2
    p = np.abs(np.fft.rfft(add_noise(y, 0.0, np.random.default_rng(0), "pink") - y)) ** 2
    half = len(w) // 2
    assert p[:half].sum() / p.sum() > 0.8 > w[:half].sum() / w.sum()


def test_gain_in_decibels_and_clipped():
    y = _tone(100, 0.1)
    np.testing.assert_allclose(random_gain(y, -20.0), y / 10, rtol=1e-5)
    assert random_gain(y, 40.0).max() == 1.0


def test_spec_augment_masks_within_its_limits_and_leaves_the_input():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 39)).astype(np.float32)
    keep = x.copy()
    y = spec_augment(x, np.random.default_rng(5), time_masks=2, max_time=4, feature_masks=2, max_features=5)
    np.testing.assert_array_equal(x, keep)
    assert y.shape == x.shape and y.dtype == np.float32
    changed_rows = np.flatnonzero((y != x).all(axis=1))
    changed_cols = np.flatnonzero((y != x).all(axis=0))
    assert len(changed_rows) <= 8 and len(changed_cols) <= 10
    assert len(changed_rows) + len(changed_cols) > 0
    np.testing.assert_array_equal(y, spec_augment(x, np.random.default_rng(5)))
    # a short utterance loses at most a tenth of its frames per mask
    short = spec_augment(x[:20], np.random.default_rng(1), time_masks=2, max_time=10, feature_masks=0)
    assert (short != x[:20]).any(axis=1).sum() <= 4
    with pytest.raises(ValueError, match=r"\(T, F\)"):
        spec_augment(x[0], rng)


def test_augment_waveform_is_deterministic_and_each_switch_is_independent():
    y = _tone(16000)
    a = augment_waveform(y, 8000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, augment_waveform(y, 8000, np.random.default_rng(7)))
    assert a.dtype == np.float32 and a.ndim == 1
    outs = {augment_waveform(y, 8000, np.random.default_rng(s), ("speed",)).size for s in range(8)}
    assert len(outs) > 2  # speeds differ between draws
    np.testing.assert_array_equal(augment_waveform(y, 8000, np.random.default_rng(7), ()), y)
    # gain alone never changes the length, speed alone never adds noise
    g = augment_waveform(y, 8000, np.random.default_rng(2), ("gain",))
    assert g.shape == y.shape and np.allclose(g / np.abs(g).max(), y / np.abs(y).max(), atol=1e-5)
    assert set(WAVEFORM_AUGMENTATIONS) == {"speed", "pitch", "noise", "gain"}
    with pytest.raises(ValueError, match="unknown augmentation.*reverb"):
        check_augmentations(["speed", "reverb"])
