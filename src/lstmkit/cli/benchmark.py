"""``lstmkit benchmark``: an app run over every data set of its kind that ships inside the
installed packages, beside the field's baselines. Each subcommand lives in its own module
and registers itself here (``forecast``: :mod:`lstmkit.cli.benchmark_forecast`)."""

from __future__ import annotations


def register(sub) -> None:
    from .benchmark_forecast import register_forecast

    p = sub.add_parser("benchmark", help="benchmark an app on every shipped data set of its kind, against the "
                                         "field's baselines")
    s = p.add_subparsers(dest="benchmark_command", metavar="SUBCOMMAND", required=True)
    register_forecast(s)
