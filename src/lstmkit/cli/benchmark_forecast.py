"""``lstmkit benchmark forecast``: lstmkit's forecaster (default settings) beside seasonal
naive, ETS, (S)ARIMA, Theta and their combination on every forecasting series shipped in
the installed packages; a JSON and a markdown table per data set, win/tie/loss and mean
ranks, a rank plot (:mod:`lstmkit.apps.benchmark_forecast`).

Kept apart from the ``benchmark`` group itself: the group calls :func:`register_forecast`
with its sub-parsers object.
"""

from __future__ import annotations

__all__ = ["register_forecast"]


def _run(args) -> int:
    from ..apps.benchmark_forecast import run_forecast_benchmark
    from ..io import check_dir_target
    from .options import apply_threads

    apply_threads(args)
    check_dir_target(args.out, "benchmark", "benchmark directory")  # before any work
    options = {} if args.save is None else {"save": args.save}
    if args.members is not None:
        options["members"] = args.members
    if args.epochs is not None:
        options["epochs"] = args.epochs
    r = run_forecast_benchmark(args.out, quick=args.quick, only=args.only, seed=args.seed, train_options=options,
                               progress=not args.no_progress, fresh=args.fresh)
    for name, g in r["summary"].items():
        t = g["targets"]
        m = g["models"]
        print(f"{name}: {g['series']} series" + (f" ({g['fallback']} too short for an LSTM)" if g["fallback"] else "")
              + f"; mean MASE lstmkit {t['mean_mase_lstmkit']:.3f}, best single statsmodels "
              f"({t['best_single_statsmodels']}) {t['mean_mase_best_single']:.3f}, seasonal naive "
              f"{m['seasonal naive']['mean_mase']:.3f}; better than seasonal naive on "
              f"{t['better_than_seasonal_naive']:.0%}; mean rank lstmkit {m['lstmkit']['mean_rank']:.2f}")
        print("  lstmkit win/tie/loss: " + ", ".join(f"{k} {v['win']}/{v['tie']}/{v['loss']}"
                                                      for k, v in g["lstmkit_vs"].items()))
    print(f"tables, results.json and ranks.png in {args.out}")
    return 0


def register_forecast(bench_sub) -> None:
    """Add ``forecast`` to the ``benchmark`` group's sub-parsers ``bench_sub``."""
    from ..apps.forecast import SAVE_CHOICES
    from .options import positive_int, runtime_parent

    p = bench_sub.add_parser("forecast", parents=[runtime_parent()],
                             help="lstmkit's forecaster against seasonal naive, ETS, ARIMA, Theta and their "
                                  "combination on every shipped forecasting series")
    p.add_argument("--out", default="runs/benchmark/forecast",
                   help="output directory (default runs/benchmark/forecast): new, empty or an lstmkit benchmark "
                        "directory; a rerun reuses the series done with the same settings (resumes)")
    p.add_argument("--quick", action="store_true", help="a few short series (CI; under a minute)")
    p.add_argument("--only", action="append", metavar="TEXT",
                   help="only the series whose name or data set contains TEXT (repeatable)")
    p.add_argument("--save", choices=SAVE_CHOICES, default=None,
                   help="what lstmkit's entry is (as `forecast train --save`; default: train's default)")
    p.add_argument("--members", type=positive_int, help="LSTMs averaged (default: train's)")
    p.add_argument("--epochs", type=positive_int, help="epochs (default: train's)")
    p.add_argument("--fresh", action="store_true", help="recompute every series (default: reuse those done)")
    p.set_defaults(func=_run)
