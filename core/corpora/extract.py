"""Text extraction for the demo pack: Metamath pairs, MediaWiki markup, dictd dictionaries.

Pure functions over strings/bytes (no I/O), so they are unit-testable on small inline inputs.
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from typing import IO, Iterator

# ----------------------------------------------------------------------------------------------
# Metamath
# ----------------------------------------------------------------------------------------------
_MM_COMMENT = re.compile(r"\$\((.*?)\$\)", re.S)
# "label $p <math symbols> $=" (proof follows) or "label $a <math symbols> $."
_MM_STATEMENT = re.compile(r"\s+([A-Za-z0-9._-]+)\s+\$([ap])\s+(.*?)\s+\$([=.])", re.S)
_MM_PROVENANCE = re.compile(
    r"\((?:Contributed|Revised|Proof shortened|Proof modification|New usage|Shortened|Modified|"
    r"Proof modified|Proved)\b[^()]*\)\s*\.?", re.I)


def parse_metamath_pairs(text: str, *, drop_provenance: bool = True) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(label, keyword, comment, statement)`` for each comment -> statement pair.

    A pair is a ``$( comment $)`` immediately followed (whitespace only between) by a
    ``label $p statement $= proof $.`` or ``label $a statement $.``; the proof is dropped.
    Whitespace in comment and statement is collapsed to single spaces. With
    ``drop_provenance`` the bookkeeping notes "(Contributed by ...)", "(Revised by ...)",
    "(Proof shortened by ...)", "(New usage is discouraged.)" etc. are removed from the comment.

    Args:
        text: contents of a ``.mm`` database (e.g. set.mm).

    Yields:
        ``(label, "$p" | "$a", comment, statement)``; comments that end up empty are skipped.
    """
    for m in _MM_COMMENT.finditer(text):
        s = _MM_STATEMENT.match(text, m.end())
        if not s:
            continue
        label, kw, stmt, end = s.groups()
        if (kw == "p") != (end == "="):
            continue
        if "$" in stmt:  # ran past a keyword: not a plain statement
            continue
        comment = m.group(1)
        if drop_provenance:
            comment = _MM_PROVENANCE.sub(" ", comment)
        comment = " ".join(comment.split())
        if not comment:
            continue
        yield label, "$" + kw, comment, " ".join(stmt.split())


def metamath_document(label: str, keyword: str, comment: str, statement: str) -> str:
    """Format one pair as ``"<comment text> <label> $p <statement>"``."""
    return f"{comment} {label} {keyword} {statement}"


# ----------------------------------------------------------------------------------------------
# MediaWiki
# ----------------------------------------------------------------------------------------------
_WIKI_NONTEXT_LINKS = ("file:", "image:", "category:", "media:", "wikipedia:", "wp:", "help:",
                       "template:", "portal:", "special:", "user:", "talk:")


def _strip_nested(text: str, open_: str, close: str) -> str:
    """Remove balanced ``open_ ... close`` spans (nested allowed), e.g. templates ``{{...}}``."""
    out: list[str] = []
    depth = 0
    i = 0
    n = len(text)
    lo, lc = len(open_), len(close)
    start = 0
    while i < n:
        if text.startswith(open_, i):
            if depth == 0:
                out.append(text[start:i])
            depth += 1
            i += lo
        elif depth and text.startswith(close, i):
            depth -= 1
            i += lc
            if depth == 0:
                start = i
        else:
            i += 1
    if depth == 0:
        out.append(text[start:])
    return "".join(out)


_WIKI_LINK = re.compile(r"\[\[([^\[\]|]*)(?:\|([^\[\]]*))?\]\]")


def _wiki_link(m: re.Match) -> str:
    target, label = m.group(1), m.group(2)
    if target.strip().lower().startswith(_WIKI_NONTEXT_LINKS) or re.match(r"^\s*[a-z]{2,3}(-[a-z]+)?:", target):
        return ""
    return label if label is not None else target


def wiki_to_text(markup: str) -> str:
    """Strip MediaWiki markup to readable text (reasonable, not a full parser).

    Keeps ``<math>`` TeX as ``$...$``; removes comments, ``<ref>`` footnotes, templates ``{{...}}``, tables ``{|...|}``, files,
    categories and interlanguage links, HTML tags, bold/italic quotes and heading ``=`` marks;
    ``[[target|label]]`` becomes ``label``, ``[[target]]`` becomes ``target``,
    ``[http://x label]`` becomes ``label``; entities are unescaped.
    """
    t = markup
    t = re.sub(r"<!--.*?-->", "", t, flags=re.S)
    t = re.sub(r"<ref[^>]*/>", "", t, flags=re.I)
    t = re.sub(r"<ref[^>]*>.*?</ref>", "", t, flags=re.S | re.I)
    t = re.sub(r"<(gallery|timeline|score|syntaxhighlight|source|imagemap)[^>]*>.*?</\1>", "", t, flags=re.S | re.I)
    maths: list[str] = []

    def stash(m: re.Match) -> str:  # protect TeX from the markup rules below
        maths.append("$" + " ".join(html.unescape(m.group(1)).split()) + "$")
        return f"\x00{len(maths) - 1}\x00"

    t = re.sub(r"<math[^>]*>(.*?)</math>", stash, t, flags=re.S | re.I)
    t = _strip_nested(t, "{{", "}}")
    t = _strip_nested(t, "{|", "|}")
    for _ in range(5):  # innermost links first: captions inside [[File:...]] resolve before removal
        new = _WIKI_LINK.sub(_wiki_link, t)
        if new == t:
            break
        t = new
    t = re.sub(r"\[https?://[^\s\]]+\s+([^\]]*)\]", r"\1", t)
    t = re.sub(r"\[https?://[^\]]*\]", "", t)
    t = re.sub(r"<[^>]+>", "", t)
    t = re.sub(r"'{2,}", "", t)
    t = re.sub(r"^\s*(=+)\s*(.*?)\s*\1\s*$", r"\2", t, flags=re.M)
    t = re.sub(r"^[:;]+\s*", "", t, flags=re.M)
    t = re.sub(r"^\*+\s*", "- ", t, flags=re.M)
    t = re.sub(r"^#+\s*", "- ", t, flags=re.M)
    t = re.sub(r"^\s*__[A-Z]+__\s*$", "", t, flags=re.M)
    t = html.unescape(t)
    t = re.sub(r"[ \t\u00a0]+", " ", t)
    t = re.sub(r" *\n *", "\n", t)
    t = re.sub(r"\(\s*[,;]?\s*\)", "", t)  # "( )" left by removed templates
    t = re.sub(r"\n{3,}", "\n\n", t)
    t = re.sub("\x00(\\d+)\x00", lambda m: maths[int(m.group(1))], t)
    return t.strip()


