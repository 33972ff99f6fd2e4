"""SequenceModel: one recurrent layer stack plus a linear read-out.

The small model every classic experiment uses: an LSTM of any variant (or, as the
baseline, an Elman RNN or a GRU) followed by a linear layer applied either at every time
step (next-symbol prediction, streams) or at each sequence's own last step (a label or a
value at the end).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import GRU, LSTM, RNN
from ..variants import PRESETS

__all__ = ["SequenceModel", "CELLS"]

CELLS = ("lstm", "elman", "gru")
"""Recurrent families a :class:`SequenceModel` can hold (``"lstm"`` takes a variant)."""

_READOUTS = ("every", "last")


class SequenceModel(nn.Module):
    """A recurrent stack and a linear read-out, time-major.

    ``y_t = W h_t + b`` at every step (``readout="every"``) or only at each sequence's
    last valid step (``readout="last"``). With ``skip=True`` the output also sees the
    input directly, ``y_t = W h_t + V x_t + b`` (the 1997 nets: "each layer has
    connections from all layers below").

    Args:
        input_size: I, features per step.
        hidden_size: H, units per layer (LSTM: cells; 1997's "blocks x cells" is H here).
        output_size: O, outputs of the read-out.
        cell: ``"lstm"``, ``"elman"`` (tanh RNN) or ``"gru"``.
        variant: LSTM variant preset name or :class:`lstmkit.LSTMVariant` (lstm only).
        num_layers: stacked layers.
        readout: ``"every"`` or ``"last"``.
        forget_bias: initial forget-gate bias (lstm only; ``None``: the layer's default).
        skip: add direct input-to-output connections ``V`` (no bias).

    Inputs: ``x`` (T, B, I), ``lengths`` optional (B,) ints, ``state`` optional
    (the recurrent layer's state, to continue a stream).

    Outputs: ``(y, state)``: y (T, B, O) for "every" (zero past each length) or (B, O)
    for "last"; ``state`` the layer's final state (an LSTM's ``(h, c)``, a tensor for
    elman/gru).

    Example:
        >>> import torch
        >>> from lstmkit.models import SequenceModel
        >>> m = SequenceModel(3, 8, 2, variant="vanilla", readout="last")
        >>> y, (h, c) = m(torch.randn(7, 4, 3), lengths=torch.tensor([7, 5, 2, 1]))
        >>> y.shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str = "lstm",
        variant="vanilla",
        num_layers: int = 1,
        readout: str = "every",
        forget_bias: float | None = None,
        skip: bool = False,
    ) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {readout!r}")
        self.cell = cell
        self.readout = readout
        if cell == "lstm":
            self.rnn = LSTM(input_size, hidden_size, num_layers, variant=variant, forget_bias=forget_bias)
        elif cell == "gru":
            self.rnn = GRU(input_size, hidden_size, num_layers)
        else:
            self.rnn = RNN(input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, output_size)
        self.skip = nn.Linear(input_size, output_size, bias=False) if skip else None

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        out, state = self.rnn(x, state, lengths=lengths)
        if self.readout == "every":
            y = self.head(out)
            if self.skip is not None:
                y = y + self.skip(x)  # padded steps have x = 0: nothing added there
            return y, state
        if lengths is None:
            last, last_x = out[-1], x[-1]
        else:
            idx = (lengths.to(out.device).long() - 1).view(1, -1, 1)
            last = out.gather(0, idx.expand(1, -1, out.shape[-1])).squeeze(0)
            last_x = x.gather(0, idx.expand(1, -1, x.shape[-1])).squeeze(0)
        y = self.head(last)
        if self.skip is not None:
            y = y + self.skip(last_x)
        return y, state


def describe_model(cell: str, variant) -> str:
    """A short human name: ``"LSTM (vanilla)"``, ``"Elman RNN"``, ``"GRU"``."""
    if cell == "elman":
        return "Elman RNN"
    if cell == "gru":
        return "GRU"
    return f"LSTM ({variant})"


def parse_model_name(name: str) -> tuple[str, str | None]:
    """``"elman"`` -> ("elman", None); ``"gru"`` -> ("gru", None); a preset -> ("lstm", preset).

    Example:
        >>> parse_model_name("cifg"), parse_model_name("elman")
        (('lstm', 'cifg'), ('elman', None))
    """
    if not isinstance(name, str):
        raise TypeError(f"variant must be a str, got {type(name).__name__}")
    if name in ("elman", "rnn"):
        return "elman", None
    if name == "gru":
        return "gru", None
    if name not in PRESETS:
        raise ValueError(f"unknown variant {name!r}; expected 'elman', 'gru' or one of {sorted(PRESETS)}")
    return "lstm", name
