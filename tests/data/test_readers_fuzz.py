"""Every reader of a user's file, fuzzed (hypothesis) and pinned on the cases of issue 11.

The property, for each reader (series CSV, long CSV, .ts, .npz, text CSV, audio, image):
a valid result, or a ValueError/FileNotFoundError whose message is ONE line naming the
file; never another exception, never a warning on the screen, never a file touched
outside the input (the directory around it and the working directory are compared before
and after). The model-directory reader is fuzzed elsewhere.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import warnings
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lstmkit.data.files import MAX_FEATURE_VALUE, MAX_SERIES_VALUE

# LSTMKIT_FUZZ_EXAMPLES=2000 for a deeper run than the default's ~15 s.
FUZZ = settings(max_examples=int(os.environ.get("LSTMKIT_FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])


# ----------------------------------------------------------------------------- the property


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st_ = p.lstat()
            out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns)
    return out


class _Refused(Exception):
    """What a reader refused with (the message only)."""


def _open_files() -> set:
    """The paths of this process's open file descriptors that name files (Linux), else empty."""
    if not os.path.isdir("/proc/self/fd"):
        return set()
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/") and "lstmkit-fuzz-" in target:
            out.add(target)
    return out


def _outcome(read, path: Path):
    """``read(path)``'s result, or the one-line error it raised (asserting the property)."""
    root = path.parent.parent
    before, cwd_before, fds = _snapshot(root), sorted(os.listdir()), _open_files()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = read(path)
        except (ValueError, FileNotFoundError) as e:
            msg = str(e)
            assert "\n" not in msg and "\r" not in msg, f"{type(e).__name__} of more than one line: {msg!r}"
            assert path.name in msg, f"the message does not name the file: {msg!r}"
            assert "np.str_" not in msg and "np.float" not in msg and "np.int" not in msg, msg
            result = _Refused(f"{type(e).__name__}: {msg}")  # not e: its traceback keeps the reader's frames
    assert _open_files() == fds, f"files left open: {sorted(_open_files() - fds)}"
    # (a ResourceWarning comes whenever the garbage collector runs, often in a later call:
    # the open-file check above is the deterministic form of it)
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, ResourceWarning))]
    assert not shown, f"warnings reached the user: {shown}"
    assert _snapshot(root) == before, "files changed next to the input"
    assert sorted(os.listdir()) == cwd_before, "files changed in the working directory"
    event("refused" if isinstance(result, _Refused) else "read")  # see --hypothesis-show-statistics
    return result


def _write(name: str, data: bytes | str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="lstmkit-fuzz-"))
    (root / "in").mkdir()
    p = root / "in" / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def _cleanup(p: Path) -> None:
    import shutil

    shutil.rmtree(p.parent.parent, ignore_errors=True)


def _read_fuzzed(name: str, data: bytes | str, read, valid=None) -> None:
    """Write ``data`` as ``name`` in a fresh folder, read it with ``read`` (its result or its
    one-line error, :func:`_outcome`), check a result with ``valid``, remove the folder."""
    p = _write(name, data)
    try:
        r = _outcome(read, p)
        if valid is not None and not isinstance(r, Exception):
            valid(r)
    finally:
        _cleanup(p)


# ----------------------------------------------------------------------------- strategies

_CELLS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "NA", "nan", "inf", "-inf", "1e308", "-1e309", "1e29", "1e19", "1,5", "abc",
                     "2020-01-01", "2020-01-02", "  3 ", '"q"', 'x;y', "?", "0", "1", "2"]),
    st.text(max_size=4),
)
_NAMES = ["t", "v", "id", "time", "x", "y", "label", "text"]


@st.composite
def csv_text(draw, names=_NAMES):
    header = draw(st.lists(st.sampled_from(names + ["a;b", "é"]), min_size=1, max_size=5, unique=True))
    ncol = len(header)
    rows = draw(st.lists(st.lists(_CELLS, min_size=ncol, max_size=ncol) | st.lists(_CELLS, max_size=6),
                         max_size=10))
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return bom + nl.join(sep.join(r) for r in [header] + rows) + draw(st.sampled_from(["", nl]))


# ----------------------------------------------------------------------------- series CSV


