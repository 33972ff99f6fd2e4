"""``lstmkit benchmark``: an application run over every data set of its kind that ships
inside the installed packages, against the field's baselines, in one run.

- ``lstmkit benchmark classify [--quick] [--out DIR] [--sets A,B] [--methods ...]``: the
  classification benchmark (:func:`lstmkit.apps.benchmark.run_classify_benchmark`): a JSON
  and a markdown table per data set, summary.json/summary.md (win/tie/loss and mean rank
  against each baseline) and ranks.png in DIR (default runs/benchmark/classify).

- ``lstmkit benchmark forecast``: the forecasting benchmark (:mod:`lstmkit.cli.benchmark_forecast`).

- ``lstmkit benchmark speech``: the digit recognizer on unseen voices, synthesizers and real
  recordings (:mod:`lstmkit.cli.benchmark_speech`).

Each kind of benchmark is one sub-command registered here.
"""

from __future__ import annotations

import sys

__all__ = ["register", "add_quick_and_out", "run_and_report"]


def add_quick_and_out(p, kind: str, quick_help: str) -> None:
    """``--quick`` and ``--out DIR`` for the ``benchmark KIND`` sub-command ``p`` (the
    directory defaults to ``runs/benchmark/KIND``, ``KIND-quick`` with ``--quick``)."""
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"benchmark directory (default runs/benchmark/{kind}; a folder of yours is refused)")


def run_and_report(args, kind: str, run, format_summary, files: str, **options) -> int:
    """Run a benchmark into ``args.out`` (or the default of :func:`add_quick_and_out`) with
    the run-time options every benchmark takes (``quick``, ``seed``, progress, the command
    line), print its summary and where its ``files`` went; exit status 0."""
    out = args.out or f"runs/benchmark/{kind}" + ("-quick" if args.quick else "")
    summary = run(out, quick=args.quick, seed=args.seed, progress=not args.no_progress,
                  command="lstmkit " + " ".join(sys.argv[1:]), **options)
    print()
    print(format_summary(summary))
    print(f"{files} in {summary['out_dir']}")
    return 0


def _classify(args) -> int:
    from ..apps.benchmark import CLASSIFY_METHODS, format_summary, run_classify_benchmark
    from .options import apply_threads

    apply_threads(args)
    try:  # numba-compiled baselines (DTW, MiniRocket) on the same number of threads
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    except (ImportError, ValueError):  # pragma: no cover
        pass
    methods = args.methods or list(CLASSIFY_METHODS)
    lstm = {}
    for key in ("max_updates", "patience", "head", "normalize", "hidden_size", "num_layers", "lr"):
        v = getattr(args, key)
        if v is not None:
            lstm[key] = v
    return run_and_report(args, "classify", run_classify_benchmark, format_summary, "tables, summary.json and ranks.png",
                          sets=args.sets, methods=methods, lstm_options=lstm, resume=args.resume,
                          reuse=args.reuse or ())


def register(sub) -> None:
    """Add the ``benchmark`` command group to the ``lstmkit`` sub-parsers ``sub``."""
    from ..apps.benchmark import CLASSIFY_METHODS
    from .options import comma_list, positive_int, positive_float, runtime_parent

    p = sub.add_parser("benchmark", help="run an app over every data set of its kind shipped in the installed "
                                         "packages, against the field's baselines")
    s = p.add_subparsers(dest="benchmark_command", metavar="SUBCOMMAND", required=True)
    c = s.add_parser("classify", parents=[runtime_parent()],
                     help="the sequence classifier (default settings) vs 1-NN Euclidean, 1-NN DTW and MiniRocket "
                          "(aeon) on every bundled UCR/UEA set, seglearn's and modlamp's; official splits")
    add_quick_and_out(c, "classify", "two small sets and a short training (a CI check, not a result)")
    c.add_argument("--sets", type=comma_list, default=None, help="comma-separated data sets (default: all installed)")
    c.add_argument("--methods", type=comma_list, default=None,
                   help=f"comma-separated methods (default: {','.join(CLASSIFY_METHODS)})")
    c.add_argument("--resume", action="store_true",
                   help="keep the results already in DIR (per data set and method, same settings)")
    c.add_argument("--reuse", action="append", metavar="DIR",
                   help="take results with the same settings from this other benchmark directory (repeatable): "
                        "e.g. the baselines run alone, then the LSTM alone")
    g = c.add_argument_group("LSTM settings (default: the classifier's defaults; give one only to study it)")
    g.add_argument("--max-updates", type=positive_int, default=None)
    g.add_argument("--patience", type=positive_int, default=None)
    g.add_argument("--head", choices=["lstm", "lstm-fcn"], default=None)
    g.add_argument("--normalize", choices=["global", "series"], default=None)
    g.add_argument("--hidden-size", type=positive_int, default=None)
    g.add_argument("--layers", dest="num_layers", type=positive_int, default=None)
    g.add_argument("--lr", type=positive_float, default=None)
    c.set_defaults(func=_classify)
    from .benchmark_forecast import register_forecast

    register_forecast(s)
    from .benchmark_speech import register_speech

    register_speech(s)
