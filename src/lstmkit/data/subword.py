"""Subword (or character) tokenisation by sentencepiece (Kudo & Richardson 2018): a unigram
language-model or BPE vocabulary learnt from the training sentences, in memory, its model
kept as bytes (a file in a model directory; no pickle).

Ids 0, 1, 2 are ``<pad>``, ``<s>`` (bos) and ``</s>`` (eos), 3 is ``<unk>``: the ids
:class:`lstmkit.models.seq2seq.Seq2Seq` expects by default.

Example:
    >>> tok = SubwordTokenizer.train(["the cat sat", "the dog sat", "a cat ran"] * 20, vocab_size=16)
    >>> tok.decode(tok.encode("the cat sat"))
    'the cat sat'
    >>> SubwordTokenizer.from_bytes(tok.to_bytes()).encode("a dog") == tok.encode("a dog")
    True
"""

from __future__ import annotations

import io
from typing import Iterable, Sequence

__all__ = ["SubwordTokenizer", "MODEL_TYPES"]

MODEL_TYPES = ("unigram", "bpe", "char")


def _spm():
    try:
        import sentencepiece as spm
    except ImportError as e:  # pragma: no cover
        raise ImportError("subword tokenisation needs sentencepiece: pip install 'lstmkit[translate]'") from e
    return spm


class SubwordTokenizer:
    """A sentencepiece model: ``encode(text) -> ids``, ``decode(ids) -> text``.

    Build with :meth:`train` (from sentences) or :meth:`from_bytes` (a saved model).
    """

    PAD, BOS, EOS, UNK = 0, 1, 2, 3

    def __init__(self, model_bytes: bytes) -> None:
        if not isinstance(model_bytes, (bytes, bytearray)) or not model_bytes:
            raise TypeError("model_bytes must be the non-empty bytes of a sentencepiece model")
        spm = _spm()
        self._proc = spm.SentencePieceProcessor()
        try:
            self._proc.LoadFromSerializedProto(bytes(model_bytes))
        except Exception as e:  # sentencepiece raises RuntimeError/OSError with long texts
            raise ValueError(f"not a sentencepiece model ({' '.join(str(e).split())[:120]})") from None
        self._bytes = bytes(model_bytes)
        if (self._proc.pad_id(), self._proc.bos_id(), self._proc.eos_id(), self._proc.unk_id()) != (0, 1, 2, 3):
            raise ValueError("the sentencepiece model must have pad=0, bos=1, eos=2, unk=3 (made by "
                             "SubwordTokenizer.train)")

    @classmethod
    def train(cls, sentences: Iterable[str], vocab_size: int = 2000, model_type: str = "unigram",
              character_coverage: float = 1.0) -> "SubwordTokenizer":
        """Learn a vocabulary of ``vocab_size`` pieces from ``sentences`` (sentencepiece's
        trainer, in memory, one thread, deterministic for the same input).

        Raises:
            ValueError: bad ``model_type`` or ``vocab_size``, or too little text for the
                vocabulary (sentencepiece's reason, one line).
        """
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 8:
            raise ValueError(f"vocab_size must be an int >= 8, got {vocab_size!r}")
        sents = [s for s in sentences if isinstance(s, str) and s.strip()]
        if not sents:
            raise ValueError("no sentences to learn a vocabulary from")
        spm = _spm()
        buf = io.BytesIO()
        kw = dict(sentence_iterator=iter(sents), model_writer=buf, vocab_size=vocab_size, model_type=model_type,
                  character_coverage=character_coverage, pad_id=0, bos_id=1, eos_id=2, unk_id=3,
                  num_threads=1, minloglevel=2, hard_vocab_limit=model_type != "char",
                  input_sentence_size=0, shuffle_input_sentence=False, max_sentence_length=1 << 16)
        try:
            spm.SentencePieceTrainer.train(**kw)
        except Exception as e:
            raise ValueError(f"sentencepiece could not learn a {vocab_size}-piece {model_type} vocabulary "
                             f"({' '.join(str(e).split())[:200]}); use a smaller vocabulary or more text") from None
        return cls(buf.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> "SubwordTokenizer":
        """The tokenizer of a saved model (:meth:`to_bytes`)."""
        return cls(data)

    def to_bytes(self) -> bytes:
        """The sentencepiece model, to store beside a translation model."""
        return self._bytes

    def __len__(self) -> int:
        return int(self._proc.get_piece_size())

    def encode(self, text: str) -> list[int]:
        """Piece ids of ``text`` (no bos/eos)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return list(self._proc.encode(text, out_type=int))

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text`` as strings (for plots)."""
        return list(self._proc.encode(text, out_type=str))

    def id_to_piece(self, i: int) -> str:
        return self._proc.id_to_piece(int(i))

    def decode(self, ids: Sequence[int]) -> str:
        """The text of piece ids (special ids dropped)."""
        return self._proc.decode([int(i) for i in ids if int(i) > 3 or int(i) == self.UNK])
