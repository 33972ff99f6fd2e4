"""The contract every cell family fulfils: one time step, pure math.

A cell spec knows the shapes of its parameters and state, how to project all inputs at
once (hoisted out of the time loop) and how to advance one step. It holds no tensors:
parameters arrive as a dict of short names (``weight_ih``, ``weight_hh``, ...), so the same
math serves the stepwise cell modules and every (layer, direction) of the layer modules.

The contract holds states of any shape. A spec declares

- ``feature_axes``: how many trailing axes of ``x_t`` and of every state entry are
  features (1 for vectors (B, n); 3 for feature maps (B, C, H, W));
- ``state_shapes(input_shape)``: each state entry's shape without the batch axis (a
  ConvLSTM's depends on the frame size of its input);
- ``check_input_shape(input_shape)``: the one place that says which inputs fit;
- ``side_inputs``: names of per-step side inputs (a time-aware cell's elapsed time),
  which the loop hands to :meth:`CellSpec.step` as ``side={name: (B,) tensor}``.

Everything about time (lengths, reverse, zoneout, truncation, the recurrent mask) is the
loop's (:mod:`lstmkit.recurrent`), for every shape; stacking and directions are the
layers'. ``input_size`` is the size of the first feature axis of ``x_t`` (features or
channels) and ``output_size`` that of ``h``, so a layer k > 0 reads
``num_directions * output_size`` of them, whatever the family.
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
    #: trailing axes of x_t and of each state entry that are features (1: vectors)
    feature_axes: int = 1
    #: names of per-step side inputs the step needs (each given as (T, B), passed as (B,))
    side_inputs: tuple[str, ...] = ()

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
        """Feature size of each state tensor (same order as ``state_names``); vector
        families only (a family with other shapes defines :meth:`state_shapes`)."""
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

        ``recurrent_mask`` (B, *h's shape), if given, multiplies h_{t-1} where it enters
        the recurrent weights (variational dropout, Gal & Ghahramani 2016). A spec with
        ``side_inputs`` also takes ``side``: a dict of this step's (B,) side inputs.
        """
        raise NotImplementedError

    # ---- shared ---------------------------------------------------------------------
    def state_shapes(self, input_shape: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], ...]:
        """Shape of each state entry without the batch axis, for inputs whose steps have
        feature shape ``input_shape`` (``x.shape[2:]`` of a time-major input).

        The default serves vector families: ``(n,)`` per entry of :meth:`state_sizes`.

        Example:
            >>> from lstmkit.cells import LSTMCellSpec
            >>> LSTMCellSpec(3, 4).state_shapes()
            ((4,), (4,))
        """
        return tuple((n,) for n in self.state_sizes())

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Raise ValueError unless a step's input of feature shape ``input_shape`` fits.

        The default serves vector families: ``input_shape == (input_size,)``.

        Example:
            >>> from lstmkit.cells import GRUCellSpec
            >>> GRUCellSpec(3, 4).check_input_shape((5,))
            Traceback (most recent call last):
            ...
            ValueError: input has 5 features in its last dimension, expected input_size=3
        """
        if len(input_shape) != 1 or input_shape[0] != self.input_size:
            if len(input_shape) != 1:
                raise ValueError(
                    f"each step's input must have 1 feature axis of size input_size={self.input_size}, "
                    f"got feature shape {tuple(input_shape)}"
                )
            raise ValueError(
                f"input has {input_shape[0]} features in its last dimension, expected input_size={self.input_size}"
            )

    @property
    def output_size(self) -> int:
        """Size of the first feature axis of the emitted output h (features or channels)."""
        return self.state_shapes()[0][0]

    def initial_state(
        self, batch: int, input_shape: tuple[int, ...] | None = None, *, dtype=None, device=None
    ) -> tuple[Tensor, ...]:
        """The all-zero initial state: one (batch, *shape) tensor per state entry.

        Example:
            >>> from lstmkit.cells import LSTMCellSpec
            >>> [tuple(t.shape) for t in LSTMCellSpec(3, 4).initial_state(2)]
            [(2, 4), (2, 4)]
        """
        return tuple(
            torch.zeros((batch, *shape), dtype=dtype, device=device) for shape in self.state_shapes(input_shape)
        )

    def reset_parameters(self, p: Mapping[str, Tensor]) -> None:
        """torch.nn's initialisation: every tensor U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for t in p.values():
                t.uniform_(-bound, bound)

    def zero_state(self, batch: int, *, dtype=None, device=None) -> tuple[Tensor, ...]:
        """The all-zero initial state of a vector family (:meth:`initial_state` without an
        input shape)."""
        return self.initial_state(batch, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
