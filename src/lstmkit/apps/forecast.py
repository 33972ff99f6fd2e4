"""Forecasting a univariate series with an LSTM, beside the baselines a forecaster should
beat: seasonal naive, exponential smoothing (ETS) and ARIMA, all scored on the same
held-out tail with MASE and sMAPE.

The pipeline (:func:`train_forecaster`):

1. the series (a :class:`~lstmkit.data.series.TimeSeries`, gaps filled) is split in time:
   ``fit | validation (horizon points) | test (the last horizon points)``; the test tail
   is never seen in training, scaling or epoch selection;
2. transform: ``log`` for a positive series (multiplicative season and growth become
   additive; ``--transform none`` to switch off);
3. windowing: an input window of ``window`` past values, each expressed relative to the
   window's level (mean of its last season) and divided by a scale fitted on the fit part
   only, plus the season's phase as sin/cos. Targets, in one of two forms: relative to
   the same level (``"level"``: the LSTM learns shapes and local growth, not absolute
   levels it has never seen) or relative to the same phase of the last season
   (``"seasonal"``: a correction of the seasonal naive forecast). For a seasonal series
   both are trained and the one with the lower validation MAE is kept;
4. a :class:`~lstmkit.models.Forecaster` (quantiles 0.1/0.5/0.9, pinball loss, a few
   members averaged) is trained with :func:`~lstmkit.train.supervised.fit_supervised`,
   keeping the epoch whose forecast of the validation part has the lowest MAE; then the
   same recipe runs for that many epochs on fit + validation (``refit``), and the saved
   forecaster averages the members of both runs (``combine``: steadier across seeds);
5. validation and test: the LSTM's forecast of the validation part (selection run) and of
   the test tail beside the field's baselines (seasonal naive, ETS, ARIMA, Theta, their
   mean: :func:`~lstmkit.models.baselines.field_baselines`) fitted on what precedes each,
   and the hybrid (the LSTM averaged with ETS, ARIMA and Theta);
6. what is saved (``save``): by default whichever of the LSTM, the hybrid and the
   statistical combination forecast the validation part best (the rule chosen on the whole
   benchmark, docs/forecasting.md); the future forecast is that one's, the statistical
   models refitted on the whole series.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from ..data.series import TimeSeries, future_index, season_for_freq
from ..data.windows import Windows
from ..io import LstmkitFileError, check_fields
from ..metrics import interval_coverage, mae, mase, smape
from ..models import Forecaster, load_model, save_model
from ..models.baselines import field_baselines, seasonal_naive
from ..models.forecaster import pinball_loss
from ..train.supervised import fit_supervised
from .runfiles import check_finite, model_dir_scope, run_dir_scope

__all__ = ["train_forecaster", "forecast_future", "load_forecaster", "forecast_table", "DEFAULTS", "SAVE_CHOICES",
           "STAT_MODELS"]

#: What ``train`` may save: the LSTM alone, the hybrid (the LSTM's median averaged with
#: ETS, ARIMA and Theta: the LSTM as a fourth member of the statistical combination), the
#: statistical combination alone, or whichever of those three forecast the validation part
#: best ("validation").
SAVE_CHOICES = ("lstm", "hybrid", "combination", "validation")

#: The statsmodels models of the combination and of the hybrid.
STAT_MODELS = ("ETS", "ARIMA", "Theta")

DEFAULTS = {"hidden_size": 32, "num_layers": 1, "members": 5, "epochs": None, "lr": 3e-3, "batch_size": 32,
            "quantiles": [0.1, 0.5, 0.9], "transform": "auto", "calendar": True,
            "reference": "auto", "refit": True, "combine": True, "save": "validation"}
"""Model and training defaults (``epochs`` None: chosen from the number of windows)."""


def _positive(x) -> bool:
    return bool(np.all(np.asarray(x) > 0))


def _forecast(model: Forecaster, win: Windows, z: np.ndarray, origins) -> np.ndarray:
    x, lv = win.inputs(z, origins)
    with torch.no_grad():
        return win.decode(model.eval()(x), z, origins, lv)


# ---------------------------------------------------------------- the pipeline
def _default_window(season: int, horizon: int, n: int | None = None) -> int:
    w = max(2 * season, 2 * horizon, 8) if season > 1 else max(3 * horizon, 16)
    if n is not None and n - 3 * horizon - 8 < w:
        # a short series: the window shrinks to what the series allows, down to
        # max(horizon, 4) (below that, _check_length's error says what is needed)
        w = max(n - 3 * horizon - 8, max(horizon, 4))
    return w


def _check_length(series: TimeSeries, history: int, horizon: int, what: str = "train") -> None:
    """``history``: points before a forecast's origin (the window, plus a season when the
    inputs hold seasonal differences)."""
    need = history + 3 * horizon + 8 if what == "train" else history
    if len(series) < need:
        tail = (f"{history} for the first input window + 8 training windows + the {horizon}-point validation and "
                f"test tails" if what == "train" else "the input window")
        raise ValueError(f"{series.source}: column {series.name!r} has {len(series)} points (after filling gaps), "
                         f"fewer than the {need} needed for {tail}: "
                         + ("use a longer series or a smaller --window/--horizon" if what == "train" else
                            f"give at least the last {need} points of the series"))


def train_forecaster(
    series: TimeSeries,
    horizon: int,
    *,
    window: int | None = None,
    season: int | None = None,
    epochs: int | None = None,
    variant: str = "vanilla",
    hidden_size: int = DEFAULTS["hidden_size"],
    num_layers: int = DEFAULTS["num_layers"],
    members: int = DEFAULTS["members"],
    transform: str = DEFAULTS["transform"],
    calendar: bool = DEFAULTS["calendar"],
    reference: str = DEFAULTS["reference"],
    diff_inputs: bool = False,
    refit: bool = DEFAULTS["refit"],
    combine: bool = DEFAULTS["combine"],
    save: str = DEFAULTS["save"],
    lr: float = DEFAULTS["lr"],
    seed: int = 0,
    baselines: bool = True,
    model_dir: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train, test on the held-out tail against the baselines, forecast the future, and
    (with ``model_dir``) write the model directory: the model, the preprocessing state,
    the last window of the series, report.json, forecast.csv and forecast.png.

    Args:
        series: the data (see :func:`lstmkit.data.series.read_series`).
        horizon: steps to forecast (and the length of the validation and test tails).
        window: input steps (default: ``max(2 season, 2 horizon)``).
        season: season length (default: from the frequency; 1 = none).
        epochs: passes over the windows (default: ~2,000 updates but at most ~32,000
            windows shown; 16-400 epochs).
        members: LSTMs averaged in the forecaster.
        transform: ``"log"``, ``"none"`` or ``"auto"`` (log when every value is positive).
        calendar: add sin/cos of the season's phase to the inputs.
        reference: the target form: ``"level"``, ``"seasonal"`` or ``"auto"`` (both for a
            seasonal series, the better on validation kept).
        diff_inputs: with seasonal targets, also feed the standardised seasonal
            differences (off by default: it made airline worse).
        refit: after choosing the epoch count, train again on fit + validation.
        combine: average the chosen run's members with the refit's.
        save: the forecast the model directory holds (:data:`SAVE_CHOICES`): ``"validation"``
            (default, chosen on ``lstmkit benchmark forecast``: whichever of the three below
            forecast the validation part best), ``"lstm"``, ``"hybrid"`` (the LSTM's median
            averaged with ETS, ARIMA and Theta) or ``"combination"`` (the statistical models
            alone). Anything but ``"lstm"`` needs ``baselines``; with ``baselines=False`` the
            LSTM is saved.
        lr: Adam's learning rate. seed: seeds initialisation and batch order.
        baselines: also fit seasonal naive, ETS and ARIMA on the same tail.
        model_dir: held for the whole run (a second training into it refuses at once).
        run_dir: per-epoch checkpoints (``resume`` continues from them), claimed before
            training (a non-empty folder that is not lstmkit's is refused). Once the model
            directory is written, only lstmkit's checkpoint files are removed from it, and
            the folder itself if lstmkit created it and it is then empty; an interrupted
            run keeps them.

    Returns:
        the report (a JSON-ready dict) with the test forecasts and the future forecast.

    Example:
        >>> import numpy as np
        >>> from lstmkit.data.series import TimeSeries
        >>> t = np.arange(120.0)
        >>> s = TimeSeries(values=10 + np.sin(2 * np.pi * t / 12), name="y", source="sine")
        >>> r = train_forecaster(s, 6, season=12, epochs=2, members=1, hidden_size=4, baselines=False,
        ...                      progress=False)
        >>> len(r["future"]["point"]), r["preprocessing"]["window"]
        (6, 24)
    """
    t_start = time.perf_counter()
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"--horizon must be a positive int, got {horizon!r}")
    season = season_for_freq(series.freq) if season is None else int(season)
    if season < 1:
        raise ValueError(f"--season must be >= 1 (1: no season), got {season}")
    if save not in SAVE_CHOICES:
        raise ValueError(f"--save must be one of {', '.join(SAVE_CHOICES)}, got {save!r}")
    window = _default_window(season, horizon, len(series)) if window is None else int(window)
    if window < 2:
        raise ValueError(f"--window must be >= 2, got {window}")
    if transform not in ("auto", "log", "none"):
        raise ValueError(f"--transform must be auto, log or none, got {transform!r}")
    if reference not in ("auto", "seasonal", "level"):
        raise ValueError(f"reference must be auto, seasonal or level, got {reference!r}")
    if reference == "seasonal" and season < 2:
        raise ValueError("reference 'seasonal' needs a season: pass --season")
    # seasonal targets need a whole season inside the window
    candidates = ((["level", "seasonal"] if 1 < season <= window else ["level"]) if reference == "auto"
                  else [reference])
    _check_length(series, window + (season if "seasonal" in candidates and diff_inputs else 0), horizon)
    y = series.values
    if transform == "log" and not _positive(y):
        raise ValueError(f"{series.source}: column {series.name!r} has values <= 0: --transform log needs a positive "
                         f"series; use --transform none")
    transform = ("log" if _positive(y) else "none") if transform == "auto" else transform
    with np.errstate(over="ignore", invalid="ignore"):
        naive_error = float(np.mean(np.abs(y[season:] - y[:-season]))) if len(y) > season else 0.0
    if not math.isfinite(naive_error) or not np.all(np.isfinite(y)):
        raise ValueError(f"{series.source}: column {series.name!r}: its values (up to {np.nanmax(np.abs(y)):.3g}) "
                         f"overflow float64 in differences; rescale the series (e.g. divide by a power of ten)")
    subdirs = [f"select-{r}" for r in candidates] + (["refit"] if refit else [])
    # the model directory is held for the whole run (a second training into it refuses at
    # once); the checkpoint folder is claimed before training and, after the model is
    # written, loses lstmkit's checkpoints (an interrupted run keeps them for --resume)
    with model_dir_scope(model_dir), \
            run_dir_scope(run_dir, subdirs, release=model_dir is not None) as run_dir:
        n = len(y)
        test_start, val_start = n - horizon, n - 2 * horizon
        q = DEFAULTS["quantiles"]
        tried = {}
        for ref in candidates:
            prep = {"transform": transform, "season": season, "window": window, "horizon": horizon,
                    "calendar": bool(calendar), "reference": ref, "diff_inputs": diff_inputs, "scale": 1.0,
                    "freq": series.freq}
            win = Windows(prep, series)
            z = win.z(y)
            fit_origins = np.arange(win.history, val_start - horizon + 1)
            win.fit_scales(z, fit_origins)
            X, lv = win.inputs(z, fit_origins)
            Y = win.targets(z, fit_origins, lv)
            n_train = len(fit_origins)
            batch = min(DEFAULTS["batch_size"], max(8, n_train // 4))
            if epochs is None:
                # ~2,000 updates, but at most ~32,000 windows shown: 16-400 epochs
                epochs = int(min(400, max(16, math.ceil(2000 / math.ceil(n_train / batch))),
                                 max(16, math.ceil(32000 / n_train))))
            torch.manual_seed(seed)
            model = Forecaster(win.n_features, horizon, hidden_size=hidden_size, num_layers=num_layers,
                               quantiles=q, variant=variant, members=members)

            def loss_fn(m, idx, X=X, Y=Y):
                return pinball_loss(m(X[:, idx], per_member=True), Y[idx], q)

            def val_score(m, win=win, z=z):
                f = _forecast(m, win, z, [val_start])[0, :, m.mid]
                return -mae(y[val_start:test_start], f)

            fit = fit_supervised(model, loss_fn, n_train, epochs=epochs, batch_size=batch, lr=lr, seed=seed,
                                 evaluate=val_score, run_dir=Path(run_dir) / f"select-{ref}" if run_dir else None,
                                 resume=resume, progress=progress,
                                 desc=f"forecast {series.name} ({ref}, choosing epochs)")
            tried[ref] = {"model": model, "fit": fit, "win": win, "z": z, "batch": batch, "n_train": n_train}
        # the reference whose best epoch forecast the validation part best
        ref = min(tried, key=lambda r: -tried[r]["fit"]["best_score"])
        model, fit, win, z, batch, n_train = (tried[ref][k] for k in ("model", "fit", "win", "z", "batch", "n_train"))
        prep = win.p
        refit_info = None
        if refit:
            # the same recipe for the chosen number of epochs on everything before the test tail:
            # the validation part is the most recent data, and the test forecast starts right after it
            all_origins = np.arange(win.history, test_start - horizon + 1)
            X, lv = win.inputs(z, all_origins)
            Y = win.targets(z, all_origins, lv)
            torch.manual_seed(seed)
            model = Forecaster(win.n_features, horizon, hidden_size=hidden_size, num_layers=num_layers,
                               quantiles=q, variant=variant, members=members)
            refit_info = fit_supervised(model, lambda m, idx: pinball_loss(m(X[:, idx], per_member=True), Y[idx], q),
                                        len(all_origins), epochs=fit["best_epoch"], batch_size=batch,
                                        lr=lr, seed=seed, run_dir=Path(run_dir) / "refit" if run_dir else None,
                                        resume=resume, progress=progress, desc=f"forecast {series.name} ({ref}, refit)")
            if combine:
                both = Forecaster(win.n_features, horizon, hidden_size=hidden_size, num_layers=num_layers,
                                  quantiles=q, variant=variant, members=2 * members)
                both.rnns = torch.nn.ModuleList([*tried[ref]["model"].rnns, *model.rnns])
                both.heads = torch.nn.ModuleList([*tried[ref]["model"].heads, *model.heads])
                model = both.eval()
        train_seconds = time.perf_counter() - t_start
        lstm_name = (f"{model.config['members']} x {variant} LSTM {num_layers}x{hidden_size}, window {window}, "
                     f"{ref} reference")
        # validation: the selection run's forecast of the validation part (its best epoch was
        # chosen on it, so it flatters the LSTM a little) beside the baselines fitted on the
        # fit part only
        val_q = _forecast(tried[ref]["model"], win, z, [val_start])[0]
        validation = _score_rows(
            {"LSTM": {"forecast": val_q[:, model.mid], "model": lstm_name + " (selection run, best epoch)",
                      "seconds": fit["seconds"]}},
            y[:val_start], y[val_start:test_start], horizon, season, baselines, progress, "baselines on validation")
        test_q = _forecast(model, win, z, [test_start])[0]
        history, actual = y[:test_start], y[test_start:]
        test = _score_rows({"LSTM": {"forecast": test_q[:, model.mid], "model": lstm_name, "seconds": train_seconds}},
                           history, actual, horizon, season, baselines, progress, "baselines on test")
        chosen, why = _choose_output(save, validation, baselines)
        future = _future(model, win, series, z)
        if chosen != "lstm":
            stats = field_baselines(y, horizon, season, progress=progress, desc="baselines on the whole series")
            future = _combine_future(future, stats, chosen)
        report = {
            "data": series.summary(),
            "split": {"fit": int(val_start), "validation": horizon, "test": horizon,
                      "test_start": _stamp(series, test_start), "training_windows": n_train},
            "preprocessing": prep,
            "model": model.config,
            "output": {"save": save, "chosen": chosen, "why": why, "name": OUTPUT_NAMES[chosen],
                       "components": ["LSTM"] * (chosen != "combination") + list(STAT_MODELS) * (chosen != "lstm")},
            "training": {"epochs": epochs, "best_epoch": fit["best_epoch"], "batch_size": batch, "lr": lr,
                         "seed": seed, "seconds": fit["seconds"], "validation_mae": -fit["best_score"],
                         "refit_seconds": refit_info["seconds"] if refit_info else None,
                         "seconds_total": train_seconds, "history": fit["history"],
                         "validation_mae_by_reference": {r: -t["fit"]["best_score"] for r, t in tried.items()}},
            "validation": validation,
            "test": {**test, "interval_coverage": interval_coverage(actual, test_q[:, 0], test_q[:, -1]),
                     "interval": f"{q[0]:.0%}-{q[-1]:.0%}", "actual": actual.tolist(),
                     "lower": test_q[:, 0].tolist(), "upper": test_q[:, -1].tolist()},
            "verdict": _verdict(validation, test, chosen),
            "future": future,
            "seconds": time.perf_counter() - t_start,
        }
        if model_dir is not None:
            _write_model_dir(model, prep, series, report, model_dir)
        return report


#: The report's name of each thing ``train`` can save.
OUTPUT_NAMES = {"lstm": "LSTM", "hybrid": "hybrid", "combination": "combination"}


def _score_rows(rows: dict, history, actual, horizon: int, season: int, baselines: bool, progress: bool,
                desc: str) -> dict:
    """Add the baselines (fitted on ``history``) and the hybrid to ``rows`` and score every
    row on ``actual``: ``{"metrics": name -> {mase, smape, seconds, model}, "forecasts"}``."""
    if baselines:
        rows.update(field_baselines(history, horizon, season, progress=progress, desc=desc))
        parts = [rows[k]["forecast"] for k in ("LSTM", *STAT_MODELS) if "forecast" in rows.get(k, {})]
        rows["hybrid"] = {"forecast": np.mean(parts, 0), "seconds": 0.0,
                          "model": "mean of " + ", ".join(k for k in ("LSTM", *STAT_MODELS)
                                                          if "forecast" in rows.get(k, {}))}
    else:
        rows["seasonal naive"] = {"forecast": seasonal_naive(history, horizon, season), "model": f"s={season}",
                                  "seconds": 0.0}
    table = {}
    for name, r in rows.items():
        if "forecast" not in r:
            table[name] = {"error": r.get("error"), "seconds": r["seconds"]}
            continue
        table[name] = {"mase": mase(actual, r["forecast"], history, season), "smape": smape(actual, r["forecast"]),
                       "seconds": r["seconds"], "model": r["model"]}
    return {"metrics": table, "forecasts": {k: np.asarray(r["forecast"]).tolist() for k, r in rows.items()
                                            if "forecast" in r}}


def _choose_output(save: str, validation: dict, baselines: bool) -> tuple[str, str]:
    """Which forecast the model directory holds, and why (one sentence)."""
    if not baselines:
        return "lstm", "the baselines were not fitted (--no-baselines): the LSTM is saved"
    m = validation["metrics"]
    ok = {k: m[OUTPUT_NAMES[k]]["mase"] for k in ("lstm", "hybrid", "combination") if "mase" in m.get(OUTPUT_NAMES[k], {})}
    if save == "validation":
        best = min(ok, key=ok.get)
        return best, (f"--save validation: the {OUTPUT_NAMES[best]} forecast the validation part best "
                      f"(MASE {ok[best]:.3f})")
    if save not in ok:
        return "lstm", f"the {OUTPUT_NAMES[save]} could not be formed (no statsmodels model fitted): the LSTM is saved"
    return save, f"--save {save}" + (" (the default, chosen on the benchmark: docs/forecasting.md)"
                                     if save == DEFAULTS["save"] else "")


def _combine_future(future: dict, stats: dict, chosen: str) -> dict:
    """The LSTM's future forecast turned into the hybrid's or the combination's: the point is
    the mean of the components; the interval keeps the LSTM's widths around it."""
    parts = [np.asarray(stats[k]["forecast"]) for k in STAT_MODELS if "forecast" in stats.get(k, {})]
    lstm = np.asarray(future["point"])
    if not parts:
        return future
    point = np.mean(parts + ([lstm] if chosen == "hybrid" else []), 0)
    shift = point - lstm
    out = dict(future)
    out.update(point=point.tolist(), lower=(np.asarray(future["lower"]) + shift).tolist(),
               upper=(np.asarray(future["upper"]) + shift).tolist(),
               components={"LSTM": lstm.tolist(), **{k: np.asarray(stats[k]["forecast"]).tolist()
                                                      for k in STAT_MODELS if "forecast" in stats.get(k, {})}})
    return out


def _verdict(validation: dict, test: dict, chosen: str) -> list[str]:
    """Plain sentences: how the LSTM did against each baseline on validation and on test,
    and which baseline beat it."""
    lines = []
    for part, r in (("validation", validation), ("test", test)):
        m = r["metrics"]
        if "mase" not in m.get("LSTM", {}):
            continue
        lstm = m["LSTM"]["mase"]
        others = {k: v["mase"] for k, v in m.items() if k != "LSTM" and "mase" in v}
        beaten = [k for k, v in others.items() if v < lstm and k != "hybrid"]
        best = min(others, key=others.get) if others else None
        text = f"{part}: LSTM MASE {lstm:.3f}"
        if best is not None:
            text += f"; best {best} {others[best]:.3f}"
        text += (f"; beaten by {', '.join(beaten)}" if beaten else "; it beat every baseline")
        lines.append(text)
    return lines


def _stamp(series: TimeSeries, i: int) -> str | int:
    return str(series.index[i]) if series.index is not None else int(i)


def _future(model: Forecaster, win: Windows, series: TimeSeries, z: np.ndarray) -> dict:
    q = _forecast(model, win, z, [len(z)])[0]
    idx = future_index(series, win.p["horizon"])
    return {"time": [str(t) for t in idx], "point": q[:, model.mid].tolist(), "lower": q[:, 0].tolist(),
            "upper": q[:, -1].tolist(), "quantiles": model.quantiles}


def forecast_table(future: dict) -> str:
    """The future forecast as CSV text: ``time,forecast,lower,upper`` (lower/upper: the
    outer quantiles).

    Example:
        >>> print(forecast_table({"time": ["2020-01-01"], "point": [1.5], "lower": [1.0], "upper": [2.0]}), end="")
        time,forecast,lower,upper
        2020-01-01,1.5,1,2
    """
    lines = ["time,forecast,lower,upper"]
    for t, p, lo, hi in zip(future["time"], future["point"], future["lower"], future["upper"]):
        lines.append(f"{t},{p:.6g},{lo:.6g},{hi:.6g}")
    return "\n".join(lines) + "\n"


def _plot_bytes(series: TimeSeries, report: dict) -> bytes:
    import tempfile

    from ..viz.forecast import plot_forecast

    with tempfile.TemporaryDirectory() as d:
        p = plot_forecast(series, report, Path(d) / "f.png")
        return p.read_bytes()


def _write_model_dir(model, prep, series, report, model_dir) -> None:
    output = report.get("output") or {"chosen": "lstm"}
    # the statistical models are refitted on the series at predict time: keep all of it
    tail = (series.values if output["chosen"] != "lstm" else
            series.values[-(prep["window"] + max(prep["season"], 1) + prep["horizon"]):])
    extra = {"output": {"chosen": output["chosen"], "components": output.get("components", ["LSTM"])},
             "preprocessing": prep, "series": {"name": series.name, "source": series.source, "freq": series.freq,
                                               "length": len(series), "last_values": tail.tolist(),
                                               "last_times": ([str(t) for t in series.index[-len(tail):]]
                                                              if series.index is not None else None)}}
    files = {"report.json": json.dumps(report, indent=2), "forecast.csv": forecast_table(report["future"]),
             "forecast.png": _plot_bytes(series, report)}
    save_model(model, model_dir, extra=extra, files=files)


def load_forecaster(model_dir: str | os.PathLike) -> tuple[Forecaster, dict]:
    """The model and the ``extra`` state (preprocessing, the end of the training series),
    checked: every field of the preprocessing and of the stored series (type, range,
    finite, consistent with the model), one line naming config.json and the field."""
    model, extra = load_model(Forecaster, model_dir)
    check_forecaster_extra(extra, model.config, Path(model_dir) / "config.json")
    return model, extra


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_forecaster_extra(extra: dict, config: dict, where) -> None:
    """Validate the app-level part of a forecaster's config.json (``extra``) against the
    model's constructor ``config``; one :class:`~lstmkit.io.LstmkitFileError` line naming
    ``where`` and the field.

    Example:
        >>> cfg = {"input_size": 1, "horizon": 2}
        >>> prep = {"transform": "exp", "season": 1, "window": 8, "horizon": 2, "calendar": True,
        ...         "reference": "level", "diff_inputs": False, "scale": 1.0, "freq": None}
        >>> try:
        ...     check_forecaster_extra({"preprocessing": prep}, cfg, "m/config.json")
        ... except ValueError as e:
        ...     print(e)
        m/config.json: extra.preprocessing.transform must be "log" or "none", not "exp"
    """
    where = str(where)
    check_finite(extra, where, "extra")
    _check_table(extra, {"preprocessing": (dict, None, "a table"),
                         "series": ((dict, type(None)), None, "a table"),
                         "output": ((dict, type(None)), None, "a table")}, where, "extra")
    if extra.get("output") is not None:
        _check_table(extra["output"], {"chosen": (str, lambda v: v in OUTPUT_NAMES,
                                                  '"lstm", "hybrid" or "combination"')}, where, "extra.output")
    prep = extra["preprocessing"]
    number = (int, float)
    spec = {
        "transform": (str, lambda v: v in ("log", "none"), '"log" or "none"'),
        "season": (int, lambda v: v >= 1, "a whole number >= 1 (1: no season)"),
        "window": (int, lambda v: v >= 2, "a whole number >= 2"),
        "horizon": (int, lambda v: v == config.get("horizon"), f"the model's horizon, {config.get('horizon')}"),
        "calendar": (bool, None, "true or false"),
        "reference": (str, lambda v: v in ("level", "seasonal") and (v == "level" or prep.get("season", 1) >= 2),
                      '"level" or (with a season >= 2) "seasonal"'),
        "diff_inputs": ((bool, type(None)), None, "true or false"),
        "scale": (number, lambda v: v > 0, "a positive number"),
        "freq": ((str, type(None)), None, "a pandas frequency or null"),
    }
    _check_table(prep, spec, where, "extra.preprocessing")
    if prep.get("reference") == "seasonal" and prep.get("diff_inputs", True):
        _check_table(prep, {"diff_mean": (number, None, "a number"),
                            "diff_sd": (number, lambda v: v > 0, "a positive number")}, where, "extra.preprocessing")
    n_features = Windows(prep, TimeSeries(values=np.zeros(2), name="", source="")).n_features
    if n_features != config.get("input_size"):
        raise LstmkitFileError(f"{where}: extra.preprocessing (reference {prep['reference']}, calendar {prep['calendar']}, "
                               f"season {prep['season']}) makes {n_features} input features, but the model's "
                               f"input_size is {config.get('input_size')}")
    series = extra.get("series")
    if series is None:
        return
    history = prep["window"] + (max(prep["season"], 1) if prep["reference"] == "seasonal"
                                and prep.get("diff_inputs", True) else 0)
    _check_table(series, {
        "name": (str, None, "a column name"),
        "source": (str, None, "a text"),
        "freq": ((str, type(None)), None, "a pandas frequency or null"),
        "last_values": (list, lambda v: len(v) >= history and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v),
            f"a list of at least {history} numbers (the input window)"),
        "length": (int, lambda v: v >= len(series.get("last_values") or []),
                   "a whole number >= the number of last_values"),
        "last_times": ((list, type(None)), lambda v: v is None or (
            len(v) == len(series.get("last_values") or []) and all(isinstance(t, str) for t in v)),
            "null or one time stamp (text) per value of last_values"),
    }, where, "extra.series")
    if prep["transform"] == "log" and not _positive(series["last_values"]):
        raise LstmkitFileError(f"{where}: extra.series.last_values must be positive (preprocessing.transform is log)")


def _check_table(doc, spec: dict, where: str, prefix: str) -> None:
    """:func:`lstmkit.io.check_fields` on a sub-table, its fields named ``prefix.field``."""
    check_fields({f"{prefix}.{k}": v for k, v in doc.items()}, {f"{prefix}.{k}": v for k, v in spec.items()}, where)


def stored_series(extra: dict) -> TimeSeries:
    """The end of the training series, as stored in the model directory."""
    import pandas as pd

    s = extra["series"]
    idx = pd.DatetimeIndex(pd.to_datetime(s["last_times"])) if s.get("last_times") else None
    if idx is not None and s.get("freq"):
        idx = pd.date_range(idx[0], periods=len(idx), freq=s["freq"])
    return TimeSeries(values=np.asarray(s["last_values"], float), name=s["name"], source=s["source"] + " (stored)",
                      index=idx, freq=s.get("freq"), n_rows=len(s["last_values"]),
                      offset=s["length"] - len(s["last_values"]))


def forecast_future(model_dir: str | os.PathLike, series: TimeSeries | None = None) -> tuple[dict, TimeSeries]:
    """Forecast ``horizon`` steps beyond the end of ``series`` (default: the end of the
    series the model was trained on) with a saved model: ``(future dict, series used)``."""
    model, extra = load_forecaster(model_dir)
    prep = extra["preprocessing"]
    if series is None:
        series = stored_series(extra)
    win = Windows(prep, series)
    _check_length(series, win.history, prep["horizon"], what="predict")
    if prep["transform"] == "log" and not _positive(series.values):
        raise ValueError(f"{series.source}: column {series.name!r} has values <= 0, but the model was trained on the "
                         f"log of a positive series: forecast a positive series")
    win = Windows(prep, series)
    with np.errstate(over="ignore", invalid="ignore"):
        future = _future(model, win, series, win.z(series.values))
    chosen = (extra.get("output") or {}).get("chosen", "lstm")
    if chosen != "lstm":
        stats = field_baselines(series.values, prep["horizon"], prep["season"])
        future = _combine_future(future, stats, chosen)
    if not all(math.isfinite(v) for k in ("point", "lower", "upper") for v in future[k]):
        raise ValueError(f"{series.source}: column {series.name!r}: the forecast is not finite (values up to "
                         f"{np.nanmax(np.abs(series.values)):.3g} are far outside what the model was trained on); "
                         f"check the series' scale")
    return future, series
