"""``lstmkit experiment``: rerun a classic LSTM experiment and print ours beside the paper's.

    lstmkit experiment list
    lstmkit experiment reber --seeds 10
    lstmkit experiment adding100 --variant vanilla,elman --seeds 3
    lstmkit experiment cerg --quick
    lstmkit experiment evolino-sines --method evolino,gradient

Every run writes ``result.json`` + ``curve.png`` (and a resumable checkpoint) under
``runs/<experiment>/<variant>/seed<k>/`` and the summary under ``runs/<experiment>/``.
Threads default to 1 (the machine is shared); ``--threads`` changes it.
"""

from __future__ import annotations

import argparse
import sys

from ..tasks.registry import EXPERIMENTS
from .options import (apply_threads, comma_list, finite_float, nonneg_int, positive_float, positive_int,
                      runtime_parent)


def model_names(text: str) -> list[str]:
    """An argparse type: comma-separated model names, resolved through the family registry
    (a family such as ``elman`` or ``gru``, or a variant such as an LSTM preset)."""
    from ..models.sequence import parse_model_name
    from ..models.xlstm import parse_xlstm_name

    names = comma_list(text)
    for name in names:
        if parse_xlstm_name(name) is not None or name == "mlp":  # an xLSTM stack, xlstm[m:s]; a memoryless policy
            continue
        try:
            parse_model_name(name)
        except ValueError as e:  # the message lists every registered family and variant
            raise argparse.ArgumentTypeError(str(e)) from None
    return names


def _list(args) -> int:
    width = max(len(n) for n in EXPERIMENTS)
    print("Experiments (lstmkit experiment NAME [--variant V[,V2]] [--seeds N] [--quick]):")
    for name, e in EXPERIMENTS.items():
        print(f"  {name:<{width}}  {e.summary}  [default: {', '.join(e.variants)}]")
    from ..apps.runners import RUNNERS

    for name, r in RUNNERS.items():
        default = f"  [default: {', '.join(r.variants)}]" if r.variants else ""
        print(f"  {name:<{width}}  {r.summary}{default}")
    return 0


def _run_own(args) -> int:
    """An experiment with its own runner (:mod:`lstmkit.apps.runners`)."""
    from ..apps.runners import RUNNERS, run_named

    unsupported = [opt for opt, key in (("--resume", "resume"), ("--online", "online"), ("--lr", "lr"),
                                        ("--batch-size", "batch_size"), ("--optimizer", "optimizer"),
                                        ("--eval-every", "eval_every"), ("--hidden-size", "hidden_size"),
                                        ("--forget-bias", "forget_bias")) if getattr(args, key) not in (None, False)]
    if unsupported:
        raise ValueError(f"{', '.join(unsupported)} not supported by experiment {args.name!r} (it takes --variant, "
                         "--seeds, --first-seed, --quick, --out, --max-episodes, --max-seconds)")
    apply_threads(args)
    kw = {}
    if args.max_seconds is not None:
        kw["seconds_cap"] = args.max_seconds
    if args.max_sequences is not None:
        kw["budget"] = args.max_sequences
    print(f"lstmkit experiment {args.name}{' --quick' if args.quick else ''}: {RUNNERS[args.name].summary}",
          flush=True)
    summary, table = run_named(args.name, variants=args.variant, seeds=args.seeds, first_seed=args.first_seed,
                               quick=args.quick, out_dir=args.out,
                               progress=not args.no_progress and sys.stderr.isatty(), **kw)
    print()
    print(table)
    if "dir" in summary:
        print(f"\nwritten: {summary['dir']}/summary.json and its plots")
    return 0


def _run(args) -> int:
    from ..apps.experiment import format_table, run_experiment

    if args.name == "list":
        return _list(args)
    from ..apps.runners import RUNNERS

    if args.name in RUNNERS and args.name not in EXPERIMENTS:
        return _run_own(args)
    apply_threads(args)
    overrides = {}
    if args.online:
        overrides.update(batch_size=1, optimizer="sgd", momentum=0.0, lr=args.lr or 0.1, clip_norm=None,
                         log_every=100, eval_every=1000)
    for key in ("lr", "batch_size", "max_seconds", "max_sequences", "optimizer", "eval_every"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    variants = args.variant
    from ..train.distributed import world_info

    if args.name in EXPERIMENTS and world_info()[0] == 0:
        print(f"lstmkit experiment {args.name}{' --quick' if args.quick else ''}: {EXPERIMENTS[args.name].summary}",
              flush=True)
    summary = run_experiment(args.name, variants=variants, seeds=args.seeds, first_seed=args.first_seed,
                             quick=args.quick, out_dir=args.out, progress=not args.no_progress and sys.stderr.isatty(),
                             resume=args.resume, hidden=args.hidden_size, overrides=overrides,
                             forget_bias=args.forget_bias, methods=args.method)
    if world_info()[0] != 0:
        return 0
    print()
    print(format_table(summary))
    if "dir" in summary:
        print(f"\nwritten: {summary['dir']}/summary.json, summary.png and one directory per run")
    return 0


def register(sub) -> None:
    p = sub.add_parser("experiment", help="rerun a classic LSTM experiment ('experiment list' for the names)",
                       description=__doc__.split("\n\n")[0], parents=[runtime_parent(seed=False)])
    p.add_argument("name", help="experiment name, or 'list'")
    p.add_argument("--variant", type=model_names,
                   help="comma-separated models: LSTM presets (vanilla, hochreiter1997, cifg, ...), "
                        "'elman', 'gru', or xLSTM stacks 'xlstm[m:s]' (default: the experiment's)")
    p.add_argument("--seeds", type=positive_int, default=1, help="number of seeds (default 1)")
    p.add_argument("--first-seed", type=nonneg_int, default=0, help="first seed (default 0)")
    p.add_argument("--quick", action="store_true", help="the <= 1 minute configuration")
    p.add_argument("--out", default="runs", help="output root (default runs/)")
    p.add_argument("--resume", action="store_true", help="continue each run from its checkpoint")
    p.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int,
                   help="override the hidden size")
    p.add_argument("--forget-bias", dest="forget_bias", type=finite_float,
                   help="initial forget-gate bias (default: the experiment's)")
    p.add_argument("--method", type=comma_list,
                   help="comma-separated training methods of the experiment (gradient, evolino, evolino-cmaes, "
                        "cmaes, dekf; default: all of the experiment's)")
    p.add_argument("--online", action="store_true", help="online training as in 1997: batch 1, plain SGD")
    p.add_argument("--optimizer", choices=("adam", "sgd"))
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the experiment's)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, help="sequences per update")
    p.add_argument("--max-seconds", dest="max_seconds", type=positive_float, help="time budget per run")
    p.add_argument("--max-sequences", "--max-episodes", dest="max_sequences", type=positive_int,
                   help="training sequences per run (policy-gradient experiments: episodes per run or stage; "
                        "learning to learn: meta-training sequences)")
    p.add_argument("--eval-every", dest="eval_every", type=nonneg_int, help="updates between checks (0: none)")
    p.set_defaults(func=_run)
