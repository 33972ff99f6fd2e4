"""Forecast a panel — many series in one long CSV — with ONE LSTM trained across them all
(a global model, as DeepAR, Salinas et al. 2020, and the M4 winner train across series).

Each series keeps its own preprocessing (log or not, its level and scale from its own
training windows: :class:`lstmkit.data.windows.Windows`), so series of very different sizes
share one network; its windows are pooled into one training set. The split is per series
(fit | validation | test tail of ``horizon`` points each), the epoch count is chosen on the
mean validation MASE over the series, and each series is then scored on its own test tail
against the field's baselines fitted on that series alone (seasonal naive, ETS, ARIMA,
Theta, their combination and the hybrid), exactly as :func:`lstmkit.apps.forecast.train_forecaster`
does for one series. ``save="validation"`` picks, per series, the forecast (LSTM, hybrid
or combination) that did best on its validation part.

A series too short to give a training window of its own (window + target + the two
tails) is still validated, tested and forecast: the other series train the network, the
point of a global model. Series too short for a window and the two tails are left out,
named in the report.
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
from ..io import LstmkitFileError
from ..metrics import mase
from ..models import Forecaster, load_model, save_model
from ..models.baselines import field_baselines
from ..models.forecaster import pinball_loss
from ..progress import progress_bar
from ..train.supervised import fit_supervised
from .forecast import (DEFAULTS, OUTPUT_NAMES, SAVE_CHOICES, _choose_output, _combine_future, _default_window,
                       _positive, _score_rows, _stamp, check_forecaster_extra)
from .runfiles import model_dir_scope, run_dir_scope

__all__ = ["train_panel", "forecast_panel_future", "panel_forecast_table", "load_panel_forecaster"]


def _panel_window(season: int, horizon: int, lengths) -> int:
    """The single-series default window, shrunk (down to ``max(horizon, 4)``) so that the
    shortest series still holds a window and both tails and the longest a training window
    (a series too short to hold a training window as well is still forecast: the others
    train the network)."""
    w = _default_window(season, horizon)
    return int(max(min(w, min(lengths) - 2 * horizon, max(lengths) - 3 * horizon), max(horizon, 4)))


def _scaled_error(y: np.ndarray, forecast: np.ndarray, horizon: int, season: int) -> float:
    """MASE of a forecast of the validation part (the ``horizon`` points before the test
    tail), scaled on the fit part; a series whose seasonal naive error is 0 there (exactly
    periodic) is scaled by its one-step naive error, then by its mean absolute value."""
    n = len(y)
    actual, history = y[n - 2 * horizon: n - horizon], y[: n - 2 * horizon]
    for s in (season, 1):
        try:
            return mase(actual, forecast, history, s)
        except ValueError:
            continue
    return float(np.mean(np.abs(actual - forecast)) / max(np.mean(np.abs(history)), 1e-12))


def _forecast_many(model: Forecaster, wins, zs, origins) -> list[np.ndarray]:
    """One forward pass for one origin per series: a (H, Q) array per series."""
    xs, lvs = zip(*(w.inputs(z, [o]) for w, z, o in zip(wins, zs, origins)))
    with torch.no_grad():
        q = model.eval()(torch.cat(xs, 1))
    return [w.decode(q[i : i + 1], z, [o], lv)[0] for i, (w, z, o, lv) in enumerate(zip(wins, zs, origins, lvs))]


def _build(prep0: dict, series: list[TimeSeries], horizon: int, last_target: str):
    """Per-series Windows (scales fitted on each series' own fit part) and the pooled
    training windows whose targets end before the validation (``last_target="fit"``) or
    the test tail (``"all"``)."""
    wins, zs, X, Y = [], [], [], []
    for s in series:
        w = Windows(dict(prep0, freq=s.freq), s)
        z = w.z(s.values)
        n = len(z)
        end = n - 2 * horizon if last_target == "fit" else n - horizon
        origins = np.arange(w.history, end - horizon + 1)  # may be empty: a short series is forecast only
        w.fit_scales(z, np.arange(w.history, n - 2 * horizon + 1))  # input windows of the fit part, both times
        if len(origins):
            x, lv = w.inputs(z, origins)
            X.append(x)
            Y.append(w.targets(z, origins, lv))
        wins.append(w)
        zs.append(z)
    return wins, zs, torch.cat(X, 1), torch.cat(Y, 0)


def train_panel(
    panel: dict[str, TimeSeries],
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
    refit: bool = DEFAULTS["refit"],
    combine: bool = DEFAULTS["combine"],
    save: str = DEFAULTS["save"],
    lr: float = DEFAULTS["lr"],
    seed: int = 0,
    baselines: bool = True,
    id_column: str = "id",
    time_column: str | None = None,
    model_dir: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train one LSTM forecaster across every series of ``panel``, score each series on
    its held-out tail against its own baselines, forecast each one's future, and (with
    ``model_dir``) write one model directory for the whole panel.

    Args:
        panel: ``{id: TimeSeries}`` (:func:`lstmkit.data.series.read_panel`), at least two.
        horizon: steps to forecast (and the length of each series' validation and test tails).
        window: input steps (default: the single-series default, shrunk to fit the shortest series).
        season: season length (default: from the series' common frequency; 1 = none).
        epochs, variant, hidden_size, num_layers, members, transform, calendar, reference,
        refit, combine, save, lr, seed, baselines, run_dir, resume, progress: as
            :func:`lstmkit.apps.forecast.train_forecaster` (``transform="auto"``: log when
            every value of every series is positive).
        id_column: the name of the id column (written to forecast.csv).
        time_column: the name of the file's time column, if any (recorded, so that
            ``forecast predict`` reads a new file the same way).
        model_dir: the panel's model directory (held for the whole run).

    Returns:
        the report: ``series`` (id -> split, validation/test metrics, what was saved, the
        future), ``summary`` (mean MASE of each method over the series, wins against each
        baseline), ``left_out`` (id -> why), the preprocessing and training settings.

    Example:
        >>> import numpy as np
        >>> from lstmkit.data.series import TimeSeries
        >>> t = np.arange(60.0)
        >>> panel = {k: TimeSeries(values=a + 0.01 * t + np.sin(2 * np.pi * t / 12), name="y", source=k)
        ...          for k, a in (("a", 5.0), ("b", 50.0))}
        >>> r = train_panel(panel, 6, season=12, epochs=2, members=1, hidden_size=4, baselines=False,
        ...                 progress=False)
        >>> sorted(r["series"]), len(r["series"]["a"]["future"]["point"])
        (['a', 'b'], 6)
    """
    t_start = time.perf_counter()
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"--horizon must be a positive int, got {horizon!r}")
    if not isinstance(panel, dict) or len(panel) < 2 or not all(isinstance(s, TimeSeries) for s in panel.values()):
        raise ValueError("panel must be a dict of at least two TimeSeries (id -> series); "
                         "forecast a single series with train_forecaster")
    if save not in SAVE_CHOICES:
        raise ValueError(f"--save must be one of {', '.join(SAVE_CHOICES)}, got {save!r}")
    if transform not in ("auto", "log", "none"):
        raise ValueError(f"--transform must be auto, log or none, got {transform!r}")
    if reference not in ("auto", "seasonal", "level"):
        raise ValueError(f"reference must be auto, seasonal or level, got {reference!r}")
    if season is None:
        freqs = {k: s.freq for k, s in panel.items()}
        if len(set(freqs.values())) > 1:
            (a, fa), (b, fb) = list({f: (k, f) for k, f in freqs.items()}.values())[:2]
            raise ValueError(f"the series have different frequencies ({a}: {fa}, {b}: {fb}): pass --season")
        season = season_for_freq(next(iter(freqs.values())))
    season = int(season)
    if season < 1:
        raise ValueError(f"--season must be >= 1 (1: no season), got {season}")
    window = _panel_window(season, horizon, [len(s) for s in panel.values()]) if window is None else int(window)
    if window < 2:
        raise ValueError(f"--window must be >= 2, got {window}")
    if reference == "seasonal" and season < 2:
        raise ValueError("reference 'seasonal' needs a season: pass --season")
    candidates = ((["level", "seasonal"] if 1 < season <= window else ["level"]) if reference == "auto"
                  else [reference])
    history = window  # no seasonal-difference inputs in panels (diff_inputs off, as the single default)
    left_out = {k: f"{len(s)} points, fewer than the {history + 2 * horizon} needed (window {window} + the "
                   f"{horizon}-point validation and test tails): use a smaller --window"
                for k, s in panel.items() if len(s) < history + 2 * horizon}
    ids = [k for k in panel if k not in left_out]
    if not any(len(panel[k]) >= history + 3 * horizon for k in ids):
        raise ValueError(f"no series is long enough to train on with window {window} and horizon {horizon} (one "
                         f"training window needs {history + 3 * horizon} points; the longest has "
                         f"{max(len(s) for s in panel.values())}): use a smaller --window or --horizon")
    if not ids:
        raise ValueError(f"every series is too short for window {window} and horizon {horizon}: the longest has "
                         f"{max(len(s) for s in panel.values())} points; use a smaller --window or --horizon")
    series = [panel[k] for k in ids]
    if transform == "log" and not all(_positive(s.values) for s in series):
        raise ValueError("--transform log needs positive series; some have values <= 0: use --transform none")
    transform = ("log" if all(_positive(s.values) for s in series) else "none") if transform == "auto" else transform
    q = DEFAULTS["quantiles"]
    subdirs = [f"select-{r}" for r in candidates] + (["refit"] if refit else [])
    with model_dir_scope(model_dir), run_dir_scope(run_dir, subdirs, release=model_dir is not None) as run_dir:
        tried = {}
        for ref in candidates:
            prep0 = {"transform": transform, "season": season, "window": window, "horizon": horizon,
                     "calendar": bool(calendar), "reference": ref, "diff_inputs": False, "scale": 1.0}
            wins, zs, X, Y = _build(prep0, series, horizon, "fit")
            n_train = X.shape[1]
            batch = min(DEFAULTS["batch_size"], max(8, n_train // 4))
            n_epochs = epochs if epochs is not None else int(min(
                400, max(16, math.ceil(2000 / math.ceil(n_train / batch))), max(16, math.ceil(32000 / n_train))))
            torch.manual_seed(seed)
            model = Forecaster(wins[0].n_features, horizon, hidden_size=hidden_size, num_layers=num_layers,
                               quantiles=q, variant=variant, members=members)

            def loss_fn(m, idx, X=X, Y=Y):
                return pinball_loss(m(X[:, idx], per_member=True), Y[idx], q)

            def val_score(m, wins=wins, zs=zs):
                fc = _forecast_many(m, wins, zs, [len(z) - 2 * horizon for z in zs])
                return -float(np.mean([_scaled_error(s.values, f[:, m.mid], horizon, season)
                                       for s, f in zip(series, fc)]))

            fit = fit_supervised(model, loss_fn, n_train, epochs=n_epochs, batch_size=batch, lr=lr, seed=seed,
                                 evaluate=val_score, run_dir=Path(run_dir) / f"select-{ref}" if run_dir else None,
                                 resume=resume, progress=progress,
                                 desc=f"panel of {len(series)} ({ref}, choosing epochs)")
            tried[ref] = {"model": model, "fit": fit, "wins": wins, "zs": zs, "prep": prep0, "batch": batch,
                          "n_train": n_train, "epochs": n_epochs}
        ref = min(tried, key=lambda r: -tried[r]["fit"]["best_score"])
        chosen_run = tried[ref]
        model, fit, wins, zs = (chosen_run[k] for k in ("model", "fit", "wins", "zs"))
        refit_info = None
        if refit:
            wins_all, zs_all, X, Y = _build(chosen_run["prep"], series, horizon, "all")
            torch.manual_seed(seed)
            model = Forecaster(wins[0].n_features, horizon, hidden_size=hidden_size, num_layers=num_layers,
                               quantiles=q, variant=variant, members=members)
            refit_info = fit_supervised(model, lambda m, idx: pinball_loss(m(X[:, idx], per_member=True), Y[idx], q),
                                        X.shape[1], epochs=fit["best_epoch"], batch_size=chosen_run["batch"], lr=lr,
                                        seed=seed, run_dir=Path(run_dir) / "refit" if run_dir else None,
                                        resume=resume, progress=progress, desc=f"panel of {len(series)} ({ref}, refit)")
            if combine:
                both = Forecaster(wins[0].n_features, horizon, hidden_size=hidden_size, num_layers=num_layers,
                                  quantiles=q, variant=variant, members=2 * members)
                both.rnns = torch.nn.ModuleList([*chosen_run["model"].rnns, *model.rnns])
                both.heads = torch.nn.ModuleList([*chosen_run["model"].heads, *model.heads])
                model = both.eval()
        train_seconds = time.perf_counter() - t_start
        lstm_name = (f"global {model.config['members']} x {variant} LSTM {num_layers}x{hidden_size} across "
                     f"{len(series)} series, window {window}, {ref} reference")
        val_fc = _forecast_many(chosen_run["model"], wins, zs, [len(z) - 2 * horizon for z in zs])
        test_fc = _forecast_many(model, wins, zs, [len(z) - horizon for z in zs])
        future_fc = _forecast_many(model, wins, zs, [len(z) for z in zs])
        per_series = {}
        bar = progress_bar(len(ids), "baselines per series", unit="series", enabled=progress)
        for k, s, w, vq, tq, fq in zip(ids, series, wins, val_fc, test_fc, future_fc):
            y, n = s.values, len(s)
            val_start, test_start = n - 2 * horizon, n - horizon
            validation = _score_rows({"LSTM": {"forecast": vq[:, model.mid], "seconds": fit["seconds"],
                                               "model": lstm_name + " (selection run, best epoch)"}},
                                     y[:val_start], y[val_start:test_start], horizon, season, baselines, False, "")
            test = _score_rows({"LSTM": {"forecast": tq[:, model.mid], "model": lstm_name,
                                         "seconds": train_seconds}},
                               y[:test_start], y[test_start:], horizon, season, baselines, False, "")
            chosen, why = _choose_output(save, validation, baselines)
            future = {"time": [str(t) for t in future_index(s, horizon)], "point": fq[:, model.mid].tolist(),
                      "lower": fq[:, 0].tolist(), "upper": fq[:, -1].tolist(), "quantiles": model.quantiles}
            if chosen != "lstm":
                future = _combine_future(future, field_baselines(y, horizon, season), chosen)
            per_series[k] = {
                "data": s.summary(),
                "split": {"fit": int(val_start), "validation": horizon, "test": horizon,
                          "test_start": _stamp(s, test_start)},
                "preprocessing": w.p,
                "validation": {"metrics": validation["metrics"]},
                "test": {"metrics": test["metrics"], "forecasts": test["forecasts"], "actual": y[test_start:].tolist()},
                "output": {"chosen": chosen, "why": why, "name": OUTPUT_NAMES[chosen]},
                "future": future,
            }
            if bar:
                bar.update(1)
        if bar:
            bar.close()
        report = {
            "panel": {"series": len(panel), "modelled": len(ids), "id_column": id_column,
                      "time_column": time_column},
            "preprocessing": {"transform": transform, "season": season, "window": window, "horizon": horizon,
                              "calendar": bool(calendar), "reference": ref},
            "model": model.config,
            "training": {"epochs": chosen_run["epochs"], "best_epoch": fit["best_epoch"],
                         "batch_size": chosen_run["batch"], "training_windows": chosen_run["n_train"], "lr": lr,
                         "seed": seed, "seconds": fit["seconds"], "validation_mean_mase": -fit["best_score"],
                         "refit_seconds": refit_info["seconds"] if refit_info else None,
                         "seconds_total": train_seconds,
                         "validation_mean_mase_by_reference": {r: -t["fit"]["best_score"] for r, t in tried.items()}},
            "summary": panel_summary(per_series),
            "series": per_series,
            "left_out": left_out,
            "seconds": time.perf_counter() - t_start,
        }
        if model_dir is not None:
            _write_panel_dir(model, report, panel, ids, model_dir)
        return report


def panel_summary(per_series: dict) -> dict:
    """Mean test MASE of each method over the series, and lstmkit's (what was saved for
    each series) wins/ties/losses against each (a tie: within 0.5%).

    Example:
        >>> s = {"a": {"test": {"metrics": {"LSTM": {"mase": 1.0}, "seasonal naive": {"mase": 2.0}}},
        ...            "output": {"name": "LSTM"}}}
        >>> panel_summary(s)["against"]["seasonal naive"]
        {'win': 1, 'tie': 0, 'loss': 0}
    """
    names = {}
    for r in per_series.values():
        for name, m in r["test"]["metrics"].items():
            if "mase" in m:
                names.setdefault(name, []).append(m["mase"])
    ours = [r["test"]["metrics"][r["output"]["name"]]["mase"] for r in per_series.values()]
    against = {}
    for name in names:
        if name == "LSTM":
            continue
        w = t = lo = 0
        for r, o in zip(per_series.values(), ours):
            other = r["test"]["metrics"].get(name, {}).get("mase")
            if other is None:
                continue
            if abs(o - other) <= 0.005 * max(abs(other), 1e-12):
                t += 1
            elif o < other:
                w += 1
            else:
                lo += 1
        against[name] = {"win": w, "tie": t, "loss": lo}
    return {"mean_mase": {"lstmkit (saved)": float(np.mean(ours)), **{k: float(np.mean(v)) for k, v in names.items()}},
            "against": against, "series": len(ours)}


def panel_forecast_table(futures: dict, id_column: str = "id") -> str:
    """The panel's future forecasts as CSV text: ``ID_COLUMN,time,forecast,lower,upper``.

    Example:
        >>> print(panel_forecast_table({"a": {"time": ["1"], "point": [1.5], "lower": [1.0], "upper": [2.0]}},
        ...                            "store"), end="")
        store,time,forecast,lower,upper
        a,1,1.5,1,2
    """
    lines = [f"{id_column},time,forecast,lower,upper"]
    for k, f in futures.items():
        for t, p, lo, hi in zip(f["time"], f["point"], f["lower"], f["upper"]):
            lines.append(f"{k},{t},{p:.6g},{lo:.6g},{hi:.6g}")
    return "\n".join(lines) + "\n"


def _plot_panel_bytes(panel: dict, report: dict, show: int = 6) -> bytes:
    """A grid PNG of the first ``show`` modelled series: history, test tail and forecasts."""
    from ..viz.figures import figure_png, pyplot

    plt = pyplot()
    ids = list(report["series"])[:show]
    cols = min(3, len(ids))
    rows = math.ceil(len(ids) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, k in zip(axes.ravel(), ids):
        s, r = panel[k], report["series"][k]
        n, H = len(s), report["preprocessing"]["horizon"]
        start = max(0, n - 6 * H)
        ax.plot(np.arange(start, n), s.values[start:], color="black", lw=1.1, label="observed")
        ax.plot(np.arange(n - H, n), r["test"]["forecasts"]["LSTM"], color="C0", lw=1.2, label="LSTM (test)")
        if "seasonal naive" in r["test"]["forecasts"]:
            ax.plot(np.arange(n - H, n), r["test"]["forecasts"]["seasonal naive"], color="C7", lw=1, ls="--",
                    label="seasonal naive (test)")
        f = r["future"]
        ax.plot(np.arange(n, n + H), f["point"], color="C3", lw=1.2, label=f"forecast ({r['output']['name']})")
        ax.fill_between(np.arange(n, n + H), f["lower"], f["upper"], color="C3", alpha=0.2, lw=0)
        ax.set_title(f"{k}: MASE {r['test']['metrics'][r['output']['name']]['mase']:.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(ids):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return figure_png(fig, dpi=90, tight=False)


def _write_panel_dir(model, report: dict, panel: dict, ids, model_dir) -> None:
    entries = {}
    for k in ids:
        s, r = panel[k], report["series"][k]
        prep = r["preprocessing"]
        tail = (s.values if r["output"]["chosen"] != "lstm" else
                s.values[-(prep["window"] + max(prep["season"], 1) + prep["horizon"]):])
        entries[k] = {"output": {"chosen": r["output"]["chosen"]}, "preprocessing": prep,
                      "series": {"name": s.name, "source": s.source, "freq": s.freq, "length": len(s),
                                 "last_values": tail.tolist(),
                                 "last_times": [str(t) for t in s.index[-len(tail):]] if s.index is not None else None}}
    id_column = report["panel"]["id_column"]
    extra = {"panel": {"id_column": id_column, "time_column": report["panel"]["time_column"], "series": entries}}
    files = {"report.json": json.dumps(report, indent=2),
             "forecast.csv": panel_forecast_table({k: report["series"][k]["future"] for k in ids}, id_column),
             "forecast.png": _plot_panel_bytes(panel, report)}
    save_model(model, model_dir, extra=extra, files=files)


def load_panel_forecaster(model_dir: str | os.PathLike) -> tuple[Forecaster, dict]:
    """The global model and its ``extra.panel`` (id column; per series the preprocessing,
    what is saved and the end of the series), every entry checked as a single-series
    forecaster's is; one line naming config.json and the field."""
    model, extra = load_model(Forecaster, model_dir)
    where = Path(model_dir) / "config.json"
    panel = extra.get("panel")
    if not isinstance(panel, dict) or not isinstance(panel.get("series"), dict) or not panel["series"]:
        raise LstmkitFileError(f"{where}: not a panel forecaster (no extra.panel.series): use `lstmkit forecast "
                               f"predict` on it without --id-column")
    for k, entry in panel["series"].items():
        if not isinstance(entry, dict):
            raise LstmkitFileError(f"{where}: extra.panel.series[{k!r}] must be a table")
        try:
            check_forecaster_extra(entry, model.config, where)
        except LstmkitFileError as e:
            raise LstmkitFileError(f"{e} (series {k!r})") from None
    return model, panel


def forecast_panel_future(model_dir: str | os.PathLike, panel: dict[str, TimeSeries] | None = None) -> dict:
    """Forecast ``horizon`` steps beyond the end of each series with a saved panel model:
    ``{id: future}`` (default: the end of each series the model was trained on). A series
    given in ``panel`` that the model never saw is forecast too (the global model needs
    only the series' own window; its scale is taken from that window's own history)."""
    from .forecast import stored_series

    model, stored = load_panel_forecaster(model_dir)
    entries = stored["series"]
    if panel is None:
        panel = {k: stored_series(e) for k, e in entries.items()}
    wins, zs, keys = [], [], []
    for k, s in panel.items():
        e = entries.get(k)
        if e is not None:
            prep = e["preprocessing"]
        else:  # a new series: its own scale from its own history
            e0 = next(iter(entries.values()))
            prep = dict(e0["preprocessing"], freq=s.freq)
        w = Windows(dict(prep), s)
        if len(s) < w.history + (0 if e is not None else prep["horizon"]):
            raise ValueError(f"{s.source}: column {s.name!r} has {len(s)} points, fewer than the "
                             f"{w.history + (0 if e is not None else prep['horizon'])} the model needs")
        if prep["transform"] == "log" and not _positive(s.values):
            raise ValueError(f"{s.source}: column {s.name!r} has values <= 0, but the model was trained on logs")
        z = w.z(s.values)
        if e is None:
            w.fit_scales(z, np.arange(w.history, len(z) - prep["horizon"] + 1))
        wins.append(w)
        zs.append(z)
        keys.append(k)
    with np.errstate(over="ignore", invalid="ignore"):
        fc = _forecast_many(model, wins, zs, [len(z) for z in zs])
    out = {}
    for k, w, q in zip(keys, wins, fc):
        s = panel[k]
        f = {"time": [str(t) for t in future_index(s, w.p["horizon"])], "point": q[:, model.mid].tolist(),
             "lower": q[:, 0].tolist(), "upper": q[:, -1].tolist(), "quantiles": model.quantiles}
        chosen = (entries.get(k) or {}).get("output", {}).get("chosen", "lstm")
        if chosen != "lstm":
            f = _combine_future(f, field_baselines(s.values, w.p["horizon"], w.p["season"]), chosen)
        if not all(math.isfinite(v) for key in ("point", "lower", "upper") for v in f[key]):
            raise ValueError(f"{s.source}: the forecast is not finite: check the series' scale")
        out[k] = f
    return out
