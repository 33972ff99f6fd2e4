"""Fast paths. Each computes exactly what :func:`lstmkit.recurrent.run_recurrence` computes.

:func:`run_direction` is the one place that chooses, for one (layer, direction), between

- the fused CPU kernels (:mod:`lstmkit.kernels.fused`: the whole time loop and its
  hand-written backward in C++, every LSTMVariant, GRU, Elman), built on first use;
- torch's own LSTM kernel (:mod:`lstmkit.kernels.torch_lstm`) for the "standard" variant,
  on CPU where it measures faster than ours (see :func:`prefer_torch`) and always on CUDA
  (cuDNN);
- the reference loop, for everything else: a recurrent mask (variational dropout),
  zoneout, CUDA tensors of other variants, other dtypes, or when the extension cannot be
  built (one warning).

The environment variable ``LSTMKIT_BACKEND`` overrides the choice: ``auto`` (default),
``fused`` (our kernel wherever it applies, never torch's; an error if it cannot be built),
``reference`` (always the reference loop; one warning).
"""

from __future__ import annotations

import os

import torch

from ..recurrent import run_recurrence
from . import fused
from ._build import load_extension, warn_once
from .torch_lstm import is_standard_lstm, run_torch_lstm

__all__ = ["run_direction", "backend", "prefer_torch", "own_gemm", "BACKENDS"]

BACKENDS = ("auto", "fused", "reference")


# Read on every module call (streaming: every step). os.environ.get costs ~1 us when the
# variable is unset (a KeyError inside os.environ); the mapping's own storage is what
# os.environ reads and writes (also from monkeypatch.setenv), so the lookup goes there.
_ENV_DATA = getattr(os.environ, "_data", None)
try:
    _ENV_KEY = os.environ.encodekey("LSTMKIT_BACKEND") if _ENV_DATA is not None else None
except Exception:  # another os.environ implementation: the plain lookup below
    _ENV_DATA = None


def backend() -> str:
    """The backend requested by ``LSTMKIT_BACKEND`` (``auto`` when unset).

    Raises:
        ValueError: the variable holds something other than one of :data:`BACKENDS`.
    """
    if _ENV_DATA is not None:
        raw = _ENV_DATA.get(_ENV_KEY)
        if raw is None:
            return "auto"
        value = os.environ.decodevalue(raw)
    else:
        value = os.environ.get("LSTMKIT_BACKEND")
        if value is None:
            return "auto"
    value = value.strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"LSTMKIT_BACKEND must be one of {BACKENDS}, got {value!r}")
    return value


def own_gemm() -> bool:
    """Whether the fused kernels run their float32 loops on their own packed AVX2 matrix
    product (CPUs with AVX2 and without AVX-512; ``LSTMKIT_OWN_GEMM`` overrides) rather
    than on MKL's. False when the extension is unavailable.

    Example:
        >>> isinstance(own_gemm(), bool)
        True
    """
    ext = load_extension()
    if ext is None:
        return False
    cached = _own_gemm_cache.get(id(ext))
    if cached is None:
        cached = _own_gemm_cache[id(ext)] = bool(getattr(ext, "own_gemm", lambda: False)())
    return cached


_own_gemm_cache: dict[int, bool] = {}


def prefer_torch(spec, x, lengths, needs_grad: bool) -> bool:
    """Whether torch's own kernel beats ours for this "standard" LSTM call on CPU.

    The rule comes from ``lstmkit bench`` (docs/performance.md): with MKL's matrix
    products (Intel Xeon, AVX-512) torch's oneDNN LSTM wins the inference forward of
    full-length batches by 0-8%; with our own (:func:`own_gemm`, an AMD EPYC with AVX2)
    ours wins it in float32 (0.64-0.71x at H = 64, 0.84-0.94x at H = 256, 0.94-1.05x at
    H = 512). Ours wins or ties the training step at every shape measured (oneDNN has no
    fused backward), single steps (torch pays a set-up cost per call), variable lengths
    (torch needs a packed sequence) and projections (which oneDNN does not support).
    """
    if needs_grad or not is_standard_lstm(spec) or spec.proj_size > 0:
        return False
    if x.shape[0] == 1 or lengths is not None:
        return False
    if x.dtype == torch.float32 and own_gemm():
        return False
    return True


def _needs_grad(params, x, state) -> bool:
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or any(p.requires_grad for p in params.values()) or any(s.requires_grad for s in state)


def run_direction(
    spec,
    params,
    x,
    state,
    *,
    lengths=None,
    reverse: bool = False,
    recurrent_mask=None,
    zoneout=None,
    training: bool = False,
    truncate_gradient: bool = False,
):
    """Run one (layer, direction): same arguments and result as ``run_recurrence``.

    Picks the fastest implementation that computes exactly the reference's result (see
    the module docstring); ``LSTMKIT_BACKEND`` overrides the choice.

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMCellSpec
        >>> spec = LSTMCellSpec(2, 3, "vanilla")
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> out, (h, c) = run_direction(spec, p, torch.randn(5, 4, 2), spec.zero_state(4))
        >>> out.shape
        torch.Size([5, 4, 3])
    """
    kwargs = dict(lengths=lengths, reverse=reverse, recurrent_mask=recurrent_mask, zoneout=zoneout, training=training)
    if truncate_gradient and torch.is_grad_enabled():
        # The 1997 truncated gradient has no fused backward (yet): the reference loop.
        # Without a gradient the forward is the same function, so the fast paths serve.
        return run_recurrence(spec, params, x, state, truncate_gradient=True, **kwargs)
    mode = backend()
    if mode == "reference":
        warn_once("env", "lstmkit: LSTMKIT_BACKEND=reference: every recurrence runs on the reference loop")
        return run_recurrence(spec, params, x, state, **kwargs)
    plain = recurrent_mask is None and not (zoneout is not None and any(r > 0 for r in zoneout))
    if not plain:
        return run_recurrence(spec, params, x, state, **kwargs)
    device = x.device.type
    if device == "cuda":
        if is_standard_lstm(spec):
            return run_torch_lstm(spec, params, x, state, lengths=lengths, reverse=reverse)
        return run_recurrence(spec, params, x, state, **kwargs)
    if device != "cpu" or not fused.supports(spec, x):
        return run_recurrence(spec, params, x, state, **kwargs)
    if mode == "auto" and is_standard_lstm(spec) and prefer_torch(spec, x, lengths, _needs_grad(params, x, state)):
        return run_torch_lstm(spec, params, x, state, lengths=lengths, reverse=reverse)
    ext = load_extension()
    if ext is None:
        if mode == "fused":
            from ._build import extension_error

            raise RuntimeError(f"LSTMKIT_BACKEND=fused but the fused CPU extension is unavailable: {extension_error()}")
        return run_recurrence(spec, params, x, state, **kwargs)
    state = tuple(state)
    if len(state) != len(spec.state_sizes()):
        raise ValueError(f"state must have {len(spec.state_sizes())} entries ({spec.state_names}), got {len(state)}")
    return fused.run_checked(ext, spec, params, x, state, lengths, reverse)
