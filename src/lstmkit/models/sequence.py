"""SequenceModel: one recurrent layer stack plus a linear read-out.

The small model every classic experiment uses: an LSTM of any variant (or, as the
baseline, an Elman RNN or a GRU) followed by a linear layer applied either at every time
step (next-symbol prediction, streams) or at each sequence's own last step (a label or a
value at the end).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

import inspect

from ..families import families, get_family, resolve_model

__all__ = ["SequenceModel", "CELLS"]

def vector_cells() -> tuple[str, ...]:
    """The families a :class:`SequenceModel` can hold now: every registered family with
    vector inputs, by name and alias (``"lstm"`` takes a variant)."""
    return tuple(n for f in families() if f.feature_axes == 1 for n in (f.name, *f.aliases))


CELLS = vector_cells()
"""The built-in families a :class:`SequenceModel` can hold (at import; families registered
later are accepted too, see :func:`vector_cells`)."""

_READOUTS = ("every", "last")


class SequenceModel(nn.Module):
    """A recurrent stack and a linear read-out, time-major.

    ``y_t = W h_t + b`` at every step (``readout="every"``) or only at each sequence's
    last valid step (``readout="last"``). With ``skip=True`` the output also sees the
    input directly, ``y_t = W h_t + V x_t + b`` (the 1997 nets: "each layer has
    connections from all layers below").

    With ``embed=E`` the input is a sequence of symbols: ``x`` is (T, B) int64 indices
    in ``[0, input_size)`` and an ``nn.Embedding(input_size, E)`` turns each into E
    features before the recurrent layer. This is exactly the same function as feeding
    the one-hot vectors ``x_t`` through ``x_t @ embedding.weight`` (the model accepts
    those too, float (T, B, input_size)), without building or multiplying a
    (T, B, input_size) tensor: for 1,004 symbols that is the difference between a tenth
    of a second and milliseconds per batch. The recurrent layer's input weights then act
    on E features; with ``E >= 4 * hidden_size`` (LSTM) their product with the embedding
    can be any input-weight matrix of the one-hot network, so the function class is
    unchanged (only the parametrisation is factorised). The embedding starts as
    N(0, 1/E), so that the composed input weights start at the one-hot network's scale.

    Args:
        input_size: I, features per step.
        hidden_size: H, units per layer (LSTM: cells; 1997's "blocks x cells" is H here).
        output_size: O, outputs of the read-out.
        cell: a registered family with vector inputs (:mod:`lstmkit.families`):
            ``"lstm"``, ``"elman"`` (tanh RNN, also ``"rnn"``) or ``"gru"``.
        variant: LSTM variant preset name or :class:`lstmkit.LSTMVariant` (lstm only).
        num_layers: stacked layers.
        readout: ``"every"`` or ``"last"``.
        forget_bias: initial forget-gate bias (lstm only; ``None``: the layer's default).
        skip: add direct input-to-output connections ``V`` (no bias).
        embed: E, embed symbol indices into E features first (None: ``x`` is features).
        truncated_gradient: train with the 1997 truncated gradient (lstm only; see
            :class:`lstmkit.LSTM`): h_{t-1} enters each step detached, so the error flows
            back in time only through the cell states; outputs are unchanged.

    Inputs: ``x`` (T, B, I) (with ``embed``: (T, B) int64 symbols, or their one-hot
    (T, B, I) floats), ``lengths`` optional (B,) ints, ``state`` optional
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
        >>> e = SequenceModel(5, 8, 2, readout="last", embed=16)
        >>> e(torch.tensor([[4, 1], [0, 2]]))[0].shape  # (T=2, B=2) symbols
        torch.Size([2, 2])
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
        embed: int | None = None,
        truncated_gradient: bool = False,
    ) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if embed is not None and (isinstance(embed, bool) or not isinstance(embed, int) or embed < 1):
            raise ValueError(f"embed must be a positive int or None, got {embed!r}")
        if embed is not None and skip:
            raise ValueError("skip=True needs feature inputs; it cannot be combined with embed")
        family = _vector_family(cell)
        options = inspect.signature(family.module).parameters
        if readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {readout!r}")
        if not isinstance(truncated_gradient, bool):
            raise TypeError(f"truncated_gradient must be a bool, got {type(truncated_gradient).__name__}")
        if truncated_gradient and "truncated_gradient" not in options:
            raise ValueError(f"truncated_gradient needs cell='lstm' (a GRU's or Elman net's whole state "
                             f"is h: no error would flow back in time), got cell={cell!r}")
        if forget_bias is not None and (isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real)
                                        or not math.isfinite(forget_bias)):
            # checked for every cell: an experiment's forget_bias reaches GRU and Elman runs too
            raise ValueError(f"forget_bias must be a finite number or None, got {forget_bias!r}")
        self.cell = cell
        self.readout = readout
        self.input_size = input_size
        self.embed = None
        if embed is not None:
            self.embed = nn.Embedding(input_size, embed)
            # N(0, 1/E), not torch's N(0, 1): then W_ih @ e_s has the scale of the one-hot
            # network's W_ih[:, s] (torch's init gives it sqrt(E) times that, and long
            # sequences of distractor symbols would drive the cells into saturation).
            nn.init.normal_(self.embed.weight, std=embed ** -0.5)
        rnn_in = embed if embed is not None else input_size
        kwargs = {}
        if "variant" in options:
            kwargs.update(variant=variant, forget_bias=forget_bias)
        if truncated_gradient:
            kwargs["truncated_gradient"] = True
        self.rnn = family.module(rnn_in, hidden_size, num_layers=num_layers, **kwargs)
        self.head = nn.Linear(hidden_size, output_size)
        self.skip = nn.Linear(input_size, output_size, bias=False) if skip else None

    def _embed(self, x: Tensor) -> Tensor:
        """Symbols (T, B) int, or their one-hot (T, B, I) floats, -> (T, B, E) features."""
        if not x.is_floating_point():
            if x.dim() != 2:
                raise ValueError(f"symbol input must be 2-D (T, B) ints, got shape {tuple(x.shape)}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.input_size):
                raise ValueError(f"symbols must lie in [0, {self.input_size}), got values in "
                                 f"[{int(x.min())}, {int(x.max())}]")
            return self.embed(x)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"one-hot input must be (T, B, {self.input_size}), got shape {tuple(x.shape)}")
        return x @ self.embed.weight

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        if self.embed is not None:
            out, state = self.rnn(self._embed(x), state, lengths=lengths)
        else:
            out, state = self.rnn(x, state, lengths=lengths)
        if self.readout == "every":
            y = self.head(out)
            if self.skip is not None:
                y = y + self.skip(x)  # padded steps have x = 0: nothing added there
            return y, state
        if lengths is None:
            last = out[-1]
        else:
            idx = (lengths.to(out.device).long() - 1).view(1, -1, 1)
            last = out.gather(0, idx.expand(1, -1, out.shape[-1])).squeeze(0)
        y = self.head(last)
        if self.skip is not None:
            if lengths is None:
                last_x = x[-1]
            else:
                last_x = x.gather(0, idx.expand(1, -1, x.shape[-1])).squeeze(0)
            y = y + self.skip(last_x)
        return y, state


def _vector_family(cell):
    known = vector_cells()
    if not isinstance(cell, str) or cell not in known:
        raise ValueError(f"cell must be one of {known} (the registered families with vector inputs), got {cell!r}")
    return get_family(cell)


def describe_model(cell: str, variant) -> str:
    """A short human name: ``"LSTM (vanilla)"``, ``"Elman RNN"``, ``"GRU"``."""
    family = get_family(cell)
    return family.describe(variant if family.variants else None)


def parse_model_name(name: str) -> tuple[str, str | None]:
    """A model name -> (cell, variant), through the family registry: ``"elman"`` ->
    ("elman", None); ``"gru"`` -> ("gru", None); a variant (preset) -> ("lstm", preset).

    Example:
        >>> parse_model_name("cifg"), parse_model_name("elman")
        (('lstm', 'cifg'), ('elman', None))
    """
    family, variant = resolve_model(name, feature_axes=1, what="variant")
    if name == family.name or name in family.aliases:
        return name, (None if not family.variants else variant)
    return family.name, variant
