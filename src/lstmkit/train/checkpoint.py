"""Checkpoints: tensors in safetensors, everything else in JSON, both written atomically.

A checkpoint is two files in a run directory: ``ckpt-<update>.safetensors`` (model and
optimizer tensors, the torch RNG state, a stream's carried state) and ``checkpoint.json``
(config, counters, history, optimizer hyper-parameters, the data stream's position). The
JSON is written last and names its tensor file, so replacing it is the commit point: a run
killed at any moment leaves either the old checkpoint or the new one, never half of one.
No pickle anywhere.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["atomic_write_text", "atomic_write_bytes", "save_checkpoint", "load_checkpoint", "CHECKPOINT_JSON"]

CHECKPOINT_JSON = "checkpoint.json"
_FORMAT = "lstmkit-checkpoint-1"


def _need_safetensors():
    try:
        import safetensors.torch as st
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("checkpoints need safetensors: pip install 'lstmkit[train]'") from e
    return st


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and
    ``os.replace``: readers see the old file or the new one, never a partial one.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> atomic_write_bytes(os.path.join(d, "a.bin"), b"xyz")
        >>> open(os.path.join(d, "a.bin"), "rb").read()
        b'xyz'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text (JSON results, tables)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o):
    if isinstance(o, Tensor) and o.numel() == 1:
        return o.item()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def save_checkpoint(run_dir: str | os.PathLike, tag: int, tensors: dict[str, Tensor], meta: dict[str, Any],
                    keep: int = 1) -> Path:
    """Write ``tensors`` (safetensors) and ``meta`` (JSON) as the run's current checkpoint.

    Args:
        run_dir: the run directory (created if needed).
        tag: an increasing number for the tensor file's name (the update count).
        tensors: name -> tensor (moved to CPU, made contiguous).
        meta: JSON-ready data; ``meta["tensors"]`` is set to the tensor file's name.
        keep: how many tensor files to keep (older ones are deleted after the commit).

    Returns:
        The path of ``checkpoint.json``.

    Example:
        >>> import tempfile, torch
        >>> d = tempfile.mkdtemp()
        >>> _ = save_checkpoint(d, 3, {"w": torch.ones(2)}, {"step": 3})
        >>> t, meta = load_checkpoint(d)
        >>> meta["step"], t["w"].tolist()
        (3, [1.0, 1.0])
    """
    st = _need_safetensors()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{int(tag):09d}.safetensors"
    payload = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(run_dir / name, st.save(payload))
    meta = dict(meta, tensors=name, format=_FORMAT)
    atomic_write_text(run_dir / CHECKPOINT_JSON, json.dumps(meta, default=_json_default))
    old = sorted(p for p in run_dir.glob("ckpt-*.safetensors") if p.name != name)
    for p in old[: max(0, len(old) - (keep - 1))]:
        p.unlink(missing_ok=True)
    return run_dir / CHECKPOINT_JSON


def load_checkpoint(run_dir: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The ``(tensors, meta)`` of a run directory's current checkpoint.

    Raises:
        FileNotFoundError: no checkpoint in ``run_dir``.
        ValueError: the JSON is not an lstmkit checkpoint.
    """
    st = _need_safetensors()
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_JSON
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint in {run_dir} (expected {CHECKPOINT_JSON})")
    meta = json.loads(path.read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an lstmkit checkpoint (format {meta.get('format')!r})")
    tensors = st.load_file(str(run_dir / meta["tensors"]))
    return tensors, meta


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """Split an optimizer's state_dict into tensors and JSON-ready data."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim/{idx}/{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], data: dict) -> None:
    """Inverse of :func:`optimizer_to_flat`: load the state into ``opt``."""
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("optim/"):
            _, idx, k = key.split("/", 2)
            state.setdefault(int(idx), {})[k] = v
    for idx, d in data["scalars"].items():
        state.setdefault(int(idx), {}).update(d)
    groups = []
    for g in data["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})
