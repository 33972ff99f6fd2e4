"""The forecasting benchmark: lstmkit's forecaster, with its default settings, beside the
field's baselines (seasonal naive, ETS, (S)ARIMA, Theta from statsmodels and their mean) on
every series that ships inside the installed packages
(:func:`lstmkit.data.forecast_benchmark.benchmark_series`), the same held-out tail for all:
the last ``horizon`` points, the standard horizon of the series' frequency.

Per series the command runs exactly what ``lstmkit forecast train`` runs (same code, same
defaults, a fixed seed) and records every model's test forecast, MASE and sMAPE, and the
same on the validation part. A series too short for an LSTM (fewer than ``window + 3
horizon + 8`` points) gets the statistical combination as lstmkit's entry (``fallback``,
counted in the summary). The output directory (an lstmkit ``benchmark`` directory: a folder
of the user's is refused) holds one JSON per series (a rerun reuses them: an interrupted
benchmark resumes), ``results.json`` (everything, and the summary), one markdown table per
data set, ``summary.md`` and ``ranks.png``.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "bench")
    >>> r = run_forecast_benchmark(out, only=["M1 yearly/T7"], progress=False,
    ...                            train_options={"members": 1, "epochs": 2, "hidden_size": 4})
    >>> r["summary"]["all"]["series"], sorted(os.listdir(out))[:2]
    (1, ['M1-yearly.md', 'lstmkit.json'])
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np

from ..data.forecast_benchmark import BenchmarkSeries, benchmark_series, dataset_names
from ..io import atomic_write_bytes, atomic_write_text, claim_dir, read_json, register_files, write_json
from ..metrics import mase, smape
from ..models.baselines import field_baselines
from .forecast import OUTPUT_NAMES, train_forecaster

__all__ = ["run_forecast_benchmark", "summarize", "markdown_tables", "MODELS", "BASELINES", "KIND"]

#: The columns of every table, in order: lstmkit's saved forecast, the LSTM alone, the
#: hybrid, then the field's baselines.
MODELS = ("lstmkit", "LSTM", "seasonal naive", "ETS", "ARIMA", "Theta", "combination")
#: What lstmkit's entry is compared with (win/tie/loss, mean rank).
BASELINES = ("seasonal naive", "ETS", "ARIMA", "Theta", "combination")
#: The single statsmodels models ("the best single statsmodels model").
SINGLE = ("ETS", "ARIMA", "Theta")
#: The manifest kind of the output directory.
KIND = "benchmark"
#: Two MASEs within this relative difference are a tie.
TIE = 0.005


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _score(actual, forecast, history, season) -> dict:
    return {"mase": mase(actual, forecast, history, season), "smape": smape(actual, forecast)}


def _run_one(b: BenchmarkSeries, seed: int, options: dict) -> dict:
    y = b.series.values
    h, s = b.horizon, b.season
    history, actual = y[:-h], y[-h:]
    t0 = time.perf_counter()
    entry = {"key": b.key, "dataset": b.dataset, "frequency": b.frequency, "points": len(y), "horizon": h,
             "season": s, "note": b.note, "seed": seed, "actual": actual.tolist()}
    try:
        # save="lstm": the test forecasts do not depend on it, and it skips the fit on the whole
        # series that only the future forecast needs (_finalize picks what --save would save)
        r = train_forecaster(b.series, h, season=s, seed=seed, progress=False, **{**options, "save": "lstm"})
    except ValueError as e:
        if "fewer than the" not in str(e):
            raise
        rows = field_baselines(history, h, s)
        forecasts = {k: np.asarray(v["forecast"]).tolist() for k, v in rows.items() if "forecast" in v}
        entry.update(fallback=" ".join(str(e).split()), validation=None,
                     models={k: v.get("model", v.get("error")) for k, v in rows.items()})
    else:
        forecasts = dict(r["test"]["forecasts"])
        val = r["validation"]["metrics"]
        entry.update(fallback=None, window=r["preprocessing"]["window"],
                     reference=r["preprocessing"]["reference"], best_epoch=r["training"]["best_epoch"],
                     epochs=r["training"]["epochs"], lstm_seconds=r["training"]["seconds_total"],
                     validation={"actual": y[-2 * h:-h].tolist(), "forecasts": r["validation"]["forecasts"],
                                 "mase": {k: v["mase"] for k, v in val.items() if "mase" in v}},
                     models={k: v.get("model", v.get("error")) for k, v in r["test"]["metrics"].items()})
    entry["forecasts"] = forecasts
    entry["metrics"] = {k: _score(actual, f, history, s) for k, f in forecasts.items()}
    entry["seconds"] = time.perf_counter() - t0
    return entry


def _finalize(entry: dict, save: str) -> dict:
    """Set lstmkit's entry: what ``train --save SAVE`` saves (the combination where the
    series is too short for an LSTM). Every candidate's forecasts are recorded, so that the
    rule can be compared on the whole benchmark from one run."""
    e = dict(entry)
    m = dict(e["metrics"])
    if e.get("fallback") or "hybrid" not in m:
        chosen = "combination" if "combination" in m else "seasonal naive"
    elif save == "validation":
        v = e["validation"]["mase"]
        chosen = min((k for k in ("lstm", "hybrid", "combination") if OUTPUT_NAMES[k] in v),
                     key=lambda k: v[OUTPUT_NAMES[k]])
    else:
        chosen = save
    name = OUTPUT_NAMES.get(chosen, chosen)
    m["lstmkit"] = m[name]
    e["metrics"], e["chosen"] = m, chosen
    e["forecasts"] = {**e["forecasts"], "lstmkit": e["forecasts"][name]}
    return e


def _signature(seed: int, options: dict) -> dict:
    from .forecast import DEFAULTS

    # "save" only picks among the recorded forecasts (_finalize): not part of the signature
    return {"seed": seed, "options": {k: v for k, v in sorted(options.items()) if k != "save"},
            "defaults": {k: v for k, v in DEFAULTS.items() if k != "save"}}


def run_forecast_benchmark(out, *, quick: bool = False, only: list[str] | None = None, seed: int = 0,
                           train_options: dict | None = None, progress: bool = True, fresh: bool = False) -> dict:
    """Run the benchmark into the directory ``out`` and write its tables.

    Args:
        out: the output directory: new, empty, or an lstmkit benchmark directory (a rerun
            reuses the series already done with the same settings, so an interrupted run
            resumes; ``fresh`` recomputes them).
        quick: the short :data:`~lstmkit.data.forecast_benchmark.QUICK` subset (CI).
        only: series whose key or data set contains one of these texts.
        seed: the seed of every training.
        train_options: keyword arguments for :func:`lstmkit.apps.forecast.train_forecaster`
            (default: none, i.e. the defaults of ``lstmkit forecast train``).
        progress: a bar over the series.

    Returns:
        ``{"series": [per-series entries], "summary": ..., "files": [written names]}``.
    """
    from ..progress import progress_bar

    from .forecast import DEFAULTS

    options = dict(train_options or {})
    save = options.pop("save", DEFAULTS["save"])
    items = benchmark_series(quick=quick, only=only)
    d, _ = claim_dir(out, KIND, "benchmark directory")
    sig = _signature(seed, options)
    sig_save = save
    entries = []
    bar = progress_bar(len(items), "benchmark forecast", "series", enabled=progress)
    for b in items:
        name = f"series-{_slug(b.key)}.json"
        entry = None
        if not fresh and (d / name).is_file():
            old = read_json(d / name, "a benchmark result")
            if isinstance(old, dict) and old.get("signature") == json.loads(json.dumps(sig)):
                entry = old["result"]
        if entry is None:
            if bar:
                bar.set_postfix_str(b.key[:30])
            entry = _run_one(b, seed, options)
            write_json(d / name, {"signature": sig, "result": entry}, indent=None)
            register_files(d, [name])
        entries.append(_finalize(entry, save))
        if bar:
            bar.update()
    if bar:
        bar.close()
    summary = summarize(entries)
    files = _write_outputs(d, entries, summary, {**sig, "save": sig_save}, items)
    return {"series": entries, "summary": summary, "files": files}


def _ranks(entries: list[dict], models) -> np.ndarray:
    """(series, model) ranks by MASE, 1 = best; ties share the mean rank."""
    m = np.array([[e["metrics"][k]["mase"] if k in e["metrics"] else np.inf for k in models] for e in entries])
    out = np.empty_like(m)
    for i, row in enumerate(m):
        order = np.argsort(row, kind="stable")
        r = np.empty(len(row))
        r[order] = np.arange(1, len(row) + 1)
        for v in np.unique(row):
            r[row == v] = r[row == v].mean()
        out[i] = r
    return out


def _wtl(entries: list[dict], a: str, b: str) -> dict:
    w = t = l = 0
    for e in entries:
        if a not in e["metrics"] or b not in e["metrics"]:
            continue
        x, y = e["metrics"][a]["mase"], e["metrics"][b]["mase"]
        if abs(x - y) <= TIE * max(abs(x), abs(y)):
            t += 1
        elif x < y:
            w += 1
        else:
            l += 1
    return {"win": w, "tie": t, "loss": l}


def _group(entries: list[dict]) -> dict:
    ranked = ("lstmkit", *BASELINES)
    ranks = _ranks(entries, ranked) if entries else np.zeros((0, len(ranked)))
    models = {}
    for k in MODELS + ("hybrid",):
        vals = [e["metrics"][k] for e in entries if k in e["metrics"]]
        if not vals:
            continue
        models[k] = {"series": len(vals), "mean_mase": float(np.mean([v["mase"] for v in vals])),
                     "median_mase": float(np.median([v["mase"] for v in vals])),
                     "mean_smape": float(np.mean([v["smape"] for v in vals]))}
        if k in ranked:
            models[k]["mean_rank"] = float(ranks[:, ranked.index(k)].mean())
    single = {k: models[k]["mean_mase"] for k in SINGLE if k in models}
    best_single = min(single, key=single.get) if single else None
    sn = _wtl(entries, "lstmkit", "seasonal naive")
    lstm_ran = [e for e in entries if not e.get("fallback")]
    return {
        "series": len(entries), "fallback": len(entries) - len(lstm_ran), "models": models,
        "lstmkit_vs": {k: _wtl(entries, "lstmkit", k) for k in BASELINES},
        "lstm_vs": {k: _wtl(lstm_ran, "LSTM", k) for k in BASELINES},
        "targets": {
            "better_than_seasonal_naive": sn["win"] / max(len(entries), 1),
            "best_single_statsmodels": best_single,
            "mean_mase_lstmkit": models.get("lstmkit", {}).get("mean_mase"),
            "mean_mase_best_single": single.get(best_single),
        },
    }


def summarize(entries: list[dict]) -> dict:
    """The summary over all series, over M1 yearly, and over the other series: per model the
    mean/median MASE, mean sMAPE and mean rank (among lstmkit and the baselines), lstmkit's
    (and the LSTM's, where it ran) win/tie/loss against each baseline, and the targets."""
    m1 = [e for e in entries if e["dataset"] == "M1 yearly"]
    rest = [e for e in entries if e["dataset"] != "M1 yearly"]
    out = {"all": _group(entries)}
    if m1 and rest:
        out["M1 yearly"], out["other series"] = _group(m1), _group(rest)
    return out


def _fmt(v, nd=3) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def _summary_md(name: str, g: dict) -> list[str]:
    lines = [f"### {name}: {g['series']} series" + (f" ({g['fallback']} too short for an LSTM: lstmkit = the "
                                                     f"combination there)" if g["fallback"] else ""), "",
             "| model | series | mean MASE | median MASE | mean sMAPE % | mean rank |", "|---|---|---|---|---|---|"]
    for k, v in g["models"].items():
        lines.append(f"| {k} | {v['series']} | {_fmt(v['mean_mase'])} | {_fmt(v['median_mase'])} | "
                     f"{_fmt(v['mean_smape'], 2)} | {_fmt(v.get('mean_rank'), 2)} |")
    lines += ["", "| lstmkit against | win | tie | loss | LSTM alone (where it ran): win | tie | loss |",
              "|---|---|---|---|---|---|---|"]
    for k in BASELINES:
        a, b = g["lstmkit_vs"][k], g["lstm_vs"][k]
        lines.append(f"| {k} | {a['win']} | {a['tie']} | {a['loss']} | {b['win']} | {b['tie']} | {b['loss']} |")
    t = g["targets"]
    lines += ["", f"lstmkit better than seasonal naive on {t['better_than_seasonal_naive']:.0%} of the series; "
              f"mean MASE {_fmt(t['mean_mase_lstmkit'])} against the best single statsmodels model "
              f"({t['best_single_statsmodels']}) {_fmt(t['mean_mase_best_single'])}.", ""]
    return lines


def markdown_tables(entries: list[dict]) -> dict[str, str]:
    """One markdown table per data set: file name -> text (a row per series: every model's
    MASE and sMAPE, what lstmkit saved, the mean row)."""
    out = {}
    for ds in dict.fromkeys(e["dataset"] for e in entries):
        rows = [e for e in entries if e["dataset"] == ds]
        head = ["series", "n", "H"] + [f"{k} MASE" for k in MODELS] + ["lstmkit sMAPE", "saved"]
        lines = [f"# {ds}", "", "MASE on the last H points (lower is better); sMAPE in percent.", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for e in rows:
            best = min((e["metrics"][k]["mase"] for k in MODELS if k in e["metrics"]), default=None)
            cells = []
            for k in MODELS:
                v = e["metrics"].get(k, {}).get("mase")
                cells.append("-" if v is None else (f"**{v:.3f}**" if v == best else f"{v:.3f}"))
            saved = e["chosen"] + (" (too short for an LSTM)" if e.get("fallback") else "")
            lines.append(f"| {e['key'].split('/')[-1]} | {e['points']} | {e['horizon']} | " + " | ".join(cells)
                         + f" | {e['metrics']['lstmkit']['smape']:.2f} | {saved} |")
        if len(rows) > 1:
            means = [np.mean([e["metrics"][k]["mase"] for e in rows if k in e["metrics"]])
                     if any(k in e["metrics"] for e in rows) else None for k in MODELS]
            lines.append("| **mean** | | | " + " | ".join(_fmt(v) for v in means) + " | | |")
        notes = sorted({e["note"] for e in rows if e.get("note")})
        lines += [""] + [f"- {n}" for n in notes]
        out[f"{_slug(ds)}.md"] = "\n".join(lines) + "\n"
    return out


def _write_outputs(d: Path, entries, summary, sig, items) -> list[str]:
    import platform

    from ..viz.benchmark import plot_ranks

    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu": _cpu(), "python": platform.python_version(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    files = markdown_tables(entries)
    md = ["# lstmkit benchmark forecast", "",
          f"{len(entries)} series in {len(dataset_names(items))} data sets; seed {sig['seed']}; "
          f"train options {sig['options'] or 'none (the defaults)'}, --save {sig['save']}; {meta['date']}, "
          f"{meta['cpu']}, load average {meta['load_average'][0] if meta['load_average'] else '?'}.", ""]
    for name, g in summary.items():
        md += _summary_md(name, g)
    md += ["Per data set: " + ", ".join(f"[{n[:-3]}]({n})" for n in files), ""]
    files["summary.md"] = "\n".join(md)
    for name, text in files.items():
        atomic_write_text(d / name, text)
    write_json(d / "results.json", {"meta": meta, "signature": sig, "summary": summary, "series": entries}, indent=1)
    png = plot_ranks(summary)
    atomic_write_bytes(d / "ranks.png", png)
    names = [*files, "results.json", "ranks.png"]
    register_files(d, names)
    return names


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    import platform

    return platform.processor() or platform.machine()
