"""Bach chorales from music21's bundled corpus as piano rolls, cached, with a fixed split.

The corpus: ``music21.corpus.chorales.Iterator(numberingSystem="riemenschneider")``, 371
chorales; the four-part ones (Soprano, Alto, Tenor, Bass: every chorale with exactly four
parts) are kept. Each chorale becomes its four voices sampled on a grid of ``step``
quarter notes (0.5: eighth notes, the default; 0.25: sixteenths; 1.0: quarter notes as in
the JSB Chorales set of Boulanger-Lewandowski et al. 2012): ``voices[t, v]`` is the MIDI
pitch voice ``v`` sounds at the start of frame ``t`` (0: a rest). A note shorter than a
frame that covers no frame start is dropped (the usual sampling of a piano roll). With
``transpose=True`` (the default, as the JSB set) each chorale is transposed to C major or
C minor (its key from music21's key analysis; the shift in -6..+5 semitones).

The piano roll of a chorale is the binary (T, 88) matrix over the piano's keys, MIDI 21..108
(:data:`LOW`, :data:`PITCHES`), as in the JSB set: ``roll[t, p - LOW] = 1`` if a voice sounds
pitch ``p`` at frame ``t``. Two voices on one pitch give one key.

Parsing all 371 takes about a minute; the result is cached as a ``.npz`` (no pickle) in
:func:`data_cache_dir` (``$LSTMKIT_DATA_CACHE``, else ``$XDG_CACHE_HOME/lstmkit/data``,
else ``~/.cache/lstmkit/data``), written atomically, keyed by the settings and music21's
version. Chorales whose voices are identical after transposition (the collection holds a
few harmonisations twice) are kept once, so that no test chorale is also a training one.

The split (:func:`split_chorales`) is by chorale: a seeded permutation of the kept
chorales, 60% training, 20% validation, 20% test (the JSB split's proportions, 229/76/77).
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io import atomic_write_bytes, make_dirs
from ..progress import progress_bar

__all__ = [
    "LOW", "HIGH", "PITCHES", "STEPS", "data_cache_dir", "chorale_files", "score_voices", "voices_to_roll",
    "roll_to_stream", "stream_to_roll", "load_chorales", "split_chorales", "Chorales",
]

LOW, HIGH = 21, 108
PITCHES = HIGH - LOW + 1  # 88 piano keys
STEPS = {"quarter": 1.0, "eighth": 0.5, "sixteenth": 0.25}
_FORMAT = 1


def data_cache_dir() -> Path:
    """The folder of lstmkit's data caches: ``$LSTMKIT_DATA_CACHE`` when set, else
    ``$XDG_CACHE_HOME/lstmkit/data``, else ``~/.cache/lstmkit/data``. Nothing is created.

    Example:
        >>> data_cache_dir().is_absolute()
        True
    """
    env = os.environ.get("LSTMKIT_DATA_CACHE", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        path = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lstmkit" / "data"
    path = path.absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(f"LSTMKIT_DATA_CACHE must name a directory, got a file: {path}")
    return path


def _music21():
    try:
        import music21
    except ImportError as e:
        raise ImportError("the Bach chorales ship in music21's corpus: pip install 'lstmkit[music]'") from e
    return music21


def chorale_files() -> list[str]:
    """The corpus paths of the 371 chorales, in Riemenschneider order (number k is
    ``chorale_files()[k - 1]``).

    Example:
        >>> files = chorale_files()
        >>> len(files), files[0]
        (371, 'bach/bwv269')
    """
    m21 = _music21()
    return [str(f) for f in m21.corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename")]


def _check_step(step: float) -> float:
    if isinstance(step, str):
        if step not in STEPS:
            raise ValueError(f"step must be one of {sorted(STEPS)} or a number of quarter notes, got {step!r}")
        step = STEPS[step]
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0 or not np.isfinite(step):
        raise ValueError(f"step must be a positive number of quarter notes (0.5: eighth notes), got {step!r}")
    return float(step)


def score_voices(score, step: float = 0.5) -> np.ndarray:
    """The (T, V) int16 MIDI pitches (0: rest) of a music21 score's V parts sampled every
    ``step`` quarter notes: frame ``t`` holds what sounds at offset ``t * step`` (of a chord
    in a part, its highest note).

    Example:
        >>> from music21 import stream, note
        >>> s = stream.Score([stream.Part([note.Note("C4", quarterLength=1), note.Rest(), note.Note("E4")])])
        >>> score_voices(s, 0.5)[:, 0].tolist()
        [60, 60, 0, 0, 64, 64]
    """
    step = _check_step(step)
    end = float(score.highestTime)
    T = int(np.ceil(end / step - 1e-9))
    parts = list(score.parts)
    out = np.zeros((T, len(parts)), np.int16)
    for v, part in enumerate(parts):
        for n in part.flatten().notes:
            start, dur = float(n.offset), float(n.quarterLength)
            if dur <= 0:  # grace notes
                continue
            first = int(np.ceil(start / step - 1e-9))
            last = int(np.ceil((start + dur) / step - 1e-9))  # exclusive
            midi = max(p.midi for p in n.pitches)
            out[first:min(last, T), v] = midi
    return out


def voices_to_roll(voices: np.ndarray) -> np.ndarray:
    """(T, 88) float32 piano roll of (T, V) MIDI pitches (0: rest; pitches outside
    21..108 raise).

    Example:
        >>> voices_to_roll(np.array([[60, 64], [0, 64]])).sum(1).tolist()
        [2.0, 1.0]
    """
    v = np.asarray(voices)
    if v.ndim != 2:
        raise ValueError(f"voices must be (T, V) MIDI pitches, got shape {v.shape}")
    sounding = v > 0
    if np.any(sounding & ((v < LOW) | (v > HIGH))):
        raise ValueError(f"voices: pitches must lie in MIDI {LOW}..{HIGH} (the piano), got "
                         f"{int(v[sounding].min())}..{int(v[sounding].max())}")
    roll = np.zeros((len(v), PITCHES), np.float32)
    t, k = np.nonzero(sounding)
    roll[t, v[t, k] - LOW] = 1.0
    return roll


def roll_to_stream(roll: np.ndarray, step: float = 0.5, bpm: float = 80.0, pitches: Sequence[int] | None = None):
    """A music21 score of a piano roll (T, K): the frames cut where the set of sounding
    keys changes, each piece one chord (or rest) of ``step`` quarter notes per frame, a
    key held across a cut tied over (so MIDI and MusicXML both say it is held). ``pitches``:
    the MIDI pitch of each of the K keys (default the piano's 88, MIDI 21..108). Read back
    with :func:`stream_to_roll`, it is the same roll.

    Example:
        >>> r = np.zeros((4, 88), np.float32); r[:2, 60 - LOW] = 1; r[1:, 64 - LOW] = 1
        >>> s = roll_to_stream(r)
        >>> bool((stream_to_roll(s, 0.5, len(r)) == r).all())
        True
    """
    m21 = _music21()
    step = _check_step(step)
    r = np.asarray(roll) > 0.5
    pitches = list(range(LOW, HIGH + 1)) if pitches is None else [int(p) for p in pitches]
    if r.ndim != 2 or r.shape[1] != len(pitches):
        raise ValueError(f"roll must be (T, {len(pitches)}), got shape {np.asarray(roll).shape}")
    part = m21.stream.Part()
    part.insert(0, m21.tempo.MetronomeMark(number=bpm))
    part.insert(0, m21.instrument.Piano())
    T = len(r)
    cuts = [0] + [t for t in range(1, T) if (r[t] != r[t - 1]).any()] + [T]
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        keys = np.flatnonzero(r[a])
        ql = (b - a) * step
        if not len(keys):
            part.insert(a * step, m21.note.Rest(quarterLength=ql))
            continue
        notes = []
        for k in keys:
            n = m21.note.Note(pitches[k], quarterLength=ql)
            before = a > 0 and r[a - 1, k]
            after = b < T and r[b, k]
            if before or after:
                n.tie = m21.tie.Tie("continue" if before and after else "stop" if before else "start")
            notes.append(n)
        part.insert(a * step, m21.chord.Chord(notes, quarterLength=ql) if len(notes) > 1 else notes[0])
    return m21.stream.Score([part])


def stream_to_roll(score, step: float = 0.5, length: int | None = None, pitches: Sequence[int] | None = None
                   ) -> np.ndarray:
    """The (T, K) piano roll of every note of a music21 stream (all parts, chords'
    every note) sampled every ``step`` quarter notes; ``length`` pads or cuts to T frames;
    ``pitches`` the MIDI pitch of each key (default the piano's 88; others are left out).

    Example:
        >>> from music21 import stream, note
        >>> stream_to_roll(stream.Score([stream.Part([note.Note("A0")])]), 1.0).nonzero()
        (array([0]), array([0]))
    """
    step = _check_step(step)
    T = int(np.ceil(float(score.highestTime) / step - 1e-9)) if length is None else int(length)
    index = {p: k for k, p in enumerate(range(LOW, HIGH + 1) if pitches is None else pitches)}
    roll = np.zeros((T, len(index)), np.float32)
    for n in score.flatten().notes:
        start, dur = float(n.offset), float(n.quarterLength)
        if dur <= 0:
            continue
        a, b = int(np.ceil(start / step - 1e-9)), min(int(np.ceil((start + dur) / step - 1e-9)), T)
        for p in n.pitches:
            if p.midi in index:
                roll[a:b, index[p.midi]] = 1.0
    return roll


def _key_shift(score) -> tuple[int, str]:
    """Semitones (-6..+5) that move the chorale's key (music21's analysis) to C major or C
    minor, and the key's name."""
    k = score.analyze("key")
    shift = (-k.tonic.pitchClass) % 12
    if shift > 5:
        shift -= 12
    return int(shift), f"{k.tonic.name} {k.mode}"


class Chorales:
    """The parsed chorales: ``voices`` (list of (T_i, 4) int16 MIDI pitches), ``numbers``
    (Riemenschneider numbers), ``names`` (corpus paths), ``keys`` (analysed keys before
    transposition), ``step`` (quarter notes per frame), ``transposed``, ``dropped`` (what
    was left out and why). ``roll(i)`` is chorale i's (T_i, 88) piano roll."""

    def __init__(self, voices, numbers, names, keys, step, transposed, dropped):
        self.voices = list(voices)
        self.numbers = [int(n) for n in numbers]
        self.names = list(names)
        self.keys = list(keys)
        self.step = float(step)
        self.transposed = bool(transposed)
        self.dropped = dict(dropped)

    def __len__(self) -> int:
        return len(self.voices)

    def roll(self, i: int) -> np.ndarray:
        return voices_to_roll(self.voices[i])

    def rolls(self, idx: Sequence[int] | None = None) -> list[np.ndarray]:
        return [self.roll(i) for i in (range(len(self)) if idx is None else idx)]


def _cache_path(step: float, transpose: bool, numbers: Sequence[int] | None, version: str) -> Path:
    key = json.dumps({"format": _FORMAT, "step": step, "transpose": transpose, "music21": version,
                      "numbers": None if numbers is None else sorted(set(numbers))}, sort_keys=True)
    return data_cache_dir() / f"chorales-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_cache(path: Path, step: float, transpose: bool) -> Chorales | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            flat, offsets = z["voices"], z["offsets"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, truncated, foreign: parse again
        return None
    if meta.get("format") != _FORMAT or len(offsets) != len(meta.get("numbers", [])) + 1:
        return None
    voices = [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    return Chorales(voices, meta["numbers"], meta["names"], meta["keys"], step, transpose, meta["dropped"])


def load_chorales(step: float | str = 0.5, transpose: bool = True, numbers: Sequence[int] | None = None,
                  cache: bool = True, progress: bool = True) -> Chorales:
    """The four-part Bach chorales of music21's corpus (see the module docstring), parsed
    once and cached.

    Args:
        step: quarter notes per frame (0.5: eighth notes) or ``"eighth"``, ``"sixteenth"``,
            ``"quarter"``.
        transpose: to C major / C minor (as the JSB set).
        numbers: Riemenschneider numbers (1..371) to load (a quick subset), default all.
        cache: read and write the ``.npz`` cache in :func:`data_cache_dir`.
        progress: a progress bar while parsing.

    Example:
        >>> ch = load_chorales(numbers=[1, 2], cache=False, progress=False)
        >>> len(ch), ch.numbers, ch.roll(0).shape[1]
        (2, [1, 2], 88)
    """
    step = _check_step(step)
    if not isinstance(transpose, bool):
        raise TypeError(f"transpose must be a bool, got {type(transpose).__name__}")
    m21 = _music21()
    files = chorale_files()
    if numbers is not None:
        bad = [n for n in numbers if isinstance(n, bool) or not isinstance(n, (int, np.integer))
               or not 1 <= n <= len(files)]
        if bad or not len(numbers):
            raise ValueError(f"numbers must be Riemenschneider numbers 1..{len(files)}, got {list(numbers)[:5]!r}")
        wanted = sorted(set(int(n) for n in numbers))
    else:
        wanted = list(range(1, len(files) + 1))
    path = _cache_path(step, transpose, None if numbers is None else wanted, m21.__version__)
    if cache and path.is_file():
        got = _read_cache(path, step, transpose)
        if got is not None:
            return got
    voices, nums, names, keys, dropped, seen = [], [], [], [], {}, {}
    bar = progress_bar(len(wanted), "parsing chorales (music21)", "chorale", enabled=progress)
    try:
        for n in wanted:
            name = files[n - 1]
            score = m21.corpus.parse(name)
            if bar is not None:
                bar.update(1)
            if len(score.parts) != 4:
                dropped[str(n)] = f"{name}: {len(score.parts)} parts, not four"
                continue
            v = score_voices(score, step)
            shift, key = _key_shift(score) if transpose else (0, str(score.analyze("key")))
            v = np.where(v > 0, v + shift, 0).astype(np.int16)
            digest = hashlib.sha256(v.tobytes()).hexdigest()
            if digest in seen:
                dropped[str(n)] = f"{name}: the same four voices as chorale {seen[digest]}"
                continue
            seen[digest] = n
            voices.append(v)
            nums.append(n)
            names.append(name)
            keys.append(key)
    finally:
        if bar is not None:
            bar.close()
    out = Chorales(voices, nums, names, keys, step, transpose, dropped)
    if cache:
        offsets = np.cumsum([0] + [len(v) for v in voices]).astype(np.int64)
        meta = {"format": _FORMAT, "numbers": nums, "names": names, "keys": keys, "dropped": dropped,
                "step": step, "transpose": transpose, "music21": m21.__version__}
        buf = _io.BytesIO()
        np.savez_compressed(buf, voices=np.concatenate(voices) if voices else np.zeros((0, 4), np.int16),
                            offsets=offsets, meta=np.array(json.dumps(meta)))
        make_dirs(path.parent)
        atomic_write_bytes(path, buf.getvalue())
    return out


def split_chorales(numbers: Sequence[int], seed: int = 0, fractions: tuple[float, float] = (0.2, 0.2)
                   ) -> tuple[list[int], list[int], list[int]]:
    """A fixed split by chorale: positions (into ``numbers``) of the training, validation
    and test chorales, from a seeded permutation of the Riemenschneider ``numbers``
    (the same number always lands in the same part for the same set and seed).

    Args:
        numbers: the chorales' Riemenschneider numbers.
        seed: the permutation's seed (0: the split every report uses).
        fractions: shares of validation and test (at least one chorale each when there
            are three or more).

    Example:
        >>> tr, va, te = split_chorales(list(range(1, 11)))
        >>> len(tr), len(va), len(te), sorted(tr + va + te) == list(range(10))
        (6, 2, 2, True)
    """
    nums = [int(n) for n in numbers]
    if len(set(nums)) != len(nums):
        raise ValueError("numbers must be different chorale numbers (a chorale in two parts of the split leaks)")
    fv, ft = fractions
    if not (0 <= fv < 1 and 0 <= ft < 1 and fv + ft < 1):
        raise ValueError(f"fractions must be two shares in [0, 1) summing to less than 1, got {fractions!r}")
    order = sorted(range(len(nums)), key=lambda i: nums[i])
    rng = np.random.default_rng(seed)
    perm = [order[i] for i in rng.permutation(len(order))]
    n = len(perm)
    nv = max(1, round(fv * n)) if n >= 3 and fv > 0 else 0
    nt = max(1, round(ft * n)) if n >= 3 and ft > 0 else 0
    test, val, train = perm[:nt], perm[nt:nt + nv], perm[nt + nv:]
    return sorted(train), sorted(val), sorted(test)
