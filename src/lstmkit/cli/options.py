"""The options every command shares, in one place: argparse types that validate at parse
time (so a bad value stops the command before any work, with exit status 2), and parent
parsers for ``--threads``, ``--seed``, ``--no-progress`` and ``--model``, each option
defined once (:data:`_COMMON`) and given to every command through ``parents=[...]``.

A type raises :class:`argparse.ArgumentTypeError` with what was expected; argparse turns it
into ``lstmkit CMD: error: argument --x: ...`` and exit 2.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="lstmkit x", parents=[runtime_parent()])
    >>> p.parse_args(["--threads", "2"]).threads
    2
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

__all__ = [
    "positive_int", "nonneg_int", "positive_float", "nonneg_float", "finite_float", "probability",
    "fraction", "temperature", "threads", "existing_file", "existing_path", "comma_list",
    "runtime_parent", "seed_parent", "threads_parent", "progress_parent", "model_parent", "DEFAULT_THREADS",
    "apply_threads", "add_common",
]

#: One default for every command: one thread. The models here are small and step by step;
#: on the 2-core machines we measure, one thread per process is rarely slower and leaves the
#: other core free. ``--threads N`` to use more.
DEFAULT_THREADS = 1


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _checked(parse, text: str, ok, expected: str):
    """``parse(text)``, refused with ``expected ..., got TEXT`` unless ``ok`` of it: the one
    shape of every ranged number option below."""
    v = parse(text)
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return v


def positive_int(text: str) -> int:
    """A whole number >= 1.

    Example:
        >>> positive_int("3")
        3
    """
    return _checked(_int, text, lambda v: v >= 1, "a whole number >= 1")


def nonneg_int(text: str) -> int:
    """A whole number >= 0."""
    return _checked(_int, text, lambda v: v >= 0, "a whole number >= 0")


def finite_float(text: str) -> float:
    """Any finite number (not nan, not inf)."""
    return _float(text)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _checked(_float, text, lambda v: v > 0, "a number > 0")


def nonneg_float(text: str) -> float:
    """A finite number >= 0."""
    return _checked(_float, text, lambda v: v >= 0, "a number >= 0")


def probability(text: str) -> float:
    """A number in [0, 1] (a dropout rate, a share)."""
    return _checked(_float, text, lambda v: 0 <= v <= 1, "a number between 0 and 1")


def fraction(text: str) -> float:
    """A number strictly between 0 and 1 (a held-out share of the data)."""
    return _checked(_float, text, lambda v: 0 < v < 1, "a number strictly between 0 and 1")


def temperature(text: str) -> float:
    """A sampling temperature: a finite number >= 0 (0: greedy)."""
    return _checked(_float, text, lambda v: v >= 0, "a temperature >= 0 (0: greedy)")


def threads(text: str) -> int:
    """A torch thread count: 1 .. 4 x the CPUs this process may use."""
    v = _int(text)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not 1 <= v <= 4 * cpus:
        raise argparse.ArgumentTypeError(f"expected a thread count from 1 to {4 * cpus} (this machine has "
                                         f"{cpus} CPUs), got {text}")
    return v


def existing_file(text: str) -> str:
    """A path to a file that exists (not a directory)."""
    p = Path(text)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; expected a file")
    return text


def existing_path(text: str) -> str:
    """A path (file or directory) that exists."""
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return text


def positive_ints(text: str) -> list[int]:
    """A comma-separated list of positive whole numbers (``--hidden 64,64``).

    Example:
        >>> positive_ints("4,12")
        [4, 12]
    """
    try:
        out = [int(v) for v in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not out or any(v < 1 for v in out):
        raise argparse.ArgumentTypeError(f"expected positive whole numbers, got {text!r}")
    return out


def refuse_existing_output(path: str | None, option: str | None = None) -> None:
    """Refuse, in one line, an output file the user named that already exists (lstmkit
    never overwrites a file); nothing when ``path`` is None.

    Example:
        >>> import tempfile
        >>> try:
        ...     refuse_existing_output(tempfile.mkdtemp(), "--json")
        ... except FileExistsError as e:
        ...     print(str(e).startswith("--json "))
        True
    """
    if path is not None and Path(path).exists():
        named = f"{option} {path}" if option else str(path)
        raise FileExistsError(f"{named} exists; give a new path (lstmkit never overwrites a file)")


def comma_list(text: str) -> list[str]:
    """A comma-separated list of non-empty names."""
    items = [s.strip() for s in text.split(",")]
    if not items or any(not s for s in items):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return items


_COMMON = {
    "threads": (("--threads",), dict(type=threads, default=DEFAULT_THREADS,
                                     help=f"torch threads (default {DEFAULT_THREADS})")),
    "seed": (("--seed",), dict(type=nonneg_int, default=0, help="random seed (default 0)")),
    "progress": (("--no-progress", "--quiet"), dict(dest="no_progress", action="store_true",
                                                   help="no progress bar (--quiet: the same)")),
    "model": (("--model",), dict(metavar="DIR", default=None, help="model directory")),
}


def _parent(name: str, **overrides) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    add_common(p, name, **overrides)
    return p


def threads_parent() -> argparse.ArgumentParser:
    """``--threads N`` (default :data:`DEFAULT_THREADS`)."""
    return _parent("threads")


def seed_parent() -> argparse.ArgumentParser:
    """``--seed N`` (default 0)."""
    return _parent("seed")


def progress_parent() -> argparse.ArgumentParser:
    """``--no-progress`` (``--quiet`` is accepted as the same): no progress bar. Bars are
    drawn on a terminal; to a file or a pipe they write one line every 30 s at most."""
    return _parent("progress")


def model_parent(*, default: str | None = None, required: bool = False, help: str | None = None
                 ) -> argparse.ArgumentParser:
    """``--model DIR``: the model directory a command reads (``required=True``, or with a
    ``default`` such as the shipped model) or a training writes (``default``: where).

    Args:
        default: the directory when ``--model`` is not given (None: the command decides).
        required: the command cannot run without one.
        help: what the directory is, for ``--help`` (default "model directory").

    Example:
        >>> p = argparse.ArgumentParser(parents=[model_parent(required=True)])
        >>> p.parse_args(["--model", "runs/m"]).model
        'runs/m'
    """
    return _parent("model", default=default, required=required, **({"help": help} if help else {}))


def runtime_parent(seed: bool = True, progress: bool = True) -> argparse.ArgumentParser:
    """``--threads`` and, by default, ``--seed`` and ``--no-progress``: the options of any
    command that trains or runs a model."""
    parents = [threads_parent()] + ([seed_parent()] if seed else []) + ([progress_parent()] if progress else [])
    return argparse.ArgumentParser(add_help=False, parents=parents)


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's thread count from ``args.threads`` (if the command has the option)."""
    n = getattr(args, "threads", None)
    if n is not None:
        import torch

        torch.set_num_threads(int(n))


def add_common(parser: argparse.ArgumentParser, *names: str, **overrides) -> None:
    """Add the shared options ``names`` ("threads", "seed", "progress", "model") to
    ``parser``, each defined once here, for commands built without :func:`runtime_parent`.
    ``overrides`` replace keyword arguments of the definition (a command whose default
    differs, as ``bench``'s ``--threads``).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_common(p, "threads", "progress")
        >>> p.parse_args(["--quiet"]).no_progress
        True
    """
    for name in names:
        flags, kw = _COMMON[name]
        parser.add_argument(*flags, **{**kw, **overrides})