def _valid_series(s):
    from lstmkit.data.series import TimeSeries

    assert isinstance(s, TimeSeries)
    v = s.values
    assert v.ndim == 1 and v.dtype == np.float64 and len(v) >= 1 and np.isfinite(v).all()
    assert np.abs(v).max() <= MAX_SERIES_VALUE and np.ptp(v) > 0


_NUMBERS = st.one_of(st.floats(-1e6, 1e6).map(str), st.integers(-999, 999).map(str),
                     st.sampled_from(["", "NA", "1e308", "-1e31", "1e29", "inf", "nan", "abc"]))


@st.composite
def series_csv(draw):
    """Mostly well-formed: dates (sometimes repeated or missing) and numbers (sometimes odd)."""
    n = draw(st.integers(1, 15))
    days = sorted(draw(st.lists(st.integers(1, 28), min_size=n, max_size=n)))
    cells = draw(st.lists(st.one_of(st.floats(-1e6, 1e6).map(str), st.integers(-999, 999).map(str))
                          | _NUMBERS, min_size=n, max_size=n))
    sep = draw(st.sampled_from([",", ";", "\t"]))
    return "\n".join([sep.join(["t", "v"])] + [f"2021-02-{d:02d}{sep}{c}" for d, c in zip(days, cells)]) + "\n"


@FUZZ
@given(text=csv_text() | series_csv(), with_time=st.booleans())
def test_fuzz_read_series(text, with_time):
    from lstmkit.data.series import read_series

    _read_fuzzed("series.csv", text, lambda q: read_series(q, "v", time_column="t" if with_time else None),
                 _valid_series)


# ----------------------------------------------------------------------------- long CSV and text CSV


def _valid_sequences(d):
    from lstmkit.data.sequences import LabelledSequences

    assert isinstance(d, LabelledSequences) and len(d.X) >= 1 and len(d.ids) == len(d.X)
    for x in d.X:
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] >= 1 and x.shape[1] == d.X[0].shape[1]
        assert np.isfinite(x).all() and np.abs(x).max(initial=0) <= MAX_FEATURE_VALUE
    assert len(d.channels) == d.X[0].shape[1]
    assert d.y is None or (len(d.y) == len(d.X) and all(isinstance(v, str) for v in d.y))


@st.composite
def long_csv(draw):
    """Mostly well-formed: ids, times, one or two channels, labels."""
    n = draw(st.integers(1, 12))
    rows = []
    for k in range(n):
        sid = draw(st.sampled_from(["a", "b", "c"]))
        rows.append([sid, str(draw(st.integers(0, 9))), draw(_NUMBERS | st.integers(-9, 9).map(str)),
                     str(draw(st.integers(-9, 9))), {"a": "up", "b": "down", "c": "up"}[sid]])
    sep = draw(st.sampled_from([",", ";", "\t"]))
    return "\n".join(sep.join(r) for r in [["id", "time", "x", "y", "label"]] + rows) + "\n"


@FUZZ
@given(text=csv_text() | long_csv())
def test_fuzz_read_csv_long(text):
    from lstmkit.data.sequences import read_csv_long

    _read_fuzzed("long.csv", text, read_csv_long, _valid_sequences)


@FUZZ
@given(text=csv_text(names=["text", "label", "x"]))
def test_fuzz_read_text_csv(text):
    from lstmkit.data.text import read_text_csv

    def valid(r):
        assert len(r["texts"]) == len(r["labels"]) >= 1
        assert all(isinstance(t, str) and t.strip() for t in r["texts"] + r["labels"])

    _read_fuzzed("texts.csv", text, lambda q: read_text_csv(q, "text", "label"), valid)


@FUZZ
@given(data=st.binary(max_size=200), which=st.sampled_from(["series", "long", "text", "ts"]))
def test_fuzz_text_readers_on_random_bytes(data, which):
    from lstmkit.data.sequences import read_csv_long, read_ts
    from lstmkit.data.series import read_series
    from lstmkit.data.text import read_text_csv

    read = {"series": lambda q: read_series(q, "v"), "long": read_csv_long, "ts": read_ts,
            "text": lambda q: read_text_csv(q, "text", "label")}[which]
    valid = {"long": _valid_sequences, "ts": _valid_sequences, "series": _valid_series}.get(which)
    _read_fuzzed("bytes.ts" if which == "ts" else "bytes.csv", data, read, valid)


# ----------------------------------------------------------------------------- .ts

