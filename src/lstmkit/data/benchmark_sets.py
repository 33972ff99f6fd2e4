"""Every labelled sequence-classification data set that ships inside the installed
packages, with its official train/test split where it has one: the benchmark of
``lstmkit benchmark classify``.

- aeon's bundled UCR/UEA sets (``aeon/datasets/data``): every folder with a
  ``NAME_TRAIN.ts`` and ``NAME_TEST.ts`` whose header says ``@classLabel true``
  (regression sets say ``@targetLabel``); the ``_eq`` copies of the unequal-length sets
  are the same series padded, so they are left out. Official splits.
- seglearn's smartwatch exercises (split by subject: the last three are the test set).
- modlamp's four peptide sets (one-hot amino acids; no official split: a fixed
  stratified 80/20, seed 0, as the ``peptides`` example).

Example:
    >>> names = classification_set_names()
    >>> "GunPoint" in names and "watch" in names
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .sequences import AMINO_ACIDS, LabelledSequences, load_example, one_hot_protein, read_ts, stratified_split

__all__ = ["classification_set_names", "load_classification_set", "QUICK_SETS", "MODLAMP_SETS"]

MODLAMP_SETS = {"AMPvsUniProt": "load_AMPvsUniProt", "AMPvsTM": "load_AMPvsTM", "ACPvsTM": "load_ACPvsTM",
                "ACPvsRandom": "load_ACPvsRandom"}
"""modlamp's labelled peptide sets (benchmark name -> modlamp loader)."""

QUICK_SETS = ("UnitTest", "ItalyPowerDemand")
"""The ``--quick`` subset: two small univariate aeon sets (seconds each)."""


def _aeon_dir() -> Path | None:
    try:
        from .packaged import package_dir

        return package_dir("aeon", "classify") / "datasets" / "data"
    except ImportError:
        return None


def _is_classification_ts(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip().lower()
            if s.startswith("@classlabel"):
                return s.split()[1:2] == ["true"]
            if s.startswith("@data"):
                break
    return False


def _aeon_sets() -> list[str]:
    d = _aeon_dir()
    if d is None or not d.is_dir():
        return []
    out = []
    for sub in sorted(d.iterdir()):
        n = sub.name
        if n.endswith("_eq") or not (sub / f"{n}_TRAIN.ts").is_file() or not (sub / f"{n}_TEST.ts").is_file():
            continue
        if _is_classification_ts(sub / f"{n}_TRAIN.ts"):
            out.append(n)
    return out


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def classification_set_names() -> list[str]:
    """The names of the benchmark's data sets found in the installed packages (aeon's,
    then seglearn's ``watch``, then modlamp's), in a fixed order.

    Example:
        >>> "ItalyPowerDemand" in classification_set_names()
        True
    """
    names = _aeon_sets()
    if _have("seglearn"):
        names.append("watch")
    if _have("modlamp"):
        names.extend(MODLAMP_SETS)
    return names


def _modlamp(name: str) -> tuple[LabelledSequences, LabelledSequences, dict]:
    import modlamp.datasets as md

    d = getattr(md, MODLAMP_SETS[name])()
    classes = [str(n) for n in d.target_names]
    X = [one_hot_protein(str(s), f"modlamp {name} sequence {k}") for k, s in enumerate(d.sequences)]
    y = [classes[int(t)] for t in d.target]
    data = LabelledSequences(X, y, [f"pep{k}" for k in range(len(X))], list(AMINO_ACIDS), f"modlamp {name}")
    tr, te = stratified_split(y, 0.2, seed=0)
    return data.subset(tr), data.subset(te), {"split": "fixed stratified 80/20 (seed 0)", "source": "modlamp"}


def load_classification_set(name: str) -> tuple[LabelledSequences, LabelledSequences, dict]:
    """One benchmark data set as ``(train, test, info)`` with its fixed split.

    Args:
        name: one of :func:`classification_set_names`.

    Example:
        >>> tr, te, info = load_classification_set("ItalyPowerDemand")
        >>> len(tr), len(te), info["split"]
        (67, 1029, 'official TRAIN/TEST files')
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a data set name (str), got {type(name).__name__}")
    if name == "watch":
        tr, te, info = load_example("watch")
        info = {"split": info["split"], "source": "seglearn"}
    elif name in MODLAMP_SETS and _have("modlamp"):
        tr, te, info = _modlamp(name)
    elif name in _aeon_sets():
        d = _aeon_dir() / name
        tr, te = read_ts(d / f"{name}_TRAIN.ts"), read_ts(d / f"{name}_TEST.ts")
        info = {"split": "official TRAIN/TEST files", "source": "aeon"}
    else:
        raise ValueError(f"unknown data set {name!r}; the installed packages hold: "
                         f"{', '.join(classification_set_names())}")
    info = {"name": name, **info, "n_train": len(tr), "n_test": len(te), "channels": tr.n_channels,
            "classes": len(set(tr.y)),
            "lengths": [int(min(tr.lengths.min(), te.lengths.min())), int(max(tr.lengths.max(), te.lengths.max()))]}
    tr.info, te.info = dict(info), dict(info)
    return tr, te, info
