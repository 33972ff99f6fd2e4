"""``lstmkit bench``: lstmkit's layers against torch.nn.LSTM, ratios measured in one process.

The harness is :mod:`lstmkit.bench`; this module holds the command's options and runs it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..bench import MODELS
from .options import add_common, positive_int

__all__ = ["register", "add_arguments", "run_from_args"]


def _cmd(args) -> int:
    return run_from_args(args)


def _parse_shape(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        parts = ()
    if len(parts) != 4 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"--shape must be BxTxIxH with positive ints (e.g. 32x100x2x64), got {text!r}")
    return parts  # type: ignore[return-value]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's command-line options ."""
    p.add_argument("--quick", action="store_true", help="a ~30 s run: two small shapes, fewer streaming steps")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated models (default: {','.join(MODELS)}); 'NAME/fused' forces the fused kernel")
    p.add_argument("--shape", action="append", type=_parse_shape, metavar="BxTxIxH",
                   help="a shape to run instead of the default set (repeatable)")
    p.add_argument("--reps", type=positive_int, default=10, help="timed repetitions per row, median reported (default 10)")
    p.add_argument("--stream-steps", type=positive_int, default=200,
                   help="steps per streaming repetition (default 200)")
    p.add_argument("--json", default="lstmkit-bench.json", metavar="PATH",
                   help="where to write the JSON results (default ./lstmkit-bench.json)")
    # The shared --threads with another default: torch's own thread count, as every figure in
    # docs/performance.md was measured with it; the value is validated the same way.
    add_common(p, "threads", default=None,
               help="torch intra-op threads for every row, ours and torch's alike (default: torch's default)")
    add_common(p, "progress")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``args``, print the table, write the JSON; exit code 0."""
    if args.reps < 1:
        raise ValueError(f"--reps must be >= 1, got {args.reps}")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    from ..bench import format_table, run_bench, write_json

    path = Path(args.json)
    _check_json_target(path)  # before the minutes of measuring, not after

    result = run_bench(quick=args.quick, models=models, shapes=args.shape, reps=args.reps,
                       stream_steps=args.stream_steps, progress=not args.no_progress)
    print(format_table(result))
    write_json(path, result)
    print(f"\nwrote {path}")
    return 0



def _check_json_target(path: Path) -> None:
    """--json may replace an earlier bench result, never anything else (a user's file)."""
    if path.is_dir():
        raise ValueError(f"--json {path} is a directory; expected a file name")
    if not path.exists():
        return
    try:
        doc = json.loads(path.read_text())
        ours = isinstance(doc, dict) and isinstance(doc.get("meta"), dict) and isinstance(doc.get("rows"), list)
    except (OSError, UnicodeDecodeError, ValueError):
        ours = False
    if not ours:
        raise ValueError(f"--json {path} exists and is not an lstmkit bench result; choose another --json "
                         "(lstmkit replaces only its own earlier results)")


def register(sub) -> None:
    """Add the ``bench`` command to the ``lstmkit`` sub-parsers ``sub``."""
    p = sub.add_parser(
        "bench",
        help="benchmark every LSTM preset and the GRU against torch.nn.LSTM (--quick: ~30 s)",
        description="Inference, training and streaming speed of lstmkit's layers as ratios to "
        "torch.nn.LSTM measured in the same process; a table on the terminal and a JSON file.",
    )
    add_arguments(p)
    p.set_defaults(func=_cmd)
