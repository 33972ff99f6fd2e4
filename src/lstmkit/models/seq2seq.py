r"""Encoder–decoder networks: Sutskever, Vinyals & Le (2014) with the source-reversal option,
and attention, additive (Bahdanau, Cho & Bengio 2015) or multiplicative (Luong, Pham &
Manning 2015); greedy, sampled and beam-search decoding with length normalisation.

The encoder and the decoder are any registered families with vector inputs
(:mod:`lstmkit.families`: ``"lstm"`` or one of its variants, ``"gru"``, ``"elman"``,
``"slstm"``, ...), built through the registry, so a new family serves here unchanged.

- **Encoder**: embedded source ids (S, B) through the encoder module with ``lengths``
  (the fused runner of the family, when it has one, takes the lengths itself: no packing,
  no per-step Python). ``reverse_source=True`` reverses each sentence within its own
  length first (Sutskever 2014: "a, b, c" -> "c, b, a", the padding stays at the end).
- **Bridge** (decoder's first state): the encoder's final state itself (``"copy"``, the
  2014 model: same family, size and layers, one direction), or
  :math:`s_0^{(k)} = \tanh(W_k h^{enc}_{S})` for each vector state entry ``k`` (``"linear"``;
  other entries start at zero).
- **Decoder without attention**: :math:`s_t = f(s_{t-1}, E y_{t-1})`,
  :math:`p(y_t) = \mathrm{softmax}(W_o s_t)`. Teacher-forced, the whole target is one call
  of the decoder module (the fused path); decoding steps it with the module's stepper.
- **Luong** (``attention="luong"``, the "general" score, no input feeding):
  :math:`e_{tj} = s_t^\top W_a m_j`, :math:`a_t = \mathrm{softmax}(e_t)` over the source
  positions (padding masked), :math:`c_t = \sum_j a_{tj} m_j`,
  :math:`\tilde s_t = \tanh(W_c [c_t; s_t])`, :math:`p(y_t) = \mathrm{softmax}(W_o \tilde s_t)`;
  teacher-forced, still one decoder call.
- **Bahdanau** (``attention="bahdanau"``): :math:`e_{tj} = v^\top \tanh(W s_{t-1} + U m_j)`,
  :math:`c_t` as above, :math:`s_t = f(s_{t-1}, [E y_{t-1}; c_t])`,
  :math:`p(y_t) = \mathrm{softmax}(W_o \tanh(W_d [s_t; c_t]))`; the context enters the
  recurrence, so training steps the decoder one position at a time.

``m_j`` are the encoder's outputs (both directions concatenated with
``bidirectional_encoder=True``, as in Bahdanau 2015); ``s_t`` the decoder's top layer.

Token ids: ``pad_id`` (0), ``bos_id`` (1), ``eos_id`` (2) by default; a target is fed as
``[bos] y_1 ... y_n`` and predicted as ``y_1 ... y_n [eos]``.

Example:
    >>> import torch
    >>> m = Seq2Seq(20, 30, embedding_dim=8, hidden_size=16, attention="luong")
    >>> src = torch.randint(3, 20, (7, 2)); lengths = torch.tensor([7, 4])
    >>> tgt_in = torch.randint(3, 30, (5, 2))
    >>> logits, attn = m(src, lengths, tgt_in)
    >>> logits.shape, attn.shape
    (torch.Size([5, 2, 30]), torch.Size([5, 2, 7]))
    >>> out = m.greedy(src, lengths, max_len=6)
    >>> len(out), all(len(o) <= 6 for o in out)
    (2, True)
    >>> m.beam_search(src[:, :1], lengths[:1], beam=1, max_len=6)[0] == out[0]
    True
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..families import resolve_model

__all__ = ["Seq2Seq", "ATTENTIONS", "length_penalty", "reverse_within_lengths", "pad_batch", "length_batches"]

ATTENTIONS = (None, "bahdanau", "luong")
_BRIDGES = (None, "copy", "linear")


def length_penalty(length: int, alpha: float) -> float:
    r"""Wu et al. (2016)'s length normalisation: :math:`lp(Y) = ((5 + |Y|) / 6)^\alpha`;
    a hypothesis is ranked by :math:`\log p(Y) / lp(Y)` (``alpha = 0``: raw log-probability,
    which favours short outputs).

    Example:
        >>> length_penalty(1, 1.0), length_penalty(7, 0.0), length_penalty(7, 1.0)
        (1.0, 1.0, 2.0)
    """
    return ((5.0 + length) / 6.0) ** alpha


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each column of time-major ``x`` (T, B, ...) within its own length; padding
    stays where it was.

    Example:
        >>> x = torch.tensor([[1, 4], [2, 5], [3, 0]])
        >>> reverse_within_lengths(x, torch.tensor([3, 2])).T.tolist()
        [[3, 2, 1], [5, 4, 0]]
    """
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)
    n = lengths.to(x.device).long().unsqueeze(0)
    idx = torch.where(t < n, n - 1 - t, t)
    idx = idx.view(T, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int = 0, bos: int | None = None, eos: int | None = None
              ) -> tuple[Tensor, Tensor]:
    """Token-id lists -> time-major (T, B) int64 padded with ``pad_id`` and their lengths,
    with ``bos`` prepended / ``eos`` appended when given.

    Example:
        >>> x, n = pad_batch([[5, 6], [7]], eos=2)
        >>> x.T.tolist(), n.tolist()
        ([[5, 6, 2], [7, 2, 0]], [3, 2])
    """
    rows = [([bos] if bos is not None else []) + list(s) + ([eos] if eos is not None else []) for s in seqs]
    if not rows:
        raise ValueError("pad_batch needs at least one sequence")
    T = max(1, max(len(r) for r in rows))
    x = torch.full((T, len(rows)), pad_id, dtype=torch.long)
    for b, r in enumerate(rows):
        if r:
            x[: len(r), b] = torch.as_tensor(r, dtype=torch.long)
    return x, torch.tensor([max(len(r), 1) for r in rows], dtype=torch.long)


