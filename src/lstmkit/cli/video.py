"""``lstmkit video``: frame prediction with ConvLSTMs (Shi et al. 2015) on moving digits.

- ``lstmkit video train --model DIR [--cell convlstm|fc-lstm] [--hidden 64] [--kernel 5]
  [--recurrent-kernel 5] [--epochs 5] [--resume]``: train and save a model directory.
- ``lstmkit video evaluate --model DIR``: per-sequence cross-entropy on the fixed test videos
  (digits never seen in training), beside the last-frame and mean-frame baselines.
- ``lstmkit video predict --model DIR --input VIDEO.npy|.gif [--png STRIP.png] [--gif OUT.gif]``:
  the next frames of the user's own video; a PNG strip (input, prediction) and a GIF.
- ``lstmkit video compare [--epochs 5] [--json FILE] [--png STRIP.png]``: Table 1's ordering
  in one run (ConvLSTM 5x5 vs 1x1 state-to-state kernels vs FC-LSTM).

Docs: docs/video.md; measured numbers in docs/results.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from .options import refuse_existing_output


def _ints(text: str) -> list[int]:
    from .options import positive_ints

    return positive_ints(text)


def _odd(text: str) -> int:
    import argparse

    from .options import positive_int

    v = positive_int(text)
    if v % 2 == 0:
        raise argparse.ArgumentTypeError(f"expected an odd kernel size (\"same\" padding), got {text!r}")
    return v


def _train(args) -> int:
    from ..apps.video import train_video
    from .options import apply_threads

    apply_threads(args)
    r = train_video(args.model, model=args.cell, hidden=args.hidden, kernel_size=args.kernel,
                    recurrent_kernel_size=args.recurrent_kernel, fc_hidden=args.fc_hidden, n_train=args.n_train,
                    n_test=args.n_test, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                    resume=args.resume, progress=not args.no_progress)
    b = r["baselines"]
    print(f"test per-sequence cross-entropy {r['test_ce']:.1f} (last frame {b['last-frame']:.1f}, "
          f"mean frame {b['mean-frame']:.1f}); {r['parameters']:,} parameters, {r['seconds']:.0f} s")
    print(f"model in {args.model}")
    return 0


def _evaluate(args) -> int:
    from ..apps.video import evaluate_video
    from .options import apply_threads

    apply_threads(args)
    refuse_existing_output(args.json, "--json")
    r = evaluate_video(args.model, n_test=args.n_test)
    b = r["baselines"]
    print(f"test per-sequence cross-entropy {r['test_ce']:.1f} on {r['n_test']} videos of held-out digits "
          f"(last frame {b['last-frame']:.1f}, mean frame {b['mean-frame']:.1f})")
    if args.json:
        from ..io import atomic_write_text

        atomic_write_text(args.json, json.dumps(r, indent=2))
    return 0


def _predict(args) -> int:
    import numpy as np

    from ..apps.video import load_video, predict_video, save_gif, save_strip
    from .options import apply_threads

    apply_threads(args)
    for path, what in ((args.png, "--png"), (args.gif, "--gif"), (args.npy, "--npy")):
        refuse_existing_output(path, what)
    frames = load_video(args.input)
    if args.input_frames is not None:
        frames = frames[:args.input_frames]
    pred = predict_video(args.model, frames, horizon=args.horizon)
    print(f"predicted {len(pred)} frames of {pred.shape[1]}x{pred.shape[2]} after {len(frames)} input frames")
    if args.png:
        print(f"strip: {save_strip(args.png, frames, None, pred, title=Path(args.input).name)}")
    if args.gif:
        print(f"animation: {save_gif(args.gif, np.concatenate([frames, pred]))}")
    if args.npy:
        import io

        from ..io import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, pred.astype(np.float32))
        atomic_write_bytes(args.npy, buf.getvalue())
        print(f"frames: {args.npy}")
    return 0


def _compare(args) -> int:
    from ..apps.video import COMPARE_MODELS, compare_video, fixed_test_videos, format_compare, save_gif, save_strip
    from .options import apply_threads

    apply_threads(args)
    for path, what in ((args.json, "--json"), (args.png, "--png"), (args.gif, "--gif")):
        refuse_existing_output(path, what)
    models = args.models or list(COMPARE_MODELS)
    r = compare_video(models=models, hidden=args.hidden, fc_hidden=args.fc_hidden, n_train=args.n_train,
                      n_test=args.n_test, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      progress=not args.no_progress, log=print, keep_models=bool(args.png or args.gif))
    print(format_compare(r))
    if r["ordering_reproduced"] is not None:
        print(f"ordering 5x5 < 1x1 < FC-LSTM reproduced: {'yes' if r['ordering_reproduced'] else 'no'}")
    print(f"paper: {r['paper']}")
    if args.png or args.gif:
        import numpy as np
        import torch

        cfg = r["config"]
        k, h = cfg["input_frames"], cfg["horizon"]
        v = torch.as_tensor(fixed_test_videos(1, k + h, cfg["frame_size"]), dtype=torch.float32) / 255
        preds = []
        with torch.no_grad():
            for row in r["rows"]:
                preds.append(torch.sigmoid(row["model"](v[:, :k], horizon=h))[0].numpy())
        truth = v[0, k:].numpy()
        if args.png:
            strip = np.concatenate([truth] + preds, axis=2)  # side by side: truth | each model
            print(f"strip: {save_strip(args.png, v[0, :k].numpy(), None, strip, title='truth | ' + ' | '.join(models))}")
        if args.gif:
            print(f"animation: {save_gif(args.gif, np.concatenate([truth] + preds, axis=2))}")
    if args.json:
        from ..io import atomic_write_text

        for row in r["rows"]:
            row.pop("model", None)
        atomic_write_text(args.json, json.dumps(r, indent=2))
        print(f"results in {args.json}")
    return 0


def register(sub) -> None:
    from .options import comma_list, model_parent, positive_float, positive_int, runtime_parent

    p = sub.add_parser("video", help="frame prediction with ConvLSTMs on moving digits (Shi et al. 2015)")
    s = p.add_subparsers(dest="video_command", metavar="COMMAND", required=True)

    def budget(q, epochs=5):
        q.add_argument("--hidden", type=_ints, default=[64], help="ConvLSTM channels per layer (default 64)")
        q.add_argument("--fc-hidden", type=_ints, default=[1024], help="FC-LSTM units per layer (default 1024)")
        q.add_argument("--n-train", type=positive_int, default=2000, help="training videos (default 2000)")
        q.add_argument("--n-test", type=positive_int, default=256, help="test videos, held-out digits (default 256)")
        q.add_argument("--epochs", type=positive_int, default=epochs, help=f"passes over the videos (default {epochs})")
        q.add_argument("--batch-size", type=positive_int, default=16, help="videos per update (default 16)")
        q.add_argument("--lr", type=positive_float, default=3e-3, help="Adam's learning rate (default 0.003)")

    t = s.add_parser("train", parents=[runtime_parent(), model_parent(required=True, help="the new model directory")],
                     help="train a video predictor and save it")
    t.add_argument("--cell", choices=["convlstm", "fc-lstm"], default="convlstm",
                   help="encoding-forecasting ConvLSTM (default) or the FC-LSTM baseline")
    t.add_argument("--kernel", type=_odd, default=5, help="input-to-state kernel (default 5)")
    t.add_argument("--recurrent-kernel", type=_odd, default=None, help="state-to-state kernel (default: --kernel)")
    t.add_argument("--resume", action="store_true", help="continue an interrupted training from its checkpoints")
    budget(t)
    t.set_defaults(func=_train)

    trained = "a model directory from `lstmkit video train`"
    e = s.add_parser("evaluate", parents=[runtime_parent(seed=False, progress=False),
                                          model_parent(required=True, help=trained)],
                     help="per-sequence cross-entropy on the fixed test videos")
    e.add_argument("--n-test", type=positive_int, default=256, help="test videos (default 256)")
    e.add_argument("--json", default=None, help="write the numbers to this new JSON file")
    e.set_defaults(func=_evaluate)

    r = s.add_parser("predict", parents=[runtime_parent(seed=False, progress=False),
                                         model_parent(required=True, help=trained)],
                     help="predict the next frames of a video (.npy (T, H, W) or animated .gif)")
    r.add_argument("--input", required=True, help="the video: .npy frames (T, H, W) or an animated .gif")
    r.add_argument("--input-frames", type=positive_int, default=None, help="read only the first N frames")
    r.add_argument("--horizon", type=positive_int, default=None, help="frames to predict (default: the model's)")
    r.add_argument("--png", default=None, help="write a new PNG strip (input, prediction)")
    r.add_argument("--gif", default=None, help="write a new animated GIF (input then prediction)")
    r.add_argument("--npy", default=None, help="write the predicted frames to a new .npy file")
    r.set_defaults(func=_predict)

    c = s.add_parser("compare", parents=[runtime_parent()],
                     help="Table 1 in one run: ConvLSTM 5x5 vs 1x1 state-to-state kernels vs FC-LSTM")
    c.add_argument("--models", type=comma_list, default=None,
                   help="comma-separated of convlstm-5x5,convlstm-1x1,fc-lstm (default all)")
    c.add_argument("--json", default=None, help="write the rows to this new JSON file")
    c.add_argument("--png", default=None, help="write a new PNG strip of one test video: truth | each model")
    c.add_argument("--gif", default=None, help="write a new GIF of one test video: truth | each model")
    budget(c)
    c.set_defaults(func=_compare)
