"""Data augmentation for speech: on the waveform (speed, pitch, noise, gain) and on the
feature frames (SpecAugment-style masking). Every function takes an explicit
``numpy.random.Generator``: the same seed gives the same result.

- :func:`speed_perturb`: resample by a factor (tempo and pitch together, as in Ko et al.
  2015, "Audio augmentation for speech recognition": factors 0.9, 1.0, 1.1).
- :func:`pitch_shift`: pitch alone, in semitones (librosa's phase vocoder + resampling).
- :func:`add_noise`: white or pink noise at a signal-to-noise ratio in dB.
- :func:`random_gain`: a level change in dB.
- :func:`spec_augment`: time and feature-band masks (Park et al. 2019, SpecAugment, without
  the time warp), filled with the utterance's mean (zero after per-utterance normalisation).
- :func:`augment_waveform`: one random draw of all the waveform augmentations, each with
  its own probability (:data:`WAVEFORM_AUGMENTATIONS`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["speed_perturb", "pitch_shift", "add_noise", "random_gain", "spec_augment", "augment_waveform",
           "WAVEFORM_AUGMENTATIONS", "check_augmentations"]

WAVEFORM_AUGMENTATIONS = ("speed", "pitch", "noise", "gain")
"""The names :func:`augment_waveform` knows; ``"specaugment"`` is applied to features."""


def check_augmentations(names) -> tuple[str, ...]:
    """``names`` as a tuple, or a one-line ValueError naming the unknown ones.

    Example:
        >>> check_augmentations(["speed", "specaugment"])
        ('speed', 'specaugment')
    """
    names = tuple(names)
    known = WAVEFORM_AUGMENTATIONS + ("specaugment",)
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"augment: unknown augmentation(s) {', '.join(map(str, bad))}; expected some of "
                         f"{', '.join(known)}")
    return names


def _signal(y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D signal, got shape {y.shape}")
    return y


def speed_perturb(y: np.ndarray, factor: float) -> np.ndarray:
    """``y`` played ``factor`` times faster (shorter by ``factor``, pitch up by it too).

    Example:
        >>> speed_perturb(np.ones(1000, np.float32), 1.25).shape
        (800,)
    """
    y = _signal(y)
    if not (isinstance(factor, (int, float)) and 0.5 <= factor <= 2.0):
        raise ValueError(f"factor must be a number in [0.5, 2], got {factor!r}")
    n = max(1, int(round(y.size / factor)))
    # linear interpolation on the new time grid: cheap, and enough for factors near 1
    t = np.arange(n, dtype=np.float64) * factor
    return np.interp(t, np.arange(y.size), y).astype(np.float32)


def pitch_shift(y: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """``y`` with its pitch moved by ``semitones``, its length kept (librosa).

    Example:
        >>> y = np.sin(np.arange(8000) / 3).astype(np.float32)
        >>> pitch_shift(y, 8000, 2.0).shape
        (8000,)
    """
    import librosa

    y = _signal(y)
    return librosa.effects.pitch_shift(y, sr=sample_rate, n_steps=float(semitones)).astype(np.float32)


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """``y`` plus Gaussian noise ``snr_db`` dB below its mean power; ``color`` "white" or
    "pink" (1/f power, made in the frequency domain).

    Example:
        >>> y = np.sin(np.arange(16000) / 5).astype(np.float32)
        >>> z = add_noise(y, 20.0, np.random.default_rng(0))
        >>> round(10 * np.log10((y ** 2).mean() / ((z - y) ** 2).mean()))
        20
    """
    y = _signal(y)
    if color not in ("white", "pink"):
        raise ValueError(f"color must be 'white' or 'pink', got {color!r}")
    noise = rng.standard_normal(y.size)
    if color == "pink":
        spec = np.fft.rfft(noise)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        noise = np.fft.irfft(spec / np.sqrt(f), n=y.size)
    p_sig = float((y.astype(np.float64) ** 2).mean())
    p_noise = float((noise ** 2).mean()) or 1.0
    noise *= np.sqrt(p_sig / p_noise / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def random_gain(y: np.ndarray, db: float) -> np.ndarray:
    """``y`` scaled by ``db`` decibels, clipped to full scale [-1, 1].

    Example:
        >>> random_gain(np.full(4, 0.1, np.float32), 20.0).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    return np.clip(_signal(y) * 10 ** (db / 20), -1.0, 1.0).astype(np.float32)


def spec_augment(frames: np.ndarray, rng: np.random.Generator, time_masks: int = 2, max_time: int = 4,
                 feature_masks: int = 2, max_features: int = 5) -> np.ndarray:
    """A copy of (T, F) ``frames`` with ``time_masks`` runs of up to ``max_time`` frames and
    ``feature_masks`` bands of up to ``max_features`` features set to the utterance's mean
    (per feature). Runs are kept to at most a tenth of T each, so a short word is not erased.

    Example:
        >>> x = np.arange(60, dtype=np.float32).reshape(20, 3)
        >>> y = spec_augment(x, np.random.default_rng(0))
        >>> y.shape, bool((y != x).any()), bool((x == np.arange(60).reshape(20, 3)).all())
        ((20, 3), True, True)
    """
    x = np.asarray(frames, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"frames must be (T, F), got shape {x.shape}")
    out = x.copy()
    T, F = x.shape
    fill = x.mean(0)
    for _ in range(time_masks):
        w = int(rng.integers(0, min(max_time, max(T // 10, 1)) + 1))
        if w:
            t0 = int(rng.integers(0, T - w + 1))
            out[t0:t0 + w] = fill
    for _ in range(feature_masks):
        w = int(rng.integers(0, min(max_features, F) + 1))
        if w:
            f0 = int(rng.integers(0, F - w + 1))
            out[:, f0:f0 + w] = fill[f0:f0 + w]
    return out


def augment_waveform(y: np.ndarray, sample_rate: int, rng: np.random.Generator,
                     augmentations=WAVEFORM_AUGMENTATIONS) -> np.ndarray:
    """One random draw of the named waveform augmentations, in the order speed, pitch,
    gain, noise: speed x0.85–1.15 (p=0.8), pitch ±3 semitones (p=0.5), gain −20–+6 dB
    (p=0.8), white or pink noise at 5–35 dB SNR (p=0.6).

    Example:
        >>> y = np.sin(np.arange(16000) / 5).astype(np.float32) * 0.3
        >>> a = augment_waveform(y, 16000, np.random.default_rng(1), ("speed", "noise"))
        >>> b = augment_waveform(y, 16000, np.random.default_rng(1), ("speed", "noise"))
        >>> bool(np.array_equal(a, b)), a.dtype.name
        (True, 'float32')
    """
    names = check_augmentations(augmentations)
    y = _signal(y)
    # one draw of every random number, whatever is switched on: a run with an augmentation
    # off sees the same draws for the others
    u = rng.random(4)
    speed, semis, gain, snr = rng.uniform(0.85, 1.15), rng.uniform(-3, 3), rng.uniform(-20, 6), rng.uniform(5, 35)
    pink = bool(rng.random() < 0.5)
    noise_rng = np.random.default_rng(int(rng.integers(2 ** 31)))
    if "speed" in names and u[0] < 0.8:
        y = speed_perturb(y, float(speed))
    if "pitch" in names and u[1] < 0.5:
        y = pitch_shift(y, sample_rate, float(semis))
    if "gain" in names and u[2] < 0.8:
        y = random_gain(y, float(gain))
    if "noise" in names and u[3] < 0.6:
        y = add_noise(y, float(snr), noise_rng, "pink" if pink else "white")
    return y
