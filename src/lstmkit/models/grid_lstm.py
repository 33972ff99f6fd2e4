r"""A 1-dimensional Grid LSTM (Kalchbrenner, Danihelka & Graves 2016, "Grid Long Short-Term
Memory"): LSTM cells along *depth*. A vector input is projected once into the first
hidden vector; every layer then applies an LSTM transition to the hidden and memory
vectors coming from the layer below:

.. math::

    h_0 = W_{in} x + b_{in}, \quad m_0 = 0, \qquad
    (h_l, m_l) = \mathrm{LSTM}(h_{l-1}, m_{l-1}), \quad l = 1 \dots N, \qquad
    y = W_{out} h_N + b_{out}

with LSTM(h, m): [i, f, g, o] = [σ, σ, tanh, σ](U h + b), m' = f ⊙ m + i ⊙ g,
h' = o ⊙ tanh(m'). With ``tied=True`` every layer shares U and b (the paper's tied 1-LSTM).
Depth plays the part of time: the layers run through the house's one loop (and its fast
kernels, through :class:`lstmkit.LSTM`) over N steps of an empty (all-zero) input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import LSTM

__all__ = ["GridLSTM1D", "StackedLSTMClassifier"]


def _check(name, v, low=1):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")


class GridLSTM1D(nn.Module):
    """A tied (or untied) 1-LSTM network: LSTM cells along depth (equations in the module doc).

    Args:
        input_size: features of the input vector (k bits for k-bit parity).
        hidden_size: H, size of h and m.
        depth: N, LSTM transitions along depth.
        num_classes: outputs.
        tied: share the LSTM weights across the layers (the paper's tied 1-LSTM).

    Inputs: ``x`` (B, input_size). Output: class scores (B, num_classes).

    Example:
        >>> import torch
        >>> GridLSTM1D(10, 16, depth=4, num_classes=2)(torch.rand(3, 10)).shape
        torch.Size([3, 2])
    """

    def __init__(self, input_size: int, hidden_size: int, depth: int, num_classes: int = 2, tied: bool = True) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("depth", depth),
                        ("num_classes", num_classes)):
            _check(name, v)
        if not isinstance(tied, bool):
            raise TypeError(f"tied must be a bool, got {type(tied).__name__}")
        self.depth, self.tied = depth, tied
        self.project = nn.Linear(input_size, hidden_size)
        # depth as time: an LSTM over N steps of a one-feature zero input (its W_ih never acts)
        self.cells = nn.ModuleList(LSTM(1, hidden_size) for _ in range(1 if tied else depth))
        self.output = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"x must be (B, input_size), got {tuple(x.shape) if isinstance(x, Tensor) else x!r}")
        h = self.project(x).unsqueeze(0)          # (1, B, H)
        m = torch.zeros_like(h)
        B = x.shape[0]
        if self.tied:
            out, _ = self.cells[0](x.new_zeros(self.depth, B, 1), (h, m))
            return self.output(out[-1])
        step = x.new_zeros(1, B, 1)
        for cell in self.cells:
            _, (h, m) = cell(step, (h, m))
        return self.output(h[0])


class StackedLSTMClassifier(nn.Module):
    """The comparison: the same projection, then a stacked LSTM of ``depth`` layers over a
    single step (its memory runs along time, of which there is one step: none along depth).

    Args:
        input_size, hidden_size, depth, num_classes: as :class:`GridLSTM1D`.

    Example:
        >>> import torch
        >>> StackedLSTMClassifier(10, 16, depth=4)(torch.rand(3, 10)).shape
        torch.Size([3, 2])
    """

    def __init__(self, input_size: int, hidden_size: int, depth: int, num_classes: int = 2) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("depth", depth),
                        ("num_classes", num_classes)):
            _check(name, v)
        self.project = nn.Linear(input_size, hidden_size)
        self.lstm = LSTM(hidden_size, hidden_size, num_layers=depth)
        self.output = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(self.project(x).unsqueeze(0))
        return self.output(out[0])
