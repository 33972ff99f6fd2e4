"""The ``lstmkit`` command. One module per command group; each has ``register(subparsers)``.

A command module defines ``register(sub)`` that adds its parser(s) to ``sub`` (the
argparse sub-parsers object) and sets ``func`` on each: ``func(args) -> int`` (exit code).
Add the module's name to ``COMMAND_MODULES`` to expose it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
import warnings
from pathlib import Path

__all__ = ["main", "build_parser"]

COMMAND_MODULES = ["demo", "experiment", "gradient_flow", "odyssey", "bench", "benchmark", "speech", "handwriting", "classify", "text", "forecast", "doctor", "study", "export", "explore", "video", "translate", "music"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command group registered."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="lstmkit",
        description="The long short-term memory family on PyTorch: train, evaluate, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    _tag_leaves(parser)
    return parser


def _tag_leaves(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command's namespace its full name (``lstmkit forecast train``) and
    whether it can ``--resume``, for one-line errors and the interrupt message."""
    options = {s for a in parser._actions for s in a.option_strings}
    parser.set_defaults(_prog=parser.prog, _resumable="--resume" in options)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _tag_leaves(child)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if isinstance(e, OSError) and e.filename and e.strerror:
        text = f"{e.filename}: {e.strerror}"
    if isinstance(e, KeyError):  # str(KeyError) is the key's repr
        text = f"missing key {text}"
    return text or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lstmkit`` console script.

    Exit status 0 on success, 1 on an error (one line: ``lstmkit CMD: error: ...``), 2 on a
    usage error (argparse), 130 when interrupted. Warnings of lstmkit are shown as one line
    each; warnings of the libraries underneath only when the command fails (or with
    ``LSTMKIT_DEBUG=1``, which also shows tracebacks).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prog = getattr(args, "_prog", f"lstmkit {args.command}")
    debug = os.environ.get("LSTMKIT_DEBUG", "0") not in ("", "0")
    status = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            status = int(args.func(args) or 0)
        except BrokenPipeError:  # `lstmkit doctor | head`: the reader left; say nothing more
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 0
        except KeyboardInterrupt:
            hint = ("; rerun the same command with --resume to continue from the last checkpoint"
                    if getattr(args, "_resumable", False) else "")
            print(f"{prog}: interrupted{hint}", file=sys.stderr)
            status = 130
        except Exception as e:  # every failure is one line; LSTMKIT_DEBUG=1 for the traceback
            if debug:
                traceback.print_exc()
            if isinstance(e, (ValueError, TypeError, OSError, ImportError, LookupError)):
                print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            else:
                print(f"{prog}: error: internal error ({type(e).__name__}: {_one_line(e)}); rerun with "
                      f"LSTMKIT_DEBUG=1 for the traceback and report it", file=sys.stderr)
            status = 1
        finally:
            _show_warnings(caught, prog, failed=status not in (0, 130), debug=debug)
    return status


def _show_warnings(caught, prog: str, failed: bool, debug: bool) -> None:
    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        ours = (w.filename or "").find(f"{os.sep}lstmkit{os.sep}") >= 0 or text.startswith("lstmkit")
        if (text, ours) in seen or not (ours or failed or debug):
            continue
        seen.add((text, ours))
        text = text.removeprefix("lstmkit: ")
        where = "" if ours else f" (from {Path(w.filename).parent.name or w.filename})"
        print(f"{prog}: warning: {text}{where}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