_TS_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.integers(-99, 99).map(str),
                       st.sampled_from(["?", "1e308", "1e19", "abc", "", " 1 ", "NaN"]))


@st.composite
def ts_text(draw):
    headers = draw(st.lists(st.sampled_from(["@problemName p", "@timeStamps false", "@univariate true",
                                             "@univariate false", "@classLabel true a b", "@classLabel false",
                                             "@equalLength false", "@dimensions 2", "@missing true",
                                             "junk line"]), max_size=5, unique=True))
    labelled = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        chans = [",".join(draw(st.lists(_TS_VALUES, min_size=0, max_size=4)))
                 for _ in range(draw(st.integers(1, 3)))]
        lines.append(":".join(chans + ([draw(st.sampled_from(["a", "b", ""]))] if labelled else [])))
    data = ["@data"] if draw(st.integers(0, 9)) else []
    return "\n".join(headers + data + lines) + "\n"


@FUZZ
@given(text=ts_text())
def test_fuzz_read_ts(text):
    from lstmkit.data.sequences import read_ts

    _read_fuzzed("cases.ts", text, read_ts, _valid_sequences)


# ----------------------------------------------------------------------------- .npz

_BIG = st.sampled_from([1e308, -1e308, 1e19, 3e38, 1e18, 0.5, np.nan, np.inf])


@st.composite
def npz_arrays(draw):
    d = {}
    kind = draw(st.sampled_from(["float64", "float32", "int64", "bool", "complex128", "<U3", "uint64"]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4))
    if kind.startswith("float"):
        elements = st.one_of(st.floats(width=32 if kind == "float32" else 64, allow_nan=True), _BIG) \
            if kind == "float64" else st.floats(width=32, allow_nan=True)
        X = draw(hnp.arrays(kind, shape, elements=elements))
    else:
        X = draw(hnp.arrays(kind, shape))
    d[draw(st.sampled_from(["X", "X", "X", "Z"]))] = X
    if draw(st.booleans()):
        d["lengths"] = draw(hnp.arrays(draw(st.sampled_from(["int64", "float64"])), draw(st.integers(0, 5)),
                                       elements=st.integers(-1, 6)))
    if draw(st.booleans()):
        n = draw(st.integers(0, 5))
        d["y"] = np.array(draw(st.lists(st.sampled_from(["slow", "fast", "1", "2"]), min_size=n, max_size=n))) \
            if draw(st.booleans()) else np.arange(n)
    if draw(st.booleans()):
        d["channels"] = np.array(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)))
    if draw(st.booleans()):
        d["ids"] = np.arange(draw(st.integers(0, 5)))
    return d


@st.composite
def npz_padded(draw):
    """Mostly well-formed: padded float X, lengths and labels, sometimes with odd values."""
    n, t, c = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    X = draw(hnp.arrays("float64", (n, t, c), elements=st.floats(-1e3, 1e3) | _BIG))
    d = {"X": X, "lengths": np.array(draw(st.lists(st.integers(1, t), min_size=n, max_size=n)))}
    d["y"] = np.array(draw(st.lists(st.sampled_from(["slow", "fast"]), min_size=n, max_size=n)))
    return d


