"""Highway layers: the equation, the carry/transform limits of the gate, the negative bias
at initialisation, the plain/highway classifiers, the bad arguments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lstmkit.models.highway import DeepFeedForward, Highway, HighwayLayer


def test_layer_equation_and_its_limits():
    torch.manual_seed(0)
    layer = HighwayLayer(5, activation="tanh", gate_bias=-1.5)
    x = torch.randn(3, 5)
    t = torch.sigmoid(x @ layer.gate.weight.T + layer.gate.bias)
    h = torch.tanh(x @ layer.transform.weight.T + layer.transform.bias)
    assert torch.allclose(layer(x), h * t + x * (1 - t), atol=1e-6)
    assert torch.equal(layer.gate.bias, torch.full((5,), -1.5))
    with torch.no_grad():
        layer.gate.bias.fill_(-60.0)          # gate shut: the layer carries its input
    assert torch.allclose(layer(x), x, atol=1e-6)
    with torch.no_grad():
        layer.gate.bias.fill_(60.0)           # gate open: a plain layer
    assert torch.allclose(layer(x), h, atol=1e-6)


def test_stack_passes_signal_and_gradient_through_depth():
    torch.manual_seed(1)
    x = torch.rand(16, 784)
    y = torch.randint(0, 10, (16,))
    grads = {}
    for kind, bias in (("highway", -4.0), ("plain", -2.0)):
        torch.manual_seed(1)
        net = DeepFeedForward(784, 10, width=20, depth=60, kind=kind, gate_bias=bias)
        F.cross_entropy(net(x), y).backward()
        grads[kind] = float(net.input.weight.grad.norm())
    # the carry path keeps the first layer's gradient far above the plain net's
    assert grads["highway"] > 10 * grads["plain"]
    assert Highway(6, 40)(torch.randn(2, 6)).shape == (2, 6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        HighwayLayer(4, activation="gelu")
    with pytest.raises(ValueError, match="gate_bias must be a finite number"):
        HighwayLayer(4, gate_bias=float("nan"))
    with pytest.raises(ValueError, match="num_layers must be an int >= 1"):
        Highway(4, 0)
    with pytest.raises(ValueError, match="kind must be"):
        DeepFeedForward(4, 2, kind="residual")
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        DeepFeedForward(4, 2, depth=0)
