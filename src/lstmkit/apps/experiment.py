"""Run a configured experiment (:mod:`lstmkit.tasks.registry`) over variants and seeds.

The experiment runner joins a task to a model, so it sits above ``models`` (the trainer
below it, :mod:`lstmkit.train`, knows neither models nor plots: the learning curves are
drawn by the plotting hook passed from here).

For each (variant, seed): seed torch, build the model, train to the task's criterion or
the budget, test on fresh data; then summarise beside the paper's figures. Every run
writes ``result.json``, ``curve.png`` and its checkpoint under
``<out>/<experiment>/<variant>/seed<k>/``; the summary goes to
``<out>/<experiment>/summary.json`` and ``summary.png``.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import torch

from ..io import atomic_write_text, claim_dir, register_files
from ..models.sequence import SequenceModel, describe_model, parse_model_name
from ..models.xlstm import parse_xlstm_name, xLSTMSequenceModel
from ..tasks.registry import get_experiment
from ..train.distributed import world_info
from ..train.trainer import TrainConfig, Trainer
from .runfiles import write_report_files

__all__ = ["run_experiment", "summarise", "format_table", "set_input_gate_bias", "set_gate_bias",
           "resolve_model_name", "plot_curve"]


def run_experiment(name: str, variants=None, seeds: int = 1, first_seed: int = 0, quick: bool = False,
                   out_dir: str | Path | None = "runs", progress: bool = True, resume: bool = False,
                   hidden: int | None = None, overrides: dict | None = None, log=print,
                   forget_bias: float | None = None, methods=None) -> dict:
    """Train and test experiment ``name`` for each variant and seed; return the summary.

    Args:
        name: an experiment of :data:`lstmkit.tasks.EXPERIMENTS`.
        variants: model names (LSTM presets, ``"elman"``, ``"gru"``); default: the
            experiment's own.
        seeds: how many seeds (``first_seed``, ``first_seed + 1``, ...).
        quick: the <= 1 minute configuration.
        out_dir: root of the run directories (None: write nothing).
        resume: continue each run from its checkpoint, if any.
        hidden: override the hidden size.
        forget_bias: override the experiment's initial forget-gate bias.
        overrides: TrainConfig fields to override.
        log: where one line per finished run goes (None: silent).
        methods: the training methods to run, of the experiment's own
            (``Experiment.methods``: gradient descent, Evolino, CMA-ES, DEKF; see
            :mod:`lstmkit.apps.experiment_methods`); default all of them. Each model runs
            with each method, its rows named ``"<variant>/<method>"``.

    Returns:
        ``{"experiment", "quick", "rows": [per-variant summary], "runs": [per-run
        results without their curves], "published": [...]}``.

    Example:
        >>> s = run_experiment("parity", variants=["vanilla"], quick=True, out_dir=None, progress=False,
        ...                    overrides={"max_seconds": 2}, log=None)
        >>> s["rows"][0]["model"], s["rows"][0]["seeds"]
        ('LSTM (vanilla)', 1)
    """
    exp = get_experiment(name)
    variants = list(variants) if variants else list(exp.variants)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1):
        raise ValueError(f"hidden must be a positive int or None, got {hidden!r}")
    if forget_bias is not None and (isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float))
                                    or not math.isfinite(forget_bias)):
        raise ValueError(f"forget_bias must be a finite number or None, got {forget_bias!r}")
    for v in variants:
        resolve_model_name(v)  # an unknown name fails now, not after the first variant's runs
    all_methods = exp.method_options(quick)
    if methods is not None:
        unknown = [m for m in methods if m not in all_methods]
        if unknown or not methods:
            raise ValueError(f"methods must be a non-empty list of the experiment's methods {list(all_methods)}, "
                             f"got {list(methods)!r}")
    chosen = list(all_methods) if methods is None else list(methods)
    hidden = exp.hidden if hidden is None else hidden
    task = exp.make_task(quick)
    # A checkpoint every 500 updates: a killed run loses little and `--resume` continues it.
    fields = {"checkpoint_every": 500, **exp.train_fields(quick), "progress": progress, **(overrides or {})}
    root = Path(out_dir) / (name + ("-quick" if quick else "")) if out_dir is not None else None
    main_process = world_info()[0] == 0  # under torchrun only rank 0 logs and writes the summary
    if not main_process:
        log = None
    elif root is not None:  # a non-empty foreign directory is refused now, before any training
        claim_dir(root, "run", "experiment directory")
    results = []
    for v, method in [(v, m) for v in variants for m in chosen]:
        cell, preset, description = resolve_model_name(v)
        key = v if exp.methods is None else f"{v}/{method}"
        for k in range(seeds):
            seed = first_seed + k
            if method != "gradient":  # Evolino, CMA-ES, DEKF (apps/experiment_methods.py)
                from .experiment_methods import method_label, run_method

                run_dir = root / key.replace("/", "-") / f"seed{seed}" if root is not None else None
                meta = {"experiment": name, "variant": key, "model": f"{description}, {method_label(method)}",
                        "method": method, "hidden": hidden, "label": f"{key} seed {seed}", "quick": quick,
                        "threads": torch.get_num_threads()}
                # --max-seconds / --max-sequences budget every method's run, as the trainer's
                mopts = {**all_methods[method], **{k: (overrides or {})[k] for k in ("max_seconds",)
                                                   if k in (overrides or {})}}
                if method == "dekf" and "max_sequences" in (overrides or {}):
                    mopts["max_sequences"] = overrides["max_sequences"]
                r = run_method(method, task, cell=cell, preset=preset, hidden=hidden, seed=seed,
                               options=mopts, meta=meta,
                               model_kwargs={"forget_bias": model_fb(exp, forget_bias)})
                if run_dir is not None and main_process:
                    claim_dir(run_dir, "run", "run directory")
                    atomic_write_text(run_dir / "result.json", json.dumps(r, indent=1, default=str))
                    register_files(run_dir, ["result.json"])
                results.append(r)
                if log is not None:
                    log(_one_line(r))
                continue
            cfg = TrainConfig.from_dict({**fields, "seed": seed})
            torch.manual_seed(seed)
            if cell == "xlstm":  # an xLSTM stack, the paper's xLSTM[m:s] (models/xlstm.py)
                model = xLSTMSequenceModel(task.input_size, output_size=task.output_size, ratio=preset,
                                           readout=task.readout, embed=exp.embed is not None,
                                           **{"embedding_dim": hidden, **(exp.xlstm or {})})
            else:
                model = SequenceModel(task.input_size, hidden, task.output_size, cell=cell,
                                      variant=preset or "vanilla", readout=task.readout,
                                      forget_bias=exp.forget_bias if forget_bias is None else forget_bias,
                                      skip=exp.skip, embed=exp.embed,
                                      truncated_gradient=exp.truncated_gradient and cell == "lstm")
            if cell == "lstm" and exp.input_bias is not None:
                set_input_gate_bias(model.rnn, exp.input_bias)
            if cell == "lstm" and exp.gate_biases:
                for gate, value in exp.gate_biases.items():
                    set_gate_bias(model.rnn, gate, value)
            run_dir = root / key.replace("/", "-") / f"seed{seed}" if root is not None else None
            meta = {"experiment": name, "variant": key,
                    "model": description + ("" if exp.methods is None else ", gradient descent"),
                    "hidden": hidden, "forget_bias": model_fb(exp, forget_bias), "skip": exp.skip, "embed": exp.embed, "input_bias": exp.input_bias if cell == "lstm" else None,
                    "gate_biases": exp.gate_biases if cell == "lstm" else None,
                    "truncated_gradient": exp.truncated_gradient and cell == "lstm",
                    "xlstm": {"embedding_dim": hidden, **(exp.xlstm or {})} if cell == "xlstm" else None,
                    "label": f"{key} seed {seed}", "quick": quick,
                    "threads": torch.get_num_threads()}
            r = Trainer(model, task, cfg, run_dir=run_dir, meta=meta, plot=plot_curve).fit(resume=resume)
            results.append(r)
            if log is not None:
                log(_one_line(r))
    summary = summarise(name, task, results, quick)
    if root is not None and main_process:
        write_report_files(root, {"summary.json": json.dumps(summary, indent=1, default=str)},
                           {"summary.png": lambda p: plot_curve(results, p, title=f"{name}: {task.title}")})
        summary["dir"] = str(root)
    return summary


def resolve_model_name(name: str) -> tuple[str, str | None, str]:
    """The family (``"lstm"``, ``"gru"``, ``"elman"``), the LSTM preset (None for other
    families) and the description in words of an experiment's model name; the one place
    the runner reads model names (an unknown name raises ValueError listing the known ones).

    Args:
        name: an LSTM preset (``"vanilla"``, ``"cifg"``, ...), ``"elman"`` or ``"gru"``,
            or an xLSTM stack ``"xlstm[m:s]"`` (the paper's notation).

    Example:
        >>> resolve_model_name("gru")
        ('gru', None, 'GRU')
    """
    ms = parse_xlstm_name(name)
    if ms is not None:  # "xlstm[m:s]": an xLSTM stack (models/xlstm.py), not a family
        return "xlstm", f"{ms[0]}:{ms[1]}", f"xLSTM[{ms[0]}:{ms[1]}]"
    cell, preset = parse_model_name(name)
    return cell, preset, describe_model(cell, preset)


def plot_curve(results, path, **kw) -> None:
    """Draw learning curves with :func:`lstmkit.viz.curves.plot_learning_curve` (the plotting
    hook the runner gives the trainer); ImportError without matplotlib.

    Args:
        results: one run's result dict, or a list of them.
        path: the PNG to write. **kw: passed on (``title``).
    """
    from ..viz.curves import plot_learning_curve

    plot_learning_curve(results, path, **kw)


def set_input_gate_bias(lstm, value: float) -> None:
    """Set the input-gate bias of every layer of ``lstm`` (an :class:`lstmkit.LSTM`) to
    ``value`` (bias_ih's i block = value, bias_hh's = 0); variants without an input gate,
    or whose forget gate is 1 - input gate (cifg), are left alone.

    Example:
        >>> from lstmkit import LSTM
        >>> m = LSTM(2, 3, variant="vanilla")
        >>> set_input_gate_bias(m, -3.0)
        >>> m.bias_ih_l0[m.specs[0].gate_slice("i")].tolist()
        [-3.0, -3.0, -3.0]
    """
    set_gate_bias(lstm, "i", value)


def set_gate_bias(lstm, gate: str, value) -> bool:
    """Set the initial bias of ``gate`` (``"i"``, ``"f"``, ``"o"`` or ``"g"``) in every
    layer of ``lstm`` (an :class:`lstmkit.LSTM`): bias_ih's block = ``value``, bias_hh's = 0.

    ``value`` is one number for every unit, or a sequence of numbers, one per *block* of
    adjacent units: with hidden size H and k values, each value covers H / k units (k must
    divide H). This is how Gers et al. 2000 initialised their 4 blocks of 2 cells: input
    and output gate biases -0.5, -1, -1.5, -2 and forget-gate biases +0.5, +1, +1.5, +2,
    one per block (a cell's gates are per unit here, so a block's two units share the
    value). Returns False, and changes nothing, if the variant has no such gate (the 1997
    cell has no forget gate) or the gate is tied to another (cifg's f = 1 - i).

    Raises:
        ValueError: unknown ``gate``, or ``value``'s length does not divide the hidden size.
        TypeError: ``value`` is not a number or a sequence of numbers.

    Example:
        >>> from lstmkit import LSTM
        >>> m = LSTM(2, 4, variant="standard")
        >>> set_gate_bias(m, "o", [-0.5, -1.0])
        True
        >>> m.bias_ih_l0[m.specs[0].gate_slice("o")].tolist()
        [-0.5, -0.5, -1.0, -1.0]
        >>> set_gate_bias(LSTM(2, 4, variant="hochreiter1997"), "f", 1.0)
        False
    """
    if gate not in ("i", "f", "g", "o"):
        raise ValueError(f"gate must be one of 'i', 'f', 'g', 'o', got {gate!r}")
    if isinstance(value, bool):
        raise TypeError(f"value must be a number or a sequence of numbers, got {value!r}")
    if isinstance(value, (int, float)):
        values = [float(value)]
    elif isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        values = [float(v) for v in value]
    else:
        raise TypeError(f"value must be a number or a non-empty sequence of numbers, got {value!r}")
    changed = False
    with torch.no_grad():
        for spec, names in zip(lstm.specs, lstm._names):
            block = getattr(spec, "_block", {})
            if gate not in block or (gate in "if" and spec.variant.coupled_input_forget):
                continue
            full = dict(names)
            if "bias_ih" not in full:
                continue
            H = spec.hidden_size
            if H % len(values):
                raise ValueError(f"value has {len(values)} entries (one per block), which must divide the "
                                 f"hidden size {H}")
            per = torch.tensor(values).repeat_interleave(H // len(values))
            s = spec.gate_slice(gate)
            getattr(lstm, full["bias_ih"])[s] = per
            getattr(lstm, full["bias_hh"])[s] = 0.0
            changed = True
    return changed


def model_fb(exp, forget_bias):
    """The initial forget-gate bias a run uses (None: the layer's default)."""
    return exp.forget_bias if forget_bias is None else forget_bias


def _one_line(r: dict) -> str:
    test = r.get("test") or {}
    extra = ""
    if "generalisation" in test:
        extra = f", generalises to n={test['generalisation']}"
    elif "nrmse" in test:
        extra = f", free-running NRMSE {test['nrmse']:.3g}" + (
            f", NRMSE84 {test['nrmse84']:.3g}" if "nrmse84" in test else "")
    elif "mean_error_free_length" in test:
        extra = f", mean error-free length {test['mean_error_free_length']:,.0f}"
    met = (f"criterion met after {r['solved_at']['sequences']:,} {r['units']}" if r["solved"]
           else "criterion not met")
    return (f"  {r['meta']['variant']:>14s} seed {r['seed']}: {met}; trained on {r['sequences']:,} "
            f"({r['stop_reason']}), {r['wall_seconds']:.0f} s; test {test.get('wrong', '?')}/{test.get('n', '?')} "
            f"wrong{extra}")


def _median(xs):
    return statistics.median(xs) if xs else None


def summarise(name: str, task, results: list[dict], quick: bool = False) -> dict:
    """Per-variant summary rows (success rate, median sequences to success, wall time,
    test figures) and the paper's rows.

    Example:
        >>> from lstmkit.tasks import get_task
        >>> r = {"meta": {"variant": "vanilla", "model": "LSTM (vanilla)"}, "solved": True, "seed": 0,
        ...      "solved_at": {"sequences": 100}, "sequences": 100, "wall_seconds": 2.0, "units": "sequences",
        ...      "test": {"wrong": 0, "n": 10, "right": 1.0}, "parameters": 10}
        >>> summarise("parity", get_task("parity"), [r])["rows"][0]["success"]
        '1/1'
    """
    rows = []
    by_variant: dict[str, list[dict]] = {}
    for r in results:
        by_variant.setdefault(r["meta"]["variant"], []).append(r)
    for v, rs in by_variant.items():
        solved = [r for r in rs if r["solved"]]
        tests = [r.get("test") or {} for r in rs]
        row = {
            "variant": v, "model": rs[0]["meta"]["model"], "seeds": len(rs),
            "success": f"{len(solved)}/{len(rs)}",
            "median_to_success": _median([r["solved_at"]["sequences"] for r in solved]),
            "median_seconds": _median([r["wall_seconds"] for r in rs]),
            "median_test_wrong": _median([t["wrong"] for t in tests if "wrong" in t]),
            "test_n": tests[0].get("n") if tests else None,
            "units": rs[0]["units"], "parameters": rs[0].get("parameters"),
            "training": _training(rs[0].get("config", {}))
                        + (", truncated gradient" if rs[0]["meta"].get("truncated_gradient") else ""),
            "per_seed": [{"seed": r["seed"], "solved": r["solved"], "sequences": r["sequences"],
                          "to_success": r["solved_at"]["sequences"] if r["solved"] else None,
                          "seconds": r["wall_seconds"],
                          "test": {k: x for k, x in (r.get("test") or {}).items() if not isinstance(x, list)}}
                         for r in rs],
        }
        if any("generalisation" in t for t in tests):
            row["generalisation"] = [t.get("generalisation") for t in tests]
        if any("mean_error_free_length" in t for t in tests):
            row["perfect"] = sum(bool(t.get("perfect")) for t in tests)
            row["good"] = sum(bool(t.get("good")) for t in tests)
            row["mean_error_free_length"] = [t.get("mean_error_free_length") for t in tests]
        if any("nrmse" in t for t in tests):
            row["nrmse"] = [t.get("nrmse") for t in tests]
            if any("nrmse84" in t for t in tests):
                row["nrmse84"] = [t.get("nrmse84") for t in tests]
        if any("max_abs_cell_state" in t for t in tests):
            # the state-drift diagnostic (ContinualReber.cell_state_drift): max |c| after the
            # first 1,000 test symbols and over the whole test stream, per seed
            row["cell_state_at_1000"] = [t.get("cell_state_at_1000") for t in tests]
            row["max_abs_cell_state"] = [t.get("max_abs_cell_state") for t in tests]
        rows.append(row)
    return {
        "experiment": name, "title": task.title, "paper": task.paper, "task": task.config(), "quick": quick,
        "criterion": task.criterion, "rows": rows,
        "published": [p.__dict__ for p in task.published],
        "runs": [{k: x for k, x in r.items() if k not in ("history",)} for r in results],
        "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def _training(cfg: dict) -> str:
    """``"minibatch 16, Adam"`` / ``"online, SGD"``: how a run was trained, in words."""
    if cfg.get("method") and cfg["method"] != "gradient":
        return str(cfg["method"])
    opt = "Adam" if cfg.get("optimizer") == "adam" else "SGD"
    b = cfg.get("batch_size", 1)
    return f"online, {opt}" if b == 1 else f"minibatch {b}, {opt}"


def _fmt_int(x) -> str:
    return "-" if x is None else f"{int(round(x)):,}"


def _fmt_c(x) -> str:
    return "-" if x is None else f"{x:,.1f}"


def format_table(summary: dict) -> str:
    """The summary as a Markdown table: our rows, then the paper's.

    Example:
        >>> print(format_table({"title": "T", "paper": "P", "criterion": "c", "rows": [], "published": []}).splitlines()[0])
        ### T (P)
    """
    lines = [f"### {summary['title']} ({summary['paper']})", "", f"Criterion: {summary['criterion']}.", ""]
    lines.append("| who | model | success | sequences to success (median) | wall time (median) | test wrong | notes |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in summary["rows"]:
        notes = []
        if "generalisation" in r:
            notes.append("generalises to n = " + ", ".join(str(g) for g in r["generalisation"]))
        if "nrmse" in r:
            notes.append("test NRMSE " + ", ".join(f"{x:.3g}" for x in r["nrmse"] if x is not None))
        if "nrmse84" in r:
            notes.append("NRMSE84 " + ", ".join(f"{x:.3g}" for x in r["nrmse84"] if x is not None))
        if "perfect" in r:
            notes.append(f"perfect {r['perfect']}/{r['seeds']}, good {r['good']}/{r['seeds']}; mean error-free "
                         "length " + ", ".join(_fmt_int(x) for x in r["mean_error_free_length"]))
        if "max_abs_cell_state" in r:
            notes.append("max abs cell state after 1,000 -> over all test symbols: " + ", ".join(
                f"{_fmt_c(a)} -> {_fmt_c(b)}" for a, b in zip(r["cell_state_at_1000"], r["max_abs_cell_state"])))
        units = r.get("units", "sequences")
        to = _fmt_int(r["median_to_success"]) + ("" if units == "sequences" else f" {units}")
        secs = "-" if r["median_seconds"] is None else f"{r['median_seconds']:.0f} s"
        wrong = "-" if r["median_test_wrong"] is None else f"{_fmt_int(r['median_test_wrong'])}/{r['test_n']}"
        lines.append(f"| ours ({r.get('training', 'minibatch, Adam')}) | {r['model']} | {r['success']} seeds | {to} | "
                     f"{secs} | {wrong} | "
                     f"{'; '.join(notes)} |")
    for p in summary["published"]:
        lines.append(f"| paper | {p['setting']} | {p['success']} | {p['sequences']} | | | {p['note']} |")
    return "\n".join(lines)
