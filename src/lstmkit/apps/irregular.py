"""The irregular-sampling benchmark: classes that differ only in their timing
(:func:`lstmkit.data.irregular.timing_classes`), written as a long CSV and classified by
``lstmkit classify``'s own pipeline three ways in one run: a T-LSTM fed the elapsed times
(``--time-mode tlstm``), an LSTM with Δt as an input channel (``feature``) and an LSTM
that ignores the times (``ignore``). ``lstmkit study irregular`` prints the table.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

__all__ = ["irregular_benchmark", "format_irregular", "MODES"]

MODES = (("tlstm", "T-LSTM fed Δt"), ("feature", "LSTM, Δt as an input channel"), ("ignore", "LSTM ignoring time"))


def irregular_benchmark(n_train: int = 400, n_test: int = 400, steps: int = 24, max_updates: int = 300,
                        hidden_size: int = 32, seeds=(0,), out_dir: str | os.PathLike | None = None,
                        progress: bool = False) -> dict:
    """Train and test the three models on the same files, for each seed.

    Args:
        n_train, n_test: sequences in the training and test files (balanced classes).
        steps: steps per sequence.
        max_updates: weight updates per model (batches of 16; the best on validation kept).
        hidden_size: units per direction (one bidirectional layer).
        seeds: data and training seeds; each seed draws its own files.
        out_dir: where the CSVs go (a new directory; None: a temporary one, removed).
        progress: show the training bars.

    Returns:
        ``{"rows": [{"mode", "model", "seed", "accuracy", "seconds"}], "config": {...}}``.

    Example:
        >>> r = irregular_benchmark(n_train=40, n_test=20, max_updates=20, hidden_size=4)
        >>> [row["mode"] for row in r["rows"]]
        ['tlstm', 'feature', 'ignore']
    """
    from ..data.irregular import timing_classes, write_long_csv
    from ..data.sequences import read_sequences
    from .classify import train_classifier

    for name, v in (("n_train", n_train), ("n_test", n_test), ("max_updates", max_updates),
                    ("hidden_size", hidden_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lstmkit-irregular-")
        root = Path(tmp.name)
    else:
        root = Path(out_dir)
        if root.exists():
            raise FileExistsError(f"{root} exists; give a new directory for the benchmark's files")
        root.mkdir(parents=True)
    rows = []
    try:
        for seed in seeds:
            paths = {}
            for part, n, s in (("train", n_train, 2 * seed), ("test", n_test, 2 * seed + 1)):
                paths[part] = root / f"timing-{part}-seed{seed}.csv"
                write_long_csv(timing_classes(n, steps, seed=s, source=str(paths[part])), paths[part])
            opts = {"id_column": "id", "time_column": "time", "label_column": "label", "require_labels": True}
            train, test = (read_sequences(paths[p], "csv", **opts) for p in ("train", "test"))
            for mode, title in MODES:
                t0 = time.perf_counter()
                r = train_classifier(train, test, model_dir=None, max_updates=max_updates, patience=max_updates,
                                     hidden_size=hidden_size, num_layers=1, seed=seed, head="lstm", compare=(),
                                     downsample_by=1, refit="no", time_mode=mode, progress=progress)
                rows.append({"mode": mode, "model": title, "seed": seed, "accuracy": r["test"]["accuracy"],
                             "validation_accuracy": r["fit"]["validation_accuracy"],
                             "seconds": time.perf_counter() - t0})
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {"rows": rows, "config": {"n_train": n_train, "n_test": n_test, "steps": steps, "max_updates": max_updates,
                                     "hidden_size": hidden_size, "seeds": list(seeds), "marker_gap": 6}}


def format_irregular(r: dict) -> str:
    """The benchmark's table: test accuracy per model (mean over seeds, and each seed).

    Example:
        >>> print(format_irregular({"rows": [{"mode": "ignore", "model": "LSTM ignoring time", "seed": 0,
        ...                                  "accuracy": 0.5, "seconds": 1.0}], "config": {}}))
        model                           test accuracy  seeds   s/run
        LSTM ignoring time                     50.00%  50.00%       1
    """
    lines = [f"{'model':<31} {'test accuracy':>13}  seeds   s/run"]
    for mode in dict.fromkeys(row["mode"] for row in r["rows"]):
        rs = [row for row in r["rows"] if row["mode"] == mode]
        mean = sum(x["accuracy"] for x in rs) / len(rs)
        secs = sum(x["seconds"] for x in rs) / len(rs)
        each = " ".join(f"{x['accuracy']:.2%}" for x in rs)
        lines.append(f"{rs[0]['model']:<31} {mean:>13.2%}  {each}  {secs:>6.0f}")
    return "\n".join(lines)
