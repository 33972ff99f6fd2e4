"""Checkpoints: tensors in safetensors, everything else in JSON, both written atomically.

A checkpoint is two files in a run directory: ``ckpt-<update>.safetensors`` (model and
optimizer tensors, the torch RNG state, a stream's carried state) and ``checkpoint.json``
(config, counters, history, optimizer hyper-parameters, the data stream's position). The
JSON is written last and names its tensor file, so replacing it is the commit point: a run
killed at any moment leaves either the old checkpoint or the new one, never half of one.
No pickle anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..io import (LstmkitFileError, atomic_write_bytes, atomic_write_text, claim_dir, read_json, read_manifest,
                  register_files, remove_owned, write_json)

__all__ = ["atomic_write_text", "atomic_write_bytes", "save_checkpoint", "load_checkpoint", "remove_checkpoints",
           "CHECKPOINT_JSON"]

CHECKPOINT_JSON = "checkpoint.json"
_FORMAT = "lstmkit-checkpoint-1"


def _need_safetensors():
    try:
        import safetensors.torch as st
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("checkpoints need safetensors: pip install 'lstmkit[train]'") from e
    return st


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
    run_dir, _ = claim_dir(run_dir, "run", "run directory")
    name = f"ckpt-{int(tag):09d}.safetensors"
    payload = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(run_dir / name, st.save(payload))
    meta = dict(meta, tensors=name, format=_FORMAT)
    write_json(run_dir / CHECKPOINT_JSON, meta, indent=None)
    register_files(run_dir, [name, CHECKPOINT_JSON])
    # Only tensor files lstmkit registered here are ever deleted.
    ours = read_manifest(run_dir)["files"]
    old = sorted(n for n in ours if n.startswith("ckpt-") and n.endswith(".safetensors") and n != name)
    drop = old[: max(0, len(old) - (keep - 1))]
    if drop:
        remove_owned(run_dir, drop)
    return run_dir / CHECKPOINT_JSON


def remove_checkpoints(run_dir: str | os.PathLike, remove_dir: bool = True) -> None:
    """Remove the checkpoint files lstmkit wrote in ``run_dir`` (nothing else), and (with
    ``remove_dir``) the directory if that leaves it empty; a no-op where there are none."""
    d = Path(run_dir)
    doc = read_manifest(d) if d.is_dir() else None
    if doc is not None:
        remove_owned(d, [n for n in doc["files"] if n == CHECKPOINT_JSON or
                         (n.startswith("ckpt-") and n.endswith(".safetensors"))], remove_dir=remove_dir)


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
    meta = read_json(path, "an lstmkit checkpoint")
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or not isinstance(meta.get("tensors"), str):
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise LstmkitFileError(f"{path} is not an lstmkit checkpoint (format {fmt!r})")
    tpath = run_dir / Path(meta["tensors"]).name
    if not tpath.is_file():
        raise FileNotFoundError(f"{tpath} is missing (named by {path}); the checkpoint is incomplete")
    try:
        tensors = st.load_file(str(tpath))
    except Exception as e:  # safetensors raises its own error type for corrupt files
        raise LstmkitFileError(f"{tpath} is not a readable safetensors file ({_first_line(e)}): "
                               f"truncated or corrupt; remove the run directory's checkpoint to start over") from None
    return tensors, meta


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


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

