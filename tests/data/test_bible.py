"""data/bible.py: the SWORD import-format parser (notes, titles and tags stripped, headings
and introductions dropped), the book split, the cached parse, the error without mod2imp,
and the installed modules themselves (skipped where Debian's packages are absent)."""

from __future__ import annotations

import shutil

import pytest

from lstmkit.data import bible

IMP = """$$$[ Module Heading ]
<milestone type="x-importer"/>
$$$Genesis 0:0
<div type="front"/> Preface text
$$$Genesis 1:0
<chapter n="1"/>
$$$Genesis 1:1
<title type="x-section">The Creation</title><w lemma="strong:H7225">In the beginning</w>, <w>God</w> created<note placement="foot"><reference>1:1 </reference>or, made</note> the heavens &amp; the earth.
$$$Genesis 1:2
“<w>Moses</w> <transChange type="added">is</transChange> dead.<div eID="x" type="x-p"/> <l>Now arise</l>
$$$Genesis 1:3

$$$II Samuel 3:10
Last <q who="Jesus">verse</q> here ;
"""


def test_parse_imp_strips_markup_and_drops_headings():
    v = bible.parse_imp(IMP)
    assert list(v) == ["Genesis 1:1", "Genesis 1:2", "II Samuel 3:10"]  # empty 1:3 dropped
    assert v["Genesis 1:1"] == "In the beginning, God created the heavens & the earth."
    assert v["Genesis 1:2"] == "“Moses is dead. Now arise"
    assert v["II Samuel 3:10"] == "Last verse here;"
    assert bible.book_of("II Samuel 3:10") == "II Samuel"


def test_split_by_whole_books():
    pairs = [{"book": b} for b in ["Genesis", "Ruth", "Acts", "Ruth", "Exodus"]]
    assert bible.bible_split(pairs, ("Ruth",), ("Acts",)) == ([0, 4], [1, 3], [2])
    with pytest.raises(ValueError, match="both"):
        bible.bible_split(pairs, ("Ruth",), ("Ruth",))
    with pytest.raises(ValueError, match="Jonah"):
        bible.bible_split(pairs, ("Jonah",), ("Acts",))


def test_missing_mod2imp_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(bible.shutil, "which", lambda name: None)
    with pytest.raises(ImportError, match="libsword-utils"):
        bible.read_module("engWEB2015eb")


def test_parse_is_cached(monkeypatch, tmp_path):
    calls = []
    fake = {"eng": {"Ruth 1:1": "In the days", "Ruth 1:2": "Naomi"}, "spa": {"Ruth 1:1": "En los días"}}

    def read(module):
        calls.append(module)
        return fake[module]

    monkeypatch.setenv("LSTMKIT_DATA_CACHE", str(tmp_path))
    monkeypatch.setattr(bible, "read_module", read)
    monkeypatch.setattr(bible, "_module_files", lambda m: [tmp_path / "stamp"])
    (tmp_path / "stamp").write_text("v1")
    bible._pairs.cache_clear()
    first = bible.load_bible_pairs("eng", "spa")
    assert first == [{"ref": "Ruth 1:1", "book": "Ruth", "en": "In the days", "es": "En los días"}]
    assert calls == ["eng", "spa"]
    bible._pairs.cache_clear()
    assert bible.load_bible_pairs("eng", "spa") == first and calls == ["eng", "spa"]  # read from the cache
    (tmp_path / "stamp").write_text("v2, a longer file")  # the module changed: read again
    bible._pairs.cache_clear()
    bible.load_bible_pairs("eng", "spa")
    assert calls == ["eng", "spa", "eng", "spa"]
    bible._pairs.cache_clear()


@pytest.mark.skipif(shutil.which("mod2imp") is None, reason="Debian's libsword-utils (mod2imp) is not installed")
def test_the_installed_modules():
    try:
        pairs = bible.load_bible_pairs()
    except ValueError as e:
        pytest.skip(f"sword modules missing: {e}")
    assert 30_000 <= len(pairs) <= 32_000
    tr, va, te = bible.bible_split(pairs)
    books = lambda idx: {pairs[i]["book"] for i in idx}  # noqa: E731
    assert books(va) == set(bible.VALIDATION_BOOKS) and books(te) == set(bible.TEST_BOOKS)
    assert not books(tr) & (books(va) | books(te))
    gen = {p["ref"]: p for p in pairs}["Genesis 1:1"]
    assert gen["en"].startswith("In the beginning") and gen["es"].startswith("EN el principio")
    assert not any("<" in p["en"] or "<" in p["es"] for p in pairs)