@FUZZ
@given(arrays=npz_arrays() | npz_padded(), mangle=st.sampled_from(["none", "none", "truncate", "object", "npy"]))
def test_fuzz_read_npz(arrays, mangle):
    from lstmkit.data.sequences import read_npz

    buf = io.BytesIO()
    if mangle == "object":
        arrays = {**arrays, "X": np.array([np.zeros((2, 1)), np.zeros((3, 1))], dtype=object)}
    if mangle == "npy":
        np.save(buf, next(iter(arrays.values())))
    else:
        np.savez(buf, **arrays)
    data = buf.getvalue()
    if mangle == "truncate":
        data = data[: len(data) // 2]
    _read_fuzzed("seqs.npz", data, read_npz, _valid_sequences)


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_read_npz_random_bytes(data):
    from lstmkit.data.sequences import read_npz

    _read_fuzzed("bytes.npz", b"PK\x03\x04" + data if data[:1] == b"P" else data, read_npz, _valid_sequences)


# ----------------------------------------------------------------------------- audio

def _need(mod):
    return pytest.importorskip(mod)


@st.composite
def wav_bytes(draw):
    nch = draw(st.integers(1, 2))
    width = draw(st.integers(1, 4))
    rate = draw(st.sampled_from([8000, 16000, 22050, 44100, 1000, 100]))
    frames = draw(st.integers(0, 3000))
    kind = draw(st.sampled_from(["noise", "tone", "zeros", "whisper"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    full = {1: 127, 2: 2**15 - 1, 3: 2**23 - 1, 4: 2**31 - 1}[width]
    amp = {"noise": 0.5, "tone": 0.3, "zeros": 0.0, "whisper": 3e-5}[kind]
    t = np.arange(frames * nch, dtype=np.float64)
    x = rng.uniform(-1, 1, t.size) if kind == "noise" else np.sin(t / 7)
    ints = np.round(x * amp * full).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints) if width == 3 else \
            ints.astype(f"<i{width}").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(nch)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    data = buf.getvalue()
    how = draw(st.sampled_from(["none", "none", "truncate", "flip", "header"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip":
        k = draw(st.integers(0, len(data) - 1))
        data = data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1:]
    elif how == "header":
        data = data[:44]
    return data


def _valid_audio(y, max_seconds, sr=16000):
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.ndim == 1 and y.size >= 1
    assert np.isfinite(y).all() and np.abs(y).max() >= 1e-4 and y.size <= max_seconds * sr


@FUZZ
@given(data=wav_bytes())
def test_fuzz_read_audio_wav(data):
    _need("librosa")
    from lstmkit.data.audio import read_audio

    _read_fuzzed("clip.wav", data, lambda q: read_audio(q, 16000, max_seconds=1.0), lambda r: _valid_audio(r, 1.0))


@FUZZ
@given(values=st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True) | _BIG, min_size=1,
                       max_size=400), rate=st.sampled_from([8000, 16000]))
def test_fuzz_read_audio_float_wav(values, rate):
    _need("librosa")
    sf = _need("soundfile")
    from lstmkit.data.audio import read_audio

    buf = io.BytesIO()
    with np.errstate(over="ignore"):
        samples = np.array(values, dtype=np.float32)
    sf.write(buf, samples, rate, format="WAV", subtype="FLOAT")
    _read_fuzzed("float.wav", buf.getvalue(), lambda q: read_audio(q, 16000), lambda r: _valid_audio(r, 60.0))


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".wav", ".mp3", ".flac", ".ogg", ""]))
def test_fuzz_read_audio_random_bytes(data, suffix):
    _need("librosa")
    from lstmkit.data.audio import read_audio

    _read_fuzzed("noise" + suffix, (b"RIFF" + data) if data[:1] == b"R" else data, lambda q: read_audio(q, 16000),
                 lambda r: _valid_audio(r, 60.0))


# ----------------------------------------------------------------------------- images


