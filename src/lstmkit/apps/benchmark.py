"""Benchmarks of an application over every data set of its kind that ships inside the
installed packages, against the field's baselines from the field's libraries, in the same
run, on the same fixed splits and seeds: the harness behind ``lstmkit benchmark``.

Classification (:func:`run_classify_benchmark`): every set of
:func:`lstmkit.data.benchmark_sets.classification_set_names` (aeon's UCR/UEA sets with
their official TRAIN/TEST files, seglearn's smartwatch exercises, modlamp's peptide sets);
per set lstmkit's classifier with its DEFAULT settings (:func:`lstmkit.apps.classify.train_classifier`)
and :data:`lstmkit.models.baselines.TSC_BASELINES` (1-NN Euclidean, 1-NN DTW on the raw
series, MiniRocket; aeon); accuracy and balanced accuracy (:mod:`lstmkit.metrics`).

The output folder is an lstmkit ``benchmark`` directory (a non-empty folder of the user's is
refused; files are written atomically and listed in its manifest): ``NAME.json`` and
``NAME.md`` per data set, ``summary.json``, ``summary.md`` (the table, the win/tie/loss
count and the mean rank against each baseline) and ``ranks.png``. ``resume=True`` keeps
the data sets already finished by a run with the same settings.

The generic pieces (:func:`win_tie_loss`, :func:`mean_ranks`) serve every benchmark.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..metrics import accuracy, balanced_accuracy

__all__ = ["win_tie_loss", "mean_ranks", "run_classify_benchmark", "CLASSIFY_METHODS", "QUICK_LSTM",
           "machine_info", "format_summary", "write_summary"]

OURS = "lstm"
CLASSIFY_METHODS = (OURS, "1nn-euclidean", "1nn-dtw", "minirocket")
"""Every method of the classification benchmark: ours first, then the baselines."""

QUICK_LSTM = {"hidden_size": 16, "num_layers": 1, "max_updates": 60}
"""``--quick``: a small, short LSTM (CI checks that the harness runs end to end, not quality)."""


def win_tie_loss(ours: Sequence[float], theirs: Sequence[float], higher_is_better: bool = True,
                 tol: float = 1e-9) -> dict:
    """Count the data sets where ``ours`` beats, ties (within ``tol``) or loses to ``theirs``.

    Args:
        ours, theirs: one score per data set, same order and length.
        higher_is_better: accuracy (True) or an error such as MASE (False).
        tol: scores closer than this tie.

    Example:
        >>> win_tie_loss([0.9, 0.8, 0.5], [0.8, 0.8, 0.6])
        {'win': 1, 'tie': 1, 'loss': 1}
    """
    a, b = np.asarray(ours, float), np.asarray(theirs, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"ours and theirs must be 1-D and of the same length, got {a.shape} and {b.shape}")
    d = (a - b) if higher_is_better else (b - a)
    return {"win": int((d > tol).sum()), "tie": int((np.abs(d) <= tol).sum()), "loss": int((d < -tol).sum())}


def mean_ranks(scores: dict, higher_is_better: bool = True) -> dict:
    """Each method's rank on each data set (1 = best; ties share the average rank),
    averaged over the data sets.

    Args:
        scores: method -> one score per data set (same order, same length for every method).
        higher_is_better: as in :func:`win_tie_loss`.

    Example:
        >>> mean_ranks({"a": [0.9, 0.5], "b": [0.8, 0.5], "c": [0.1, 0.9]})
        {'a': 1.75, 'b': 2.25, 'c': 2.0}
    """
    names = list(scores)
    if not names:
        raise ValueError("scores must name at least one method")
    m = np.array([np.asarray(scores[n], float) for n in names])
    if m.ndim != 2:
        raise ValueError("scores must hold the same number of data sets for every method")
    if not higher_is_better:
        m = -m
    ranks = np.zeros_like(m)
    for j in range(m.shape[1]):
        col = m[:, j]
        for i in range(len(names)):
            better = (col > col[i] + 1e-9).sum()
            same = (np.abs(col - col[i]) <= 1e-9).sum()
            ranks[i, j] = better + (same + 1) / 2
    return {n: float(ranks[i].mean()) for i, n in enumerate(names)}


def machine_info() -> dict:
    """The machine a benchmark ran on: CPU model, cores, load average, library versions."""
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"torch": torch.__version__}
    for mod in ("aeon", "numpy", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "load_average": load, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "versions": versions,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def write_summary(out: Path, summary: dict, markdown: str, ranks: dict | None = None, title: str = "",
                  n_sets: int | None = None) -> dict:
    """Close a benchmark directory: ``summary.json``, ``summary.md`` and (given ``ranks``,
    where matplotlib is installed) ``ranks.png``, each registered in the directory's
    manifest; ``summary["out_dir"]`` is set to the directory.

    Args:
        out: the benchmark directory (already claimed).
        summary: the JSON-ready summary.
        markdown: its markdown table.
        ranks: method -> mean rank for the rank plot (None or empty: no plot).
        title: the rank plot's title. n_sets: data sets the ranks were taken over.

    Returns:
        ``summary`` (with ``out_dir``).
    """
    from ..io import register_files, write_json
    from .runfiles import write_report_files

    def draw(path):
        from ..viz.ranks import plot_mean_ranks

        plot_mean_ranks(ranks, path, title, n_sets=n_sets)

    out = Path(out)
    write_json(out / "summary.json", summary, indent=2)
    register_files(out, ["summary.json"])
    write_report_files(out, {"summary.md": markdown}, {"ranks.png": draw} if ranks else None)
    summary["out_dir"] = str(out)
    return summary


def _fmt(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _set_markdown(r: dict) -> str:
    i = r["info"]
    lines = [f"# {i['name']}", "",
             f"{i['n_train']} train / {i['n_test']} test sequences ({i['split']}), {i['classes']} classes, "
             f"{i['channels']} channel(s), lengths {i['lengths'][0]}-{i['lengths'][1]}; seed {r['seed']}", "",
             "| method | accuracy % | balanced accuracy % | seconds |", "|---|---|---|---|"]
    for name, m in r["methods"].items():
        if "error" in m:
            lines.append(f"| {name} | error: {m['error']} | | |")
        else:
            lines.append(f"| {name} | {_fmt(m['accuracy'])} | {_fmt(m['balanced_accuracy'])} | {m['seconds']:.1f} |")
    if OURS in r["methods"] and "config" in r["methods"][OURS]:
        c = r["methods"][OURS]["config"]
        lines += ["", "LSTM settings: " + ", ".join(f"{k}={v}" for k, v in c.items())]
    return "\n".join(lines) + "\n"


def format_summary(summary: dict) -> str:
    """The markdown of a benchmark's ``summary.json``: one row per data set (accuracy %,
    the best of each row in bold), the means, and ours against each baseline (win/tie/loss
    on accuracy, mean rank)."""
    methods = summary["methods"]
    rows = summary["sets"]
    lines = [f"# lstmkit benchmark classify ({len(rows)} data sets)", "",
             f"`{summary['command']}`; {summary['machine']['date']}; {summary['machine']['cpu']}, "
             f"{summary['machine']['torch_threads']} torch thread(s), load average at the start "
             f"{summary['machine']['load_average']}; seed {summary['seed']}", "",
             "Test accuracy % (balanced accuracy % in brackets):", "",
             "| data set | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for row in rows:
        accs = [row["accuracy"].get(m) for m in methods]
        best = max((a for a in accs if a is not None), default=None)
        cells = []
        for m, a in zip(methods, accs):
            text = f"{_fmt(a)} ({_fmt(row['balanced_accuracy'].get(m))})"
            cells.append(f"**{text}**" if a is not None and best is not None and abs(a - best) < 1e-9 else text)
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    means = summary["mean_accuracy"]
    lines.append("| **mean** | " + " | ".join(_fmt(means.get(m)) for m in methods) + " |")
    lines.append("| mean rank | " + " | ".join(f"{summary['mean_rank'][m]:.2f}" for m in methods) + " |")
    if OURS in methods and len(methods) > 1:
        lines += ["", f"{OURS} against each baseline (accuracy; ties: the same number of test sequences right):", "",
                  "| baseline | win | tie | loss | win or tie % | mean accuracy difference (points) |",
                  "|---|---|---|---|---|---|"]
        for b, w in summary["win_tie_loss"].items():
            n = w["win"] + w["tie"] + w["loss"]
            lines.append(f"| {b} | {w['win']} | {w['tie']} | {w['loss']} | {100 * (w['win'] + w['tie']) / max(n, 1):.0f} "
                         f"| {100 * (means[OURS] - means[b]):+.2f} |")
    if summary.get("failed"):
        lines += ["", "Left out of the table (a method failed): " + ", ".join(summary["failed"])]
    return "\n".join(lines) + "\n"


def _run_method(method: str, train, test, seed: int, lstm_options: dict) -> dict:
    from ..data.sequences import sort_labels

    classes = sort_labels(set(train.y))
    pos = {c: k for k, c in enumerate(classes)}
    ytr = np.array([pos[v] for v in train.y])
    yte = np.array([pos.get(v, -1) for v in test.y])
    t0 = time.perf_counter()
    extra = {}
    if method == OURS:
        from .classify import train_classifier

        r = train_classifier(train, test, model_dir=None, seed=seed, progress=False, compare=(), **lstm_options)
        acc, bacc = r["test"]["accuracy"], r["test"]["balanced_accuracy"]
        extra = {"config": {k: r["config"][k] for k in sorted(r["config"]) if k not in ("input_size", "num_classes")},
                 "fit": {k: r["fit"][k] for k in ("best_epoch", "best_validation_score", "updates", "stopped_early")
                         if k in r["fit"]},
                 "train_seconds": r["train_seconds"]}
    else:
        from ..models.baselines import tsc_baseline

        pred = tsc_baseline(method, train.X, ytr, test.X, seed=seed)
        acc, bacc = accuracy(yte, pred), balanced_accuracy(yte, pred, len(classes))
    return {"accuracy": float(acc), "balanced_accuracy": float(bacc), "seconds": time.perf_counter() - t0, **extra}


def run_classify_benchmark(out_dir: str | os.PathLike, *, sets: Sequence[str] | None = None, quick: bool = False,
                           methods: Sequence[str] | None = None, seed: int = 0, lstm_options: dict | None = None,
                           resume: bool = False, reuse: Sequence[str | os.PathLike] = (), progress: bool = True,
                           command: str = "",
                           log: Callable[[str], None] | None = print) -> dict:
    """Run the classification benchmark and write its files into ``out_dir``.

    Args:
        out_dir: an lstmkit benchmark directory (created; a non-empty folder of the user's
            is refused before any work).
        sets: data set names (default: every one installed; ``quick``: :data:`lstmkit.data.benchmark_sets.QUICK_SETS`).
        quick: the CI subset with :data:`QUICK_LSTM` (a check that everything runs, not a result).
        methods: a subset of :data:`CLASSIFY_METHODS` (default all).
        seed: the one seed of every method.
        lstm_options: keyword arguments for :func:`lstmkit.apps.classify.train_classifier`
            (default none: the DEFAULT settings).
        resume: keep the results already in ``out_dir`` (per data set and method) from a run
            with the same settings (the baselines' depend on the seed only).
        reuse: other benchmark directories whose results with the same settings are taken
            as they are (a run of the baselines alone, then one of the LSTM alone).
        progress: a bar over the (data set, method) runs.
        command: the command line, recorded in the summary.
        log: called with one line per finished data set (None: silent).

    Returns:
        the summary dict (also ``summary.json``).

    Example:
        >>> import tempfile, os
        >>> s = run_classify_benchmark(os.path.join(tempfile.mkdtemp(), "b"), sets=["UnitTest"],
        ...                            methods=["1nn-euclidean", "1nn-dtw"], progress=False, log=None)
        >>> sorted(s["mean_accuracy"])
        ['1nn-dtw', '1nn-euclidean']
    """
    from ..data.benchmark_sets import QUICK_SETS, classification_set_names, load_classification_set
    from ..io import claim_dir, read_manifest, register_files, write_json, atomic_write_text
    from ..progress import progress_bar

    methods = list(CLASSIFY_METHODS if methods is None else methods)
    bad = [m for m in methods if m not in CLASSIFY_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be some of {', '.join(CLASSIFY_METHODS)}, got {', '.join(bad) or 'none'}")
    available = classification_set_names()
    if sets is None:
        sets = list(QUICK_SETS) if quick else available
    unknown = [s for s in sets if s not in available]
    if unknown:
        raise ValueError(f"unknown data set(s) {', '.join(unknown)}; installed: {', '.join(available)}")
    if not sets:
        raise ValueError("no data sets to run: install aeon (pip install 'lstmkit[classify]')")
    opts = dict(QUICK_LSTM if quick else {})
    opts.update(lstm_options or {})
    out, _ = claim_dir(out_dir, "benchmark", "benchmark directory")
    settings = {"seed": seed, "quick": quick, "lstm_options": opts}

    def method_settings(m):  # what a method's result depends on (the baselines: not the LSTM's options)
        return json.loads(json.dumps({"seed": seed, **({"quick": quick, "lstm_options": opts} if m == OURS else {})}))

    def earlier(name, m):
        """A result of method ``m`` on ``name`` with the same settings, from ``out_dir`` (resume) or ``reuse``."""
        for d in ([out] if resume else []) + [Path(x) for x in (reuse or [])]:
            p = d / f"{name}.json"
            if p.is_file() and name + ".json" in ((read_manifest(d) or {}).get("files", {})):
                got = json.loads(p.read_text())["methods"].get(m)
                if got and "error" not in got and got.get("settings") == method_settings(m):
                    return got
        return None
    machine = machine_info()
    bar = progress_bar(len(sets) * len(methods), "benchmark classify", "run", enabled=progress)

    def info_of(name, train):
        if train is not None:
            return dict(train.info)
        for d in ([out] if resume else []) + [Path(x) for x in (reuse or [])]:
            if (d / f"{name}.json").is_file():
                return json.loads((d / f"{name}.json").read_text())["info"]
        return load_classification_set(name)[2]  # pragma: no cover
    results = []
    for name in sets:
        train = test = None
        r = None
        for m in methods:
            if bar:
                bar.set_postfix_str(f"{name} {m}")
            got = earlier(name, m)
            if got is None:
                if train is None:
                    train, test, info = load_classification_set(name)
                try:
                    got = {**_run_method(m, train, test, seed, opts), "settings": method_settings(m)}
                except (ValueError, RuntimeError, MemoryError) as e:  # one failed method is reported, not fatal
                    got = {"error": " ".join(str(e).split())[:300]}
            if r is None:
                r = {"info": info_of(name, train), "seed": seed, "settings": settings, "methods": {}}
            r["methods"][m] = got
            if bar:
                bar.update()
        write_json(out / f"{name}.json", r, indent=2)
        atomic_write_text(out / f"{name}.md", _set_markdown(r))
        register_files(out, [f"{name}.json", f"{name}.md"])
        results.append(r)
        if log:
            log(f"{name}: " + "  ".join(f"{m} {_fmt(r['methods'][m].get('accuracy'))}" for m in methods))
    if bar:
        bar.close()
    summary = _summarise(results, methods, seed, command, machine, settings)
    ranked = len(methods) > 1 and summary["sets"]
    return write_summary(out, summary, format_summary(summary), ranks=summary["mean_rank"] if ranked else None,
                         title="classification benchmark: mean rank (accuracy)", n_sets=len(summary["sets"]))


def _summarise(results: list[dict], methods: list[str], seed: int, command: str, machine: dict, settings: dict) -> dict:
    ok = [r for r in results if all("error" not in r["methods"][m] for m in methods)]
    failed = [r["info"]["name"] for r in results if r not in ok]
    rows = [{"name": r["info"]["name"], "accuracy": {m: r["methods"][m]["accuracy"] for m in methods},
             "balanced_accuracy": {m: r["methods"][m]["balanced_accuracy"] for m in methods},
             "seconds": {m: r["methods"][m]["seconds"] for m in methods}} for r in ok]
    acc = {m: [row["accuracy"][m] for row in rows] for m in methods}
    summary = {"seed": seed, "command": command, "machine": machine, "settings": settings, "methods": methods,
               "sets": rows, "failed": failed,
               "mean_accuracy": {m: float(np.mean(acc[m])) if rows else None for m in methods},
               "mean_balanced_accuracy": {m: float(np.mean([row["balanced_accuracy"][m] for row in rows]))
                                          if rows else None for m in methods},
               "mean_rank": mean_ranks(acc) if rows else {m: None for m in methods},
               "win_tie_loss": {}}
    if OURS in methods and rows:
        # ties at the resolution of the test set: the same number of sequences right
        for b in methods:
            if b != OURS:
                tol = np.array([0.5 / r["info"]["n_test"] for r in ok])
                d = np.array(acc[OURS]) - np.array(acc[b])
                summary["win_tie_loss"][b] = {"win": int((d > tol).sum()), "tie": int((np.abs(d) <= tol).sum()),
                                              "loss": int((d < -tol).sum())}
    return summary
