"""The ``lstmkit`` command. One module per command group; each has ``register(subparsers)``.

A command module defines ``register(sub)`` that adds its parser(s) to ``sub`` (the
argparse sub-parsers object) and sets ``func`` on each: ``func(args) -> int`` (exit code).
Add the module's name to ``COMMAND_MODULES`` to expose it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

COMMAND_MODULES = ["demo", "experiment", "gradient_flow", "odyssey", "bench", "speech", "handwriting", "classify", "text", "forecast", "doctor"]


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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lstmkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"lstmkit {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
