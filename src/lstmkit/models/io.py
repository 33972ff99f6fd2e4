"""A model directory: ``config.json`` (constructor arguments + anything else the user needs
to rebuild the pipeline) and ``model.safetensors`` (the weights), both written atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from ..train.checkpoint import atomic_write_bytes, atomic_write_text

__all__ = ["save_model", "load_model", "check_model_dir_target"]


def save_model(model: nn.Module, directory: str | os.PathLike, extra: dict | None = None,
               files: dict[str, str | bytes] | None = None) -> Path:
    """Write ``model`` (which must have a ``config`` dict of constructor arguments) to
    ``directory``: config.json + model.safetensors. ``extra`` (JSON-serialisable, e.g. the
    preprocessing state) is stored beside the config; ``files`` maps further file names
    (a report, a plot) to their text or bytes. Returns the directory.

    The whole directory is written under a temporary name beside it and then renamed into
    place, so a run killed while saving leaves the previous model (or none), never a mix.

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
    d = check_model_dir_target(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    doc = {"class": type(model).__name__, "config": config, "extra": extra or {}}
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.", suffix=".tmp"))
    try:
        atomic_write_bytes(tmp / "model.safetensors", save(tensors))
        for name, content in (files or {}).items():
            if Path(name).name != name or name in ("model.safetensors", "config.json"):
                raise ValueError(f"files: {name!r} must be a plain file name other than the model's own")
            (atomic_write_bytes if isinstance(content, bytes) else atomic_write_text)(tmp / name, content)
        atomic_write_text(tmp / "config.json", json.dumps(doc, indent=2, sort_keys=True))
        old = None
        if d.exists():
            old = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.", suffix=".old"))
            os.replace(d, old / "previous")
        os.replace(tmp, d)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return d


def check_model_dir_target(directory: str | os.PathLike) -> Path:
    """Raise now (before any training) if :func:`save_model` would refuse ``directory``:
    a file, or a folder that is neither empty nor a model directory. Returns the path.

    Example:
        >>> import tempfile
        >>> check_model_dir_target(tempfile.mkdtemp()).is_dir()
        True
    """
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ValueError(f"cannot write a model directory to {d}: a file of that name exists; "
                         f"name a new or empty directory for the model")
    if d.is_dir() and any(d.iterdir()) and not _is_model_dir(d):
        raise ValueError(f"refusing to replace {d}: it is not empty and not a model directory; "
                         f"name a new or empty directory for the model")
    return d


def _is_model_dir(d: Path) -> bool:
    """A directory save_model wrote: a config.json naming a class, and no sub-folders."""
    try:
        doc = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "class" in doc and not any(p.is_dir() for p in d.iterdir())


def load_model(cls: type[nn.Module], directory: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`: ``(model in eval mode, extra)``.

    Raises:
        FileNotFoundError: the directory lacks config.json or model.safetensors.
        ValueError: the directory holds another class of model.
    """
    from safetensors.torch import load

    d = Path(directory)
    for name in ("config.json", "model.safetensors"):
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d} is not a model directory: {name} is missing")
    doc = json.loads((d / "config.json").read_text())
    if doc.get("class") != cls.__name__:
        raise ValueError(f"{d} holds a {doc.get('class')!r}, not a {cls.__name__}")
    model = cls(**doc["config"])
    model.load_state_dict(load((d / "model.safetensors").read_bytes()))
    return model.eval(), doc.get("extra", {})
