"""The 12-bar blues of Eck & Schmidhuber (2002), generated, and a scorer of whether a
piece keeps the 12-bar chord structure.

Eck, D. & Schmidhuber, J. (2002), "Finding temporal structure in music: blues
improvisation with LSTM recurrent networks" (IEEE NNSP / IDSIA-07-02): a network that
predicts the next eighth-note frame of a 12-bar blues, played free-running from its own
output, keeps the chord progression for as long as it is run (LSTM), where a standard RNN
loses it. The set-up here, as in the paper (the details the paper gives; what it leaves
open is chosen and said so):

- Time in eighth notes, 8 frames per 4/4 bar, 96 per 12-bar chorus.
- A frame is 25 keys: 12 chord keys (MIDI 48..59, C3..B3) and 13 melody keys (MIDI
  60..72, C4..C5), a 1 where a note sounds (:data:`PITCHES`).
- The chord progression (:data:`PROGRESSION`): C7 C7 C7 C7 | F7 F7 C7 C7 | G7 F7 C7 G7,
  each a four-note seventh chord voiced inside the chord octave (:data:`CHORDS`), held the
  whole bar. (The paper's own voicing and whether its bar 2 is a quick change to F are
  not checked here: unverified.)
- Melodies: notes of the C blues scale (C Eb F F# G Bb C, :data:`BLUES_SCALE`) in quarter
  and eighth notes, drawn at random bar by bar, each bar starting on a tone of its chord
  that lies in the scale; a fresh melody for every chorus. The melody never decides the
  chord: to keep the progression a model must count bars.

The scorer (:func:`score_structure`) reads each bar's chord as the chord keys that sound
in most of its frames and compares it with the progression at that bar (the phase taken
from the bar count since the start of the piece); a bar is right when its chord keys are
exactly the progression's chord.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "STEPS_PER_BAR", "BARS", "CHORUS", "CHORD_KEYS", "MELODY_KEYS", "PITCHES", "CHORDS", "PROGRESSION",
    "BLUES_SCALE", "blues_chorus", "blues_piece", "bar_chords", "score_structure", "StructureScore", "PUBLISHED",
]

STEPS_PER_BAR = 8
BARS = 12
CHORUS = STEPS_PER_BAR * BARS  # 96 frames
CHORD_KEYS = list(range(48, 60))  # C3..B3
MELODY_KEYS = list(range(60, 73))  # C4..C5
PITCHES = CHORD_KEYS + MELODY_KEYS
CHORDS = {"C7": (48, 52, 55, 58), "F7": (48, 51, 53, 57), "G7": (50, 53, 55, 59)}
PROGRESSION = ("C7", "C7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7", "C7", "G7")
BLUES_SCALE = (60, 63, 65, 66, 67, 70, 72)
_CHORD_TONES = {"C7": (60, 67, 70, 72), "F7": (63, 65, 72), "G7": (65, 67)}

PUBLISHED = {
    "source": "Eck & Schmidhuber 2002, Finding temporal structure in music: blues improvisation with LSTM "
              "recurrent networks (IEEE NNSP 2002)",
    "claim": "LSTM, run free on its own output, kept the 12-bar chord structure for as long as it was run; "
             "RNNs trained with BPTT/RTRL on the same task did not (the paper reports no table of numbers for "
             "this; quoted from memory of the text: unverified)",
}


def _chord_index(name: str) -> list[int]:
    return [CHORD_KEYS.index(p) for p in CHORDS[name]]


def blues_chorus(rng: np.random.Generator, melody: bool = True) -> np.ndarray:
    """One 12-bar chorus, (96, 25) float32 frames (see the module docstring).

    Example:
        >>> c = blues_chorus(np.random.default_rng(0))
        >>> c.shape, c[:, :12].sum(1).tolist()[:2]
        ((96, 25), [4.0, 4.0])
    """
    out = np.zeros((CHORUS, len(PITCHES)), np.float32)
    for bar, name in enumerate(PROGRESSION):
        a = bar * STEPS_PER_BAR
        out[a:a + STEPS_PER_BAR, _chord_index(name)] = 1.0
        if not melody:
            continue
        t, note = 0, int(rng.choice(_CHORD_TONES[name]))
        while t < STEPS_PER_BAR:
            dur = int(rng.choice([1, 2, 2]))
            dur = min(dur, STEPS_PER_BAR - t)
            if rng.random() > 0.1:  # one note in ten is a rest
                out[a + t:a + t + dur, len(CHORD_KEYS) + MELODY_KEYS.index(note)] = 1.0
            t += dur
            i = BLUES_SCALE.index(note) + int(rng.choice([-2, -1, -1, 1, 1, 2]))
            note = BLUES_SCALE[min(max(i, 0), len(BLUES_SCALE) - 1)]
    return out


def blues_piece(choruses: int, seed: int = 0, melody: bool = True) -> np.ndarray:
    """``choruses`` 12-bar choruses one after another, (96 * choruses, 25), each with a
    fresh melody drawn with ``seed``.

    Example:
        >>> blues_piece(3).shape
        (288, 25)
    """
    if isinstance(choruses, bool) or not isinstance(choruses, int) or choruses < 1:
        raise ValueError(f"choruses must be a whole number >= 1, got {choruses!r}")
    rng = np.random.default_rng(seed)
    return np.concatenate([blues_chorus(rng, melody) for _ in range(choruses)])


def bar_chords(frames: np.ndarray) -> list[tuple[int, ...]]:
    """The chord of each whole bar of ``frames`` (T, 25): the chord keys (MIDI) that sound
    in more than half of the bar's frames.

    Example:
        >>> bar_chords(blues_piece(1))[:5] == [CHORDS["C7"]] * 4 + [CHORDS["F7"]]
        True
    """
    f = np.asarray(frames)
    if f.ndim != 2 or f.shape[1] != len(PITCHES):
        raise ValueError(f"frames must be (T, {len(PITCHES)}) blues frames, got shape {f.shape}")
    bars = len(f) // STEPS_PER_BAR
    chords = f[: bars * STEPS_PER_BAR, : len(CHORD_KEYS)].reshape(bars, STEPS_PER_BAR, len(CHORD_KEYS)) > 0.5
    on = chords.sum(1) * 2 > STEPS_PER_BAR
    return [tuple(CHORD_KEYS[k] for k in np.flatnonzero(row)) for row in on]


@dataclass
class StructureScore:
    """How well a piece keeps the 12-bar progression.

    Attributes:
        bars: whole bars scored.
        bar_accuracy: share of bars whose chord is the progression's.
        choruses: whole choruses scored; choruses_right: those with all 12 bars right.
        choruses_kept: right choruses in a row from the start (the structure kept that long).
        first_wrong_bar: index of the first wrong bar (None: none).
    """

    bars: int
    bar_accuracy: float
    choruses: int
    choruses_right: int
    choruses_kept: int
    first_wrong_bar: int | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score_structure(frames: np.ndarray, start_bar: int = 0) -> StructureScore:
    """Score ``frames`` (T, 25) against the 12-bar progression, its first bar being bar
    ``start_bar`` of the progression (0: a piece that starts at the top of a chorus).

    Example:
        >>> s = score_structure(blues_piece(4))
        >>> s.bar_accuracy, s.choruses_kept
        (1.0, 4)
        >>> broken = blues_piece(4); broken[8 * 13:8 * 14, :12] = 0  # bar 14 loses its chord
        >>> score_structure(broken).first_wrong_bar, score_structure(broken).choruses_kept
        (13, 1)
    """
    if isinstance(start_bar, bool) or not isinstance(start_bar, int) or start_bar < 0:
        raise ValueError(f"start_bar must be a whole number >= 0, got {start_bar!r}")
    got = bar_chords(frames)
    if not got:
        raise ValueError(f"frames hold {len(frames)} frames: not one whole bar ({STEPS_PER_BAR} frames)")
    right = [g == CHORDS[PROGRESSION[(start_bar + i) % BARS]] for i, g in enumerate(got)]
    first_wrong = next((i for i, r in enumerate(right) if not r), None)
    # whole choruses counted from the piece's first bar
    n_ch = len(right) // BARS
    per_chorus = [all(right[c * BARS:(c + 1) * BARS]) for c in range(n_ch)]
    kept = next((c for c, ok in enumerate(per_chorus) if not ok), n_ch)
    return StructureScore(bars=len(right), bar_accuracy=float(np.mean(right)), choruses=n_ch,
                          choruses_right=int(sum(per_chorus)), choruses_kept=int(kept), first_wrong_bar=first_wrong)
