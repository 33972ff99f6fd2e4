r"""Highway networks (Srivastava, Greff & Schmidhuber 2015): feed-forward layers with an
LSTM-like gate that carries the input through unchanged where it is closed.

.. math::

    y = H(x) \odot T(x) + x \odot (1 - T(x)), \qquad
    H(x) = \phi(W_H x + b_H), \qquad T(x) = \sigma(W_T x + b_T)

T is the transform gate and 1 - T the carry gate. A negative transform-gate bias b_T
(the paper: "e.g. -1, -3") starts every layer close to the identity, so that a signal and
its gradient pass through hundreds of layers at initialisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HighwayLayer", "Highway", "DeepFeedForward", "ACTIVATIONS"]

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
"""The nonlinearities φ of H by name."""


def _check(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


class HighwayLayer(nn.Module):
    """One highway layer, y = H(x) T(x) + x (1 - T(x)).

    Args:
        size: features in and out (a highway layer keeps the size).
        activation: φ of H, ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
        gate_bias: the initial transform-gate bias b_T (negative: carry at first).

    Attributes:
        transform: the Linear of H (``weight`` (size, size), ``bias``).
        gate: the Linear of T.

    Example:
        >>> import torch
        >>> layer = HighwayLayer(4, gate_bias=-2.0)
        >>> layer(torch.randn(3, 4)).shape
        torch.Size([3, 4])
    """

    def __init__(self, size: int, activation: str = "relu", gate_bias: float = -2.0) -> None:
        super().__init__()
        _check("size", size)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if isinstance(gate_bias, bool) or not isinstance(gate_bias, (int, float)) or not math.isfinite(gate_bias):
            raise ValueError(f"gate_bias must be a finite number, got {gate_bias!r}")
        self.activation = activation
        self.gate_bias = float(gate_bias)
        self.transform = nn.Linear(size, size)
        self.gate = nn.Linear(size, size)
        with torch.no_grad():
            self.gate.bias.fill_(self.gate_bias)

    def transform_gate(self, x: Tensor) -> Tensor:
        """T(x) = σ(W_T x + b_T), (B, size)."""
        return torch.sigmoid(self.gate(x))

    def forward(self, x: Tensor) -> Tensor:
        t = self.transform_gate(x)
        h = ACTIVATIONS[self.activation](self.transform(x))
        return h * t + x * (1.0 - t)

    def extra_repr(self) -> str:
        return f"{self.transform.in_features}, activation={self.activation!r}, gate_bias={self.gate_bias}"


class Highway(nn.Module):
    """A stack of ``num_layers`` highway layers of one size (Srivastava et al. 2015).

    Args:
        size: features in and out of every layer.
        num_layers: highway layers.
        activation: φ of each H (``"relu"``, ``"tanh"``, ``"sigmoid"``).
        gate_bias: initial transform-gate bias of every layer; the paper initialises it
            negative ("e.g. -1, -3"), deeper nets more negative.

    Example:
        >>> import torch
        >>> net = Highway(8, num_layers=50)
        >>> net(torch.randn(2, 8)).shape
        torch.Size([2, 8])
    """

    def __init__(self, size: int, num_layers: int, activation: str = "relu", gate_bias: float = -2.0) -> None:
        super().__init__()
        _check("num_layers", num_layers)
        self.layers = nn.ModuleList(HighwayLayer(size, activation, gate_bias) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class DeepFeedForward(nn.Module):
    """A deep, thin classifier: a plain input layer to ``width``, ``depth - 1`` hidden
    layers (highway layers, or plain ones y = φ(W x + b)), a linear output; the nets of the
    paper's depth experiment (its Fig. 1).

    Plain layers and the highway layers' H use He et al.'s variance-preserving
    initialisation for ReLU (N(0, 2 / fan_in), zero bias; Glorot's for tanh/sigmoid); the
    transform gates keep torch's Linear initialisation and the negative gate bias.

    Args:
        input_size: features in. num_classes: outputs.
        width: units per hidden layer. depth: layers before the output layer (>= 1).
        kind: ``"highway"`` or ``"plain"``.
        activation: φ. gate_bias: highway layers' initial b_T.

    Example:
        >>> import torch
        >>> DeepFeedForward(784, 10, width=16, depth=10, kind="plain")(torch.randn(2, 784)).shape
        torch.Size([2, 10])
    """

    def __init__(self, input_size: int, num_classes: int, width: int = 50, depth: int = 10, kind: str = "highway",
                 activation: str = "relu", gate_bias: float = -2.0) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("num_classes", num_classes), ("width", width), ("depth", depth)):
            _check(name, v)
        if kind not in ("highway", "plain"):
            raise ValueError(f"kind must be 'highway' or 'plain', got {kind!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.config = dict(input_size=input_size, num_classes=num_classes, width=width, depth=depth, kind=kind,
                           activation=activation, gate_bias=gate_bias)
        self.activation = activation
        self.kind = kind
        self.input = nn.Linear(input_size, width)
        if kind == "highway":
            self.hidden = nn.ModuleList(HighwayLayer(width, activation, gate_bias) for _ in range(depth - 1))
        else:
            self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.output = nn.Linear(width, num_classes)
        plain = [self.input] + (list(self.hidden) if kind == "plain" else [layer.transform for layer in self.hidden])
        with torch.no_grad():
            for lin in plain:
                if activation == "relu":
                    nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_normal_(lin.weight)
                lin.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (B, num_classes) of inputs (B, input_size)."""
        phi = ACTIVATIONS[self.activation]
        h = phi(self.input(x))
        for layer in self.hidden:
            h = layer(h) if self.kind == "highway" else phi(layer(h))
        return self.output(h)
