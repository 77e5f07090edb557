"""HTML -> plain text with :mod:`html.parser` (scripts, styles and navigation dropped)."""
from __future__ import annotations

import re
from html.parser import HTMLParser


# ----------------------------------------------------------------------------------------------
# HTML to text
# ----------------------------------------------------------------------------------------------
_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "pre", "section",
    "article", "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "header", "footer",
    "main", "nav", "aside", "figure", "figcaption", "form", "title", "caption", "td", "th",
})
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "math"})
_VOID_TAGS = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col",
                        "embed", "source", "track", "wbr", "param"})


class _TextExtractor(HTMLParser):
    def __init__(self, main_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.main_only = main_only
        self.parts: list[str] = []
        self.main_parts: list[str] = []
        self.skip = 0
        self.pre = 0
        self.main_tag: str | None = None
        self.main_depth = 0
        self.drop_tag: str | None = None
        self.drop_depth = 0

    def _emit(self, text: str) -> None:
        target = self.main_parts if self.main_tag is not None else None
        for out in (self.parts, target):
            if out is None:
                continue
            if text == "\n":
                out.append("\n")
            else:
                if not out or out[-1].endswith("\n"):
                    text_out = text.lstrip(" ") if not self.pre else text
                else:
                    text_out = text
                if text_out:
                    out.append(text_out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attrs_d = dict(attrs)
        if self.main_tag is not None and tag == self.main_tag and tag not in _VOID_TAGS:
            self.main_depth += 1
        elif self.main_only and self.main_tag is None and (
                tag == "main" or attrs_d.get("role") == "main"):
            self.main_tag, self.main_depth = tag, 1
        if self.drop_tag is not None and tag == self.drop_tag and tag not in _VOID_TAGS:
            self.drop_depth += 1
        elif self.drop_tag is None and "headerlink" in (attrs_d.get("class") or "").split():
            self.drop_tag, self.drop_depth = tag, 1
        if tag in _SKIP_TAGS:
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCK_TAGS:
            self._emit("\n")
        elif tag in ("td", "th"):
            self._emit(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self.skip:
            self.skip -= 1
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in _BLOCK_TAGS:
            self._emit("\n")
        if self.drop_tag == tag:
            self.drop_depth -= 1
            if self.drop_depth == 0:
                self.drop_tag = None
        if self.main_tag == tag:
            self.main_depth -= 1
            if self.main_depth == 0:
                self.main_tag = None
                self.main_only = False  # keep only the first main region

    def handle_data(self, data: str) -> None:
        if self.skip or self.drop_tag is not None:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        if data:
            self._emit(data)


def html_to_text(html: str, *, main_only: bool = False) -> str:
    """Convert HTML to plain text with the stdlib :class:`html.parser.HTMLParser`.

    Scripts, styles and ``<head>`` are dropped, block elements become line breaks, whitespace is
    collapsed outside ``<pre>``. With ``main_only`` the text of the first ``<main>`` or
    ``role="main"`` element is returned when there is one (the whole page otherwise), and
    Sphinx ``headerlink`` anchors are dropped.
    """
    parser = _TextExtractor(main_only)
    parser.feed(html)
    parser.close()
    parts = parser.main_parts if parser.main_parts else parser.parts
    text = "".join(parts)
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
