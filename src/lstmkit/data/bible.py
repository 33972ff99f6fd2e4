"""The verse-aligned English–Spanish Bible: the World English Bible (Debian's
``sword-text-web``, module ``engWEB2015eb``) beside the Reina-Valera 1909 (``sword-text-sparv``,
module ``spaRV1909eb``), read offline with ``mod2imp`` (Debian's ``libsword-utils``).

``mod2imp MODULE`` prints the module in SWORD's import format: a line ``$$$Book C:V`` and
then the verse's OSIS text. :func:`parse_imp` cuts the text at those lines, drops headings
(``[ Module Heading ]``, chapter 0 / verse 0 introductions), removes notes (``<note>...</note>``),
titles (``<title>...</title>``, section headings inside a verse) and every other tag,
unescapes entities and collapses white space. :func:`load_bible_pairs` keeps the verses
both modules have with non-empty text (the WEB's deuterocanonical books have no Spanish
side and drop out): 31,077 pairs with the Debian packages of 2026-12.

Splits are by whole books (:data:`VALIDATION_BOOKS`, :data:`TEST_BOOKS`): no verse of a
held-out book is seen in training. The held-out books were chosen with little parallel text
elsewhere (no synoptic gospel, no Chronicles/Kings), so that test BLEU is not inflated by
near-copies in training.

The parse is cached (JSON, written atomically) under ``$LSTMKIT_DATA_CACHE`` (default
``$XDG_CACHE_HOME/lstmkit/data`` or ``~/.cache/lstmkit/data``), keyed by the size and
modification time of the modules' files, so a module upgrade is re-read.

Example:
    >>> text = "$$$Genesis 1:1\\n<w>In the beginning</w><note>a note</note> God.\\n$$$Genesis 1:2\\nThe earth.\\n"
    >>> parse_imp(text)
    {'Genesis 1:1': 'In the beginning God.', 'Genesis 1:2': 'The earth.'}
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

__all__ = ["ENGLISH_MODULE", "SPANISH_MODULE", "VALIDATION_BOOKS", "TEST_BOOKS", "parse_imp", "read_module",
           "load_bible_pairs", "bible_split", "book_of", "MOD2IMP_HOW"]

ENGLISH_MODULE = "engWEB2015eb"
SPANISH_MODULE = "spaRV1909eb"
MOD2IMP_HOW = ("install Debian's libsword-utils, sword-text-web and sword-text-sparv "
               "(`sudo apt-get install libsword-utils sword-text-web sword-text-sparv`, or `make setup`)")

#: whole books held out for validation and for test (names as mod2imp prints them)
VALIDATION_BOOKS = ("Ruth", "Jonah", "Romans")
TEST_BOOKS = ("Joshua", "Acts")

_REF = re.compile(r"^\$\$\$(.+?) (\d+):(\d+)\s*$")
_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_TITLE = re.compile(r"<title\b[^>]*>.*?</title>", re.S)
# inline tags (a word, a quotation, words the translators added) vanish without a trace;
# block tags (divisions, poetry lines, milestones) separate words
_INLINE = re.compile(r"</?(?:w|q|transChange|name|seg|catchWord|rdg|reference|hi|foreign|divineName)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


def _clean(osis: str) -> str:
    text = _TITLE.sub(" ", _NOTE.sub(" ", osis))
    text = html.unescape(_TAG.sub(" ", _INLINE.sub("", text)))
    return _BEFORE_PUNCT.sub(r"\1", _SPACE.sub(" ", text)).strip()


def parse_imp(text: str) -> dict[str, str]:
    """Verses of a module in SWORD's import format -> ``{"Book C:V": plain text}`` in order;
    headings, chapter 0 and verse 0 (introductions) and empty verses are dropped."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    verses: dict[str, str] = {}
    key, lines = None, []

    def flush():
        if key is not None:
            clean = _clean("\n".join(lines))
            if clean:
                verses[key] = clean

    for line in text.splitlines():
        if line.startswith("$$$"):
            flush()
            m = _REF.match(line)
            key = f"{m.group(1)} {int(m.group(2))}:{int(m.group(3))}" if m and int(m.group(2)) and int(m.group(3)) else None
            lines = []
        elif key is not None:
            lines.append(line)
    flush()
    return verses


def book_of(ref: str) -> str:
    """The book of a reference: ``book_of("I Samuel 3:4") == "I Samuel"``."""
    return ref.rsplit(" ", 1)[0]


def _mod2imp() -> str:
    exe = shutil.which("mod2imp")
    if exe is None:
        raise ImportError(f"the translation data needs the mod2imp program, which is not on PATH: {MOD2IMP_HOW}")
    return exe


