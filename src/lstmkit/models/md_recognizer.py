"""A handwriting recognizer on raw pixels: a hierarchy of 2-D LSTM layers and subsampling
layers, collapsed to one sequence for CTC (Graves & Schmidhuber 2009, small).

Input blocks (2x2 pixels as 4 channels) -> MDLSTM (4 directions) -> a tanh feed-forward
layer over 2x2 blocks (subsampling) -> MDLSTM (4 directions) -> the rows summed away
(the "collapse" layer) -> a softmax over labels + blank per column. No hand-made features:
the network reads the image's pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers.md_lstm import MDLSTM2D
from .recognizers import _DECODERS

__all__ = ["MDLSTMRecognizer"]


class MDLSTMRecognizer(nn.Module):
    """MDLSTM + CTC on line images given column by column.

    Args:
        height: pixels per column (the line image's height; even).
        num_labels: K labels without the blank (output 0 is the blank).
        hidden: cells per direction of the two MDLSTM layers.
        subsample: units of the tanh layer between them.

    Inputs: ``x`` (T, B, height): the image's columns (padded), ``lengths`` (B,) columns.
    Output: log-probabilities (ceil(T / 4), B, K + 1); :meth:`output_lengths` maps
    ``lengths`` to the output's.

    Example:
        >>> import torch
        >>> m = MDLSTMRecognizer(8, num_labels=10, hidden=(2, 3), subsample=4)
        >>> m(torch.rand(13, 2, 8), torch.tensor([13, 9])).shape
        torch.Size([4, 2, 11])
    """

    REDUCTION = 4  # columns per output frame: the 2x2 input blocks, then the 2x2 subsampling

    def __init__(self, height: int = 34, num_labels: int = 10, hidden=(4, 12), subsample: int = 12) -> None:
        super().__init__()
        if isinstance(height, bool) or not isinstance(height, int) or height < 4 or height % 2:
            raise ValueError(f"height must be an even int >= 4, got {height!r}")
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        if (not isinstance(hidden, (tuple, list)) or len(hidden) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in hidden)):
            raise ValueError(f"hidden must be two positive ints (cells per direction of each layer), got {hidden!r}")
        n1, n2 = hidden
        self.config = {"height": height, "num_labels": num_labels, "hidden": [n1, n2], "subsample": subsample}
        self.height = height
        self.md1 = MDLSTM2D(4, n1, directions=4)
        self.sub = nn.Conv2d(4 * n1, subsample, kernel_size=2, stride=2)
        self.md2 = MDLSTM2D(subsample, n2, directions=4)
        self.output = nn.Linear(4 * n2, num_labels + 1)
        self.blank = 0

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames per sequence: ceil(columns / 4)."""
        return (torch.as_tensor(lengths) + self.REDUCTION - 1) // self.REDUCTION

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[2] != self.height:
            raise ValueError(f"x must be (T, B, {self.height}) columns of a line image, got {tuple(x.shape)}")
        T = x.shape[0]
        pad = (-T) % self.REDUCTION
        img = F.pad(x.permute(1, 2, 0), (0, pad)).unsqueeze(1)  # (B, 1, H, T')
        z = self.md1(F.pixel_unshuffle(img, 2))
        z = self.md2(torch.tanh(self.sub(z)))
        z = z.sum(dim=2)  # collapse the rows: (B, C, T'/4)
        return F.log_softmax(self.output(z.permute(2, 0, 1)), dim=-1)

    @torch.no_grad()
    def decode(self, x: Tensor, lengths: Tensor | None = None, method: str = "best_path", on_sequence=None,
               **kwargs) -> list[list[int]]:
        """Label sequences (values 1..K) for a batch (as :meth:`CTCRecognizer.decode`)."""
        if method not in _DECODERS:
            raise ValueError(f"method must be one of {tuple(_DECODERS)}, got {method!r}")
        lp = self(x, lengths)
        B = lp.shape[1]
        n = torch.full((B,), lp.shape[0]) if lengths is None else self.output_lengths(lengths)
        out = []
        for b in range(B):
            out.append(_DECODERS[method](lp[: int(n[b]), b], blank=self.blank, log=True, **kwargs))
            if on_sequence is not None:
                on_sequence()
        return out
