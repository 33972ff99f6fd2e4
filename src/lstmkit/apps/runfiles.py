"""The files an application's training and prediction write, by the rules of
:mod:`lstmkit.io`: the checkpoint folder of a training run is claimed before any work (a
folder of the user's is refused) and, after a successful run, only lstmkit's checkpoint
files are removed (the folder too if this training made it and it is then empty); a
prediction never replaces a file the user did not name, nor one that belongs to an lstmkit
directory, and replaces a named one only when asked (``--overwrite``); the app-level part
of a model's config.json is checked on load, one line naming the file and the field; the
shipped models are never a training target (:func:`check_not_shipped`), and everything a
training checks before its first step is one ``with`` block (:func:`training_outputs`).

Example:
    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "m.checkpoints")
    >>> run = claim_run_dir(d)
    >>> release_run_dir(run), os.path.exists(d)
    (True, False)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..io import (MANIFEST, LstmkitFileError, claim_dir, dir_lock, read_manifest, register_files, remove_owned,
                  write_json)
from ..models.io import check_model_dir_target, model_dir_lock

__all__ = ["claim_run_dir", "release_run_dir", "run_dir_scope", "model_dir_scope", "check_output_file",
           "check_finite", "RUN_MARKER", "SHIPPED", "check_not_shipped", "training_outputs", "write_run_result",
           "write_report_files"]

#: The file lstmkit writes into a run folder it creates, so that a later (resumed) run
#: knows the folder is lstmkit's to remove once it is empty.
RUN_MARKER = "run.json"


def claim_run_dir(run_dir: str | os.PathLike, what: str = "--run-dir") -> Path:
    """Make ``run_dir`` (a training's checkpoint folder) lstmkit's before training: created
    if absent (and marked so with :data:`RUN_MARKER`), reused if it is an lstmkit run
    folder or empty; a non-empty folder of the user's is refused with one line.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); _ = open(os.path.join(d, "data.csv"), "w").write("x")
        >>> try:
        ...     claim_run_dir(d)
        ... except ValueError as e:
        ...     print("refusing" in str(e))
        True
    """
    d = Path(run_dir)
    try:
        d, created = claim_dir(d, "run", what)
    except LstmkitFileError as e:
        raise LstmkitFileError(f"{what}: {e}") from None
    if created:
        write_json(d / RUN_MARKER, {"created_by": "lstmkit", "purpose": "training checkpoints"})
        register_files(d, [RUN_MARKER])
    return d


def release_run_dir(run_dir: str | os.PathLike, subdirs: Iterable[str] = ()) -> bool:
    """After a successful training: remove the checkpoint files lstmkit wrote in
    ``run_dir`` and its ``subdirs`` (nothing else), each sub-folder once it is empty, and
    ``run_dir`` itself if lstmkit created it and it is then empty. Returns True if
    ``run_dir`` is gone. A folder the user had (even an empty one) stays.
    """
    from ..train.checkpoint import remove_checkpoints

    d = Path(run_dir)
    if not d.is_dir():
        return False
    for name in subdirs:
        sub = d / name
        if sub.is_dir() and read_manifest(sub) is not None:
            remove_checkpoints(sub)
    doc = read_manifest(d)
    if doc is None:
        return False
    if RUN_MARKER in doc["files"]:  # lstmkit made it: checkpoints, marker, then the folder if empty
        remove_checkpoints(d)
        return not d.exists() or remove_owned(d)
    # the user's folder (it existed before the run): only lstmkit's checkpoint files go, the
    # folder stays (left as it was)
    remove_checkpoints(d, remove_dir=False)
    return False


def check_output_file(path: str | os.PathLike, overwrite: bool = False, option: str = "--out") -> Path:
    """Raise now (before any work) unless a prediction may write ``path``: it must not be a
    directory, nor a file an lstmkit directory's manifest names (a model's forecast.csv:
    replacing it would break the model), and an existing file is replaced only with
    ``overwrite``.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "p.csv"); _ = open(p, "w").write("mine")
        >>> try:
        ...     check_output_file(p)
        ... except ValueError as e:
        ...     print("--overwrite" in str(e))
        True
    """
    p = Path(path)
    if p.is_dir():
        raise LstmkitFileError(f"{option} {p} is a directory; expected a file name")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        doc = read_manifest(parent) if parent.is_dir() else None
    except LstmkitFileError:
        doc = None
    if doc is not None and (p.name in doc.get("files", {}) or p.name == MANIFEST):
        raise LstmkitFileError(f"{option} {p} belongs to the lstmkit {doc.get('kind')} directory {parent} "
                               f"(it is listed in its {MANIFEST}); choose another {option}")
    if p.exists() and not overwrite:
        raise LstmkitFileError(f"{option} {p} exists; pass --overwrite to replace it, or choose another {option}")
    return p


def check_finite(obj: Any, where: str, path: str = "") -> None:
    """Raise one line naming ``where`` and the field if any number in ``obj`` (nested
    tables and lists, as read from JSON) is nan or infinite.

    Example:
        >>> try:
        ...     check_finite({"a": [1, float("nan")]}, "m/config.json")
        ... except ValueError as e:
        ...     print(e)
        m/config.json: a[1] must be a finite number, not NaN
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        raise LstmkitFileError(f"{where}: {path or 'the value'} must be a finite number, not {json.dumps(obj)}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, where, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, where, f"{path}[{i}]")


def _has_checkpoint(d: Path, subdirs: Iterable[str]) -> bool:
    from ..train.checkpoint import CHECKPOINT_JSON

    return any((p / CHECKPOINT_JSON).is_file() for p in [d, *(d / s for s in subdirs)])


@contextlib.contextmanager
def run_dir_scope(run_dir: str | os.PathLike | None, subdirs: Iterable[str] = (), release: bool = True,
                  what: str = "--run-dir") -> Iterator[Path | None]:
    """Claim a training's checkpoint folder for the ``with`` block (:func:`claim_run_dir`)
    and, when the block ends normally and ``release`` is true, remove lstmkit's
    checkpoints from it (:func:`release_run_dir`). An interrupted or failed run keeps its
    checkpoints, so that ``--resume`` continues it (a failure before the first checkpoint
    leaves nothing behind).

    Example:
        >>> import tempfile, os
        >>> d = os.path.join(tempfile.mkdtemp(), "ck")
        >>> with run_dir_scope(d) as run:
        ...     os.path.isdir(run)
        True
        >>> os.path.exists(d)
        False
    """
    if run_dir is None:
        yield None
        return
    subdirs = list(subdirs)
    d = claim_run_dir(run_dir, what)
    try:
        yield d
    except Exception:
        if not _has_checkpoint(d, subdirs):
            release_run_dir(d, subdirs)
        raise
    if release:
        release_run_dir(d, subdirs)


@contextlib.contextmanager
def model_dir_scope(model_dir: str | os.PathLike | None) -> Iterator[None]:
    """Hold ``model_dir`` for one training (:func:`lstmkit.models.io.model_dir_lock`: a
    second training into it refuses at once) and check, under the lock, that lstmkit may
    write it (:func:`lstmkit.models.io.check_model_dir_target`)."""
    if model_dir is None:
        yield
        return
    check_model_dir_target(model_dir)
    with model_dir_lock(model_dir):
        check_model_dir_target(model_dir)
        yield


SHIPPED = Path(__file__).resolve().parent.parent / "pretrained"
"""The installed package's pretrained/ directory: the models that ship with lstmkit."""


def check_not_shipped(directory: str | os.PathLike, overwrite_shipped: bool = False) -> Path:
    """Refuse (one line) a training output inside the installed package's ``pretrained/``
    directory, unless ``overwrite_shipped`` (the maintainers' reproduction of the shipped
    models, ``--overwrite-shipped``). Returns the path.

    Example:
        >>> try:
        ...     check_not_shipped(SHIPPED / "speech")
        ... except ValueError as e:
        ...     print(str(e).split(":")[0])
        --model
    """
    d = Path(directory)
    resolved = d.resolve()
    if (resolved == SHIPPED or SHIPPED in resolved.parents) and not overwrite_shipped:
        raise ValueError(f"--model: {d} is inside the models that ship with lstmkit ({SHIPPED}); expected a "
                         f"directory of your own (the training commands' default is under runs/)")
    return d


@contextlib.contextmanager
def training_outputs(model_dir: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                     overwrite_shipped: bool = False) -> Iterator[None]:
    """Everything a training command checks before its first step, held for the whole run:
    ``model_dir`` is not a shipped model (:func:`check_not_shipped`) and is a directory
    :func:`lstmkit.models.save_model` may write; a second process training into it (or
    into ``run_dir``) refuses at once (:func:`lstmkit.models.io.model_dir_lock`);
    ``run_dir`` is claimed as an lstmkit run directory (:func:`claim_run_dir`: a non-empty
    foreign one is refused now, not after the training).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> with training_outputs(os.path.join(d, "model"), os.path.join(d, "run")):
        ...     pass
        >>> sorted(os.listdir(d))
        ['run']
    """
    check_not_shipped(model_dir, overwrite_shipped)
    check_model_dir_target(model_dir)
    if run_dir is not None and Path(run_dir).resolve() == Path(model_dir).resolve():
        raise ValueError(f"--run-dir: {run_dir} is also the --model directory; expected another directory")
    with contextlib.ExitStack() as stack:
        if run_dir is not None:  # first: the model's lock file may lie inside the run directory
            stack.enter_context(dir_lock(run_dir, "--run-dir directory"))
            claim_run_dir(run_dir)
        stack.enter_context(model_dir_scope(model_dir))
        yield


def write_report_files(root: str | os.PathLike, texts: dict, plots: dict | None = None) -> list[str]:
    """Write a run's or a benchmark's report into its (claimed) directory ``root``: each
    text file atomically, then each plot where matplotlib is installed (a plot that needs
    it is left out, not an error: the texts hold the numbers), all registered in the
    directory's manifest.

    Args:
        root: the directory (already claimed as lstmkit's).
        texts: file name -> its text (``"summary.json"``, ``"summary.md"``).
        plots: file name -> a function drawing that PNG given its path.

    Returns:
        The names written, texts first.

    Raises:
        LstmkitFileError: ``root`` is not an lstmkit directory (nothing is written).

    Example:
        >>> import tempfile, os
        >>> d, _ = claim_dir(os.path.join(tempfile.mkdtemp(), "run"), "run", "run directory")
        >>> def plot(path):
        ...     raise ImportError("plots need matplotlib")
        >>> write_report_files(d, {"summary.json": "{}"}, {"curve.png": plot})
        ['summary.json']
    """
    from ..io import atomic_write_text

    if read_manifest(root) is None:
        raise LstmkitFileError(f"{root} is not an lstmkit directory (no {MANIFEST}); claim it first")
    written = []
    for name, text in texts.items():
        atomic_write_text(Path(root) / name, text)
        written.append(name)
    for name, draw in (plots or {}).items():
        try:
            draw(Path(root) / name)
        except ImportError:  # matplotlib is optional
            continue
        written.append(name)
    register_files(root, written)
    return written


def write_run_result(run_dir: str | os.PathLike, result: dict, name: str = "result.json") -> None:
    """Write ``result`` as JSON into the (claimed) ``run_dir`` and register it there.

    Example:
        >>> import tempfile, os
        >>> d = os.path.join(tempfile.mkdtemp(), "run")
        >>> write_run_result(d, {"accuracy": 0.5})
        >>> sorted(os.listdir(d))
        ['lstmkit.json', 'result.json', 'run.json']
    """
    claim_run_dir(run_dir)
    write_json(Path(run_dir) / name, result, indent=2)
    register_files(run_dir, [name])