def iter_wiki_articles(stream: IO[bytes]) -> Iterator[tuple[str, str]]:
    """Yield ``(title, wikitext)`` of main-namespace, non-redirect pages of a MediaWiki XML dump."""
    title = ns = text = None
    redirect = False
    for _, elem in ET.iterparse(stream, events=("end",)):
        tag = elem.tag.rsplit("}", 1)[-1]
        if tag == "title":
            title = elem.text or ""
        elif tag == "ns":
            ns = (elem.text or "").strip()
        elif tag == "redirect":
            redirect = True
        elif tag == "text":
            text = elem.text or ""
        elif tag == "page":
            if ns == "0" and not redirect and text and not text.lstrip().upper().startswith("#REDIRECT"):
                yield title or "", text
            title = ns = text = None
            redirect = False
            elem.clear()


# ----------------------------------------------------------------------------------------------
# dictd dictionaries (.index + .dict.dz)
# ----------------------------------------------------------------------------------------------
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}


def dictd_number(code: str) -> int:
    """Decode a dictd base-64 number (as used in ``.index`` files)."""
    value = 0
    for c in code:
        value = value * 64 + _B64_VALUE[c]
    return value


def iter_dictd_entries(index_text: str, data: bytes) -> Iterator[tuple[str, str]]:
    """Yield ``(headword, entry text)`` from a dictd index and its uncompressed data.

    Entries are yielded once each (several headwords may point to the same text), in the order
    of the data file; the ``00-database-*`` / ``00-<dict>-*`` metadata entries are skipped.
    """
    seen: dict[tuple[int, int], str] = {}
    for line in index_text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        head, off, length = parts[0], dictd_number(parts[1]), dictd_number(parts[2])
        if head.startswith(("00-", "00database")):
            continue
        seen.setdefault((off, length), head)
    for (off, length), head in sorted(seen.items()):
        text = data[off:off + length].decode("utf-8", errors="replace").strip()
        if text:
            yield head, text


# ----------------------------------------------------------------------------------------------
# Python docstring -> code pairs
# ----------------------------------------------------------------------------------------------
_TRIPLE = ('"""', "'''")


def python_docstring_pairs(source: str, *, max_lines: int = 60) -> Iterator[tuple[str, str, str]]:
    """``(qualname, prompt, body)`` of every public function of a Python module that has a docstring,
    in HumanEval's layout: ``prompt`` is the ``def`` line(s) and the docstring, ending with the
    closing triple quotes and a newline, ``body`` the statements after it (both dedented to column 0;
    blank lines between the docstring and the first statement dropped).

    Module-level functions and the methods of module-level classes are read (``ast``, no import, no
    execution). A function is left out when its name starts with ``_``, its docstring is not
    triple-quoted, a line sits left of its ``def``, its body holds triple quotes (so the last closing quotes of a document always end
    its prompt), or it is longer than ``max_lines`` lines. A module that does not parse yields nothing.
    A name defined again in the same scope is ``"<qualname>#2"`` (so qualnames are unique per module).
    """
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return
    lines = source.splitlines(keepends=True)
    funcs: list[tuple[str, ast.AST]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            funcs += [(f"{node.name}.{n.name}", n) for n in node.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    seen: dict[str, int] = {}
    for qualname, fn in funcs:
        seen[qualname] = seen.get(qualname, 0) + 1          # a redefinition (property setter, if/else def)
        if seen[qualname] > 1:
            qualname = f"{qualname}#{seen[qualname]}"
        if fn.name.startswith("_") or ast.get_docstring(fn) is None or len(fn.body) < 2:
            continue
        start, doc_end, end = fn.lineno, fn.body[0].end_lineno, fn.end_lineno
        if end - start + 1 > max_lines:
            continue
        pad, parts = fn.col_offset, lines[start - 1:end]
        if any(ln.strip() and ln[:pad].strip() for ln in parts):
            continue                                 # a line left of the def (a string at column 0)
        parts = [ln[pad:] if ln.strip() else ln.lstrip(" \t") for ln in parts]
        cut = doc_end - start + 1
        prompt, body = "".join(parts[:cut]), re.sub(r"\A(?:[ \t]*\n)+", "", "".join(parts[cut:]))
        if not prompt.rstrip(" \t").endswith(tuple(q + "\n" for q in _TRIPLE)) or any(q in body for q in _TRIPLE):
            continue
        if body.strip():
            yield qualname, prompt, body if body.endswith("\n") else body + "\n"
