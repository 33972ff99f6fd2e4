"""``lstmkit bench``: lstmkit's layers against torch.nn.LSTM, ratios measured in one process.

The harness is :mod:`lstmkit.bench` (also ``python -m lstmkit.bench``); this module only
registers the command.
"""

from __future__ import annotations

__all__ = ["register"]


def _cmd(args) -> int:
    from ..bench import run_from_args

    return run_from_args(args)


def register(sub) -> None:
    """Add the ``bench`` command to the ``lstmkit`` sub-parsers ``sub``."""
    from ..bench import add_arguments

    p = sub.add_parser(
        "bench",
        help="benchmark every LSTM preset and the GRU against torch.nn.LSTM (--quick: ~30 s)",
        description="Inference, training and streaming speed of lstmkit's layers as ratios to "
        "torch.nn.LSTM measured in the same process; a table on the terminal and a JSON file.",
    )
    add_arguments(p)
    p.set_defaults(func=_cmd)
