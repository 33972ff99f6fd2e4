"""Video prediction: the encoding-forecasting network of stacked ConvLSTMs (Shi et al. 2015,
Fig. 3) and the FC-LSTM encoder-decoder it is compared with (Srivastava et al. 2015).

Frames are first cut into ``patch`` x ``patch`` patches stacked as channels (a 64x64
frame with 4x4 patches becomes a 16-channel 16x16 tensor, as in the paper), so that each
ConvLSTM state pixel covers a patch. The encoder reads the input frames; the forecaster,
whose states start as copies of the encoder's last states, runs on for the frames to
predict with no input (the paper's Fig. 3); all forecaster layers' hidden states are
concatenated and a 1x1 convolution turns them into the predicted frames' logits (one per
pixel and patch position). The loss is the paper's: the per-sequence cross-entropy, the
binary cross-entropy of every predicted pixel summed over the frames and pixels of a
sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import LSTM
from ..layers.conv_lstm import ConvLSTM

__all__ = ["EncoderForecaster", "FCLSTMForecaster", "sequence_cross_entropy"]


def _pos_int(name: str, v, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return v


def _hidden(name: str, v) -> list[int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f"{name} must be an int or a non-empty list of ints, got {v!r}")
    return [_pos_int(f"{name}[{i}]", x) for i, x in enumerate(v)]


def sequence_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """The per-sequence cross-entropy of Shi et al. (2015): binary cross-entropy summed over
    each sequence's predicted frames and pixels, averaged over the batch.

    Args:
        logits: (B, T, H, W) (or any (B, ...)) predicted logits.
        target: frames in [0, 1] of the same shape.

    Example:
        >>> import torch
        >>> round(float(sequence_cross_entropy(torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4))), 3)
        33.271
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have one shape")
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def _ink_prior(bias: Tensor, ink: float = 0.05) -> None:
    """Start the read-out at the logit of the share of lit pixels in a moving-digit frame
    (about 5%), so that training begins from the mean frame rather than from grey."""
    with torch.no_grad():
        bias.fill_(float(torch.logit(torch.tensor(ink))))