def length_batches(lengths: Sequence[int], batch_tokens: int, max_batch: int = 256, seed: int = 0
                   ) -> list[list[int]]:
    """Lengths-aware batching: indices sorted by length (ties in a seeded random order) and
    cut into batches of at most ``batch_tokens`` tokens (longest length x batch size) and
    ``max_batch`` sequences, so that a batch pads little. The batch order is left to the
    caller (shuffle it per epoch).

    Example:
        >>> length_batches([5, 1, 4, 2, 5], batch_tokens=10)
        [[1, 3], [2, 4], [0]]
    """
    if batch_tokens < 1 or max_batch < 1:
        raise ValueError(f"batch_tokens and max_batch must be >= 1, got {batch_tokens} and {max_batch}")
    rng = torch.Generator().manual_seed(seed)
    jitter = torch.rand(len(lengths), generator=rng).tolist()
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], jitter[i]))
    batches, cur, longest = [], [], 0
    for i in order:
        n = max(int(lengths[i]), 1)
        if cur and (max(longest, n) * (len(cur) + 1) > batch_tokens or len(cur) >= max_batch):
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


def _build_rnn(name: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
               bidirectional: bool, what: str) -> nn.Module:
    family, variant = resolve_model(name, feature_axes=1, what=what)
    options = inspect.signature(family.module).parameters
    kw = {"num_layers": num_layers, "dropout": dropout if num_layers > 1 else 0.0}
    if bidirectional:
        kw["bidirectional"] = True
    if "variant" in options and variant is not None:
        kw["variant"] = variant
    module = family.module(input_size, hidden_size, **kw)
    if getattr(module.specs[0], "side_inputs", ()):
        raise ValueError(f"{what} {name!r} needs per-step side inputs ({', '.join(module.specs[0].side_inputs)}); "
                         f"a translation model has none: choose another family")
    return module


