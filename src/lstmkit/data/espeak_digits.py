"""Spoken digit strings synthesized with espeak-ng (Debian package ``espeak-ng``).

Each utterance says 1–7 digits ("three seven one") in one of espeak-ng's voice variants
(``en-us+m1`` ... ``+m7``, ``+f1`` ... ``+f5``, or any other installed variant such as
``klatt3``, ``robosoft2``, ``Annie``: :func:`espeak_variants`) at a speed (words per minute)
and pitch drawn from given ranges. espeak-ng's output is deterministic, so a seed fixes the set.

Variants come in *families* (``klatt`` ... ``klatt6`` are one voice, slightly changed;
``m1`` ... ``m8`` another): :func:`voice_family` names a variant's family, and a test of
"voices never heard" must hold out whole families, not variants (:func:`variants_by_family`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["DIGIT_WORDS", "VARIANTS", "Utterance", "espeak_available", "espeak_variants", "voice_family",
           "variants_by_family", "synthesize", "draw_digits", "read_index", "write_index"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VARIANTS = tuple(f"m{k}" for k in range(1, 8)) + tuple(f"f{k}" for k in range(1, 6))


@dataclass(frozen=True)
class Utterance:
    """One synthesized file: where it is, what it says, and how it was spoken."""

    path: str
    digits: tuple[int, ...]
    variant: str
    speed: int
    pitch: int


def draw_digits(rng: np.random.Generator, min_digits: int, max_digits: int) -> tuple[tuple[int, ...], str]:
    """A random digit string of ``min_digits`` to ``max_digits`` digits and the words that
    say it (``(3, 7), "three seven"``); every synthesizer draws its strings this way.

    Example:
        >>> draw_digits(np.random.default_rng(0), 2, 2)
        ((8, 6), 'eight six')
    """
    digits = tuple(int(d) for d in rng.integers(0, 10, size=int(rng.integers(min_digits, max_digits + 1))))
    return digits, " ".join(DIGIT_WORDS[d] for d in digits)


def read_index(out: Path, spec: dict) -> list[Utterance] | None:
    """The utterances synthesized into ``out`` before with the same ``spec`` (its
    ``index.json``, every file still there), or None: synthesize them again."""
    index = Path(out) / "index.json"
    if not index.is_file():
        return None
    doc = json.loads(index.read_text())
    if doc.get("spec") != spec or not all((Path(out) / Path(u["path"]).name).is_file() for u in doc["utterances"]):
        return None
    return [Utterance(**{**u, "digits": tuple(u["digits"]), "path": str(Path(out) / Path(u["path"]).name)})
            for u in doc["utterances"]]


def write_index(out: Path, spec: dict, utterances: list[Utterance]) -> list[Utterance]:
    """Record ``utterances`` and the ``spec`` they were made with in ``out/index.json``
    (atomically), so :func:`read_index` finds them next time; returns ``utterances``."""
    from ..io import atomic_write_text

    atomic_write_text(Path(out) / "index.json",
                      json.dumps({"spec": spec, "utterances": [asdict(u) for u in utterances]}))
    return utterances


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


# Variants that are another variant's voice with an effect added: one family with it.
_FAMILY_ALIASES = {"anxiousandy": "andy", "anikarobot": "anika", "whisperf": "whisper"}


def voice_family(variant: str) -> str:
    """The family of an espeak-ng variant: its name lower-cased without trailing digits,
    an effect variant joined to the voice it changes.

    Example:
        >>> voice_family("klatt3"), voice_family("m7"), voice_family("Gene2"), voice_family("AnxiousAndy")
        ('klatt', 'm', 'gene', 'andy')
    """
    base = variant.lower().rstrip("0123456789")
    return _FAMILY_ALIASES.get(base, base)


_INSTALLED: list[str] | None = None


def espeak_variants() -> tuple[str, ...]:
    """Every voice variant of the installed espeak-ng (``espeak-ng --voices=variant``), by its
    file name (what ``-v en-us+NAME`` takes), sorted; names with a space are left out.

    Raises:
        RuntimeError: espeak-ng is not installed.
    """
    global _INSTALLED
    if _INSTALLED is None:
        if not espeak_available():
            raise RuntimeError("espeak-ng is not installed: `apt-get install espeak-ng` (make setup does it)")
        proc = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True)
        names = []
        for line in proc.stdout.splitlines()[1:]:
            # "5  variant  --/M  klatt3  !v/klatt3  [(en-us 5)]": the file column is the name
            # -v takes; a name with a space ("!v/Mr serious") spills into the next column.
            parts = line.split()
            if len(parts) >= 5 and parts[4].startswith("!v/") and (len(parts) == 5 or parts[5].startswith("(")):
                names.append(parts[4][3:])
        _INSTALLED = sorted(set(names), key=str.lower)
    return tuple(_INSTALLED)


def variants_by_family(variants: tuple[str, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """``{family: (variant, ...)}`` of ``variants`` (default: every installed one).

    Example:
        >>> variants_by_family(("m1", "m2", "klatt", "klatt2", "Annie"))
        {'annie': ('Annie',), 'klatt': ('klatt', 'klatt2'), 'm': ('m1', 'm2')}
    """
    out: dict[str, list[str]] = {}
    for v in espeak_variants() if variants is None else variants:
        out.setdefault(voice_family(v), []).append(v)
    return {f: tuple(out[f]) for f in sorted(out)}


def synthesize(
    out_dir: str | Path,
    n: int,
    seed: int,
    variants: tuple[str, ...] = VARIANTS,
    speeds: tuple[int, int] = (130, 180),
    pitches: tuple[int, int] = (35, 65),
    min_digits: int = 1,
    max_digits: int = 7,
    voice: str = "en-us",
) -> list[Utterance]:
    """Synthesize ``n`` utterances into ``out_dir`` (reused if already there).

    Args:
        variants: espeak-ng voice variants to draw from (``"m1"``, ``"f3"``, ``"klatt2"``,
            ...: :data:`VARIANTS` or any of :func:`espeak_variants`).
        speeds: inclusive range of words per minute. pitches: inclusive pitch range (0–99).
        voice: the espeak-ng voice (language and accent) the variant modifies.

    Returns:
        the utterances; ``out_dir/index.json`` lists them, so a second call with the same
        arguments reads the index instead of synthesizing again.

    Raises:
        RuntimeError: espeak-ng is not installed (``apt-get install espeak-ng``; ``make
            setup`` does it) or fails.
    """
    bad = [v for v in variants if v not in VARIANTS]
    if bad and espeak_available():
        bad = [v for v in bad if v not in espeak_variants()]
    if bad:
        raise ValueError(f"unknown voice variants {bad}; expected some of {VARIANTS} or another installed "
                         f"variant (espeak-ng --voices=variant)")
    out = Path(out_dir)
    spec = {"n": n, "seed": seed, "variants": list(variants), "speeds": list(speeds), "pitches": list(pitches),
            "min_digits": min_digits, "max_digits": max_digits}
    if voice != "en-us":  # the specs written before voices could be chosen stay valid
        spec["voice"] = voice
    cached = read_index(out, spec)
    if cached is not None:
        return cached
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed: `apt-get install espeak-ng` (make setup does it)")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utts = []
    for k in range(n):
        digits, text = draw_digits(rng, min_digits, max_digits)
        variant = str(rng.choice(variants))
        speed = int(rng.integers(speeds[0], speeds[1] + 1))
        pitch = int(rng.integers(pitches[0], pitches[1] + 1))
        path = out / f"utt{k:05d}.wav"
        proc = subprocess.run(["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch),
                               "-w", str(path), text], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng failed on {text!r}: {proc.stderr.strip()}")
        utts.append(Utterance(str(path), digits, variant, speed, pitch))
    return write_index(out, spec, utts)
