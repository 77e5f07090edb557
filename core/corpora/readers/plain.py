"""Whole-file formats: plain text and source code (one document per file, id = relative path) and HTML."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from core.corpora.readers.base import FileReader
from core.corpora.readers.html_text import html_to_text
from core.corpora.readers.text import (HTML_EXTENSIONS, PLAIN_EXTENSIONS, _BadFile, check_document_size, decode_text,
                                      read_bytes)
from core.corpora.spec import CorpusSpec, Document


class TextReader(FileReader):
    """The whole (UTF-8) file is one document."""

    extensions = PLAIN_EXTENSIONS

    def read(self, spec: CorpusSpec, f: Path, rel: str, *, gz: bool, warnings: list[str]) -> Iterator[Document]:
        text = self.text(decode_text(read_bytes(f), f))
        if not text.strip():
            raise _BadFile(f"{f} is empty.", fix="add text to it or remove it.", empty=True)
        yield Document(rel, check_document_size(text, str(f)))

    def text(self, raw: str) -> str:
        """The document text of a decoded file."""
        return raw


class HtmlReader(TextReader):
    """The whole file is one document, tags stripped (:func:`~core.corpora.readers.html_text.html_to_text`)."""

    extensions = HTML_EXTENSIONS

    def text(self, raw: str) -> str:
        return html_to_text(raw)
