"""Heads on a (bi)LSTM stack: a CTC recognizer and a sequence classifier.

Both take time-major padded input with ``lengths`` and hold their constructor arguments
in ``config`` so that :func:`lstmkit.models.io.save_model` / ``load_model`` can rebuild
them from a directory (safetensors + JSON).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import LSTM
from ..train.ctc import beam_search_decode, best_path_decode, prefix_search_decode

__all__ = ["CTCRecognizer", "SequenceClassifier", "ConvBlock"]

_DECODERS = {"best_path": best_path_decode, "prefix": prefix_search_decode, "beam": beam_search_decode}


class CTCRecognizer(nn.Module):
    """A stacked bidirectional LSTM (any variant) with a softmax over labels + blank,
    trained with CTC (Graves et al. 2006).

    Args:
        input_size: I, features per frame.
        num_labels: K, labels without the blank. Output 0 is the blank, outputs 1..K the
            labels (so targets hold values in 1..K).
        hidden_size: H per direction.
        num_layers: stacked layers.
        variant: LSTM variant (preset name).
        bidirectional: run both directions (Graves's BLSTM).
        dropout: between layers.

    Inputs: ``x`` (T, B, I), ``lengths`` (B,). Output: log-probabilities (T, B, K + 1).

    Example:
        >>> import torch
        >>> m = CTCRecognizer(13, num_labels=10, hidden_size=8)
        >>> lp = m(torch.randn(20, 2, 13), torch.tensor([20, 15]))
        >>> lp.shape
        torch.Size([20, 2, 11])
        >>> len(m.decode(torch.randn(20, 2, 13), torch.tensor([20, 15])))
        2
    """

    def __init__(self, input_size: int, num_labels: int, hidden_size: int = 128, num_layers: int = 2,
                 variant: str = "vanilla", bidirectional: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        self.config = dict(input_size=input_size, num_labels=num_labels, hidden_size=hidden_size,
                           num_layers=num_layers, variant=variant, bidirectional=bidirectional, dropout=dropout)
        self.lstm = LSTM(input_size, hidden_size, num_layers, bidirectional=bidirectional, variant=variant,
                         dropout=dropout)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), num_labels + 1)
        self.blank = 0

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.lstm(x, lengths=lengths)
        return F.log_softmax(self.output(out), dim=-1)

    @torch.no_grad()
    def decode(self, x: Tensor, lengths: Tensor | None = None, method: str = "best_path", on_sequence=None,
               **kwargs) -> list[list[int]]:
        """Label sequences (values 1..K) for a batch, with ``method`` in
        ``"best_path"``, ``"prefix"`` (prefix search) or ``"beam"`` (kwargs go to the decoder);
        ``on_sequence()``, if given, is called after each sequence (a progress bar's update)."""
        if method not in _DECODERS:
            raise ValueError(f"method must be one of {tuple(_DECODERS)}, got {method!r}")
        with torch.no_grad():
            lp = self(x, lengths)
        T, B = lp.shape[:2]
        lengths = torch.full((B,), T) if lengths is None else torch.as_tensor(lengths)
        fn = _DECODERS[method]
        out = []
        for b in range(B):
            out.append(fn(lp[: int(lengths[b]), b], blank=self.blank, log=True, **kwargs))
            if on_sequence is not None:
                on_sequence()
        return out


class _MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over (B, C, T) whose training statistics count only the valid steps."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if not self.training or mask is None:
            return super().forward(x)
        m = mask.to(x.dtype).unsqueeze(1)  # (B, 1, T)
        n = m.sum().clamp_min(1.0)
        mean = (x * m).sum((0, 2)) / n
        var = (((x - mean[None, :, None]) ** 2) * m).sum((0, 2)) / n
        with torch.no_grad():
            mom = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - mom).add_(mom * mean)
            self.running_var.mul_(1 - mom).add_(mom * var * n / (n - 1).clamp_min(1.0))
            self.num_batches_tracked += 1
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        return y * self.weight[None, :, None] + self.bias[None, :, None]


class ConvBlock(nn.Module):
    """The fully convolutional branch of LSTM-FCN (Karim et al. 2017; the FCN of Wang et al.
    2017): three temporal convolutions (kernels 8, 5, 3) each with batch normalisation and a
    ReLU, then the average over each sequence's valid steps.

    Padding never changes the result: steps past each length are zeroed after every
    convolution ("same" zero padding then sees exactly what an unpadded sequence sees) and
    the batch statistics count only valid steps.

    Args:
        input_size: I, channels per step.
        filters: the three convolutions' output channels (the paper's 128, 256, 128).

    Inputs: ``x`` (T, B, I) time-major, ``lengths`` (B,) or None. Output: (B, filters[-1]).

    Example:
        >>> import torch
        >>> ConvBlock(3, (8, 16, 8))(torch.randn(20, 2, 3), torch.tensor([20, 7])).shape
        torch.Size([2, 8])
    """

    KERNELS = (8, 5, 3)

    def __init__(self, input_size: int, filters=(128, 256, 128)) -> None:
        super().__init__()
        filters = tuple(filters)
        if len(filters) != 3 or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in filters):
            raise ValueError(f"filters must be three positive ints, got {filters!r}")
        sizes = (input_size,) + filters
        self.convs = nn.ModuleList(nn.Conv1d(sizes[k], sizes[k + 1], K) for k, K in enumerate(self.KERNELS))
        self.norms = nn.ModuleList(_MaskedBatchNorm1d(f) for f in filters)
        self.output_size = filters[-1]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h = x.permute(1, 2, 0)  # (B, I, T)
        mask = None
        if lengths is not None:
            n = torch.as_tensor(lengths, device=x.device)
            mask = torch.arange(x.shape[0], device=x.device).unsqueeze(0) < n.unsqueeze(1)  # (B, T)
            h = h * mask.unsqueeze(1).to(h.dtype)
        for conv, norm in zip(self.convs, self.norms):
            K = conv.kernel_size[0]  # "same" zero padding, (K-1)//2 before and K//2 after
            h = F.relu(norm(conv(F.pad(h, ((K - 1) // 2, K // 2))), mask))
            if mask is not None:
                h = h * mask.unsqueeze(1).to(h.dtype)
        if mask is None:
            return h.mean(2)
        return h.sum(2) / mask.sum(1, keepdim=True).to(h.dtype)


class SequenceClassifier(nn.Module):
    """A stacked (bi)LSTM whose outputs are pooled over each sequence, then a linear layer.

    ``pooling="mean"`` averages the outputs over the valid steps; ``"last"`` takes the
    final state of each direction (forward: last valid step; reverse: first step);
    ``"max"`` takes the maximum of each output feature over the valid steps.

    With ``vocab_size`` the input is token ids (T, B) (int64, 0 = padding) and a learned
    embedding of ``input_size`` features per token comes first (text classification).

    Args:
        input_size: I, features per step (with ``vocab_size``: the embedding dimension).
        num_classes: K >= 2. hidden_size: H per direction. num_layers: stacked layers.
        variant: LSTM preset. bidirectional: both directions. dropout: between layers.
        pooling: "mean", "last" or "max".
        vocab_size: number of token ids (None: the input is already features).
        embedding_dropout: dropout on the embedded tokens (training only).
        output_dropout: dropout on the pooled features before the linear layer.
        conv_filters: None, or three ints: a :class:`ConvBlock` beside the LSTM whose pooled
            output is concatenated with the LSTM's before the linear layer (LSTM-FCN,
            Karim et al. 2017, with the LSTM run over time).

    Example:
        >>> import torch
        >>> m = SequenceClassifier(13, num_classes=10, hidden_size=8)
        >>> m(torch.randn(20, 3, 13), torch.tensor([20, 9, 4])).shape
        torch.Size([3, 10])
        >>> t = SequenceClassifier(16, num_classes=2, hidden_size=8, vocab_size=100)
        >>> t(torch.randint(1, 100, (7, 3)), torch.tensor([7, 5, 2])).shape
        torch.Size([3, 2])
    """

    def __init__(self, input_size: int, num_classes: int, hidden_size: int = 64, num_layers: int = 2,
                 variant: str = "vanilla", bidirectional: bool = True, dropout: float = 0.0,
                 pooling: str = "mean", vocab_size: int | None = None, embedding_dropout: float = 0.0,
                 output_dropout: float = 0.0, conv_filters=None) -> None:
        super().__init__()
        if pooling not in ("mean", "last", "max"):
            raise ValueError(f"pooling must be 'mean', 'last' or 'max', got {pooling!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int)
                                       or vocab_size < 2):
            raise ValueError(f"vocab_size must be None or an int >= 2, got {vocab_size!r}")
        for name, rate in (("embedding_dropout", embedding_dropout), ("output_dropout", output_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
        self.config = dict(input_size=input_size, num_classes=num_classes, hidden_size=hidden_size,
                           num_layers=num_layers, variant=variant, bidirectional=bidirectional,
                           dropout=dropout, pooling=pooling)
        if vocab_size is not None:  # only then, so that older model directories load unchanged
            self.config.update(vocab_size=vocab_size, embedding_dropout=embedding_dropout)
        if output_dropout:
            self.config.update(output_dropout=output_dropout)
        if conv_filters is not None:  # only then, so that older model directories load unchanged
            conv_filters = [int(f) for f in conv_filters] if isinstance(conv_filters, (list, tuple)) else conv_filters
            if vocab_size is not None:
                raise ValueError("conv_filters needs feature inputs; it cannot be combined with vocab_size")
            self.config.update(conv_filters=conv_filters)
        self.conv = ConvBlock(input_size, conv_filters) if conv_filters is not None else None
        self.embedding = nn.Embedding(vocab_size, input_size, padding_idx=0) if vocab_size is not None else None
        self.embedding_dropout = embedding_dropout
        self.output_dropout = output_dropout
        self.lstm = LSTM(input_size, hidden_size, num_layers, bidirectional=bidirectional, variant=variant,
                         dropout=dropout)
        self.pooling = pooling
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1)
                                + (self.conv.output_size if self.conv is not None else 0), num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Class scores (B, num_classes) (logits). ``x``: (T, B, I) features, or (T, B)
        token ids when the model has an embedding; ``lengths``: (B,) or None (full length)."""
        if self.embedding is not None:
            if x.dim() != 2 or x.dtype != torch.long:
                raise TypeError(f"this classifier embeds tokens: x must be (T, B) int64 token ids, got "
                                f"{x.dtype} of shape {tuple(x.shape)}")
            x = self.embedding(x)
            if self.training and self.embedding_dropout > 0:
                x = F.dropout(x, self.embedding_dropout, training=True)
        out, (h, _) = self.lstm(x, lengths=lengths)
        if self.pooling == "last":
            D = 2 if self.lstm.bidirectional else 1
            feat = torch.cat([h[-D + d] for d in range(D)], dim=-1)
        elif self.pooling == "max":
            if lengths is not None:
                n = torch.as_tensor(lengths, device=out.device)
                pad = torch.arange(out.shape[0], device=out.device).unsqueeze(1) >= n.unsqueeze(0)
                out = out.masked_fill(pad.unsqueeze(-1), float("-inf"))
            feat = out.max(0).values
        elif lengths is None:
            feat = out.mean(0)
        else:
            n = torch.as_tensor(lengths, device=out.device).to(out.dtype).unsqueeze(-1)
            feat = out.sum(0) / n  # outputs are zero past each length
        if self.conv is not None:
            feat = torch.cat([feat, self.conv(x, lengths)], dim=-1)
        if self.training and self.output_dropout > 0:
            feat = F.dropout(feat, self.output_dropout, training=True)
        return self.output(feat)