def _states(state) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@dataclass
class _Memory:
    """What the decoder attends to and starts from, for one batch of sources."""

    memory: Tensor          # (S, B, M) encoder outputs
    keys: Tensor | None     # (S, B, A) projected for the score
    mask: Tensor            # (S, B) True at real positions
    state: object           # the decoder's packed initial state
    lengths: Tensor         # (B,)

    def select(self, idx: Tensor) -> "_Memory":
        """The rows ``idx`` of the batch (beam search repeats one sentence)."""
        st = tuple(s.index_select(1, idx) for s in _states(self.state))
        return _Memory(self.memory.index_select(1, idx), None if self.keys is None else self.keys.index_select(1, idx),
                       self.mask.index_select(1, idx), st if isinstance(self.state, tuple) else st[0],
                       self.lengths.index_select(0, idx))


class Seq2Seq(nn.Module):
    """An encoder–decoder translation model (see the module docstring for the equations).

    Args:
        source_vocab_size, target_vocab_size: token ids of each side (pad, bos, eos included).
        embedding_dim: E, features of a token's embedding (each side its own table).
        hidden_size: H of the encoder and of the decoder.
        num_layers: stacked layers of the encoder and of the decoder.
        encoder, decoder: registered family or LSTM-variant names (``"lstm"``, ``"vanilla"``,
            ``"gru"``, ``"elman"``, ...).
        attention: None (the 2014 model), ``"bahdanau"`` (additive) or ``"luong"`` (multiplicative).
        bidirectional_encoder: read the source both ways (outputs concatenated).
        reverse_source: reverse each source sentence within its length (Sutskever 2014).
        bridge: ``"copy"`` or ``"linear"`` (see the module docstring); None: ``"copy"`` where
            the shapes allow, else ``"linear"``.
        dropout: on embeddings, between layers and before the output layer (training only).
        pad_id, bos_id, eos_id: the special token ids (the same on both sides).

    Inputs of ``forward``: ``src`` (S, B) int64, ``src_lengths`` (B,), ``tgt_in`` (T, B) int64
    (the target shifted right, starting with ``bos_id``).
    Outputs: ``(logits (T, B, V_target), attention (T, B, S) or None)``.
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, *, embedding_dim: int = 128,
                 hidden_size: int = 256, num_layers: int = 1, encoder: str = "lstm", decoder: str = "lstm",
                 attention: str | None = None, bidirectional_encoder: bool = False, reverse_source: bool = False,
                 bridge: str | None = None, dropout: float = 0.0, pad_id: int = 0, bos_id: int = 1,
                 eos_id: int = 2) -> None:
        super().__init__()
        for name, v, low in (("source_vocab_size", source_vocab_size, 3), ("target_vocab_size", target_vocab_size, 3),
                             ("embedding_dim", embedding_dim, 1), ("hidden_size", hidden_size, 1),
                             ("num_layers", num_layers, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if bridge not in _BRIDGES:
            raise ValueError(f"bridge must be one of {_BRIDGES}, got {bridge!r}")
        for name, v in (("bidirectional_encoder", bidirectional_encoder), ("reverse_source", reverse_source)):
            if not isinstance(v, bool):
                raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        ids = {"pad_id": pad_id, "bos_id": bos_id, "eos_id": eos_id}
        if len(set(ids.values())) != 3 or any(not isinstance(v, int) or not 0 <= v < min(source_vocab_size, target_vocab_size)
                                              for v in ids.values()):
            raise ValueError(f"pad_id, bos_id, eos_id must be three different ids below both vocabulary sizes, got {ids}")
        self.config = dict(source_vocab_size=source_vocab_size, target_vocab_size=target_vocab_size,
                           embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
                           encoder=encoder, decoder=decoder, attention=attention,
                           bidirectional_encoder=bidirectional_encoder, reverse_source=reverse_source,
                           bridge=bridge, dropout=float(dropout), pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.attention, self.reverse_source, self.dropout = attention, reverse_source, float(dropout)
        H, E, L = hidden_size, embedding_dim, num_layers
        D = 2 if bidirectional_encoder else 1
        self.src_embedding = nn.Embedding(source_vocab_size, E, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(target_vocab_size, E, padding_idx=pad_id)
        self.encoder = _build_rnn(encoder, E, H, L, dropout, bidirectional_encoder, "encoder")
        M = D * self.encoder.specs[0].output_size
        dec_in = E + (M if attention == "bahdanau" else 0)
        self.decoder = _build_rnn(decoder, dec_in, H, L, dropout, False, "decoder")
        Hd = self.decoder.specs[0].output_size
        enc_shapes = self.encoder.specs[0].state_shapes()
        dec_shapes = self.decoder.specs[0].state_shapes()
        copyable = D == 1 and type(self.encoder) is type(self.decoder) and enc_shapes == dec_shapes and \
            self.encoder.specs[0].state_names == self.decoder.specs[0].state_names
        if bridge == "copy" and not copyable:
            raise ValueError("bridge='copy' needs the encoder and decoder of one family and size, one direction; "
                             "use bridge='linear'")
        self.bridge = bridge or ("copy" if copyable else "linear")
        self.bridges = nn.ModuleList()
        self._bridged = []
        if self.bridge == "linear":
            for k, shape in enumerate(dec_shapes):
                if len(shape) == 1:
                    self.bridges.append(nn.Linear(M, shape[0]))
                    self._bridged.append(k)
        out_in = Hd
        if attention == "luong":
            self.attn_key = nn.Linear(M, Hd, bias=False)      # W_a m_j
            self.attn_combine = nn.Linear(M + Hd, Hd, bias=False)  # W_c [c; s]
        elif attention == "bahdanau":
            A = Hd
            self.attn_key = nn.Linear(M, A, bias=False)        # U m_j
            self.attn_query = nn.Linear(Hd, A, bias=True)      # W s_{t-1}
            self.attn_v = nn.Linear(A, 1, bias=False)          # v
            self.attn_combine = nn.Linear(Hd + M, Hd, bias=True)  # W_d [s; c]
        self.output = nn.Linear(out_in, target_vocab_size)

    # ---- encoder -------------------------------------------------------------------------
    def _check(self, src: Tensor, lengths: Tensor) -> Tensor:
        if not isinstance(src, Tensor) or src.dim() != 2 or src.dtype != torch.long:
            got = f"{src.dtype} of shape {tuple(src.shape)}" if isinstance(src, Tensor) else type(src).__name__
            raise TypeError(f"src must be (S, B) int64 token ids, got {got}")
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        if lengths.shape != (src.shape[1],):
            raise ValueError(f"src_lengths must have shape ({src.shape[1]},) (one per source), got {tuple(lengths.shape)}")
        if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > src.shape[0]):
            raise ValueError(f"src_lengths must lie in [1, {src.shape[0]}], got [{int(lengths.min())}, {int(lengths.max())}]")
        V = self.src_embedding.num_embeddings
        if src.numel() and (int(src.min()) < 0 or int(src.max()) >= V):
            raise ValueError(f"src ids must lie in [0, {V}), got [{int(src.min())}, {int(src.max())}]")
        return lengths

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.dropout, training=True) if self.training and self.dropout > 0 else x

    def encode(self, src: Tensor, src_lengths: Tensor) -> _Memory:
        """Run the encoder; return what the decoder needs (outputs, mask, first state)."""
        lengths = self._check(src, src_lengths)
        if self.reverse_source:
            src = reverse_within_lengths(src, lengths)
        out, state = self.encoder(self._drop(self.src_embedding(src)), lengths=lengths)
        S, B = src.shape
        mask = torch.arange(S).unsqueeze(1) < lengths.unsqueeze(0)
        L = self.decoder.num_layers
        if self.bridge == "copy":
            init = state
        else:
            h = _states(state)[0]
            D = self.encoder.num_directions
            h = h.view(L, D, B, -1).transpose(1, 2).reshape(L, B, -1)  # directions concatenated
            entries = list(self.decoder.specs[0].initial_state(B, dtype=out.dtype))
            full = [e.unsqueeze(0).expand(L, *e.shape).contiguous() for e in entries]
            for k, lin in zip(self._bridged, self.bridges):
                full[k] = torch.tanh(lin(h))
            init = self.decoder._pack_state(tuple(full))
        keys = self.attn_key(out) if self.attention else None
        return _Memory(out, keys, mask, init, lengths)

    # ---- attention -------------------------------------------------------------------------
    def _attend(self, mem: _Memory, query: Tensor) -> tuple[Tensor, Tensor]:
        """Scores of ``query`` (..., B, Hd) against the source -> (context (..., B, M),
        weights (..., B, S)), padding masked."""
        if self.attention == "luong":
            # (T, B, Hd) x (S, B, Hd) -> (T, B, S)
            scores = torch.einsum("tbh,sbh->tbs", query, mem.keys)
        else:
            q = self.attn_query(query)  # (T, B, A)
            scores = self.attn_v(torch.tanh(q.unsqueeze(2) + mem.keys.transpose(0, 1).unsqueeze(0))).squeeze(-1)
        scores = scores.masked_fill(~mem.mask.T.unsqueeze(0), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.einsum("tbs,sbm->tbm", weights, mem.memory)
        return context, weights

    def _top(self, state) -> Tensor:
        return _states(state)[0][-1]

    # ---- teacher forcing -------------------------------------------------------------------
    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        if not isinstance(tgt_in, Tensor) or tgt_in.dim() != 2 or tgt_in.dtype != torch.long:
            raise TypeError(f"tgt_in must be (T, B) int64 token ids, got "
                            f"{getattr(tgt_in, 'dtype', type(tgt_in).__name__)}")
        if tgt_in.shape[1] != src.shape[1]:
            raise ValueError(f"tgt_in has {tgt_in.shape[1]} columns, src {src.shape[1]}: one target per source")
        mem = self.encode(src, src_lengths)
        emb = self._drop(self.tgt_embedding(tgt_in))
        if self.attention == "bahdanau":
            state, outs, attns = mem.state, [], []
            for t in range(emb.shape[0]):
                ctx, w = self._attend(mem, self._top(state).unsqueeze(0))
                out, state = self.decoder(torch.cat([emb[t : t + 1], ctx], dim=-1), state)
                outs.append(torch.tanh(self.attn_combine(torch.cat([out, ctx], dim=-1))))
                attns.append(w)
            return self.output(self._drop(torch.cat(outs))), torch.cat(attns)
        out, _ = self.decoder(emb, mem.state)
        if self.attention == "luong":
            ctx, w = self._attend(mem, out)
            out = torch.tanh(self.attn_combine(torch.cat([ctx, out], dim=-1)))
            return self.output(self._drop(out)), w
        return self.output(self._drop(out)), None

    def loss(self, src: Tensor, src_lengths: Tensor, tgt: Tensor) -> Tensor:
        """Mean cross-entropy per target token of a teacher-forced batch; ``tgt`` (T, B) is
        ``y_1 .. y_n eos`` padded with ``pad_id`` (:func:`pad_batch` with ``eos``)."""
        bos = torch.full((1, tgt.shape[1]), self.bos_id, dtype=torch.long)
        tgt_in = torch.cat([bos, tgt[:-1]])  # an eos fed here predicts padding: ignored
        logits, _ = self(src, src_lengths, tgt_in)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=self.pad_id)

    # ---- one decoding step -----------------------------------------------------------------
    def _step(self, step, mem: _Memory, y_prev: Tensor, state) -> tuple[Tensor, object, Tensor | None]:
        """Log-probabilities (B, V) of the next token after ``y_prev`` (B,), the new state,
        the attention weights (B, S) or None."""
        emb = self.tgt_embedding(y_prev)
        w = None
        if self.attention == "bahdanau":
            ctx, w = self._attend(mem, self._top(state).unsqueeze(0))
            h, state = step(torch.cat([emb, ctx[0]], dim=-1), state)
            h = torch.tanh(self.attn_combine(torch.cat([h, ctx[0]], dim=-1)))
        else:
            h, state = step(emb, state)
            if self.attention == "luong":
                ctx, w = self._attend(mem, h.unsqueeze(0))
                h = torch.tanh(self.attn_combine(torch.cat([ctx[0], h], dim=-1)))
        return torch.log_softmax(self.output(h).double(), dim=-1), state, None if w is None else w[0]

    def _max_len(self, lengths: Tensor, max_len: int | None) -> int:
        if max_len is not None:
            if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
                raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
            return max_len
        return int(2 * int(lengths.max()) + 10)

    @torch.no_grad()
    def greedy(self, src: Tensor, src_lengths: Tensor, max_len: int | None = None, temperature: float = 0.0,
               generator: torch.Generator | None = None, return_attention: bool = False):
        """Decode a batch one token at a time: the most likely token (``temperature=0``) or a
        sample from the softmax at ``temperature`` (with ``generator``). Returns a list of
        token-id lists (eos removed); with ``return_attention`` also the (n, S) weights of
        each (source positions in the original order)."""
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
                math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
        was = self.training
        self.eval()
        try:
            mem = self.encode(src, src_lengths)
            n = self._max_len(mem.lengths, max_len)
            B = src.shape[1]
            step = self.decoder.stepper()
            y = torch.full((B,), self.bos_id, dtype=torch.long)
            state, done = mem.state, torch.zeros(B, dtype=torch.bool)
            out, attn = [[] for _ in range(B)], [[] for _ in range(B)]
            for _ in range(n):
                logp, state, w = self._step(step, mem, y, state)
                if temperature == 0:
                    y = logp.argmax(-1)
                else:
                    y = torch.multinomial(torch.softmax(logp / temperature, -1), 1, generator=generator).squeeze(1)
                for b in torch.nonzero(~done).flatten().tolist():
                    if int(y[b]) == self.eos_id:
                        done[b] = True
                    else:
                        out[b].append(int(y[b]))
                    if w is not None:
                        attn[b].append(w[b])
                if bool(done.all()):
                    break
            if not return_attention:
                return out
            return out, [self._attention_matrix(a, int(mem.lengths[b])) for b, a in enumerate(attn)]
        finally:
            self.train(was)

    def sample(self, src: Tensor, src_lengths: Tensor, temperature: float = 1.0, max_len: int | None = None,
               generator: torch.Generator | None = None) -> list[list[int]]:
        """Sampled decoding (see :meth:`greedy`); ``temperature`` must be > 0."""
        if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0):
            raise ValueError(f"temperature must be > 0 for sampling, got {temperature!r}")
        return self.greedy(src, src_lengths, max_len=max_len, temperature=temperature, generator=generator)

    def _attention_matrix(self, rows: list[Tensor], n: int) -> Tensor | None:
        if not rows:
            return None
        a = torch.stack(rows)[:, :n].float()
        return a.flip(1) if self.reverse_source else a  # columns in the source's own order

    @torch.no_grad()
    def beam_search(self, src: Tensor, src_lengths: Tensor, beam: int = 5, alpha: float = 0.6,
                    max_len: int | None = None, return_attention: bool = False, n_best: int = 1):
        """Beam search, one sentence at a time with its ``beam`` hypotheses as a batch.

        Each step expands every live hypothesis, keeps the ``2 * beam`` best continuations
        by log-probability, moves those ending in eos to the finished list and keeps the
        best ``beam`` others live; it stops when ``beam`` hypotheses have finished (or at
        ``max_len``, when the live ones count as finished). The output is the finished
        hypothesis with the best :math:`\\log p / lp` (:func:`length_penalty` with
        ``alpha``). With ``beam=1`` this is exactly :meth:`greedy`.

        Returns a list of token-id lists (``n_best=1``) or of lists of
        ``(tokens, normalised score)``; with ``return_attention``, also the attention
        matrix of each best hypothesis.
        """
        if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
            raise ValueError(f"beam must be an int >= 1, got {beam!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        if isinstance(n_best, bool) or not isinstance(n_best, int) or not 1 <= n_best <= beam:
            raise ValueError(f"n_best must be an int from 1 to beam ({beam}), got {n_best!r}")
        was = self.training
        self.eval()
        try:
            mem_all = self.encode(src, src_lengths)
            step = self.decoder.stepper()
            results, attns = [], []
            for b in range(src.shape[1]):
                best, att = self._beam_one(step, mem_all.select(torch.tensor([b])), beam, alpha,
                                           self._max_len(mem_all.lengths[b : b + 1], max_len))
                results.append(best[0][0] if n_best == 1 else best[:n_best])
                attns.append(self._attention_matrix(list(att), int(mem_all.lengths[b])) if att is not None else None)
            return (results, attns) if return_attention else results
        finally:
            self.train(was)

    def _beam_one(self, step, mem: _Memory, K: int, alpha: float, n: int):
        V = self.output.out_features
        tokens = [[]]
        scores = torch.zeros(1, dtype=torch.float64)
        attn = None  # (k, t, S)
        state, live_mem = mem.state, mem
        finished: list[tuple[list[int], float, float, Tensor | None]] = []  # tokens, norm score, raw, attn
        y = torch.tensor([self.bos_id])
        for t in range(n):
            logp, state, w = self._step(step, live_mem, y, state)
            cand = (scores.unsqueeze(1) + logp).view(-1)
            top = torch.topk(cand, min(2 * K, cand.numel()))
            keep_rows, keep_tok, keep_score = [], [], []
            for s, flat in zip(top.values.tolist(), top.indices.tolist()):
                row, tok = divmod(flat, V)
                a = None
                if w is not None:
                    a = w[row : row + 1] if attn is None else torch.cat([attn[row], w[row : row + 1]])
                if tok == self.eos_id:
                    finished.append((tokens[row], s / length_penalty(len(tokens[row]) + 1, alpha), s, a))
                else:
                    keep_rows.append(row)
                    keep_tok.append(tok)
                    keep_score.append(s)
                if len(keep_rows) == K or len(finished) >= K:
                    break
            if len(finished) >= K or not keep_rows:
                break
            idx = torch.tensor(keep_rows)
            tokens = [tokens[r] + [tk] for r, tk in zip(keep_rows, keep_tok)]
            scores = torch.tensor(keep_score, dtype=torch.float64)
            if w is not None:
                attn = torch.cat([attn.index_select(0, idx), w.index_select(0, idx).unsqueeze(1)], dim=1) \
                    if attn is not None else w.index_select(0, idx).unsqueeze(1)
            state = tuple(s.index_select(1, idx) for s in _states(state))
            state = state if isinstance(mem.state, tuple) else state[0]
            live_mem = mem.select(torch.zeros(len(keep_rows), dtype=torch.long))
            y = torch.tensor(keep_tok)
        else:
            for r, toks in enumerate(tokens):  # max_len reached: the live ones count as finished
                s = float(scores[r])
                finished.append((toks, s / length_penalty(len(toks), alpha), s, None if attn is None else attn[r]))
        finished.sort(key=lambda f: -f[1])
        return [(f[0], f[1]) for f in finished], finished[0][3]
