"""Bach chorales from music21's corpus: voices, piano rolls, the MIDI/MusicXML round trip,
the .npz cache and the split by chorale. A few chorales only (parsing all 371 takes a minute)."""

import numpy as np
import pytest

pytest.importorskip("music21")

from lstmkit.data import chorales as C  # noqa: E402

NUMBERS = [1, 2, 3, 11]  # 11 (BWV 41.6) has nine parts: left out


@pytest.fixture(scope="module")
def few(data_cache):
    return C.load_chorales(0.5, numbers=NUMBERS, progress=False)


def test_four_part_chorales_only_and_voices_in_range(few):
    assert few.numbers == [1, 2, 3]
    assert "11" in few.dropped and "not four" in few.dropped["11"]
    for v in few.voices:
        assert v.shape[1] == 4 and v.dtype == np.int16
        sounding = v[v > 0]
        assert sounding.min() >= C.LOW and sounding.max() <= C.HIGH
        # soprano above bass wherever both sound
        both = (v[:, 0] > 0) & (v[:, 3] > 0)
        assert (v[both, 0] > v[both, 3]).mean() > 0.95


def test_voices_agree_with_music21_and_transposition_is_a_shift(data_cache):
    from music21 import corpus

    name = C.chorale_files()[0]
    score = corpus.parse(name)
    own = C.load_chorales(0.5, transpose=False, numbers=[1], progress=False)
    # the voices' roll is music21's every note sampled on the same grid
    assert np.array_equal(C.voices_to_roll(own.voices[0]), C.stream_to_roll(score, 0.5, len(own.voices[0])))
    moved = C.load_chorales(0.5, transpose=True, numbers=[1], progress=False).voices[0]
    shift = set((moved[own.voices[0] > 0] - own.voices[0][own.voices[0] > 0]).tolist())
    assert len(shift) == 1 and -6 <= shift.pop() <= 5
    assert own.keys[0] == moved_key(name)


def moved_key(name):
    from music21 import corpus

    k = corpus.parse(name).analyze("key")
    return f"{k.tonic.name} {k.mode}"


@pytest.mark.parametrize("step", [0.25, 0.5, 1.0])
def test_resolution_scales_the_frames(data_cache, step):
    ch = C.load_chorales(step, numbers=[2], progress=False)
    base = C.load_chorales(1.0, numbers=[2], progress=False)
    assert abs(len(ch.voices[0]) * step - len(base.voices[0])) <= 1
    # sampling a finer grid at the coarse grid's points gives the coarse roll
    every = int(round(1.0 / step))
    assert np.array_equal(ch.voices[0][::every][: len(base.voices[0])], base.voices[0][: len(ch.voices[0][::every])])


@pytest.mark.parametrize("fmt,ext", [("midi", "mid"), ("musicxml", "musicxml")])
def test_piano_roll_round_trip_through_files(few, tmp_path, fmt, ext):
    from music21 import converter

    roll = few.roll(1)
    path = tmp_path / f"c.{ext}"
    C.roll_to_stream(roll, 0.5).write(fmt, fp=str(path))
    back = C.stream_to_roll(converter.parse(str(path)), 0.5, len(roll))
    assert np.array_equal(back, roll)


def test_roll_to_stream_other_keys_and_errors():
    r = np.zeros((6, 3), np.float32)
    r[:4, 0] = 1
    r[2:, 2] = 1
    s = C.roll_to_stream(r, 0.5, pitches=[48, 60, 72])
    assert np.array_equal(C.stream_to_roll(s, 0.5, 6, pitches=[48, 60, 72]), r)
    with pytest.raises(ValueError, match="roll must be"):
        C.roll_to_stream(np.zeros((4, 5)), 0.5)
    with pytest.raises(ValueError, match="step must be"):
        C.roll_to_stream(r, 0.0, pitches=[48, 60, 72])
    with pytest.raises(ValueError, match="pitches must lie"):
        C.voices_to_roll(np.array([[12, 60]]))


def test_cache_is_read_back_and_a_broken_one_parsed_again(few, data_cache, monkeypatch):
    files = list(data_cache.glob("chorales-*.npz"))
    assert files, "the parsed chorales were not cached"
    import music21

    def refuse(*a, **k):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(music21.corpus, "parse", refuse)
    again = C.load_chorales(0.5, numbers=NUMBERS, progress=False)
    assert again.numbers == few.numbers and all(np.array_equal(a, b) for a, b in zip(again.voices, few.voices))
    monkeypatch.undo()
    path = C._cache_path(0.5, True, sorted(NUMBERS), music21.__version__)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated: parsed again, rewritten whole
    third = C.load_chorales(0.5, numbers=NUMBERS, progress=False)
    assert third.numbers == few.numbers
    assert np.load(path, allow_pickle=False)["offsets"][-1] == sum(len(v) for v in few.voices)
    assert not [p for p in data_cache.iterdir() if p.name.endswith(".tmp")]


def test_split_is_by_chorale_disjoint_fixed_and_seeded():
    numbers = list(range(1, 329))
    tr, va, te = C.split_chorales(numbers)
    assert (len(tr), len(va), len(te)) == (196, 66, 66)
    assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    assert sorted(tr + va + te) == list(range(328))
    assert C.split_chorales(numbers) == (tr, va, te)
    assert C.split_chorales(numbers, seed=1) != (tr, va, te)
    # the same chorale lands in the same part whatever order the numbers come in
    rev = numbers[::-1]
    tr2, _, te2 = C.split_chorales(rev)
    assert sorted(rev[i] for i in te2) == sorted(numbers[i] for i in te)
    with pytest.raises(ValueError, match="different chorale numbers"):
        C.split_chorales([1, 1, 2])


def test_bad_arguments_are_one_line_errors(data_cache):
    with pytest.raises(ValueError, match="numbers must be Riemenschneider numbers"):
        C.load_chorales(numbers=[0])
    with pytest.raises(ValueError, match="step must be one of"):
        C.load_chorales("half")
    with pytest.raises(TypeError, match="transpose must be a bool"):
        C.load_chorales(transpose="yes")


def test_data_cache_dir_names_a_directory(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("LSTMKIT_DATA_CACHE", str(f))
    with pytest.raises(ValueError, match="LSTMKIT_DATA_CACHE must name a directory"):
        C.data_cache_dir()
