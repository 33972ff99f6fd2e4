"""The MDLSTM recognizer on raw pixels (models/md_recognizer.py): shapes, output lengths, the
collapse, CTC through the one trainer, errors."""

from __future__ import annotations

import pytest
import torch

from lstmkit.models.md_recognizer import MDLSTMRecognizer
from lstmkit.train.ctc import ctc_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def test_shapes_lengths_and_padding():
    torch.manual_seed(0)
    m = MDLSTMRecognizer(8, num_labels=3, hidden=(2, 3), subsample=4)
    x = torch.rand(14, 2, 8)
    lp = m(x)
    assert lp.shape == (4, 2, 4)  # ceil(14 / 4) frames, 3 labels + blank
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(4, 2))
    assert m.output_lengths(torch.tensor([14, 9, 4, 1])).tolist() == [4, 3, 1, 1]
    # columns are the image's: changing one pixel changes the output (through the 2-D scans)
    y = x.clone()
    y[0, 0, 0] += 1.0
    assert not torch.allclose(m(y)[:, 0], lp[:, 0])
    torch.testing.assert_close(m(y)[:, 1], lp[:, 1])  # the other line is untouched
    assert len(m.decode(x, torch.tensor([14, 9]))) == 2


def test_ctc_gradients_flow_to_every_parameter():
    torch.manual_seed(0)
    m = MDLSTMRecognizer(8, num_labels=3, hidden=(2, 2), subsample=2)
    x = torch.rand(16, 2, 8)
    n = torch.tensor([16, 12])
    loss = ctc_loss(m(x, n), [[1, 2], [3]], m.output_lengths(n))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_errors():
    with pytest.raises(ValueError, match="height must be an even int"):
        MDLSTMRecognizer(7)
    with pytest.raises(ValueError, match="hidden must be two positive ints"):
        MDLSTMRecognizer(8, hidden=(2,))
    with pytest.raises(ValueError, match=r"x must be \(T, B, 8\)"):
        MDLSTMRecognizer(8, hidden=(2, 2))(torch.rand(5, 2, 6))
