"""``lstmkit forecast``: forecast a column of a CSV (or a shipped example) with an LSTM,
beside seasonal naive, ETS and ARIMA on the same held-out tail.

- ``lstmkit forecast train DATA.csv --column NAME [--time-column T] --horizon H``
  (or ``--example co2|airline``): train, report MASE/sMAPE of every model on the last
  ``H`` points, and write the model directory (model, preprocessing state, report.json,
  forecast.csv, forecast.png).
- ``lstmkit forecast train PANEL.csv --id-column ID --column NAME --horizon H``: a long
  CSV of many series, one LSTM trained across them (apps/panel.py); each series scored on
  its own tail against its own baselines.
- ``lstmkit forecast predict --model DIR [DATA.csv] [--out forecast.csv] [--overwrite]``:
  forecast ``H`` steps beyond the end of the given series (default: the training series)
  and write the CSV (time, forecast, lower, upper) and a PNG beside it (default
  ``forecast-DATA.csv``, or ``forecast-MODEL.csv``, in the current directory). An existing
  file is replaced only with ``--overwrite``; a file of a model directory never.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE_HORIZONS = {"co2": 52, "airline": 12}


def _load(args):
    from ..data.series import load_example, read_series

    if args.example and args.data:
        raise ValueError("give a CSV file or --example, not both")
    if args.example:
        return load_example(args.example)
    if not args.data:
        raise ValueError("give a CSV file (with --column NAME) or --example co2|airline")
    if not args.column:
        raise ValueError(f"{args.data}: say which column to forecast with --column NAME")
    return read_series(args.data, args.column, args.time_column)


def print_report(r: dict, model_dir: str | None = None) -> None:
    """The one-screen summary of a training report."""
    d = r["data"]
    span = f", {d['start'][:10]} to {d['end'][:10]}" if d.get("start") else ""
    print(f"\ndata: {d['source']}, column {d['column']!r}: {d['points']} points{span}, frequency "
          f"{d['frequency'] or 'none (steps)'}; missing values filled: {d['missing_filled']}"
          + (f" (of which {d['timestamps_added']} absent timestamps)" if d.get("timestamps_added") else ""))
    for note in d.get("notes", []):
        print(f"  note: {note}")
    p, sp, t = r["preprocessing"], r["split"], r["training"]
    print(f"split: {sp['fit']} fit | {sp['validation']} validation | {sp['test']} held-out test (from "
          f"{str(sp['test_start'])[:10]}); season {p['season']}, window {p['window']}, horizon {p['horizon']}, "
          f"transform {p['transform']}")
    by_ref = t.get("validation_mae_by_reference", {})
    print(f"targets relative to the {'last season (seasonal)' if p['reference'] == 'seasonal' else 'window level'}"
          + (" -- chosen on validation MAE: " + ", ".join(f"{k} {v:.4g}" for k, v in by_ref.items())
             if len(by_ref) > 1 else ""))
    parts = ([("validation", r["validation"], f"validation part ({sp['validation']} points before the test tail; "
               f"baselines fitted on the fit part, the LSTM's epochs chosen on it)")] if r.get("validation") else [])
    parts.append(("test", r["test"], f"held-out tail ({sp['test']} points, never seen in training)"))
    for _, part, title in parts:
        print(f"\n{title}, lower is better:")
        print(f"  {'model':<16} {'MASE':>7} {'sMAPE %':>8} {'seconds':>8}  details")
        for name, m in part["metrics"].items():
            if "mase" not in m:
                print(f"  {name:<16} {'-':>7} {'-':>8} {m['seconds']:>8.1f}  failed: {m.get('error')}")
                continue
            print(f"  {name:<16} {m['mase']:>7.3f} {m['smape']:>8.2f} {m['seconds']:>8.1f}  {m.get('model', '')}")
    print(f"  LSTM {r['test']['interval']} interval covers {r['test']['interval_coverage']:.0%} of the tail")
    print(f"training: best epoch {t['best_epoch']} of {t['epochs']} on validation"
          + (", then refit on fit + validation (the saved model averages both runs)"
             if t.get("refit_seconds") is not None else "")
          + f"; {t['seconds_total']:.0f} s training, {r['seconds']:.0f} s in all (seed {t['seed']})")
    for line in r.get("verdict", []):
        print(f"verdict, {line}")
    out = r.get("output")
    if out:
        print(f"saved: the {out['name']} forecast ({', '.join(out['components'])}): {out['why']}")
        m = r.get("validation", {}).get("metrics", {})
        if out["chosen"] == "lstm" and any("mase" in m.get(k, {}) and "mase" in m.get("LSTM", {}) and
                                           m[k]["mase"] < m["LSTM"]["mase"] for k in ("hybrid", "combination")):
            print("  a combination forecast the validation part better than the LSTM: --save hybrid, "
                  "--save combination or --save validation saves it instead")
    if model_dir:
        print(f"model, report.json, forecast.csv ({p['horizon']} steps ahead) and forecast.png in {model_dir}")


def _train(args) -> int:
    from ..apps.forecast import train_forecaster
    from ..models.io import check_model_dir_target
    from .options import apply_threads

    apply_threads(args)
    if args.id_column:
        return _train_panel(args)
    series = _load(args)
    horizon = args.horizon or EXAMPLE_HORIZONS.get(args.example)
    if horizon is None:
        raise ValueError(f"{args.data}: say how many steps to forecast with --horizon H")
    model_dir = args.model or (f"runs/forecast/{args.example}" if args.example else
                               f"runs/forecast/{Path(args.data).stem}-{args.column}")
    check_model_dir_target(model_dir)
    run_dir = args.run_dir or f"{model_dir}.checkpoints"
    r = train_forecaster(series, horizon, window=args.window, season=args.season, epochs=args.epochs,
                         variant=args.variant, members=args.members, hidden_size=args.hidden_size,
                         transform=args.transform, lr=args.lr, seed=args.seed, baselines=not args.no_baselines,
                         save=args.save,
                         model_dir=model_dir, run_dir=run_dir, resume=args.resume, progress=not args.no_progress)
    print_report(r, model_dir)
    return 0


def print_panel_report(r: dict, model_dir: str | None = None) -> None:
    """The one-screen summary of a panel's training report: the mean test MASE of each
    method over the series, lstmkit's wins against each, and the worst series."""
    p, t, sm = r["preprocessing"], r["training"], r["summary"]
    print(f"\npanel: {r['panel']['modelled']} of {r['panel']['series']} series modelled by one LSTM; season "
          f"{p['season']}, window {p['window']}, horizon {p['horizon']}, transform {p['transform']}, "
          f"{p['reference']} targets")
    for k, why in list(r["left_out"].items())[:5]:
        print(f"  left out: {k}: {why}")
    if len(r["left_out"]) > 5:
        print(f"  ... and {len(r['left_out']) - 5} more left out (report.json lists them)")
    print(f"\nheld-out tails ({p['horizon']} points of each series), mean MASE over {sm['series']} series, lower is "
          f"better:")
    for name, v in sorted(sm["mean_mase"].items(), key=lambda kv: kv[1]):
        vs = sm["against"].get(name)
        print(f"  {name:<18} {v:>7.3f}" + (f"   lstmkit wins/ties/losses {vs['win']}/{vs['tie']}/{vs['loss']}"
                                             if vs else ""))
    worst = sorted(r["series"].items(), key=lambda kv: -kv[1]["test"]["metrics"][kv[1]["output"]["name"]]["mase"])
    print("worst series: " + ", ".join(f"{k} ({v['test']['metrics'][v['output']['name']]['mase']:.2f})"
                                       for k, v in worst[:3]))
    saved = {}
    for v in r["series"].values():
        saved[v["output"]["name"]] = saved.get(v["output"]["name"], 0) + 1
    print(f"training: best epoch {t['best_epoch']} of {t['epochs']} ({t['training_windows']} windows pooled); "
          f"{t['seconds_total']:.0f} s training, {r['seconds']:.0f} s in all (seed {t['seed']})")
    print("saved per series (chosen on each series' validation part): "
          + ", ".join(f"{k} {n}" for k, n in saved.items()))
    if model_dir:
        print(f"model, report.json, forecast.csv (every series, {p['horizon']} steps ahead) and forecast.png in "
              f"{model_dir}")


