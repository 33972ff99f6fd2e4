"""``lstmkit benchmark speech``: the digit recognizer (default: the shipped one) and its
baselines on voices and synthesizers it never heard and on real FSDD recordings
(:func:`lstmkit.apps.benchmark_speech.run_speech_benchmark`).

Kept apart from the ``benchmark`` group itself: the group calls :func:`register_speech`
with its sub-parsers.
"""

from __future__ import annotations

from .benchmark import add_quick_and_out, run_and_report

__all__ = ["register_speech"]


def _model_pair(text: str) -> tuple[str, str]:
    import argparse

    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name, path


def _run(args) -> int:
    from ..apps.benchmark_speech import SHIPPED, format_speech_summary, run_speech_benchmark
    from ..apps.speech import PRETRAINED
    from .options import apply_threads

    apply_threads(args)
    models = {(args.name or ("model" if args.model else SHIPPED)): args.model or PRETRAINED}
    for name, path in args.baseline or []:
        if name in models:
            raise ValueError(f"--baseline: the name {name!r} is used twice")
        models[name] = path
    return run_and_report(args, "speech", run_speech_benchmark, format_speech_summary, "tables and summary.json",
                          models=models, conditions=args.conditions, data_dir=args.data_dir,
                          dtw=False if args.no_dtw else None)


def register_speech(bench_sub) -> None:
    """Add ``speech`` to the ``benchmark`` group's sub-parsers ``bench_sub``."""
    from .options import comma_list, model_parent, runtime_parent

    p = bench_sub.add_parser("speech", parents=[runtime_parent(), model_parent(
                                 help="the model under test (default: the shipped one)")],
                             help="the digit recognizer on espeak-ng voice families it never heard, on flite "
                                  "(another synthesizer) and on real FSDD recordings; label error rate per condition")
    add_quick_and_out(p, "speech", "two families, one flite voice, a few strings (a CI check)")
    p.add_argument("--name", default=None, help="its name in the tables (default 'shipped', or 'model' with --model)")
    p.add_argument("--baseline", type=_model_pair, action="append", metavar="NAME=DIR",
                   help="another model directory scored on the same utterances (repeatable), e.g. an earlier model")
    p.add_argument("--conditions", type=comma_list, default=None,
                   help="comma-separated conditions (default all: espeak-FAMILY..., flite-VOICE..., fsdd-strings, "
                        "fsdd-isolated)")
    p.add_argument("--no-dtw", action="store_true",
                   help="leave out the 1-NN DTW isolated-word baseline (aeon; in the full run by default)")
    p.add_argument("--data-dir", default="runs/speech/data", help="synthesized audio cache (default runs/speech/data)")
    p.set_defaults(func=_run)
