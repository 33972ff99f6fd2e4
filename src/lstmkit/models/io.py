"""A model directory: ``config.json`` (the class, its constructor arguments, and anything
else the user needs to rebuild the pipeline), ``model.safetensors`` (the weights) and
``lstmkit.json`` (the manifest: format, version, every file's size and sha256), written
whole or not at all by :func:`lstmkit.io.write_dir` and checked on load."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from ..io import LstmkitFileError, check_dir_target, dir_lock, read_json, verify_dir, write_dir

__all__ = ["save_model", "load_model", "check_model_dir_target", "model_dir_lock", "read_model_config"]

KIND = "model"
WHAT = "model directory"


def save_model(model: nn.Module, directory: str | os.PathLike, extra: dict | None = None,
               files: dict[str, str | bytes] | None = None, weights_dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` (which must have a ``config`` dict of constructor arguments) to
    ``directory``: config.json + model.safetensors + the manifest. ``extra``
    (JSON-serialisable, e.g. the preprocessing state) is stored beside the config;
    ``files`` maps further file names (a report, a plot) to their text or bytes. Returns
    the directory. ``weights_dtype`` (e.g. ``torch.float16``) stores the floating-point
    weights in that dtype, to halve a shipped file; :func:`load_model` casts them back to
    the model's own dtype (float32), so only the stored precision changes.

    The directory is written under a temporary name beside it and renamed into place, so a
    run killed while saving leaves the previous model (or none), never a mix. A directory
    that is not empty and not an lstmkit model directory is refused; replacing an lstmkit
    model keeps every file lstmkit did not write there.

    Example:
        >>> import tempfile
        >>> from lstmkit.models import SequenceClassifier
        >>> m = SequenceClassifier(3, 2, hidden_size=4)
        >>> d = save_model(m, tempfile.mkdtemp(), extra={"classes": ["a", "b"]})
        >>> m2, extra = load_model(SequenceClassifier, d)
        >>> extra["classes"]
        ['a', 'b']
    """
    try:
        from safetensors.torch import save
    except ImportError as e:  # pragma: no cover
        raise ImportError("saving models needs safetensors: pip install 'lstmkit[train]'") from e
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__} has no config dict of constructor arguments")
    for name in files or {}:
        if Path(name).name != name or name in ("model.safetensors", "config.json", "lstmkit.json"):
            raise ValueError(f"files: {name!r} must be a plain file name other than the model's own")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if weights_dtype is not None:
        if not (isinstance(weights_dtype, torch.dtype) and weights_dtype.is_floating_point):
            raise TypeError(f"weights_dtype must be a floating torch.dtype such as torch.float16, got {weights_dtype!r}")
        for k, v in tensors.items():
            if v.is_floating_point():
                tensors[k] = w = v.to(weights_dtype)
                if bool(v.isfinite().all()) and not bool(w.isfinite().all()):
                    raise ValueError(f"weights_dtype={weights_dtype}: {k} has values beyond its range "
                                     f"(largest |w| = {float(v.abs().max()):.3g}); save in float32")
    doc = {"class": type(model).__name__, "config": config, "extra": extra or {}}
    payload = {"model.safetensors": save(tensors),
               "config.json": json.dumps(doc, indent=2, sort_keys=True, allow_nan=False)}
    payload.update(files or {})
    return write_dir(directory, payload, KIND, what=WHAT)


def check_model_dir_target(directory: str | os.PathLike) -> Path:
    """Raise now (before any training) if :func:`save_model` would refuse ``directory``:
    a file, or a folder that is neither empty nor an lstmkit model directory. Returns the path.

    Example:
        >>> import tempfile
        >>> check_model_dir_target(tempfile.mkdtemp()).is_dir()
        True
    """
    return check_dir_target(directory, KIND, WHAT)


def model_dir_lock(directory: str | os.PathLike):
    """A context manager that holds ``directory`` for one training: a second process
    training into the same model directory refuses at once with one line."""
    return dir_lock(directory, "--model directory")


def read_model_config(directory: str | os.PathLike, cls_name: str | None = None) -> dict:
    """Verify a model directory (manifest, sizes, digests) and return its config.json
    table ``{"class", "config", "extra"}``, checked for shape; one line on any problem.

    Raises:
        FileNotFoundError: no such directory, or config.json / model.safetensors missing.
        LstmkitFileError: a corrupt, truncated or edited file; another class of model.
    """
    d = Path(directory)
    verify_dir(d, KIND, WHAT, required=("config.json", "model.safetensors"))
    where = d / "config.json"
    doc = read_json(where, "a model config")
    if not isinstance(doc, dict) or not isinstance(doc.get("class"), str) or not isinstance(doc.get("config"), dict):
        raise LstmkitFileError(f"{where}: expected a table with 'class' (a name) and 'config' (a table)")
    if not isinstance(doc.setdefault("extra", {}), dict):
        raise LstmkitFileError(f"{where}: 'extra' must be a table")
    if cls_name is not None and doc["class"] != cls_name:
        raise LstmkitFileError(f"{d} holds a {doc['class']!r}, not a {cls_name}: pass a {cls_name} model directory")
    return doc


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors has its own error type for corrupt headers
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LstmkitFileError(f"{path} is not a readable safetensors file ({msg}): truncated or corrupt; "
                               f"write the model again") from None


def load_model(cls: type[nn.Module], directory: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`: ``(model in eval mode, extra)``.

    Everything is checked first, each failure one line naming the file: the manifest
    (format, version, every file whole and unchanged), the class, the constructor
    arguments in config.json, and the weights' names and shapes against that config.

    Raises:
        FileNotFoundError: the directory or one of its files is missing.
        LstmkitFileError (a ValueError): anything else wrong.
    """
    from safetensors.torch import load

    d = Path(directory)
    doc = read_model_config(d, cls.__name__)
    where = d / "config.json"
    for k, v in doc["config"].items():
        if isinstance(v, float) and not math.isfinite(v):
            raise LstmkitFileError(f"{where}: config.{k} must be finite, not {v}")
    try:
        model = cls(**doc["config"])
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise LstmkitFileError(f"{where}: its config does not build a {cls.__name__} ({_one_line(e)})") from None
    wpath = d / "model.safetensors"
    shapes = _tensor_shapes(wpath)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {_few(missing)}"] if missing else []) + ([f"unexpected {_few(unexpected)}"] if unexpected else [])
        raise LstmkitFileError(f"{wpath} does not match {where}: {'; '.join(parts)}")
    for k, shape in expected.items():
        if shapes[k] != shape:
            raise LstmkitFileError(f"{wpath} does not match {where}: {k} has shape {list(shapes[k])}, "
                                   f"the config needs {list(shape)}")
    try:
        state = load(wpath.read_bytes())
    except Exception as e:
        raise LstmkitFileError(f"{wpath} is not a readable safetensors file ({_one_line(e)})") from None
    for k, v in state.items():
        if v.is_floating_point() and not bool(v.isfinite().all()):
            raise LstmkitFileError(f"{wpath}: {k} holds non-finite values (inf or nan); the model is broken")
    model.load_state_dict(state)
    return model.eval(), doc["extra"]


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _few(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