class EncoderForecaster(nn.Module):
    """Shi et al.'s (2015) encoding-forecasting ConvLSTM network for frame prediction.

    Args:
        frame_size: H (= W) of the (square, one-channel) frames, divisible by ``patch``.
        hidden: channels of each stacked ConvLSTM layer (encoder and forecaster alike),
            e.g. ``[64, 64]``.
        kernel_size: input-to-state kernel (odd).
        recurrent_kernel_size: state-to-state kernel (odd; default ``kernel_size``); the
            paper's Table 1 compares 5x5 with 1x1.
        patch: patch size; frames become (patch**2, H/patch, W/patch) tensors.
        peepholes: the ConvLSTM's Hadamard peepholes (the paper's eq. 3).

    Input: ``frames`` (B, T_in, H, W) in [0, 1]; ``horizon`` frames to predict.
    Output: logits (B, horizon, H, W) (``torch.sigmoid`` gives the predicted frames).

    Example:
        >>> import torch
        >>> m = EncoderForecaster(16, [8], kernel_size=3, patch=4)
        >>> m(torch.rand(2, 5, 16, 16), horizon=3).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, frame_size: int = 64, hidden=(64, 64), kernel_size: int = 5,
                 recurrent_kernel_size: int | None = None, patch: int = 4, peepholes: bool = True) -> None:
        super().__init__()
        frame_size, patch = _pos_int("frame_size", frame_size), _pos_int("patch", patch)
        if frame_size % patch:
            raise ValueError(f"frame_size ({frame_size}) must be divisible by patch ({patch})")
        hidden = _hidden("hidden", hidden)
        rk = kernel_size if recurrent_kernel_size is None else recurrent_kernel_size
        self.config = {"frame_size": frame_size, "hidden": hidden, "kernel_size": kernel_size,
                       "recurrent_kernel_size": rk, "patch": patch, "peepholes": bool(peepholes)}
        self.patch, self.grid = patch, frame_size // patch
        C = patch * patch
        fs = (self.grid, self.grid)

        def stack(first_in):
            layers, n_in = nn.ModuleList(), first_in
            for h in hidden:
                layers.append(ConvLSTM(n_in, h, kernel_size, batch_first=True, peepholes=peepholes,
                                       frame_size=fs, recurrent_kernel_size=rk))
                n_in = h
            return layers

        self.encoder = stack(C)
        # The forecaster has no input of its own (Fig. 3): one zero channel
        self.forecaster = stack(1)
        self.head = nn.Conv2d(sum(hidden), C, 1)
        _ink_prior(self.head.bias)

    def _to_patches(self, frames: Tensor) -> Tensor:
        B, T = frames.shape[:2]
        x = F.pixel_unshuffle(frames.reshape(B * T, 1, *frames.shape[2:]), self.patch)
        return x.reshape(B, T, *x.shape[1:])

    def forward(self, frames: Tensor, horizon: int = 10) -> Tensor:
        if frames.dim() != 4 or frames.shape[2] != frames.shape[3] or frames.shape[2] != self.grid * self.patch:
            n = self.grid * self.patch
            raise ValueError(f"frames must be (B, T, {n}, {n}), got {tuple(frames.shape)}")
        horizon = _pos_int("horizon", horizon)
        x = self._to_patches(frames)
        states = []
        for layer in self.encoder:
            x, st = layer(x)
            states.append(st)
        B = frames.shape[0]
        z = frames.new_zeros(B, horizon, 1, self.grid, self.grid)
        outs = []
        for layer, st in zip(self.forecaster, states):
            z, _ = layer(z, st)
            outs.append(z)
        y = self.head(torch.cat(outs, dim=2).flatten(0, 1))
        y = F.pixel_shuffle(y, self.patch)
        return y.reshape(B, horizon, *frames.shape[2:])


class FCLSTMForecaster(nn.Module):
    """The FC-LSTM baseline (Srivastava et al. 2015, as compared in Shi et al. 2015):
    frames flattened into vectors, an encoder LSTM stack, a forecaster stack started from
    its states, a linear read-out of every pixel's logit.

    Args:
        frame_size: H (= W) of the one-channel frames.
        hidden: units of each LSTM layer.

    Example:
        >>> import torch
        >>> FCLSTMForecaster(8, [16])(torch.rand(2, 4, 8, 8), horizon=2).shape
        torch.Size([2, 2, 8, 8])
    """

    def __init__(self, frame_size: int = 64, hidden=(256,)) -> None:
        super().__init__()
        frame_size = _pos_int("frame_size", frame_size)
        hidden = _hidden("hidden", hidden)
        self.config = {"frame_size": frame_size, "hidden": hidden}
        self.frame_size = frame_size
        P = frame_size * frame_size

        def stack(first_in):
            layers, n_in = nn.ModuleList(), first_in
            for h in hidden:
                layers.append(LSTM(n_in, h, batch_first=True))
                n_in = h
            return layers

        self.encoder = stack(P)
        self.forecaster = stack(1)
        self.head = nn.Linear(sum(hidden), P)
        _ink_prior(self.head.bias)

    def forward(self, frames: Tensor, horizon: int = 10) -> Tensor:
        n = self.frame_size
        if frames.dim() != 4 or tuple(frames.shape[2:]) != (n, n):
            raise ValueError(f"frames must be (B, T, {n}, {n}), got {tuple(frames.shape)}")
        horizon = _pos_int("horizon", horizon)
        B = frames.shape[0]
        x = frames.reshape(B, frames.shape[1], -1)
        states = []
        for layer in self.encoder:
            x, st = layer(x)
            states.append(st)
        z = frames.new_zeros(B, horizon, 1)
        outs = []
        for layer, st in zip(self.forecaster, states):
            z, _ = layer(z, st)
            outs.append(z)
        return self.head(torch.cat(outs, dim=2)).reshape(B, horizon, n, n)
