"""A character-level language model: embedding -> stacked LSTM (any variant) -> linear
over the characters (Graves 2013, "Generating sequences with recurrent neural networks";
Karpathy's char-rnn).

``forward(x, state)`` returns the logits and the state, so the same model is trained with
truncated BPTT on long chunks (the state carried from chunk to chunk) and generates one
character per call.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import LSTM

__all__ = ["CharLM"]


class CharLM(nn.Module):
    r"""Character language model: :math:`p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(W h^{(L)}_t + b)`
    where :math:`h^{(L)}_t` is the top layer of a stacked LSTM reading embedded characters.

    Args:
        vocab_size: V, characters in the vocabulary (id 0 may be ``<unk>``).
        embedding_dim: E, features of a character's embedding.
        hidden_size: H of every layer.
        num_layers: stacked layers.
        variant: LSTM preset (see :class:`lstmkit.LSTMVariant`).
        dropout: between layers and before the output layer (training only).

    Inputs: ``x`` (T, B) int64 character ids; ``state`` (h, c) from a previous call or None.
    Outputs: ``logits`` (T, B, V), ``state`` (h, c), each (num_layers, B, H).

    Example:
        >>> import torch
        >>> m = CharLM(30, embedding_dim=8, hidden_size=16, num_layers=2)
        >>> x = torch.randint(0, 30, (10, 2))
        >>> logits, state = m(x)
        >>> logits.shape, state[0].shape
        (torch.Size([10, 2, 30]), torch.Size([2, 2, 16]))
        >>> g = torch.Generator().manual_seed(0)
        >>> len(m.generate([1, 2, 3], 5, temperature=0.8, generator=g))
        5
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 256, num_layers: int = 2,
                 variant: str = "vanilla", dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.config = dict(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size,
                           num_layers=num_layers, variant=variant, dropout=dropout)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = LSTM(embedding_dim, hidden_size, num_layers, variant=variant, dropout=dropout)
        self.output = nn.Linear(hidden_size, vocab_size)
        self.dropout = dropout

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None = None) -> tuple[Tensor, tuple[Tensor, ...]]:
        if x.dim() != 2 or x.dtype != torch.long:
            raise TypeError(f"x must be (T, B) int64 character ids, got {x.dtype} of shape {tuple(x.shape)}")
        out, state = self.lstm(self.embedding(x), state)
        if self.training and self.dropout > 0:
            out = F.dropout(out, self.dropout, training=True)
        return self.output(out), state

    @torch.no_grad()
    def stream(self, prompt_ids: Sequence[int], n: int, temperature: float = 1.0,
               generator: torch.Generator | None = None, banned: Sequence[int] = ()) -> Iterator[int]:
        """Yield ``n`` sampled character ids, one per step, after reading ``prompt_ids``.

        Args:
            prompt_ids: at least one id; the model reads them first (one batched call).
            n: characters to sample.
            temperature: divides the logits (< 1: more conservative; 0: always the most
                likely character).
            generator: the torch RNG to sample with (reproducible output).
            banned: ids never sampled (e.g. ``<unk>``).
        """
        if len(prompt_ids) == 0:
            raise ValueError("the prompt must hold at least one character")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        was_training = self.training
        self.eval()
        try:
            x = torch.as_tensor(list(prompt_ids), dtype=torch.long).unsqueeze(1)
            logits, state = self(x)
            last = logits[-1, 0]
            step = self.lstm.stepper()  # one character per call: the kernels chosen once
            for _ in range(n):
                if banned:
                    last = last.clone()
                    last[list(banned)] = float("-inf")
                if temperature == 0:
                    nxt = int(last.argmax())
                else:
                    p = torch.softmax(last.double() / temperature, dim=-1)
                    nxt = int(torch.multinomial(p, 1, generator=generator))
                yield nxt
                h, state = step(self.embedding(torch.tensor([nxt])), state)
                last = self.output(h)[0]
        finally:
            self.train(was_training)

    def generate(self, prompt_ids: Sequence[int], n: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None, banned: Sequence[int] = ()) -> list[int]:
        """``n`` sampled ids after the prompt (see :meth:`stream`)."""
        return list(self.stream(prompt_ids, n, temperature, generator, banned))