@st.composite
def image_bytes(draw):
    from PIL import Image

    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "1", "I;16", "P", "LA"]))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 60))
    kind = draw(st.sampled_from(["stroke", "uniform", "noise", "dark-stroke"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "uniform":
        a = np.full((h, w), draw(st.integers(0, 255)), np.float64)
    elif kind == "noise":
        a = rng.uniform(0, 255, (h, w))
    else:
        a = np.full((h, w), 255.0 if kind == "stroke" else 0.0)
        a[h // 4: max(h // 4 + 1, 3 * h // 4), w // 3: w // 3 + 2] = 0.0 if kind == "stroke" else 255.0
    g = a.astype(np.uint8)
    if mode == "I;16":
        im = Image.fromarray((a * 257).astype(np.uint16))
    elif mode in ("RGB", "RGBA"):
        im = Image.fromarray(np.stack([g] * (3 if mode == "RGB" else 4), -1), mode)
    else:
        im = Image.fromarray(g).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=draw(st.sampled_from(["PNG", "PNG", "BMP", "GIF"])) if mode in ("L", "1", "P", "RGB")
            else "PNG")
    data = buf.getvalue()
    how = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip":
        k = draw(st.integers(0, len(data) - 1))
        data = data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1:]
    return data


def _valid_image(a, max_pixels):
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.ndim == 2
    h, w = a.shape
    assert h >= 8 and w >= 2 and h * w <= max_pixels
    assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1 and a.max() - a.min() >= 0.2


@FUZZ
@given(data=image_bytes(), max_pixels=st.sampled_from([20_000_000, 600]))
def test_fuzz_read_line_image(data, max_pixels):
    _need("PIL")
    from lstmkit.data.images import read_line_image

    _read_fuzzed("line.png", data, lambda q: read_line_image(q, max_pixels=max_pixels),
                 lambda r: _valid_image(r, max_pixels))


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_read_line_image_random_bytes(data):
    _need("PIL")
    from lstmkit.data.images import read_line_image

    _read_fuzzed("bytes.png", (b"\x89PNG\r\n\x1a\n" + data) if data[:1] == b"\x89" else data, read_line_image,
                 lambda r: _valid_image(r, 20_000_000))


# ============================================================================= the concrete cases


def test_series_1e308_is_one_line_not_a_silent_mase_of_zero(tmp_path):
    from lstmkit.data.series import read_series

    p = tmp_path / "sales.csv"
    p.write_text("month,sales\n" + "".join(f"2020-{m:02d},{v}\n" for m, v in
                                           zip(range(1, 13), [5, 7, 6, 8, 1e308, 9, 7, 8, 6, 9, 8, 7])))
    with pytest.raises(ValueError) as e:
        read_series(p, "sales", time_column="month")
    assert "\n" not in str(e.value)
    assert "sales.csv" in str(e.value) and "row 5 (line 6) holds 1e+308" in str(e.value)
    assert "rescale" in str(e.value)
    p.write_text("sales\n1\n2\n1e29\n")  # inside the limit: read as it is
    assert read_series(p, "sales").values[2] == 1e29


def test_sequences_1e308_is_too_large_not_missing(tmp_path):
    from lstmkit.data.sequences import read_csv_long, read_npz, read_ts

    p = tmp_path / "long.csv"
    p.write_text("id,x,label\na,1,up\na,1e308,up\nb,2,down\n")
    with pytest.raises(ValueError, match=r"long.csv: line 3, column 'x' holds 1e308: too large"):
        read_csv_long(p)
    p = tmp_path / "a.npz"
    np.savez(p, X=np.array([[[1.0], [1e20]], [[2.0], [3.0]]]))
    with pytest.raises(ValueError, match=r"a.npz: sequence 0, step 1, channel 0 holds 1e\+20: too large"):
        read_npz(p)
    p = tmp_path / "a.ts"
    p.write_text("@problemName a\n@univariate true\n@classLabel true x y\n@data\n1,1e308,3:x\n4,5:y\n")
    with pytest.raises(ValueError, match=r"a.ts: .*1e\+?308.*too large"):
        read_ts(p)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_csvs_are_read(tmp_path, sep):
    from lstmkit.data.sequences import read_csv_long
    from lstmkit.data.series import read_series
    from lstmkit.data.text import read_text_csv

    p = tmp_path / "s.csv"
    p.write_text(sep.join(["month", "sales"]) + "\n" + "".join(f"2020-0{m}{sep}{v}\n" for m, v in
                                                              zip(range(1, 6), [3, 1, 4, 1, 5])))
    s = read_series(p, "sales", time_column="month")
    assert s.values.tolist() == [3, 1, 4, 1, 5] and s.freq == "MS" and any("separated" in n for n in s.notes)
    p.write_text(sep.join(["id", "x", "label"]) + "\n" + "\n".join(sep.join(r) for r in
                                                                  [["a", "1", "up"], ["a", "2", "up"],
                                                                   ["b", "3", "down"]]) + "\n")
    d = read_csv_long(p)
    assert d.ids == ["a", "b"] and d.y == ["up", "down"] and d.channels == ["x"]
    p.write_text(sep.join(["text", "label"]) + "\n" + f"good, very good{sep}pos\nbad{sep}neg\n")
    assert read_text_csv(p, "text", "label") == {"texts": ["good, very good", "bad"], "labels": ["pos", "neg"]}


def test_semicolon_csv_with_ragged_rows_gets_a_delimiter_hint(tmp_path):
    from lstmkit.data.series import read_series

    p = tmp_path / "s.csv"
    p.write_text("month;sales\n2020-01;3\n2020-02;1;7\n")
    with pytest.raises(ValueError, match=r"s.csv: the header looks semicolon-separated \(2 fields\) but line 3 "
                                         r"has 3"):
        read_series(p, "sales")
    p.write_text("month;sales\n2020-01;3,5\n2020-02;1,5\n")  # decimal commas
    with pytest.raises(ValueError, match="decimal comma"):
        read_series(p, "sales")


def test_numpy_strings_are_shown_as_plain_strings():
    from lstmkit.apps.classify import _labels_to_index
    from lstmkit.apps.text import encode_labels
    from lstmkit.data.sequences import check_label_counts

    with pytest.raises(ValueError) as e:
        check_label_counts(np.array(["slow", "slow"]), "f.csv")
    assert "('slow')" in str(e.value) and "np.str_" not in str(e.value)
    with pytest.raises(ValueError) as e:
        _labels_to_index(np.array(["slow"]), ["fast", "steady"], "f.csv")
    assert "label 'slow' does not occur" in str(e.value)
    with pytest.raises(ValueError) as e:
        encode_labels(np.array(["slow", "fast", "fast"]), "f.csv")
    assert "label 'slow' in column 'label' occurs only once" in str(e.value)


# ---- audio


def _tone(path: Path, seconds: float, rate: int = 8000, amplitude: float = 0.3, width: int = 2) -> Path:
    n = int(seconds * rate)
    x = np.sin(np.arange(n) * 2 * np.pi * 440 / rate) * amplitude
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes((x * (2**15 - 1)).astype("<i2").tobytes() if width == 2 else
                      ((x * 127) + 128).astype(np.uint8).tobytes())
    return path


def test_missing_audio_is_no_such_file_not_unreadable(tmp_path):
    _need("librosa")
    from lstmkit.apps.speech import audio_features

    with pytest.raises(FileNotFoundError, match=r"missing.wav: no such file"):
        audio_features(tmp_path / "missing.wav")


def test_unreadable_audio_is_one_line_and_librosa_warnings_stay_quiet(tmp_path):
    _need("librosa")
    from lstmkit.apps.speech import audio_features

    p = tmp_path / "bad.wav"
    p.write_text("this is not audio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError) as e:
            audio_features(p)
    assert str(e.value).startswith(f"{p}: not a readable audio file") and "\n" not in str(e.value)
    assert "WAV, FLAC, OGG or MP3" in str(e.value)
    assert not [w for w in caught if not issubclass(w.category, DeprecationWarning)], \
        [str(w.message) for w in caught]
    assert any("PySoundFile failed" in n for n in getattr(e.value, "__notes__", []))  # kept for debugging


def test_silent_and_too_long_audio(tmp_path):
    _need("librosa")
    from lstmkit.apps.speech import audio_features

    with pytest.raises(ValueError, match=r"quiet.wav is silent"):
        audio_features(_tone(tmp_path / "quiet.wav", 1.0, amplitude=2e-5))
    with pytest.raises(ValueError, match=r"long.wav holds 61.0 s of audio; the limit is 60 s .*split it"):
        audio_features(_tone(tmp_path / "long.wav", 61.0, width=1))
    from lstmkit.data.audio import read_audio

    y = read_audio(_tone(tmp_path / "ok.wav", 2.0), 16000)
    assert y.dtype == np.float32 and y.shape == (32000,) and 0.25 < np.abs(y).max() < 0.35
    with pytest.raises(ValueError, match=r"ok.wav holds 2.0 s of audio; the limit is 1.5 s"):
        read_audio(tmp_path / "ok.wav", 16000, max_seconds=1.5)
    d = tmp_path / "folder.wav"
    d.mkdir()
    with pytest.raises(ValueError, match=r"folder.wav is a directory"):
        read_audio(d, 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.wav is empty"):
        read_audio(tmp_path / "empty.wav", 16000)


def test_non_finite_audio_samples(tmp_path):
    _need("librosa")
    sf = _need("soundfile")
    from lstmkit.apps.speech import audio_features

    p = tmp_path / "nan.wav"
    sf.write(p, np.array([0.1, np.nan, -0.2] * 4000, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"nan.wav holds samples that are not finite"):
        audio_features(p)


# ---- images


def _png(path: Path, width: int, height: int, bit_depth: int = 1) -> Path:
    """A valid grayscale PNG of any size, written without holding the image in memory:
    all-zero rows, compressed as they are made (a 30000 x 30000 1-bit image is ~110 KB)."""
    row = b"\x00" + bytes((width * bit_depth + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 1000) for _ in range(height // 1000)) + z.compress(row * (height % 1000))
    idat += z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_png_is_refused_before_decoding(tmp_path, monkeypatch):
    _need("PIL")
    from PIL import ImageFile

    from lstmkit.apps.handwriting import PRETRAINED, recognize_images

    bomb = _png(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 500_000
    if (PRETRAINED / "config.json").exists():  # through the app: one line per file (before: a traceback)
        out = list(recognize_images([str(bomb)]))
        assert out[0][1] is None and "bomb.png is 900 megapixels" in out[0][2] and "\n" not in out[0][2]
    from lstmkit.data.images import read_line_image

    big = _png(tmp_path / "big.png", 5000, 4001)  # 20.005 MP: over the cap, under Pillow's own limit

    def no_decoding(self, *a, **k):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ValueError, match=r"bomb.png is 900 megapixels; the limit is 20 megapixels"):
        read_line_image(bomb)
    with pytest.raises(ValueError, match=r"big.png is 5000 x 4001 pixels \(20 megapixels\); the limit is 20 "
                                         r"megapixels \(max_pixels\): crop it"):
        read_line_image(big)
    monkeypatch.undo()
    # the cap itself, on a small image
    from PIL import Image

    a = np.full((300, 300), 255, np.uint8)
    a[100:200, 140:160] = 0
    Image.fromarray(a).save(tmp_path / "small.png")
    assert read_line_image(tmp_path / "small.png").shape == (300, 300)
    with pytest.raises(ValueError, match=r"small.png is 300 x 300 pixels \(0 megapixels\); the limit is 0.01 "):
        read_line_image(tmp_path / "small.png", max_pixels=10_000)


def test_blank_and_tiny_images(tmp_path):
    _need("PIL")
    from PIL import Image

    from lstmkit.apps.handwriting import PRETRAINED, recognize_images

    Image.new("L", (200, 40), 128).save(tmp_path / "gray.png")  # a uniform gray page: no ink
    Image.new("RGBA", (200, 40), (0, 0, 0, 0)).save(tmp_path / "clear.png")  # fully transparent
    Image.new("L", (200, 6), 0).save(tmp_path / "strip.png")
    if (PRETRAINED / "config.json").exists():  # before: digits read off a gray page
        out = list(recognize_images([str(tmp_path / "gray.png"), str(tmp_path / "missing.png")]))
        assert out[0][1] is None and "gray.png is blank" in out[0][2], out
        assert out[1][1] is None and "missing.png: no such file" in out[1][2], out
    from lstmkit.data.images import read_line_image

    for name in ("gray.png", "clear.png"):
        with pytest.raises(ValueError, match=rf"{name} is blank: no ink found"):
            read_line_image(tmp_path / name)
    with pytest.raises(ValueError, match=r"strip.png is 200 x 6 pixels: too small"):
        read_line_image(tmp_path / "strip.png")


def test_light_ink_on_dark_is_returned_dark_on_light(tmp_path):
    _need("PIL")
    from PIL import Image

    from lstmkit.data.images import read_line_image

    a = np.zeros((30, 50), np.uint8)
    a[5:25, 20:24] = 255
    Image.fromarray(a).save(tmp_path / "chalk.png")
    x = read_line_image(tmp_path / "chalk.png")
    assert x[0, 0] == 1.0 and x[10, 21] == 0.0


# ---- a model of the other app


def test_speech_model_given_to_handwriting_and_back(tmp_path):
    _need("PIL")
    _need("librosa")
    from PIL import Image

    from lstmkit.apps import handwriting, speech

    if not ((handwriting.PRETRAINED / "config.json").exists() and (speech.PRETRAINED / "config.json").exists()):
        pytest.skip("no shipped models")
    a = np.full((34, 80), 255, np.uint8)
    a[7:27, 30:34] = 0
    Image.fromarray(a).save(tmp_path / "line.png")
    with pytest.raises(ValueError) as e:
        list(handwriting.recognize_images([str(tmp_path / "line.png")], speech.PRETRAINED))
    assert str(e.value) == (f"{speech.PRETRAINED} was trained on 39 features per frame (speech?), these inputs "
                            f"have 17 (handwriting lines): pass the matching --model")
    with pytest.raises(ValueError) as e:
        list(speech.recognize_files([str(_tone(tmp_path / "a.wav", 1.0))], handwriting.PRETRAINED))
    assert str(e.value) == (f"{handwriting.PRETRAINED} was trained on 17 features per frame (handwriting?), "
                            f"these inputs have 39 (speech frames): pass the matching --model")
