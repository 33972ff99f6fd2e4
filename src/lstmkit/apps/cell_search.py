"""Evolving the cell (Bayer, Wierstra, Togelius & Schmidhuber 2009; Jozefowicz, Zaremba &
Sutskever 2015): a search over cell structures scored by learning formal languages within
a budget, the best cells retrained on fresh seeds, and the forget-gate-bias finding.

The search space has two parts: the Greff switches of :class:`lstmkit.LSTMVariant` (every
valid combination of input/forget/output gates, peepholes, coupled gates, activations,
full gate recurrence) and the small gated cell graphs of
:class:`lstmkit.cells.cell_graph.CellGraph` (Jozefowicz's MUT1-MUT3 and GRU are points of
it). A candidate is scored by training it (Adam, minibatch 32) on each task until the
task's criterion or the budget of sequences: a solved task scores 1 + the unused fraction
of its budget, an unsolved one the best fraction right in its checks; the score is the
mean over tasks. The search starts from the named presets, then mutates the best (one
switch at a time), then retrains the best few on fresh seeds.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from ..cells.cell_graph import CELL_GRAPH_PRESETS, CellGraph
from ..io import claim_dir
from ..models.sequence import SequenceModel
from ..tasks import get_task
from ..train.trainer import TrainConfig, Trainer
from ..variants import PRESETS, LSTMVariant
from .runfiles import write_report_files

__all__ = ["Candidate", "SEARCH_TASKS", "score_candidate", "mutate", "run_cell_search", "run_forget_bias",
           "format_cell_search", "format_forget_bias", "PAPER_CELLS"]

# The formal languages a candidate is scored on, small enough for a search on a shared CPU.
SEARCH_TASKS = {
    "parity": ("parity", {"L": 10}),
    "anbn": ("counting", {"letters": 2, "train_max": 10, "test_max": 30}),
    "reber": ("reber", {}),
    "parity30": ("parity", {"L": 30}),
}

PAPER_CELLS = (
    {"who": "Jozefowicz, Zaremba & Sutskever 2015", "result": "MUT1-MUT3 matched or beat the GRU and LSTM on "
     "most of their tasks; an LSTM with forget-gate bias 1 closed most of the gap to the GRU", "verified": False},
    {"who": "Bayer, Wierstra, Togelius & Schmidhuber 2009", "result": "evolved memory-cell structures learned "
     "context-sensitive languages (a^n b^n c^n) comparably to or better than the LSTM", "verified": False},
)


class Candidate:
    """One point of the search space: ``("lstm", LSTMVariant)``, ``("cell_graph", CellGraph)``
    or ``("gru", None)``, with its initial forget-gate bias.

    Example:
        >>> c = Candidate("cell_graph", CellGraph.preset("mut1"))
        >>> c.key
        'cell_graph:mut1'
        >>> Candidate.from_key(c.key).genome == c.genome
        True
    """

    def __init__(self, family: str, genome=None, forget_bias: float | None = None) -> None:
        if family not in ("lstm", "cell_graph", "gru"):
            raise ValueError(f"family must be 'lstm', 'cell_graph' or 'gru', got {family!r}")
        self.family, self.genome, self.forget_bias = family, genome, forget_bias

    @property
    def key(self) -> str:
        if self.family == "gru":
            base = "gru"
        else:
            name = self.genome.name
            # a cell without a preset name: the switches that differ from the default cell
            default = type(self.genome)().to_dict()
            base = f"{self.family}:{name}" if name else f"{self.family}:" + ",".join(
                f"{k}={v}" for k, v in self.genome.to_dict().items() if default[k] != v)
        return base if self.forget_bias is None else f"{base}@fb{self.forget_bias:g}"

    @classmethod
    def from_key(cls, key: str) -> "Candidate":
        fb = None
        if "@fb" in key:
            key, f = key.split("@fb")
            fb = float(f)
        if key == "gru":
            return cls("gru", None, fb)
        family, rest = key.split(":", 1)
        kind = LSTMVariant if family == "lstm" else CellGraph
        if "=" not in rest:
            return cls(family, kind.preset(rest), fb)
        d = kind().to_dict()
        for item in rest.split(","):
            k, v = item.split("=")
            d[k] = v == "True" if v in ("True", "False") else v
        return cls(family, kind.from_dict(d), fb)

    def model(self, task, hidden: int) -> SequenceModel:
        if self.family == "gru":
            return SequenceModel(task.input_size, hidden, task.output_size, cell="gru", readout=task.readout)
        return SequenceModel(task.input_size, hidden, task.output_size, cell=self.family, variant=self.genome,
                             readout=task.readout, forget_bias=self.forget_bias)


def mutate(c: Candidate, rng: np.random.Generator) -> Candidate:
    """A copy of ``c`` with one switch changed (a valid one: invalid combinations are
    redrawn).

    Example:
        >>> import numpy as np
        >>> m = mutate(Candidate("lstm", LSTMVariant.preset("vanilla")), np.random.default_rng(0))
        >>> m.genome != LSTMVariant.preset("vanilla")
        True
    """
    if c.family == "gru":
        return Candidate("cell_graph", CellGraph.preset("jgru"), c.forget_bias)
    options = {
        "lstm": {f.name: ([False, True] if f.type in ("bool", bool) else ["tanh", "identity"])
                 for f in fields(LSTMVariant)},
        "cell_graph": {"update_recurrence": ["none", "h", "tanh_h"], "reset_input": ["linear", "identity"],
                       "reset_recurrence": [False, True], "candidate_input": ["linear", "tanh_identity"]},
    }[c.family]
    names = sorted(options)
    for _ in range(100):
        k = names[int(rng.integers(len(names)))]
        values = [v for v in options[k] if v != getattr(c.genome, k)]
        v = values[int(rng.integers(len(values)))]
        try:
            return Candidate(c.family, c.genome.replace(**{k: v}), c.forget_bias)
        except ValueError:
            continue
    return c


def score_candidate(c: Candidate, tasks=("parity", "anbn"), budget: int = 12_000, seed: int = 0, hidden: int = 8,
                    max_seconds: float = 120.0) -> dict:
    """Train ``c`` on each task (a fresh model per task, seed ``seed``) until the task's
    criterion or ``budget`` sequences; returns ``{"score", "tasks": {name: {"solved",
    "sequences", "best_right", "score"}}, "seconds"}``.

    Example:
        >>> r = score_candidate(Candidate("gru"), tasks=("parity",), budget=64)
        >>> sorted(r["tasks"])
        ['parity']
    """
    out, t0 = {}, time.perf_counter()
    for name in tasks:
        kind, params = SEARCH_TASKS[name]
        task = get_task(kind, **params)
        torch.manual_seed(seed)
        model = c.model(task, hidden)
        cfg = TrainConfig(lr=0.01, batch_size=32, eval_every=20, max_sequences=budget, max_seconds=max_seconds,
                          progress=False, final_test=False, seed=seed, log_every=20)
        r = Trainer(model, task, cfg).fit()
        best = max((ch.get("right", 0.0) for ch in r.get("checks", [])), default=0.0)
        seqs = r["solved_at"]["sequences"] if r["solved"] else None
        s = 1.0 + (1.0 - seqs / budget) if r["solved"] else float(best)
        out[name] = {"solved": bool(r["solved"]), "sequences": seqs, "best_right": float(best), "score": s}
    return {"score": statistics.mean(t["score"] for t in out.values()), "tasks": out,
            "seconds": time.perf_counter() - t0}


def _start_population(quick: bool) -> list[Candidate]:
    if quick:
        return [Candidate("lstm", PRESETS["vanilla"]), Candidate("cell_graph", CELL_GRAPH_PRESETS["mut1"]),
                Candidate("gru")]
    # the cell graphs and the GRU first: a search cut short by its time cap still scores them
    graphs = [Candidate("cell_graph", CELL_GRAPH_PRESETS[n]) for n in ("mut1", "mut2", "mut3", "jgru")]
    lstm = [Candidate("lstm", PRESETS[n]) for n in ("standard", "vanilla", "nig", "nfg", "cifg", "fgr")]
    return graphs + [Candidate("gru")] + lstm


def run_cell_search(models=None, seeds: int = 3, first_seed: int = 0, quick: bool = False,
                    out_dir: str | Path | None = "runs", budget: int | None = None, seconds: float | None = None,
                    mutants: int | None = None, top: int | None = None, tasks=None, progress: bool = False,
                    log=print) -> dict:
    """The search: score the presets (or ``models``, candidate keys), mutate the best,
    retrain the ``top`` best on ``seeds`` fresh seeds.

    Args:
        models: candidate keys to start from (``"lstm:vanilla"``, ``"cell_graph:mut1"``,
            ``"gru"``, or a preset name); default: the LSTM presets, MUT1-3, jgru and GRU.
        seeds: fresh seeds for the retraining (``first_seed + 1000 ..``; the search uses ``first_seed``).
        budget: sequences per task (default 12,000; quick 3,000).
        seconds: the time cap of the search phase (the presets and mutants; default 480 s;
            quick 40 s); the retraining of the best comes after it.
        mutants: mutants of the best (default 6; quick 1). top: cells retrained (default 3; quick 1).
        tasks: task names of :data:`SEARCH_TASKS` (default parity and anbn).

    Example:
        >>> s = run_cell_search(["gru"], seeds=1, quick=True, out_dir=None, budget=64, mutants=0, log=None)
        >>> s["best"][0]["key"]
        'gru'
    """
    budget = budget or (3000 if quick else 12_000)
    cap = seconds or (40.0 if quick else 480.0)
    mutants = (1 if quick else 6) if mutants is None else mutants
    top = top or (1 if quick else 3)
    tasks = tuple(tasks or ("parity", "anbn"))
    rng = np.random.default_rng(first_seed)
    population = [_candidate(m) for m in models] if models else _start_population(quick)
    root = None
    if out_dir is not None:
        root = Path(out_dir) / ("cell-search" + ("-quick" if quick else ""))
        claim_dir(root, "run", "experiment directory")
    t0 = time.perf_counter()
    scored: dict[str, dict] = {}

    def evaluate(c: Candidate, origin: str):
        if c.key in scored or time.perf_counter() - t0 > cap:
            return
        r = score_candidate(c, tasks, budget, seed=first_seed)
        scored[c.key] = {"key": c.key, "origin": origin, **r}
        if log is not None:
            per = ", ".join(f"{k} {'solved at ' + format(v['sequences'], ',') if v['solved'] else 'best %.2f' % v['best_right']}"
                            for k, v in r["tasks"].items())
            log(f"  {c.key}: score {r['score']:.3f} ({per}; {r['seconds']:.0f} s)")

    for c in population:
        evaluate(c, "preset")
    ranked = sorted(scored.values(), key=lambda r: -r["score"])
    parents = [Candidate.from_key(r["key"]) for r in ranked[:2]]
    for k in range(mutants):
        if not parents:
            break
        evaluate(mutate(parents[k % len(parents)], rng), f"mutant of {parents[k % len(parents)].key}")
    ranked = sorted(scored.values(), key=lambda r: -r["score"])
    best = []
    for r in ranked[:top]:
        c = Candidate.from_key(r["key"])
        retrain = [score_candidate(c, tasks, budget, seed=first_seed + 1000 + k) for k in range(seeds)]
        row = {"key": r["key"], "origin": r["origin"], "search_score": r["score"],
               "retrain_scores": [x["score"] for x in retrain],
               "retrain_solved": {t: sum(x["tasks"][t]["solved"] for x in retrain) for t in tasks},
               "retrain_median_sequences": {t: _median([x["tasks"][t]["sequences"] for x in retrain
                                                        if x["tasks"][t]["solved"]]) for t in tasks},
               "seeds": seeds}
        best.append(row)
        if log is not None:
            log(f"  retrained {r['key']} on {seeds} fresh seeds: scores "
                + ", ".join(f"{s:.2f}" for s in row["retrain_scores"]))
    summary = {"experiment": "cell-search", "title": "Evolving the cell: LSTM switches and Jozefowicz's cell graphs "
               "scored on formal languages", "quick": quick, "tasks": list(tasks), "budget": budget,
               "hidden": 8, "search_seconds": cap, "scored": ranked, "best": best, "paper": list(PAPER_CELLS),
               "threads": torch.get_num_threads(), "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if root is not None:
        write_report_files(root, {"summary.json": json.dumps(summary, indent=1, default=str)})
        summary["dir"] = str(root)
    return summary


def _candidate(name: str) -> Candidate:
    if name in PRESETS:
        return Candidate("lstm", PRESETS[name])
    if name in CELL_GRAPH_PRESETS:
        return Candidate("cell_graph", CELL_GRAPH_PRESETS[name])
    if name in ("lstm", "standard"):
        return Candidate("lstm", PRESETS["standard"])
    try:
        return Candidate.from_key(name)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"unknown candidate {name!r}: {e}") from None


def run_forget_bias(models=None, seeds: int = 5, first_seed: int = 0, quick: bool = False,
                    out_dir: str | Path | None = "runs", budget: int | None = None, tasks=None,
                    progress: bool = False, log=print, seconds: float | None = None,
                    name: str = "forget-bias") -> dict:
    """Jozefowicz's finding: the LSTM with forget-gate bias 0 vs 1, beside the GRU, on the
    search tasks, over ``seeds`` seeds (success rate and median sequences to success).

    Args:
        models: candidate keys (default ``lstm:standard@fb0``, ``lstm:standard@fb1``, ``gru``).
        budget: sequences per task (default 12,000; quick 2,000).

    Example:
        >>> s = run_forget_bias(["gru"], seeds=1, quick=True, out_dir=None, budget=64, tasks=["parity"], log=None)
        >>> s["rows"][0]["key"]
        'gru'
    """
    budget = budget or (2000 if quick else 12_000)
    tasks = tuple(tasks or ("parity", "anbn"))
    keys = list(models or ("lstm:standard@fb0", "lstm:standard@fb1", "gru"))
    seeds = 1 if quick and seeds == 5 else seeds
    root = None
    if out_dir is not None:
        root = Path(out_dir) / (name + ("-quick" if quick else ""))
        claim_dir(root, "run", "experiment directory")
    rows = []
    for key in keys:
        c = _candidate(key)
        rs = [score_candidate(c, tasks, budget, seed=first_seed + k, max_seconds=seconds or 120.0)
              for k in range(seeds)]
        row = {"key": c.key, "seeds": seeds,
               "solved": {t: sum(r["tasks"][t]["solved"] for r in rs) for t in tasks},
               "median_sequences": {t: _median([r["tasks"][t]["sequences"] for r in rs if r["tasks"][t]["solved"]])
                                    for t in tasks},
               "mean_score": statistics.mean(r["score"] for r in rs)}
        rows.append(row)
        if log is not None:
            log(f"  {c.key}: " + ", ".join(f"{t} {row['solved'][t]}/{seeds}" for t in tasks)
                + f", mean score {row['mean_score']:.3f}")
    summary = {"experiment": name, "title": "Forget-gate bias 1 vs 0 in the LSTM, beside the GRU "
               "(Jozefowicz et al. 2015)", "quick": quick, "tasks": list(tasks), "budget": budget, "hidden": 8,
               "rows": rows, "paper": list(PAPER_CELLS[:1]), "threads": torch.get_num_threads(),
               "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if root is not None:
        write_report_files(root, {"summary.json": json.dumps(summary, indent=1, default=str)})
        summary["dir"] = str(root)
    return summary


def _short(key: str) -> str:
    """A candidate's key in its short form (only the switches that differ from the default)."""
    try:
        return Candidate.from_key(key).key
    except (ValueError, KeyError, TypeError):
        return key