def _train_panel(args) -> int:
    from ..apps.panel import train_panel
    from ..data.series import read_panel
    from ..models.io import check_model_dir_target

    if args.example:
        raise ValueError("--id-column reads a panel from a CSV file; the examples are single series")
    if not args.data:
        raise ValueError("give a long CSV file (one row per series and time step) with --id-column")
    if not args.column:
        raise ValueError(f"{args.data}: say which column holds the values with --column NAME")
    if not args.horizon:
        raise ValueError(f"{args.data}: say how many steps to forecast with --horizon H")
    panel = read_panel(args.data, args.column, args.id_column, args.time_column)
    model_dir = args.model or f"runs/forecast/{Path(args.data).stem}-{args.column}-panel"
    check_model_dir_target(model_dir)
    run_dir = args.run_dir or f"{model_dir}.checkpoints"
    r = train_panel(panel, args.horizon, window=args.window, season=args.season, epochs=args.epochs,
                    variant=args.variant, members=args.members, hidden_size=args.hidden_size,
                    transform=args.transform, lr=args.lr, seed=args.seed, baselines=not args.no_baselines,
                    save=args.save, id_column=args.id_column, time_column=args.time_column, model_dir=model_dir, run_dir=run_dir,
                    resume=args.resume, progress=not args.no_progress)
    print_panel_report(r, model_dir)
    return 0


