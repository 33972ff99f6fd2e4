"""The two-dimensional LSTM layer (Graves, Fernández & Schmidhuber 2007): the cell of
:mod:`lstmkit.cells.md_lstm` scanned over an image from each of its four corners.

Two ways to run one scan, tested against each other:

- ``impl="loop"`` (the reference): the plain double loop, row by row, pixel by pixel.
- ``impl="wavefront"`` (the fast path): every cell of an anti-diagonal r + c = k depends
  only on cells of diagonal k - 1, so a whole diagonal is one batched update: H + W - 1
  steps instead of H * W, and the scan directions run as one batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells.md_lstm import md_lstm_param_shapes, md_lstm_step

__all__ = ["MDLSTM2D", "DIRECTIONS"]

# (flip rows, flip columns): the scan starts at the top-left, top-right, bottom-left and
# bottom-right corner
DIRECTIONS = ((False, False), (False, True), (True, False), (True, True))


def _scan_loop(xp: Tensor, p: dict, n: int) -> Tensor:
    """The reference: xp (B, H, W, 5n) -> h (B, H, W, n), pixel by pixel from the top left."""
    B, H, W, _ = xp.shape
    zero = xp.new_zeros(B, n)
    hs = [[None] * W for _ in range(H)]
    cs = [[None] * W for _ in range(H)]
    for r in range(H):
        for c in range(W):
            left = (hs[r][c - 1], cs[r][c - 1]) if c > 0 else (zero, zero)
            up = (hs[r - 1][c], cs[r - 1][c]) if r > 0 else (zero, zero)
            hs[r][c], cs[r][c] = md_lstm_step(xp[:, r, c], left, up, p)
    return torch.stack([torch.stack(row, 1) for row in hs], 1)


def _scan_wavefront(xp: Tensor, p: dict, n: int) -> Tensor:
    """The fast path: one batched update per anti-diagonal r + c = k. xp (*lead, H, W, 5n)
    -> h (*lead, H, W, n); the leading axes may hold several scan directions, whose
    weights then carry matching leading axes."""
    *lead, H, W, _ = xp.shape
    diags = []  # (first row, rows, columns) of each anti-diagonal r + c = k
    for k in range(H + W - 1):
        lo = max(0, k - W + 1)
        rows = torch.arange(lo, min(k, H - 1) + 1, device=xp.device)
        diags.append((lo, rows, k - rows))
    flat = [rows * W + cols for _, rows, cols in diags]
    idx = torch.cat(flat)
    # the pixels in diagonal order, gathered once and split (a split's gradient is one
    # cat; indexing each diagonal out of xp would zero-fill all of xp per diagonal)
    chunks = xp.flatten(-3, -2).index_select(len(lead), idx).split([len(f) for f in flat], dim=-2)
    prev_h = prev_c = None
    lo_p = 0
    hs = []
    for (lo, rows, _), x_k in zip(diags, chunks):  # x_k (*lead, L, 5n)
        if prev_h is None:
            z = x_k.new_zeros(*lead, len(rows), n)
            left = up = (z, z)
        else:
            # the previous diagonal, padded with a zero cell at each end: a neighbour
            # outside the image lands on a pad (left of column 0: past its last row;
            # above row 0: before its first)
            ph, pc = F.pad(prev_h, (0, 0, 1, 1)), F.pad(prev_c, (0, 0, 1, 1))
            li = rows - lo_p + 1
            ui = rows - lo_p
            left = (ph[..., li, :], pc[..., li, :])
            up = (ph[..., ui, :], pc[..., ui, :])
        prev_h, prev_c = md_lstm_step(x_k, left, up, p)
        lo_p = lo
        hs.append(prev_h)
    out = torch.cat(hs, -2)
    return out.new_zeros(*lead, H * W, n).index_copy(len(lead), idx, out).view(*lead, H, W, n)


class MDLSTM2D(nn.Module):
    """A 2-D LSTM layer over images, scanned from ``directions`` corners (Graves et al. 2007).

    Args:
        in_channels: C_in of the input image.
        hidden_size: n, cells per direction.
        directions: 1 (from the top left), 2 (top left and bottom right) or 4 (every corner).
        impl: ``"wavefront"`` (anti-diagonals at once; default) or ``"loop"`` (the reference).

    Input: (B, C_in, H, W). Output: (B, directions * n, H, W), the directions' h stacked on
    the channel axis in the order of :data:`DIRECTIONS`.

    Attributes:
        weight_ih_d{k} (5n, C_in), weight_h1_d{k} (5n, n), weight_h2_d{k} (5n, n),
        bias_d{k} (5n,) for each direction k; U(-1/sqrt(n), 1/sqrt(n)) initialisation.

    Example:
        >>> import torch
        >>> m = MDLSTM2D(1, 3, directions=4)
        >>> m(torch.randn(2, 1, 5, 7)).shape
        torch.Size([2, 12, 5, 7])
    """

    def __init__(self, in_channels: int, hidden_size: int, directions: int = 4, impl: str = "wavefront") -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if directions not in (1, 2, 4):
            raise ValueError(f"directions must be 1, 2 or 4, got {directions!r}")
        self.impl = impl  # validated by the setter below
        self.in_channels, self.hidden_size, self.directions = in_channels, hidden_size, directions
        self._dirs = {1: DIRECTIONS[:1], 2: (DIRECTIONS[0], DIRECTIONS[3]), 4: DIRECTIONS}[directions]
        for d in range(directions):
            for name, shape in md_lstm_param_shapes(in_channels, hidden_size).items():
                self.register_parameter(f"{name}_d{d}", nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    @property
    def impl(self) -> str:
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        if value not in ("wavefront", "loop"):
            raise ValueError(f"impl must be 'wavefront' or 'loop', got {value!r}")
        self._impl = value

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def direction_params(self, d: int) -> dict[str, Tensor]:
        """Direction ``d``'s parameters under the cell's names (attribute access, so
        parametrizations apply)."""
        return {name: getattr(self, f"{name}_d{d}") for name in ("weight_ih", "weight_h1", "weight_h2", "bias")}

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must be (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        xl = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        flips = [[i for i, f in ((1, fr), (2, fc)) if f] for fr, fc in self._dirs]
        ps = [self.direction_params(d) for d in range(self.directions)]
        xs = [F.linear(xl.flip(dims) if dims else xl, p["weight_ih"], p["bias"]) for dims, p in zip(flips, ps)]
        if self.impl == "wavefront":
            # every direction in one wavefront: directions stacked on a leading axis
            stacked = {k: torch.stack([p[k] for p in ps])[:, None] for k in ("weight_h1", "weight_h2")}
            hs = _scan_wavefront(torch.stack(xs), stacked, self.hidden_size).unbind(0)
        else:
            hs = [_scan_loop(xd, p, self.hidden_size) for xd, p in zip(xs, ps)]
        outs = [h.flip(dims) if dims else h for h, dims in zip(hs, flips)]
        return torch.cat(outs, -1).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_size}, directions={self.directions}, impl={self.impl!r}"
