"""Spoken digit strings synthesized with flite (CMU Flite, Debian package ``flite``): a
speech synthesizer other than espeak-ng, for testing a recognizer on a synthesizer it
never heard.

Each utterance says 1–7 digits in one of flite's built-in voices (:func:`flite_voices`:
``kal``, ``kal16``, ``awb``, ``rms``, ``slt`` in Debian's flite 2.2; the limited-domain
``awb_time`` speaks only clock times and is left out), with a duration stretch and a mean
pitch drawn from given ranges. flite is deterministic, so a seed fixes the set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from .espeak_digits import Utterance, draw_digits, read_index, write_index

__all__ = ["flite_available", "flite_missing_reason", "flite_voices", "synthesize_flite"]

_LIMITED_DOMAIN = ("awb_time",)


def flite_available() -> bool:
    """Whether the ``flite`` program is on the PATH."""
    return shutil.which("flite") is not None


def flite_missing_reason() -> str | None:
    """Why flite cannot be used here (one line), or None when it can.

    Example:
        >>> flite_missing_reason() in (None, "flite is not installed: `apt-get install flite` (Debian/Ubuntu)")
        True
    """
    if not flite_available():
        return "flite is not installed: `apt-get install flite` (Debian/Ubuntu)"
    return None


def flite_voices() -> tuple[str, ...]:
    """The general-domain voices of the installed flite (``flite -lv``), in its order.

    Raises:
        RuntimeError: flite is not installed.
    """
    reason = flite_missing_reason()
    if reason:
        raise RuntimeError(reason)
    proc = subprocess.run(["flite", "-lv"], capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).split(":", 1)[-1]
    return tuple(v for v in text.split() if v not in _LIMITED_DOMAIN)


def synthesize_flite(
    out_dir: str | Path,
    n: int,
    seed: int,
    voices: tuple[str, ...] | None = None,
    stretches: tuple[float, float] = (0.9, 1.2),
    pitches: tuple[int, int] | None = None,
    min_digits: int = 1,
    max_digits: int = 7,
) -> list[Utterance]:
    """Synthesize ``n`` utterances into ``out_dir`` (reused if already there).

    Args:
        voices: flite voices to draw from (default: every :func:`flite_voices`).
        stretches: range of flite's ``duration_stretch`` (above 1: slower).
        pitches: range of the mean pitch in Hz (flite's ``int_f0_target_mean``); None: each
            voice's own.

    Returns:
        the utterances (``variant`` holds the voice, ``speed`` the stretch in percent,
        ``pitch`` the mean pitch in Hz, 0 for the voice's own); ``out_dir/index.json`` lists them.

    Raises:
        RuntimeError: flite is not installed (:func:`flite_missing_reason`) or fails.
        ValueError: an unknown voice.

    Example:
        >>> import tempfile
        >>> if flite_available():  # doctest: +SKIP
        ...     u = synthesize_flite(tempfile.mkdtemp(), 2, seed=0, voices=("slt",))
        ...     u[0].variant, 1 <= len(u[0].digits) <= 7
        ('slt', True)
    """
    known = flite_voices()
    voices = known if voices is None else tuple(voices)
    bad = [v for v in voices if v not in known]
    if bad or not voices:
        raise ValueError(f"voices: unknown flite voice(s) {bad}; installed: {', '.join(known)}")
    out = Path(out_dir)
    spec = {"synthesizer": "flite", "n": n, "seed": seed, "voices": list(voices), "stretches": list(stretches),
            "pitches": None if pitches is None else list(pitches), "min_digits": min_digits, "max_digits": max_digits}
    cached = read_index(out, spec)
    if cached is not None:
        return cached
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utts = []
    for k in range(n):
        digits, text = draw_digits(rng, min_digits, max_digits)
        voice = str(rng.choice(voices))
        stretch = round(float(rng.uniform(*stretches)), 2)
        pitch = 0 if pitches is None else int(rng.integers(pitches[0], pitches[1] + 1))
        path = out / f"utt{k:05d}.wav"
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}"]
        if pitches is not None:
            cmd += ["--setf", f"int_f0_target_mean={pitch}"]
        proc = subprocess.run(cmd + ["-t", text, "-o", str(path)], capture_output=True, text=True)
        if proc.returncode != 0 or not path.is_file():
            raise RuntimeError(f"flite failed on {text!r} with voice {voice}: {proc.stderr.strip()[:200]}")
        utts.append(Utterance(str(path), digits, voice, int(round(stretch * 100)), pitch))
    return write_index(out, spec, utts)
