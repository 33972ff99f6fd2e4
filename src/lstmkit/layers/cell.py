"""The generic stepwise cell module: one step at a time, for any cell family."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells import CellSpec

__all__ = ["CellModule"]


class CellModule(nn.Module):
    """One step of any cell spec at a time, parameters under torch.nn's cell names
    (``weight_ih``, ...); family cell modules (:class:`~lstmkit.LSTMCell`, ...) build the spec."""

    def __init__(self, spec: CellSpec, device=None, dtype=None) -> None:
        super().__init__()
        self.spec = spec
        self.input_size = spec.input_size
        self.hidden_size = spec.hidden_size
        self.bias = spec.bias
        for short, shape in spec.param_shapes().items():
            self.register_parameter(short, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))

    def params(self) -> dict[str, Tensor]:
        return {short: getattr(self, short) for short in self.spec.param_shapes()}

    def reset_parameters(self) -> None:
        """Re-initialise every parameter (torch.nn's scheme)."""
        self.spec.reset_parameters(self.params())

    def _prepare(self, input: Tensor, hx) -> tuple[Tensor, tuple[Tensor, ...], bool]:
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
        F_axes = self.spec.feature_axes
        if input.dim() not in (F_axes, F_axes + 1):
            what = "(batch, input_size)" if F_axes == 1 else "(batch, *features)"
            raise ValueError(f"input must be {F_axes + 1}-D {what} or {F_axes}-D, got shape {tuple(input.shape)}")
        if not input.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor, got dtype {input.dtype}")
        if F_axes == 1 and input.shape[-1] != self.input_size:
            raise ValueError(f"input has {input.shape[-1]} features, expected input_size={self.input_size}")
        self.spec.check_input_shape(tuple(input.shape[input.dim() - F_axes:]))
        if input.dtype != self.weight_ih.dtype:
            raise TypeError(f"input dtype {input.dtype} does not match the parameters' dtype {self.weight_ih.dtype}")
        if input.device != self.weight_ih.device:
            raise ValueError(f"input is on {input.device} but the parameters are on {self.weight_ih.device}")
        batched = input.dim() == F_axes + 1
        x = input if batched else input.unsqueeze(0)
        B = x.shape[0]
        shapes, names = self.spec.state_shapes(tuple(x.shape[1:])), self.spec.state_names
        given = () if hx is None else (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(given) > len(names):
            raise TypeError(f"hx has {len(given)} entries, expected at most {len(names)} ({', '.join(names)})")
        state = []
        for k, (name, shape) in enumerate(zip(names, shapes)):
            if k >= len(given) or given[k] is None:
                state.append(torch.zeros((B, *shape), dtype=x.dtype, device=x.device))
                continue
            t = given[k]
            want = (B, *shape) if batched else tuple(shape)
            if not isinstance(t, Tensor) or tuple(t.shape) != want:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(f"state {name} must have shape {want}, got {got}")
            if t.dtype != x.dtype:
                raise TypeError(f"state {name} has dtype {t.dtype} but input has {x.dtype}")
            if t.device != x.device:
                raise ValueError(f"state {name} is on {t.device} but input is on {x.device}")
            state.append(t if batched else t.unsqueeze(0))
        return x, tuple(state), batched

    def forward(self, input: Tensor, hx=None, side=None):
        """One step: ``input`` (B, *F) or (*F,), ``hx`` the state entries (zeros where
        omitted); ``side``: this step's side inputs as (B,) tensors, for cells that declare
        them. Returns the new state (one tensor for a single-entry state)."""
        x, state, batched = self._prepare(input, hx)
        p = self.params()
        xp = self.spec.input_projection(x, p)
        if self.spec.side_inputs:
            missing = [n for n in self.spec.side_inputs if not side or n not in side]
            if missing:
                raise ValueError(f"the cell needs the side input(s) {missing}, each (B,)")
            side = {k: torch.as_tensor(v, dtype=x.dtype, device=x.device).reshape(x.shape[0]) for k, v in side.items()}
            new = self.spec.step(xp, state, p, side=side)
        elif side:
            raise ValueError(f"side inputs {sorted(side)} given, but {type(self.spec).__name__} takes none")
        else:
            new = self.spec.step(xp, state, p)
        if not batched:
            new = tuple(s.squeeze(0) for s in new)
        return new if len(new) > 1 else new[0]

    def extra_repr(self) -> str:
        return self.spec.extra_repr()


