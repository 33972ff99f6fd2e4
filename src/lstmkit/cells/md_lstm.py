"""One cell update of the two-dimensional LSTM (Graves, Fernández & Schmidhuber 2007;
Graves & Schmidhuber 2009): a cell at pixel (r, c) sees the states of its two
predecessors along the scan, (r, c-1) ("left", dimension 1) and (r-1, c) ("up",
dimension 2), and has one forget gate per dimension:

.. math::
    a &= W x_{r,c} + U^1 h_{r,c-1} + U^2 h_{r-1,c} + b
        \\quad\\text{(blocks } i, f^1, f^2, g, o)\\\\
    c_{r,c} &= \\sigma(a_i)\\,\\tanh(a_g) + \\sigma(a_{f^1})\\,c_{r,c-1} + \\sigma(a_{f^2})\\,c_{r-1,c}\\\\
    h_{r,c} &= \\sigma(a_o)\\,\\tanh(c_{r,c})

States outside the image are zero. Parameter layout (one scan direction):

==============  ==============  =================================================
name            shape           meaning
==============  ==============  =================================================
``weight_ih``   (5n, C_in)      W, blocks (i, f1, f2, g, o)
``weight_h1``   (5n, n)         U^1, from the left neighbour's h
``weight_h2``   (5n, n)         U^2, from the upper neighbour's h
``bias``        (5n,)           b
==============  ==============  =================================================

This is not a family of the time-recurrence registry (its state has two predecessors,
not one); :class:`lstmkit.layers.md_lstm.MDLSTM2D` runs it over images.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

__all__ = ["md_lstm_param_shapes", "md_lstm_step", "GATES"]

GATES = ("i", "f1", "f2", "g", "o")


def md_lstm_param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    """The shapes of one scan direction's parameters.

    Example:
        >>> md_lstm_param_shapes(3, 4)["weight_h1"]
        (20, 4)
    """
    n = hidden_size
    return {"weight_ih": (5 * n, input_size), "weight_h1": (5 * n, n), "weight_h2": (5 * n, n), "bias": (5 * n,)}


def md_lstm_step(xp: Tensor, left: tuple[Tensor, Tensor], up: tuple[Tensor, Tensor],
                 p: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """One update for any number of cells at once (the last axis is the feature axis).

    Args:
        xp: W x + b, (..., 5n) (the input projection, computed for all pixels at once).
        left: (h, c) of the left neighbours, each (..., n) (zeros outside the image).
        up: (h, c) of the upper neighbours, each (..., n).
        p: ``weight_h1``, ``weight_h2`` (see the module docstring), each (5n, n), or with
            leading axes that broadcast against ``xp``'s (several scan directions at once).

    Returns:
        ``(h, c)``, each (..., n).

    Example:
        >>> import torch
        >>> p = {k: torch.randn(s) for k, s in md_lstm_param_shapes(3, 2).items()}
        >>> z = torch.zeros(4, 2)
        >>> h, c = md_lstm_step(torch.randn(4, 10), (z, z), (z, z), p)
        >>> h.shape
        torch.Size([4, 2])
    """
    (h1, c1), (h2, c2) = left, up
    # .mT: the weights may carry leading axes (scan directions run as one batch)
    a = xp + h1 @ p["weight_h1"].mT + h2 @ p["weight_h2"].mT
    i, f1, f2, g, o = a.chunk(5, dim=-1)
    c = torch.sigmoid(i) * torch.tanh(g) + torch.sigmoid(f1) * c1 + torch.sigmoid(f2) * c2
    return torch.sigmoid(o) * torch.tanh(c), c
