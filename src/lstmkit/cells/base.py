"""The contract every cell family fulfils: one time step, pure math.

A cell spec knows the shapes of its parameters and state, how to project all inputs at
once (hoisted out of the time loop) and how to advance one step. It holds no tensors:
parameters arrive as a dict of short names (``weight_ih``, ``weight_hh``, ...), so the same
math serves the stepwise cell modules and every (layer, direction) of the layer modules.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import Tensor

__all__ = ["CellSpec"]


class CellSpec:
    """Base class of a cell family's one-step math.

    Subclasses define :meth:`param_shapes`, :meth:`state_sizes`, :meth:`input_projection`
    and :meth:`step`. By convention ``state[0]`` is the cell's output ``h``: the loop
    emits it at every step.

    Attributes:
        input_size: I, features of ``x_t``.
        hidden_size: H.
        bias: whether ``bias_ih``/``bias_hh`` exist.
    """

    #: names of the state tensors, in order; state[0] is always the output h
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        _check_positive_int("input_size", input_size)
        _check_positive_int("hidden_size", hidden_size)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

    # ---- to be defined by each family -----------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Short parameter name -> shape, in registration order."""
        raise NotImplementedError

    def state_sizes(self) -> tuple[int, ...]:
        """Feature size of each state tensor (same order as ``state_names``)."""
        raise NotImplementedError

    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """Project inputs of every step at once: (..., I) -> (..., K)."""
        raise NotImplementedError

    def step(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """One time step: projected input (B, K) and state -> new state.

        ``recurrent_mask`` (B, H_out), if given, multiplies h_{t-1} where it enters the
        recurrent weights (variational dropout, Gal & Ghahramani 2016).
        """
        raise NotImplementedError

    # ---- shared ---------------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """Feature size of the emitted output h."""
        return self.state_sizes()[0]

    def reset_parameters(self, p: Mapping[str, Tensor]) -> None:
        """torch.nn's initialisation: every tensor U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for t in p.values():
                t.uniform_(-bound, bound)

    def zero_state(self, batch: int, *, dtype=None, device=None) -> tuple[Tensor, ...]:
        """The all-zero initial state, one (batch, size) tensor per state entry."""
        return tuple(torch.zeros(batch, n, dtype=dtype, device=device) for n in self.state_sizes())

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
