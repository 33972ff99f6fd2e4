"""Recognize the digits spoken in WAV files with an exported speech model and ONNX Runtime
alone: no torch, no lstmkit (numpy, librosa and onnxruntime only). A standalone script:
copy it next to the exported model and run it.

    lstmkit export --model speech --out speech.onnx     # once, where lstmkit is installed
    python recognize_wav_onnx.py speech.onnx one.wav two.wav

It reads ``speech.onnx.json`` (written by ``lstmkit export``) for the feature pipeline and
the labels, computes the speech app's features (:func:`lstmkit.apps.speech.audio_features`, by the
sidecar's table: e.g. audio read at 8 kHz mono, resampled to 22,050 Hz, 13 MFCC every
23 ms with deltas and delta-deltas, normalised per utterance, standardised with the
training statistics), runs the graph and decodes
with the best path (argmax per frame, repeats merged, blanks dropped), printing
``FILE<TAB>digits`` per file as ``lstmkit speech recognize`` does.

This module imports nothing at the top, so that it can be imported (and tested) where
torch is installed as well as run where it is not.
"""

from __future__ import annotations

import json
import sys

__all__ = ["speech_features", "best_path", "recognize", "main"]


def speech_features(path: str, feat: dict):
    """(frames, 39 * stack) float32 features of an audio file, by the parameters of the
    sidecar's ``"features"`` table (standardised with its ``"normalisation"``).

    Args:
        path: an audio file (WAV, FLAC, ...; any rate, mono or stereo).
        feat: the ``"features"`` table of ``FILE.onnx.json``.
    """
    import librosa
    import numpy as np

    sr = int(feat["sample_rate"])
    rate = int(feat.get("read_rate", sr))  # e.g. read at 8 kHz (telephone band), then resampled
    y, _ = librosa.load(path, sr=rate, mono=True)
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size < rate // 20:
        raise ValueError(f"{path}: too short ({y.size / rate:.3f} s of audio)")
    if rate != sr:
        y = librosa.resample(y, orig_sr=rate, target_sr=sr)
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=int(feat["n_mfcc"]), n_fft=int(feat["n_fft"]),
                             hop_length=int(feat["hop_length"]))
    mode = feat.get("delta_mode", "interp")
    parts = [m] + [librosa.feature.delta(m, width=int(feat["delta_width"]), order=int(o), mode=mode)
                   for o in feat["deltas"]]
    f = np.concatenate(parts).T  # (T, 39)
    k = int(feat["stack"])
    T = (f.shape[0] // k) * k
    f = f[:T].reshape(T // k, f.shape[1] * k)
    if feat.get("utterance_norm"):  # each feature to mean 0, variance 1 over the utterance
        f = (f - f.mean(0)) / (f.std(0) + 1e-3)
    f = np.ascontiguousarray(f, dtype=np.float32)
    norm = feat["normalisation"]
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    return ((f - mean) / std).astype(np.float32)


def best_path(log_probs, blank: int = 0) -> list:
    """Greedy CTC decoding of (T, K+1) scores: the argmax per frame, repeats merged, blanks
    dropped; returns the label indices (1..K).

    Example:
        >>> import numpy as np
        >>> best_path(np.eye(3)[[1, 1, 0, 1, 2, 2]])
        [1, 1, 2]
    """
    import numpy as np

    path = np.asarray(log_probs).argmax(-1)
    out, prev = [], blank
    for p in path.tolist():
        if p != prev and p != blank:
            out.append(p)
        prev = p
    return out


def recognize(model_path: str, wav_paths, meta_path: str | None = None) -> list:
    """``[(path, text or None, error or None)]`` for each file, with ONNX Runtime on one
    thread."""
    import numpy as np
    import onnxruntime as ort

    with open(meta_path or model_path + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    feat, dec = meta["features"], meta["decoding"]
    alphabet = dec["alphabet"]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [i["name"] for i in meta["inputs"]]
    results = []
    for p in wav_paths:
        try:
            x = speech_features(p, feat)
        except Exception as e:  # librosa raises many kinds for a file that is not audio
            results.append((p, None, f"{p}: {type(e).__name__}: {e}"))
            continue
        feeds = {names[0]: x[:, None, :]}  # (T, B=1, features): the graph is time-major
        if len(names) > 1:
            feeds[names[1]] = np.array([x.shape[0]], dtype=np.int64)
        lp = sess.run(None, feeds)[0][:, 0]
        labels = best_path(lp, int(dec["blank"]))
        results.append((p, "".join(alphabet[k - 1] for k in labels), None))
    return results


def main(argv=None) -> int:
    """``python recognize_wav_onnx.py MODEL.onnx FILE.wav [...]``: one ``FILE<TAB>digits``
    line per file (errors to stderr, exit status 1 if any failed)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print("usage: python recognize_wav_onnx.py MODEL.onnx FILE.wav [FILE.wav ...]  (reads MODEL.onnx.json)",
              file=sys.stderr)
        return 2
    status = 0
    for path, text, err in recognize(argv[0], argv[1:]):
        if err is not None:
            print(err, file=sys.stderr)
            status = 1
        else:
            print(f"{path}\t{text}")
    return status


if __name__ == "__main__":
    sys.exit(main())
