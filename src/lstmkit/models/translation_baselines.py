"""Translation baselines from the field's libraries, scored in the same run as the networks:
a word-based statistical model (nltk's IBM Model 1 or 2, Brown et al. 1993) with a greedy
word-for-word decoder, and copying the source.

The IBM decoder is the simplest one a word model allows: each source word ``f`` becomes
``argmax_e t(e | f)`` (the target word it most probably translates into; unseen source
words are copied), in the source's order — no language model, no reordering, no fertility
(a source word gives exactly one word). It shows what lexical translation alone reaches.

Example:
    >>> m = IBMWordBaseline.fit([("la casa", "the house"), ("la flor", "the flower"),
    ...                          ("una casa", "a house")], iterations=5)
    >>> m.translate("la casa")
    'the house'
    >>> copy_source(["hola"])
    ['hola']
"""

from __future__ import annotations

import re
from typing import Sequence

__all__ = ["IBMWordBaseline", "copy_source", "word_tokens", "detokenize_words"]

_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]’”])")
_NO_SPACE_AFTER = re.compile(r"([(\[‘“¿¡]) ")


def word_tokens(text: str) -> list[str]:
    """Words (case kept, inner apostrophes kept) and single punctuation marks.

    Example:
        >>> word_tokens("Let’s go, Peter!")
        ['Let’s', 'go', ',', 'Peter', '!']
    """
    return _WORD.findall(text)


def detokenize_words(words: Sequence[str]) -> str:
    """Words -> a sentence, no space before closing punctuation or after opening marks.

    Example:
        >>> detokenize_words(["¿", "Dónde", "?"])
        '¿Dónde?'
    """
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", " ".join(words)))


def copy_source(sources: Sequence[str]) -> list[str]:
    """The copy baseline: the hypothesis is the source sentence itself (names, numbers and
    cognates are all it gets right)."""
    return [str(s) for s in sources]


class IBMWordBaseline:
    """IBM Model 1 or 2 (nltk) lexical translation table + greedy word-for-word decoding.

    Build with :meth:`fit`; :meth:`translate` one sentence, :meth:`translate_all` many.
    """

    def __init__(self, best: dict[str, str | None], model: int, iterations: int, pairs: int) -> None:
        self.best, self.model, self.iterations, self.pairs = best, model, iterations, pairs

    @property
    def name(self) -> str:
        return f"IBM Model {self.model} (nltk, {self.iterations} EM iterations, {self.pairs} pairs) + greedy word decoder"

    @classmethod
    def fit(cls, pairs: Sequence[tuple[str, str]], model: int = 1, iterations: int = 5, lowercase: bool = False
            ) -> "IBMWordBaseline":
        """EM on ``pairs`` of (source sentence, target sentence).

        Raises:
            ValueError: no pairs, or ``model`` not 1 or 2.
            ImportError: nltk is missing (extra ``translate``).
        """
        if model not in (1, 2):
            raise ValueError(f"model must be 1 or 2 (IBM Model 1 or 2), got {model!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
        pairs = list(pairs)
        if not pairs:
            raise ValueError("no sentence pairs to fit the IBM model on")
        try:
            from nltk.translate import AlignedSent, IBMModel1, IBMModel2
        except ImportError as e:  # pragma: no cover
            raise ImportError("the IBM-model baseline needs nltk: pip install 'lstmkit[translate]'") from e
        # nltk's AlignedSent(words, mots): words is the target side, mots the source side;
        # translation_table[t][s] = t(t | s)
        bitext = [AlignedSent(word_tokens(t), word_tokens(s)) for s, t in pairs]
        ibm = (IBMModel1 if model == 1 else IBMModel2)(bitext, iterations)
        best: dict[str | None, tuple[float, str | None]] = {}
        for t, row in ibm.translation_table.items():
            for s, p in row.items():
                if s is None or p <= best.get(s, (0.0, None))[0]:
                    continue
                best[s] = (p, t)
        return cls({s: t for s, (p, t) in best.items()}, model, iterations, len(pairs))

    def translate(self, sentence: str) -> str:
        """Greedy word-for-word translation (see the module docstring)."""
        out = []
        for w in word_tokens(sentence):
            t = self.best.get(w, w)  # an unseen word is copied
            if t is not None:
                out.append(t)
        return detokenize_words(out)

    def translate_all(self, sentences: Sequence[str]) -> list[str]:
        return [self.translate(s) for s in sentences]
