"""Spoken digit strings synthesized with espeak-ng (Debian package ``espeak-ng``).

Each utterance says 1–7 digits ("three seven one") in one of espeak-ng's voice variants
(``en-us+m1`` ... ``+m7``, ``+f1`` ... ``+f5``) at a speed (words per minute) and pitch
drawn from given ranges. espeak-ng's output is deterministic, so a seed fixes the set.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["DIGIT_WORDS", "VARIANTS", "Utterance", "espeak_available", "synthesize"]

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


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize(
    out_dir: str | Path,
    n: int,
    seed: int,
    variants: tuple[str, ...] = VARIANTS,
    speeds: tuple[int, int] = (130, 180),
    pitches: tuple[int, int] = (35, 65),
    min_digits: int = 1,
    max_digits: int = 7,
) -> list[Utterance]:
    """Synthesize ``n`` utterances into ``out_dir`` (reused if already there).

    Args:
        variants: espeak-ng voice variants to draw from (``"m1"``, ``"f3"``, ...).
        speeds: inclusive range of words per minute. pitches: inclusive pitch range (0–99).

    Returns:
        the utterances; ``out_dir/index.json`` lists them, so a second call with the same
        arguments reads the index instead of synthesizing again.

    Raises:
        RuntimeError: espeak-ng is not installed (``apt-get install espeak-ng``; ``make
            setup`` does it) or fails.
    """
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"unknown voice variants {bad}; expected some of {VARIANTS}")
    out = Path(out_dir)
    spec = {"n": n, "seed": seed, "variants": list(variants), "speeds": list(speeds), "pitches": list(pitches),
            "min_digits": min_digits, "max_digits": max_digits}
    index = out / "index.json"
    if index.is_file():
        doc = json.loads(index.read_text())
        if doc.get("spec") == spec and all((out / Path(u["path"]).name).is_file() for u in doc["utterances"]):
            return [Utterance(**{**u, "digits": tuple(u["digits"]), "path": str(out / Path(u["path"]).name)})
                    for u in doc["utterances"]]
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed: `apt-get install espeak-ng` (make setup does it)")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utts = []
    for k in range(n):
        digits = tuple(int(d) for d in rng.integers(0, 10, size=int(rng.integers(min_digits, max_digits + 1))))
        variant = str(rng.choice(variants))
        speed = int(rng.integers(speeds[0], speeds[1] + 1))
        pitch = int(rng.integers(pitches[0], pitches[1] + 1))
        path = out / f"utt{k:05d}.wav"
        text = " ".join(DIGIT_WORDS[d] for d in digits)
        proc = subprocess.run(["espeak-ng", "-v", f"en-us+{variant}", "-s", str(speed), "-p", str(pitch),
                               "-w", str(path), text], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng failed on {text!r}: {proc.stderr.strip()}")
        utts.append(Utterance(str(path), digits, variant, speed, pitch))
    from ..io import atomic_write_text

    atomic_write_text(index, json.dumps({"spec": spec, "utterances": [asdict(u) for u in utts]}))
    return utts
