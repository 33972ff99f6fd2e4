"""Forecaster: an LSTM reads a window of past values and emits the next ``horizon`` values
at once (multi-input multi-output), as quantiles, so each forecast comes with a
prediction interval.

Why quantiles and the pinball loss (rather than a Gaussian mean and scale):

- the point forecast is the median, whose loss (pinball at 0.5 = absolute error) is the
  error MASE and sMAPE measure, so training and evaluation agree;
- the interval needs no assumption of symmetric or Gaussian errors: the errors of
  a multi-step forecast grow with the step and are skewed when the level grows;
- quantiles cannot cross: the outer ones are the median minus/plus a cumulative sum of
  softplus widths.

Several members (independently initialised LSTMs trained side by side on the same
batches) can be averaged: on short series (the airline data has 144 points) one LSTM's
forecast depends a lot on its initialisation, and the average of a few is steadier. The
ensemble's quantiles are the members' quantiles averaged (Vincentisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import LSTM

__all__ = ["Forecaster", "pinball_loss"]


def pinball_loss(pred: Tensor, target: Tensor, quantiles) -> Tensor:
    """Mean quantile (pinball) loss.

    ``L_q(y, f) = max(q (y - f), (q - 1) (y - f))``, averaged over everything.

    Args:
        pred: (..., H, Q) quantile forecasts.
        target: (..., H) true values (broadcast against ``pred``'s leading dims).
        quantiles: the Q levels in (0, 1).

    Example:
        >>> import torch
        >>> round(float(pinball_loss(torch.tensor([[[0.0, 1.0]]]), torch.tensor([[2.0]]), [0.5, 0.9])), 4)
        0.95
    """
    q = torch.as_tensor(list(quantiles), dtype=pred.dtype, device=pred.device)
    err = target.unsqueeze(-1) - pred
    return torch.maximum(q * err, (q - 1) * err).mean()


class Forecaster(nn.Module):
    """LSTM over a window of past values -> ``horizon`` future values, as quantiles.

    For each member m: ``h = LSTM_m(x)[last step]``, ``r = W_m h + b_m`` reshaped to
    (horizon, Q); the median is ``r[:, mid]``, the outer quantiles are the median minus
    (below) or plus (above) cumulative sums of ``softplus`` of the other entries. The
    output is the mean over members.

    Args:
        input_size: I, features per step (the scaled value, plus calendar features).
        horizon: H, steps forecast at once.
        hidden_size: units per LSTM layer.
        num_layers: stacked layers.
        quantiles: increasing levels in (0, 1), including 0.5 (the point forecast).
        variant: LSTM preset (``lstmkit.LSTMVariant`` name).
        dropout: between stacked layers and before the read-out.
        members: independently initialised LSTMs averaged.

    Inputs: ``x`` (T, B, I), time-major.

    Outputs: (B, H, Q) quantiles (``forward(x, per_member=True)``: (M, B, H, Q)).

    Example:
        >>> import torch
        >>> m = Forecaster(input_size=3, horizon=5, hidden_size=8, members=2)
        >>> q = m(torch.randn(20, 4, 3))
        >>> q.shape, bool((q[..., 0] <= q[..., 1]).all() and (q[..., 1] <= q[..., 2]).all())
        (torch.Size([4, 5, 3]), True)
    """

    def __init__(self, input_size: int = 1, horizon: int = 1, hidden_size: int = 64, num_layers: int = 1,
                 quantiles=(0.1, 0.5, 0.9), variant: str = "vanilla", dropout: float = 0.0,
                 members: int = 1) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("horizon", horizon), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("members", members)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        quantiles = [float(q) for q in quantiles]
        if any(not 0 < q < 1 for q in quantiles) or sorted(set(quantiles)) != quantiles or 0.5 not in quantiles:
            raise ValueError(f"quantiles must be increasing levels in (0, 1) including 0.5, got {quantiles}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config = {"input_size": input_size, "horizon": horizon, "hidden_size": hidden_size,
                       "num_layers": num_layers, "quantiles": quantiles, "variant": str(variant),
                       "dropout": dropout, "members": members}
        self.horizon, self.quantiles, self.mid = horizon, quantiles, quantiles.index(0.5)
        self.rnns = nn.ModuleList(LSTM(input_size, hidden_size, num_layers, variant=variant,
                                       dropout=dropout if num_layers > 1 else 0.0) for _ in range(members))
        self.heads = nn.ModuleList(nn.Linear(hidden_size, horizon * len(quantiles)) for _ in range(members))
        self.drop = nn.Dropout(dropout)

    def _shape(self, r: Tensor) -> Tensor:
        r = r.view(r.shape[0], self.horizon, len(self.quantiles))
        mid = r[..., self.mid : self.mid + 1]
        below = mid - torch.flip(torch.cumsum(F.softplus(torch.flip(r[..., : self.mid], [-1])), -1), [-1])
        above = mid + torch.cumsum(F.softplus(r[..., self.mid + 1 :]), -1)
        return torch.cat([below, mid, above], -1)

    def forward(self, x: Tensor, per_member: bool = False) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config["input_size"]:
            raise ValueError(f"x must be (T, B, {self.config['input_size']}), got shape {tuple(x.shape)}")
        outs = []
        for rnn, head in zip(self.rnns, self.heads):
            out, _ = rnn(x)
            outs.append(self._shape(head(self.drop(out[-1]))))
        q = torch.stack(outs)
        return q if per_member else q.mean(0)
