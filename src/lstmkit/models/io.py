"""A model directory: ``config.json`` (constructor arguments + anything else the user needs
to rebuild the pipeline) and ``model.safetensors`` (the weights), both written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from ..train.checkpoint import atomic_write_bytes, atomic_write_text

__all__ = ["save_model", "load_model"]


def save_model(model: nn.Module, directory: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write ``model`` (which must have a ``config`` dict of constructor arguments) to
    ``directory``: config.json + model.safetensors. ``extra`` (JSON-serialisable, e.g. the
    preprocessing state) is stored beside the config. Returns the directory.

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
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(d / "model.safetensors", save(tensors))
    doc = {"class": type(model).__name__, "config": config, "extra": extra or {}}
    atomic_write_text(d / "config.json", json.dumps(doc, indent=2, sort_keys=True))
    return d


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