def _module_files(module: str) -> list[Path]:
    roots = [Path(p) for p in (os.environ.get("SWORD_PATH", ""), str(Path.home() / ".sword"), "/usr/share/sword") if p]
    files = []
    for root in roots:
        d = root / "modules" / "texts" / "ztext" / module.lower()
        if d.is_dir():
            files += sorted(d.iterdir())
        conf = root / "mods.d" / f"{module.lower()}.conf"
        if conf.is_file():
            files.append(conf)
    return files


def read_module(module: str) -> dict[str, str]:
    """The verses of one installed SWORD module (``mod2imp MODULE``), parsed by :func:`parse_imp`.

    Raises:
        ImportError: mod2imp is not installed (the message says which Debian packages).
        ValueError: the module is not installed, or mod2imp printed no verse.
    """
    if not isinstance(module, str) or not module:
        raise TypeError(f"module must be a non-empty str, got {module!r}")
    exe = _mod2imp()
    try:
        r = subprocess.run([exe, module], capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise ValueError(f"mod2imp {module} ran for 300 s without finishing") from None
    out = r.stdout.decode("utf-8", errors="replace")
    verses = parse_imp(out)
    if r.returncode != 0 or not verses:
        msg = " ".join(r.stderr.decode("utf-8", errors="replace").split())[:200]
        raise ValueError(f"mod2imp {module} gave no verses (exit status {r.returncode}{': ' + msg if msg else ''}); "
                         f"is the module installed? {MOD2IMP_HOW}")
    return verses


def _cache_root() -> Path:
    env = os.environ.get("LSTMKIT_DATA_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lstmkit" / "data"


def _cache_key(modules: tuple[str, ...]) -> str | None:
    parts = []
    for m in modules:
        files = _module_files(m)
        if not files:
            return None
        parts += [f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    return hashlib.sha256("\n".join(["bible-v2", *modules, *parts]).encode()).hexdigest()[:16]


@lru_cache(maxsize=4)
def _pairs(english: str, spanish: str, cache: bool) -> tuple[tuple[str, str, str], ...]:
    path = None
    if cache:
        key = _cache_key((english, spanish))
        if key is not None:
            path = _cache_root() / f"bible-{english}-{spanish}-{key}.json"
            if path.is_file():
                try:
                    rows = json.loads(path.read_text(encoding="utf-8"))
                    if isinstance(rows, list) and all(isinstance(r, list) and len(r) == 3 for r in rows):
                        return tuple(tuple(r) for r in rows)
                except (OSError, ValueError):
                    pass  # a damaged cache is read again from the modules
    en, es = read_module(english), read_module(spanish)
    rows = tuple((ref, en[ref], es[ref]) for ref in en if ref in es)
    if path is not None:
        from ..io import atomic_write_text, make_dirs

        try:
            make_dirs(path.parent)
            atomic_write_text(path, json.dumps([list(r) for r in rows], ensure_ascii=False))
        except OSError:
            pass  # a read-only cache only costs the parse next time
    return rows


def load_bible_pairs(english: str = ENGLISH_MODULE, spanish: str = SPANISH_MODULE, cache: bool = True
                     ) -> list[dict]:
    """Verse-aligned pairs ``{"ref", "book", "en", "es"}`` in canonical order: the verses
    both modules hold with non-empty text (see the module docstring; cached parse).

    Example:
        >>> pairs = load_bible_pairs()  # doctest: +SKIP
        >>> pairs[0]["ref"], pairs[0]["es"][:15]  # doctest: +SKIP
        ('Genesis 1:1', 'EN el principio')
    """
    return [{"ref": r, "book": book_of(r), "en": e, "es": s} for r, e, s in _pairs(english, spanish, bool(cache))]


def bible_split(pairs: list[dict], validation_books=VALIDATION_BOOKS, test_books=TEST_BOOKS
                ) -> tuple[list[int], list[int], list[int]]:
    """Indices (train, validation, test) of ``pairs`` by whole books.

    Raises:
        ValueError: a held-out book has no pair, or a book is in both held-out lists.

    Example:
        >>> ps = [{"book": b} for b in ("Genesis", "Ruth", "Acts", "Genesis")]
        >>> bible_split(ps, ("Ruth",), ("Acts",))
        ([0, 3], [1], [2])
    """
    both = set(validation_books) & set(test_books)
    if both:
        raise ValueError(f"books {sorted(both)} are in both validation_books and test_books")
    books = {p["book"] for p in pairs}
    for b in (*validation_books, *test_books):
        if b not in books:
            raise ValueError(f"held-out book {b!r} has no verse pair; books: {', '.join(sorted(books)[:8])}, ...")
    tr, va, te = [], [], []
    for i, p in enumerate(pairs):
        (va if p["book"] in validation_books else te if p["book"] in test_books else tr).append(i)
    return tr, va, te
