"""Connected spoken digits, from audio to text: a BiLSTM trained with CTC on digit strings
synthesized by espeak-ng (:mod:`lstmkit.data.espeak_digits`).

Audio is read with librosa (any sample rate, stereo, 8/16/24-bit: resampled to 16 kHz
and mixed to mono), turned into 13 MFCCs with deltas and delta-deltas every 10 ms, two
frames stacked into one (20 ms, 78 features), standardised with the training set's
statistics. Test utterances use voice variants never heard in training.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.audio import read_audio
from ..data.espeak_digits import VARIANTS, synthesize
from ..models import CTCRecognizer, load_model, save_model
from .common import check_input_size, compare_decoders, decode_batch, fit_standardizer, standardize, train_ctc
from .runfiles import training_outputs, write_run_result

__all__ = ["audio_features", "train_speech", "recognize_files", "evaluate_model_dir", "PRETRAINED",
           "TEST_VARIANTS"]

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "speech"
"""The model that ships with the package (the default of ``recognize`` and ``evaluate``;
rebuilt only by the maintainers' ``lstmkit speech train --overwrite-shipped``)."""

DEFAULT_MODEL_DIR = "runs/speech/model"
"""Where ``lstmkit speech train`` writes its model unless told otherwise."""
DEFAULT_RUN_DIR = "runs/speech/run"
"""Where ``lstmkit speech train`` keeps its checkpoints and result.json."""

SAMPLE_RATE = 16_000
TEST_VARIANTS = ("m7", "f5")
"""Voice variants held out of training: the test set speaks only with these."""
TRAIN_VARIANTS = tuple(v for v in VARIANTS if v not in TEST_VARIANTS)


def audio_features(path: str | os.PathLike) -> np.ndarray:
    """(frames, 78) features of an audio file: 13 MFCC + deltas + delta-deltas at 10 ms,
    two frames stacked. Raises ValueError (naming the file) if it is not audio."""
    try:
        import librosa
    except ImportError as e:  # pragma: no cover
        raise ImportError("speech needs librosa: pip install 'lstmkit[speech]'") from e
    y = read_audio(path, SAMPLE_RATE)  # one-line errors: missing, not audio, silent, too long, ...
    if y.size < SAMPLE_RATE // 20:
        raise ValueError(f"{path}: too short ({y.size / SAMPLE_RATE:.3f} s of audio)")
    m = librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=13, n_fft=400, hop_length=160)
    f = np.concatenate([m, librosa.feature.delta(m), librosa.feature.delta(m, order=2)]).T  # (T, 39)
    T = (f.shape[0] // 2) * 2
    return np.ascontiguousarray(f[:T].reshape(T // 2, 78), dtype=np.float32)


def _corpus(data_dir: Path, seed: int, n_train: int, n_val: int, n_test: int):
    train = synthesize(data_dir / "train", n_train + n_val, seed, variants=TRAIN_VARIANTS) if n_train + n_val else []
    test_voices = synthesize(data_dir / "test_voices", n_test, seed + 1, variants=TEST_VARIANTS)
    test_ranges = synthesize(data_dir / "test_voices_ranges", n_test, seed + 2, variants=TEST_VARIANTS,
                             speeds=(185, 200), pitches=(70, 85))

    def feats(utts):
        return [audio_features(u.path) for u in utts], [list(u.digits) for u in utts]

    tr_x, tr_y = feats(train)
    return (tr_x[:n_train], tr_y[:n_train]), (tr_x[n_train:], tr_y[n_train:]), feats(test_voices), feats(test_ranges)


def train_speech(
    out_dir: str | os.PathLike = DEFAULT_MODEL_DIR,
    data_dir: str | os.PathLike = "runs/speech/data",
    epochs: int = 10,
    n_train: int = 4000,
    hidden_size: int = 96,
    num_layers: int = 2,
    variant: str = "vanilla",
    seed: int = 0,
    run_dir: str | os.PathLike | None = DEFAULT_RUN_DIR,
    resume: bool = False,
    progress: bool = True,
    overwrite_shipped: bool = False,
) -> dict:
    """Synthesize the corpus (cached in ``data_dir``), train, write the model to ``out_dir``.

    Training voices: every espeak-ng variant except ``TEST_VARIANTS``, speeds 130–180 wpm,
    pitch 35–65; 300 validation utterances of the same voices choose the best epoch. Two
    test sets of 500 utterances speak with the held-out variants only: one in the training
    speed/pitch ranges, one faster (185–200 wpm) and higher (pitch 70–85).

    Before any work ``out_dir`` is checked (not inside the shipped models unless
    ``overwrite_shipped``; empty, new or an lstmkit model directory) and locked for the
    run, and ``run_dir`` is claimed (see :func:`lstmkit.apps.runfiles.training_outputs`).
    """
    with training_outputs(out_dir, run_dir, overwrite_shipped):
        torch.manual_seed(seed)
        (tr_x, tr_y), (va_x, va_y), (t1_x, t1_y), (t2_x, t2_y) = _corpus(Path(data_dir), seed, n_train, 300, 500)
        norm = fit_standardizer(tr_x)
        tr_x, va_x, t1_x, t2_x = (standardize(f, norm) for f in (tr_x, va_x, t1_x, t2_x))
        model = CTCRecognizer(78, num_labels=10, hidden_size=hidden_size, num_layers=num_layers, variant=variant)

        fit = train_ctc(model, (tr_x, tr_y), (va_x, va_y), epochs=epochs, seed=seed, run_dir=run_dir,
                        resume=resume, progress=progress, desc="speech BiLSTM-CTC")
        save_model(model, out_dir, extra={"normalisation": norm, "sample_rate": SAMPLE_RATE,
                                          "test_variants": list(TEST_VARIANTS), "trained_by": "lstmkit speech train",
                                          "seed": seed, "epochs": epochs, "n_train": n_train})
        result = {"fit": fit,
                  "held_out_voices": compare_decoders(model, t1_x, t1_y, progress=progress, desc="held-out voices"),
                  "held_out_voices_faster_higher": compare_decoders(model, t2_x, t2_y, progress=progress,
                                                                    desc="faster, higher")}
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
    """Decoder comparison on both held-out test sets with the model in ``directory``
    (with ``progress``, a bar per decoder and test set)."""
    model, extra = load_recognizer(directory)
    check_input_size(model, extra, directory, 78, "speech frames")  # before minutes of synthesis
    seed = int(extra.get("seed", 0))
    _, _, (t1_x, t1_y), (t2_x, t2_y) = _corpus(Path(data_dir), seed, 0, 0, 500)
    norm = extra["normalisation"]
    return {"held_out_voices": compare_decoders(model, standardize(t1_x, norm), t1_y, beam_width, progress,
                                                "held-out voices"),
            "held_out_voices_faster_higher": compare_decoders(model, standardize(t2_x, norm), t2_y, beam_width,
                                                              progress, "faster, higher")}


def recognize_files(paths, directory: str | os.PathLike = PRETRAINED, method: str = "best_path"):
    """Yield ``(path, digits or None, error or None)`` for each audio file."""
    model, extra = load_recognizer(directory)
    check_input_size(model, extra, directory, 78, "speech frames")
    for p in paths:
        try:
            feats = audio_features(p)
        except (ValueError, OSError) as e:
            yield p, None, str(e)
            continue
        digits = decode_batch(model, standardize([feats], extra["normalisation"]), method)[0]
        yield p, "".join(map(str, digits)), None
