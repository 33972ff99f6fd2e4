"""The 1-LSTM grid network: its depth recurrence written out (tied and untied), the
stacked comparison has no memory along depth, bad arguments."""

from __future__ import annotations

import pytest
import torch

from lstmkit.models.grid_lstm import GridLSTM1D, StackedLSTMClassifier


def _lstm(cell, h, m):
    p = {k[:-3]: v for k, v in cell.state_dict().items()}
    z = h @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]          # the zero input adds nothing
    i, f, g, o = z.chunk(4, -1)
    m = torch.sigmoid(f) * m + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(m), m


@pytest.mark.parametrize("tied", [True, False])
def test_depth_recurrence_by_hand(tied):
    torch.manual_seed(0)
    net = GridLSTM1D(5, 6, depth=4, tied=tied).eval()
    x = torch.randn(3, 5)
    h = net.project(x)
    m = torch.zeros_like(h)
    for layer in range(4):
        h, m = _lstm(net.cells[0 if tied else layer], h, m)
    assert torch.allclose(net(x), net.output(h), atol=1e-6)
    assert len(net.cells) == (1 if tied else 4)


def test_stacked_comparison_and_errors():
    torch.manual_seed(1)
    s = StackedLSTMClassifier(5, 6, depth=3)
    assert s(torch.randn(2, 5)).shape == (2, 2) and s.lstm.num_layers == 3
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        GridLSTM1D(5, 6, depth=0)
    with pytest.raises(TypeError, match="tied must be a bool"):
        GridLSTM1D(5, 6, depth=2, tied=1)
    with pytest.raises(ValueError, match=r"x must be \(B, input_size\)"):
        GridLSTM1D(5, 6, depth=2)(torch.randn(5))