def _predict_panel(args, out: Path, extra: dict) -> int:
    from ..apps.panel import forecast_panel_future, panel_forecast_table
    from ..data.series import read_panel
    from ..io import atomic_write_text

    id_column = extra["panel"]["id_column"]
    panel = None
    if args.data:
        first = next(iter(extra["panel"]["series"].values()))
        panel = read_panel(args.data, args.column or first["series"]["name"], args.id_column or id_column,
                           args.time_column or extra["panel"].get("time_column"))
    futures = forecast_panel_future(args.model, panel)
    atomic_write_text(out, panel_forecast_table(futures, id_column))
    H = len(next(iter(futures.values()))["point"])
    print(f"{H} steps after the end of each of {len(futures)} series: {out}")
    return 0


def default_out(args) -> Path:
    """``forecast predict``'s CSV when ``--out`` is not given: ``forecast-<DATA stem>.csv``
    (or ``forecast-<MODEL name>.csv`` for the stored series) in the current directory."""
    stem = Path(args.data).stem if args.data else Path(args.model).name
    return Path(f"forecast-{stem}.csv")


def _predict(args) -> int:
    from ..apps.forecast import forecast_future, forecast_table, load_forecaster
    from ..apps.runfiles import check_output_file
    from ..data.series import read_series
    from ..io import atomic_write_bytes, atomic_write_text
    from ..viz.forecast import plot_forecast
    from .options import apply_threads

    apply_threads(args)
    if not (Path(args.model) / "config.json").is_file():
        raise FileNotFoundError(f"{args.model} is not a forecast model directory (no config.json): "
                                f"train one with `lstmkit forecast train`")
    # never replace a file the user did not name, nor a named one unless asked
    out = check_output_file(args.out or default_out(args), args.overwrite)
    from ..models import Forecaster, load_model

    _, extra = load_model(Forecaster, args.model)
    if "panel" in extra:
        return _predict_panel(args, out, extra)
    if args.id_column:
        raise ValueError(f"{args.model} forecasts one series, not a panel: drop --id-column")
    png = check_output_file(out.with_suffix(".png"), args.overwrite, option="--out (its PNG)")
    _, extra = load_forecaster(args.model)
    series = None
    if args.data:
        column = args.column or extra["series"]["name"]
        series = read_series(args.data, column, args.time_column)
    future, used = forecast_future(args.model, series)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # drawn aside, then written atomically
        image = plot_forecast(used, {"future": future, "preprocessing": extra["preprocessing"]},
                              Path(tmp) / "f.png").read_bytes()
    atomic_write_text(out, forecast_table(future))
    atomic_write_bytes(png, image)
    print(f"{len(future['point'])} steps after {used.source} ({len(used)} points): {out} and {png}")
    for t, p, lo, hi in list(zip(future["time"], future["point"], future["lower"], future["upper"]))[:6]:
        print(f"  {t[:19]:<19} {p:>10.4g}  [{lo:.4g}, {hi:.4g}]")
    if len(future["point"]) > 6:
        print(f"  ... ({len(future['point']) - 6} more in the CSV)")
    return 0


def _window(text: str) -> int:
    from .options import positive_int

    v = positive_int(text)
    if v < 2:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {text}")
    return v


