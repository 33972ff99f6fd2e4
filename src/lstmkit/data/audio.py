"""Reading the user's audio files: one float32 mono signal, or a one-line error.

Limits: at most ``max_seconds`` (default 60 s) of audio per file, and not silent (a peak
below 1e-4 of full scale); see :func:`read_audio`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .files import check_user_file

__all__ = ["read_audio", "MAX_SECONDS", "SILENCE"]

MAX_SECONDS = 60.0
"""The default length limit of one audio file (seconds)."""

SILENCE = 1e-4
"""A file whose peak amplitude (full scale 1.0) is below this is silent."""

_FORMATS = "WAV, FLAC, OGG or MP3"
_WHAT = f"a readable audio file ({_FORMATS})"


def _not_finite(p: Path) -> ValueError:
    return ValueError(f"{p} holds samples that are not finite numbers (NaN or infinity); re-export the recording "
                      f"(e.g. as 16-bit PCM WAV)")


def read_audio(path: str | os.PathLike, sample_rate: int, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """An audio file as a (samples,) float32 mono signal at ``sample_rate`` Hz (full scale 1.0).

    Read with librosa (any sample rate, stereo, 8/16/24-bit or float: resampled and mixed
    to mono). The warnings librosa and audioread print while trying their backends are
    kept from the screen; when the read fails they are attached to the error as notes
    (``e.__notes__``) and the message stays one line.

    Args:
        path: the file.
        sample_rate: the rate to resample to (Hz).
        max_seconds: the longest file accepted; a longer one is an error telling how to
            split it (its length is read from the header when soundfile can, so a
            long file is not decoded first).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a directory, an empty file, not audio, non-finite samples, silence,
            or longer than ``max_seconds``; one line naming the file.
        ImportError: librosa is not installed (``pip install 'lstmkit[speech]'``).

    Example:
        >>> import os, tempfile, wave, numpy as np
        >>> p = os.path.join(tempfile.mkdtemp(), "tone.wav")
        >>> with wave.open(p, "wb") as w:
        ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        ...     w.writeframes((np.sin(np.arange(8000) / 5) * 9000).astype("<i2").tobytes())
        >>> y = read_audio(p, 16000)
        >>> y.dtype, y.shape, bool(0.2 < abs(y).max() < 0.3)
        (dtype('float32'), (16000,), True)
    """
    p = check_user_file(path, _WHAT)
    if not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
    try:
        import librosa
    except ImportError as e:  # pragma: no cover
        raise ImportError("reading audio needs librosa: pip install 'lstmkit[speech]'") from e

    def too_long(seconds: str) -> ValueError:
        return ValueError(f"{p} holds {seconds} of audio; the limit is {max_seconds:g} s (max_seconds): split it "
                          f"into shorter files, e.g. `ffmpeg -i {p.name} -f segment -segment_time "
                          f"{max_seconds:g} part%03d{p.suffix or '.wav'}`")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        duration = _header_duration(p)
        if duration is not None and duration > max_seconds:
            raise too_long(f"{duration:.1f} s")
        failed = None
        try:
            # Decode at most a little past the limit: a file longer than its header says
            # (or with no header length) is caught without reading it all.
            y, _ = librosa.load(str(p), sr=sample_rate, mono=True, duration=max_seconds + 1.0)
        except Exception as e:  # librosa/audioread raise many kinds for non-audio input
            failed = (type(e).__name__, "not finite" in str(e))
        # raised here, outside the handler: the backend's exception (and the file it holds
        # open in its frames) is freed now, not at the next garbage collection
        if failed and failed[1]:  # librosa checks a float file's samples
            raise _not_finite(p)
        if failed:
            err = ValueError(f"{p}: not a readable audio file ({failed[0]}); expected {_FORMATS}")
            for w in caught:
                err.add_note(f"{w.category.__name__}: {w.message}")
            raise err
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size > max_seconds * sample_rate:
        raise too_long(f"more than {max_seconds:g} s")
    if y.size == 0:
        raise ValueError(f"{p} holds no audio samples; expected {_WHAT} with sound in it")
    if not np.isfinite(y).all():
        raise _not_finite(p)
    peak = float(np.abs(y).max())
    if peak < SILENCE:
        raise ValueError(f"{p} is silent (peak amplitude {peak:.1e} of full scale, below {SILENCE:g}): there is "
                         f"nothing to recognize; check the recording and its level")
    return y


def _header_duration(p: Path) -> float | None:
    """The file's length in seconds from its header (soundfile), or None if it cannot tell."""
    try:
        import soundfile

        info = soundfile.info(str(p))
        if info.samplerate > 0 and info.frames > 0:
            return info.frames / info.samplerate
    except Exception:  # not a format soundfile knows, or no length in the header: librosa decides
        pass
    return None
