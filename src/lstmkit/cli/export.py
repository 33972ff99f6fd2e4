"""``lstmkit export``: an app's model directory as a file that runs without lstmkit.

- ``lstmkit export --model DIR --format onnx [--out FILE] [--overwrite]``: an ONNX graph
  (for ONNX Runtime), checked against PyTorch before it is written, and ``FILE.json``
  beside it with what the graph expects (inputs, feature pipeline, labels).
- ``--format torchscript``: a TorchScript module (``torch.jit.script``, or a trace with a
  warning where scripting fails) for libtorch.
- ``lstmkit export --speed [--shape BxTxIxH] [--models standard,gru,vanilla]``: ONNX
  Runtime against PyTorch inference time on one layer, in one process (the numbers of
  docs/deploying.md).

``--model`` takes any model directory an lstmkit app wrote, or ``speech`` /
``handwriting`` for the shipped models. An existing output is never replaced without
``--overwrite`` (``--force`` is the same). See docs/deploying.md.
"""

from __future__ import annotations

from .bench import _parse_shape
from .options import add_common, apply_threads, comma_list, model_parent, positive_int, threads_parent

__all__ = ["register"]


def _export(args) -> int:
    from ..apps.export import export_model

    if args.speed:
        return _speed(args)
    if not args.model:
        args._parser.error("the following arguments are required: --model (or --speed)")
    apply_threads(args)
    r = export_model(args.model, args.format, args.out, overwrite=args.overwrite, opset=args.opset)
    print(f"{r['path']}\t{r['format']} ({r['method']}) of the {r['class']} of {r['app']}, checked against PyTorch")
    print(f"{r['sidecar']}\twhat the graph expects (inputs, features, labels)")
    return 0


def _speed(args) -> int:
    import json
    import sys

    from ..apps.export import SPEED_MODELS, SPEED_SHAPES, measure_speed

    models = args.models or list(SPEED_MODELS)
    shapes = args.shape or list(SPEED_SHAPES)
    rows = measure_speed(models, shapes, reps=args.reps, threads=args.threads or 1,
                         progress=None if args.no_progress else lambda s: print(f"  {s} ...", file=sys.stderr))
    print(f"{'model':10s}{'B x T x I x H':>18s}{'PyTorch ms':>12s}{'torch.nn ms':>12s}{'ORT ms':>10s}"
          f"{'PyTorch/ORT':>13s}  ONNX ops")
    for r in rows:
        nn_ms = f"{r['torch_nn_ms']:.2f}" if r["torch_nn_ms"] is not None else "-"
        print(f"{r['model']:10s}{r['shape']:>18s}{r['torch_ms']:12.2f}{nn_ms:>12s}{r['onnx_ms']:10.2f}"
              f"{r['ratio']:13.2f}  {','.join(r['onnx_ops'])}")
    if args.json:
        from ..io import write_json

        write_json(args.json, {"threads": args.threads or 1, "reps": args.reps, "rows": rows})
    return 0


def _opset(text: str) -> int:
    import argparse

    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 7:
        raise argparse.ArgumentTypeError(f"--opset must be an int >= 7, got {text!r}")
    return v


def register(sub) -> None:
    from ..apps.export import FORMATS, SHIPPED_MODELS

    p = sub.add_parser(
        "export", help="export a model directory to ONNX or TorchScript (runs without lstmkit)",
        parents=[threads_parent(), model_parent(help=f"model directory of any lstmkit app, or one of "
                                                                     f"{', '.join(SHIPPED_MODELS)} (the shipped models)")],
        description="Export an app's model directory to ONNX or TorchScript, checked against PyTorch, with FILE.json "
                    "beside it saying what the graph expects. See docs/deploying.md.")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or torchscript")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="the file to write (default: the model directory's name + .onnx / .pt, here)")
    p.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                   help="replace FILE and FILE.json if they exist (without it an existing file is refused)")
    p.add_argument("--opset", type=_opset, default=None, help="ONNX opset version (default: torch's)")
    s = p.add_argument_group("speed (--speed: measure instead of exporting)")
    s.add_argument("--speed", action="store_true",
                   help="time ONNX Runtime against PyTorch on one layer per model and shape (no --model)")
    s.add_argument("--models", type=comma_list, default=None,
                   help="comma-separated: gru or LSTM presets (default standard,gru,vanilla)")
    s.add_argument("--shape", action="append", type=_parse_shape, metavar="BxTxIxH",
                   help="a shape, as lstmkit bench's (repeatable; default 32x100x2x64 and 64x100x128x256)")
    s.add_argument("--reps", type=positive_int, default=10, help="timed runs per row, median reported (default 10)")
    s.add_argument("--json", metavar="PATH", default=None, help="also write the rows as JSON to PATH")
    add_common(s, "progress")
    p.set_defaults(func=_export, _parser=p)
