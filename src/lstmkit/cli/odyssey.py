"""``lstmkit odyssey``: a small-scale "LSTM: A Search Space Odyssey" (Greff et al. 2015).

Vanilla LSTM and its eight one-change variants (NIG, NFG, NOG, NIAF, NOAF, NP, CIFG, FGR)
trained with the same budget on two classic tasks, N seeds each; the test loss of each
run on fresh data. Prints a table (median test loss, ratio to vanilla, fraction right)
and writes a box plot per task. Greff found that no variant beats vanilla significantly,
that CIFG and NP do not hurt, and that NFG and NOAF hurt most.
"""

from __future__ import annotations

import statistics

from .options import apply_threads, comma_list, positive_int, runtime_parent

VARIANTS = ("vanilla", "nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr")
# task experiment -> (budget of training sequences, hidden size)
TASKS = {"reber": (9600, 8), "order6a": (19200, 16)}


def run_odyssey(tasks=("reber", "order6a"), seeds: int = 3, out_dir="runs/odyssey", progress: bool = False,
                budgets: dict | None = None, log=print) -> dict:
    """Train every variant on every task for a fixed budget; return test losses.

    Returns:
        ``{task: {variant: {"loss": [per seed], "right": [per seed]}}}``.

    Example:
        >>> r = run_odyssey(("reber",), seeds=1, out_dir=None, budgets={"reber": 32}, log=None)
        >>> sorted(r["reber"]) == sorted(VARIANTS)
        True
    """
    from ..apps.experiment import run_experiment

    results: dict = {}
    for task in tasks:
        budget, hidden = TASKS.get(task, (10_000, 8))
        if budgets and task in budgets:
            budget = budgets[task]
        summary = run_experiment(task, variants=VARIANTS, seeds=seeds, out_dir=out_dir, progress=progress,
                                 hidden=hidden, log=None,
                                 overrides={"max_sequences": budget, "max_seconds": None, "eval_every": 0,
                                            "stop_on_success": False})
        per = {}
        for r in summary["runs"]:
            v = r["meta"]["variant"]
            per.setdefault(v, {"loss": [], "right": []})
            per[v]["loss"].append(r["test"]["loss"])
            per[v]["right"].append(r["test"]["right"])
        results[task] = per
        if log is not None:
            log(f"  {task}: done ({len(summary['runs'])} runs)")
    return results


def format_odyssey(results: dict) -> str:
    """Markdown table: median test loss per variant and task, ratio to vanilla, right."""
    tasks = list(results)
    head = "| variant | " + " | ".join(f"{t}: median test loss (x vanilla) | {t}: right" for t in tasks) + " |"
    lines = [head, "|---|" + "---|---|" * len(tasks)]
    for v in VARIANTS:
        cells = []
        for t in tasks:
            if v not in results[t]:
                cells += ["-", "-"]
                continue
            med = statistics.median(results[t][v]["loss"])
            base = statistics.median(results[t]["vanilla"]["loss"])
            cells.append(f"{med:.4f} ({med / base:.2f}x)")
            cells.append(f"{statistics.median(results[t][v]['right']):.3f}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cmd(args) -> int:
    from ..io import claim_dir, register_files, write_json

    apply_threads(args)
    tasks = args.tasks
    out, _ = claim_dir(args.out, "run", "--out directory")  # a foreign non-empty one is refused now
    print(f"odyssey: {len(VARIANTS)} variants x {len(tasks)} tasks x {args.seeds} seeds, fixed budgets "
          + ", ".join(f"{t}: {TASKS[t][0]:,} sequences" for t in tasks), flush=True)
    res = run_odyssey(tasks, args.seeds, args.out, progress=not args.no_progress)
    print()
    print(format_odyssey(res))
    write_json(out / "odyssey.json", res)
    register_files(out, ["odyssey.json"])
    try:
        from ..viz.curves import plot_boxes

        for t in tasks:
            plot_boxes({v: res[t][v]["loss"] for v in VARIANTS}, out / f"odyssey_{t}.png", "test loss",
                       title=f"{t}: test loss after {TASKS[t][0]:,} sequences, {args.seeds} seeds", log=True)
            register_files(out, [f"odyssey_{t}.png"])
        print(f"\nwritten: {out}/odyssey.json and odyssey_<task>.png")
    except ImportError as e:
        print(f"\n(no plot: {e})")
    return 0


def task_names(text: str) -> list[str]:
    """An argparse type: comma-separated odyssey tasks."""
    import argparse

    names = comma_list(text)
    for t in names:
        if t not in TASKS:
            raise argparse.ArgumentTypeError(f"unknown task {t!r}; expected some of {', '.join(sorted(TASKS))}")
    return names


def register(sub) -> None:
    p = sub.add_parser("odyssey", help="small Greff et al. 2015 study: 8 variants + vanilla on two tasks",
                       parents=[runtime_parent(seed=False)])
    p.add_argument("--tasks", type=task_names, default=task_names("reber,order6a"),
                   help=f"comma-separated, from {', '.join(sorted(TASKS))} (default reber,order6a)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds per variant (default 3)")
    p.add_argument("--out", default="runs/odyssey", help="output directory (default runs/odyssey)")
    p.set_defaults(func=_cmd)
