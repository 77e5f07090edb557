"""Text normalisation of the contamination guard (:mod:`core.corpora.contamination`): what two texts
must share to count as the same.

:func:`normalise`: HTML markup and Markdown marks dropped, Unicode NFKC, invisible characters removed
(format class Cf and the other default-ignorables), case folding, confusables folded to a UTS #39
skeleton (:func:`skeleton`), whitespace collapsed. :func:`words`: the normalised text as words and
single punctuation marks. :func:`text_hash`: sha256 of the normalised text.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

_WORDS = re.compile(r"\w+|[^\w\s]")

_SPACE = re.compile(r"\s+")

#: HTML/XML tags (``<p>``, ``</b>``, ``<br/>``, ``<span class="x">``) and Markdown emphasis/code marks.
_TAGS = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")

_MARKS = re.compile(r"```[A-Za-z0-9_+-]*|`+|\*\*+|~~+")

#: Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt) that are not in the format class
#: Cf: Hangul fillers, the combining grapheme joiner, Mongolian and other variation selectors,
#: Khmer inherent vowels. They render as nothing; fillers and the braille blank render as a space.
_IGNORABLE_RANGES = ((0x034F, 0x034F), (0x17B4, 0x17B5), (0x180B, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF),
                     (0x2065, 0x2065), (0x1D173, 0x1D17A))

_BLANK_LOOKING = (0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800)


def _build_fold_table() -> dict[int, str]:
    """``str.translate`` table: invisible characters removed, blank-looking ones made spaces, and
    every character of a confusable class (the UTS #39 confusables data shipped by the maintained
    ``confusable_homoglyphs`` package) mapped to one prototype of its class (an ASCII letter or digit
    where the class has one, else its lowest code point). Single-character classes only: a
    character confusable only with a sequence (``m`` / ``rn``) stays itself.
    """
    import sys

    table: dict[int, str] = {}
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)) == "Cf":
            table[cp] = ""
    for lo, hi in _IGNORABLE_RANGES:
        for cp in range(lo, hi + 1):
            table[cp] = ""
    for cp in _BLANK_LOOKING:
        table[cp] = " "
    try:
        from confusable_homoglyphs.confusables import confusables_data
    except ImportError:                              # the requirement is missing: Cf and NFKC still apply
        return table
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ch, glyphs in confusables_data.items():
        if len(ch) != 1:
            continue
        for g in glyphs:
            c = g.get("c", "")
            if len(c) == 1 and c != ch:
                a, b = find(ch), find(c)
                if a != b:
                    parent[a] = b
    classes: dict[str, list[str]] = {}
    for x in list(parent):
        classes.setdefault(find(x), []).append(x)

    def rank(c: str) -> tuple:
        return (not (c.isascii() and c.isalpha() and c.islower()), not (c.isascii() and c.isalnum()), not c.isascii(),
                ord(c))

    for members in classes.values():
        if len(members) < 2:
            continue
        proto = min(members, key=rank)
        for c in members:
            if c != proto and ord(c) not in table and not c.isspace():
                table[ord(c)] = proto
    return table

_FOLD: dict[int, str] | None = None

_FOLD_NON_ASCII: dict[int, str] | None = None


def _fold_table(*, non_ascii: bool = False) -> dict[int, str]:
    global _FOLD, _FOLD_NON_ASCII
    if _FOLD is None:
        _FOLD = _build_fold_table()
        _FOLD_NON_ASCII = {k: v for k, v in _FOLD.items()      # NFKC's own ASCII folds (fullwidth I) come first
                           if k > 127 and not unicodedata.normalize("NFKC", chr(k)).isascii()}
    return _FOLD_NON_ASCII if non_ascii else _FOLD


def skeleton(text: str) -> str:
    """``text`` with invisible characters removed and confusables folded to their prototype (UTS #39
    skeleton, single characters), NFKC before and after."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).translate(_fold_table()))


def normalise(text: str) -> str:
    """What a reader sees, as one canonical string: HTML entities decoded and tags and Markdown
    marks dropped, Unicode NFKC (UAX #15), invisible characters removed (format class Cf and the
    other default-ignorables), case-folded, confusables folded to a UTS #39 skeleton
    (:func:`skeleton`), case-folded again, whitespace runs collapsed to one space, stripped.

    ``"Let\u200b G be a grоup"`` (a zero-width space, a Cyrillic ``о``) normalises as ``"let g be a group"``.
    """
    if "&" in text or "<" in text:
        import html

        text = _TAGS.sub(" ", html.unescape(text))
    if "`" in text or "**" in text or "~~" in text:
        text = _MARKS.sub("", text)
    # non-ASCII look-alikes fold before case folding (Greek capital iota is an 'l', its lower case an 'i'),
    # then the case-folded text is folded again (ASCII case never changes a word's class)
    text = text.translate(_fold_table(non_ascii=True))     # before NFKC too: it maps lunate sigma to a final sigma
    text = skeleton(unicodedata.normalize("NFKC", text).casefold()).casefold()
    return _SPACE.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """The words and single punctuation marks of :func:`normalise` d ``text`` (the n-gram tokens)."""
    return _WORDS.findall(normalise(text))


def text_hash(text: str) -> str:
    """sha256 hex (first 32 characters) of the normalised text: the exact-match identity of a document."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:32]