def _median(xs):
    return statistics.median(xs) if xs else None


def _fi(x) -> str:
    return "-" if x is None else f"{int(round(x)):,}"


def format_cell_search(summary: dict) -> str:
    """The search as Markdown: every scored cell, then the retrained best.

    Example:
        >>> print(format_cell_search({"title": "T", "tasks": [], "budget": 1, "scored": [], "best": [],
        ...                           "paper": []}).splitlines()[0])
        ### T
    """
    tasks = summary["tasks"]
    lines = [f"### {summary['title']}", "", f"Budget {summary['budget']:,} sequences per task; score per task: "
             "1 + unused budget fraction if solved, else the best fraction right; mean over tasks.", "",
             "| cell | origin | score | " + " | ".join(f"{t}: sequences to success" for t in tasks) + " |",
             "|---|---|---|" + "---|" * len(tasks)]
    for r in summary["scored"]:
        lines.append(f"| {_short(r['key'])} | {r['origin']} | {r['score']:.3f} | " + " | ".join(
            _fi(r["tasks"][t]["sequences"]) if r["tasks"][t]["solved"] else f"not solved (best {r['tasks'][t]['best_right']:.2f})"
            for t in tasks) + " |")
    lines += ["", "Best cells retrained on fresh seeds:", "",
              "| cell | search score | fresh-seed scores | " + " | ".join(f"{t}: solved, median sequences" for t in tasks)
              + " |", "|---|---|---|" + "---|" * len(tasks)]
    for b in summary["best"]:
        lines.append(f"| {_short(b['key'])} | {b['search_score']:.3f} | " + ", ".join(f"{s:.2f}" for s in b["retrain_scores"])
                     + " | " + " | ".join(f"{b['retrain_solved'][t]}/{b['seeds']}, {_fi(b['retrain_median_sequences'][t])}"
                                         for t in tasks) + " |")
    for p in summary["paper"]:
        lines.append(f"\npaper: {p['who']}: {p['result']}{'' if p['verified'] else ' (unverified)'}")
    return "\n".join(lines)


def format_forget_bias(summary: dict) -> str:
    """The forget-bias comparison as Markdown.

    Example:
        >>> print(format_forget_bias({"title": "T", "tasks": [], "budget": 1, "rows": [], "paper": []}).splitlines()[0])
        ### T
    """
    tasks = summary["tasks"]
    lines = [f"### {summary['title']}", "", f"Budget {summary['budget']:,} sequences per task, hidden 8.", "",
             "| cell | " + " | ".join(f"{t}: solved, median sequences" for t in tasks) + " | mean score |",
             "|---|" + "---|" * len(tasks) + "---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['key']} | " + " | ".join(f"{r['solved'][t]}/{r['seeds']}, {_fi(r['median_sequences'][t])}"
                                                   for t in tasks) + f" | {r['mean_score']:.3f} |")
    for p in summary["paper"]:
        lines.append(f"\npaper: {p['who']}: {p['result']}{'' if p['verified'] else ' (unverified)'}")
    return "\n".join(lines)