def register(sub) -> None:
    from ..apps.forecast import DEFAULTS, SAVE_CHOICES
    from ..data.series import EXAMPLES
    from .options import model_parent, positive_float, positive_int, runtime_parent, threads_parent

    p = sub.add_parser("forecast", help="forecast a CSV column with an LSTM, beside seasonal naive, ETS and ARIMA")
    s = p.add_subparsers(dest="forecast_command", metavar="SUBCOMMAND", required=True)
    t = s.add_parser("train", help="train on a series, compare with the baselines on its tail, forecast the future",
                     parents=[runtime_parent(), model_parent(
                         help="output model directory (default runs/forecast/NAME); a file you put there "
                              "(NOTES.md) is kept when the model is written again")])
    t.add_argument("data", nargs="?", help="a CSV file with a header row (UTF-8)")
    t.add_argument("--example", choices=sorted(EXAMPLES), help="a shipped series instead of a CSV: "
                   + "; ".join(f"{k}: {v}" for k, v in EXAMPLES.items()))
    t.add_argument("--column", help="the column to forecast")
    t.add_argument("--time-column", help="a column of dates/times (sorted, frequency inferred, gaps filled)")
    t.add_argument("--id-column", help="a long CSV of many series: the column naming each row's series; one LSTM "
                   "is trained across all of them (a panel; each series scored against its own baselines)")
    t.add_argument("--horizon", type=positive_int, help="steps to forecast; also the length of the held-out tail "
                   "(examples: co2 52, airline 12)")
    t.add_argument("--window", type=_window, help="input steps, >= 2 (default max(2 x season, 2 x horizon))")
    t.add_argument("--season", type=positive_int, help="season length (default from the frequency: 52 weekly, "
                   "12 monthly, ...; 1 = none)")
    t.add_argument("--epochs", type=positive_int, help="passes over the training windows (default: ~2,000 updates)")
    t.add_argument("--members", type=positive_int, default=DEFAULTS["members"],
                   help=f"LSTMs averaged (default {DEFAULTS['members']})")
    t.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int,
                   default=DEFAULTS["hidden_size"], help=f"LSTM units (default {DEFAULTS['hidden_size']})")
    t.add_argument("--lr", type=positive_float, default=DEFAULTS["lr"],
                   help=f"Adam learning rate (default {DEFAULTS['lr']:g})")
    t.add_argument("--transform", choices=["auto", "log", "none"], default="auto",
                   help="auto (default): log for a positive series")
    t.add_argument("--variant", default="vanilla", help="LSTM variant preset (default vanilla)")
    t.add_argument("--run-dir", help="per-epoch checkpoints (default MODEL.checkpoints): a new or empty folder, or "
                   "one lstmkit made; at the end only lstmkit's checkpoint files are removed from it")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoints")
    t.add_argument("--no-baselines", action="store_true", help="skip ETS, ARIMA and Theta (seasonal naive is kept; "
                   "the LSTM is saved)")
    t.add_argument("--save", choices=SAVE_CHOICES, default=DEFAULTS["save"],
                   help=f"what the model directory forecasts: lstm, hybrid (the LSTM averaged with ETS, ARIMA and "
                        f"Theta), combination (those three alone) or validation (the best of the three on the "
                        f"validation part); default {DEFAULTS['save']}, chosen on `lstmkit benchmark forecast`")
    t.set_defaults(func=_train)
    r = s.add_parser("predict", help="forecast beyond the end of a series with a trained model",
                     parents=[threads_parent(), model_parent(required=True,
                                                             help="the model directory written by `forecast train`")])
    r.add_argument("data", nargs="?", help="a CSV holding the series (default: the end of the training series, "
                   "stored in the model directory)")
    r.add_argument("--column", help="the column (default: the training column's name)")
    r.add_argument("--time-column", help="a column of dates/times (panel models: default the training file's)")
    r.add_argument("--id-column", help="for a panel model: the column naming each row's series (default: the "
                   "training file's)")
    r.add_argument("--out", help="the CSV to write (default forecast-DATA.csv, or forecast-MODEL.csv for the stored "
                   "series, in the current directory); a PNG goes beside it")
    r.add_argument("--overwrite", action="store_true", help="replace --out (and its PNG) if they exist; without it "
                   "an existing file is never replaced")
    r.set_defaults(func=_predict)


if __name__ == "__main__":  # pragma: no cover
    from . import main

    sys.exit(main(["forecast", *sys.argv[1:]]))
