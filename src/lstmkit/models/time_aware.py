"""A sequence classifier on a time-aware LSTM (T-LSTM, Baytas et al. 2017) for irregularly
sampled sequences: the elapsed time before each step rides in the input's last feature.

Carrying Δt as the last feature keeps the classifier's call ``model(x, lengths)`` the
same as :class:`lstmkit.models.SequenceClassifier`'s, so padding, batching and the
classify pipeline serve both.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers.t_lstm import TLSTM

__all__ = ["TimeAwareClassifier"]


class TimeAwareClassifier(nn.Module):
    """A stacked (bi)T-LSTM whose outputs are averaged over each sequence's valid steps,
    then a linear layer; the input's last feature is the elapsed time Δt before each step.

    Args:
        input_size: I, features per step *without* Δt (the input has I + 1).
        num_classes: K >= 2. hidden_size: H per direction. num_layers: stacked layers.
        bidirectional: both directions. dropout: between layers.
        short_term: ``"tanh"`` (the paper) or ``"sigmoid"`` (the authors' code).

    Inputs: ``x`` (T, B, I + 1) time-major, ``x[..., -1]`` = Δt >= 0 (0 on padding and at
    each first step); ``lengths`` (B,) or None. Output: class scores (B, K) (logits).

    Example:
        >>> import torch
        >>> m = TimeAwareClassifier(2, num_classes=3, hidden_size=4)
        >>> x = torch.cat([torch.randn(6, 2, 2), torch.rand(6, 2, 1)], -1)
        >>> m(x, torch.tensor([6, 3])).shape
        torch.Size([2, 3])
    """

    def __init__(self, input_size: int, num_classes: int, hidden_size: int = 64, num_layers: int = 2,
                 bidirectional: bool = True, dropout: float = 0.0, short_term: str = "tanh") -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.config = dict(input_size=input_size, num_classes=num_classes, hidden_size=hidden_size,
                           num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                           short_term=short_term)
        self.rnn = TLSTM(input_size, hidden_size, num_layers, bidirectional=bidirectional, dropout=dropout,
                         short_term=short_term)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Class scores (B, K); ``x`` (T, B, I + 1) with Δt last, ``lengths`` (B,) or None."""
        want = self.config["input_size"] + 1
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != want:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be (T, B, {want}): {want - 1} features and the elapsed time last, got {got}")
        feats, dt = x[..., :-1], x[..., -1]
        out, _ = self.rnn(feats, lengths=lengths, dt=dt)
        if lengths is None:
            feat = out.mean(0)
        else:
            n = torch.as_tensor(lengths, device=out.device).to(out.dtype).unsqueeze(-1)
            feat = out.sum(0) / n  # outputs are zero past each length
        return self.output(feat)
