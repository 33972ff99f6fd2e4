"""TimeAwareClassifier: Δt rides in the last feature, padding never changes a prediction,
the times matter, bad inputs are refused."""

from __future__ import annotations

import pytest
import torch

from lstmkit.models.time_aware import TimeAwareClassifier


def test_padding_and_times():
    torch.manual_seed(0)
    m = TimeAwareClassifier(2, 3, hidden_size=5, num_layers=1).eval()
    x = torch.cat([torch.randn(6, 2, 2), torch.rand(6, 2, 1) * 3], -1)
    x[4:, 1] = 0.0
    full = m(x, torch.tensor([6, 4]))
    alone = m(x[:4, 1:2], torch.tensor([4]))
    assert torch.allclose(full[1], alone[0], atol=1e-6)
    x2 = x.clone()
    x2[..., -1] *= 10
    assert not torch.allclose(m(x2, torch.tensor([6, 4])), full, atol=1e-4)
    with pytest.raises(ValueError, match=r"x must be \(T, B, 3\)"):
        m(torch.randn(6, 2, 2))
    with pytest.raises(ValueError, match="dt must be >= 0"):
        m(torch.cat([torch.randn(6, 2, 2), -torch.ones(6, 2, 1)], -1))
    with pytest.raises(ValueError, match="num_classes"):
        TimeAwareClassifier(2, 1)
