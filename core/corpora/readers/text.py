"""File types and text decoding shared by every reader: extensions, binary/UTF-8 checks, ``.gz``."""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from core.errors import CorpusError


PLAIN_EXTENSIONS = frozenset({
    ".txt", ".md", ".rst", ".tex", ".v", ".mm", ".ml", ".mli", ".agda", ".py", ".lean", ".thy",
    ".hs", ".c", ".h", ".js", ".ts", ".rs", ".go", ".java", ".sh", ".el", ".org",
})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
ROW_EXTENSIONS = frozenset({".jsonl", ".json", ".csv", ".parquet"})
SUPPORTED_EXTENSIONS = PLAIN_EXTENSIONS | HTML_EXTENSIONS | ROW_EXTENSIONS

_SNIFF_BYTES = 8192
_NARROW_FIX = "convert it to UTF-8 text, or exclude it with a narrower glob (e.g. 'data/**/*.txt')."


class _BadFile(CorpusError):
    """A file that is unreadable as text (binary, not UTF-8) or empty: skippable in folders."""

    def __init__(self, what: str, *, fix: str = "", empty: bool = False) -> None:
        super().__init__(what, fix=fix)
        self.empty = empty


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------
def file_type(path: Path) -> tuple[str, bool]:
    """Return ``(extension, gzipped)`` of ``path``, e.g. ``(".jsonl", True)`` for ``a.jsonl.gz``."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    return os.path.splitext(name)[1], gz


def is_supported(path: Path) -> bool:
    """True when ``path`` has an extension this reader understands (optionally ``.gz``)."""
    return file_type(path)[0] in SUPPORTED_EXTENSIONS


def read_bytes(path: Path) -> bytes:
    """Read a file, transparently gunzipping ``*.gz``.

    Raises:
        _BadFile: the ``.gz`` file is not valid gzip.
    """
    try:
        if file_type(path)[1]:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _BadFile(f"{path} is not a valid gzip file ({exc}).",
                       fix="re-compress it with gzip, or exclude it with a narrower glob.") from exc
    except OSError as exc:
        raise CorpusError(f"{path} cannot be read ({exc.strerror or exc}).",
                          fix="check the file's permissions.") from exc


def decode_text(data: bytes, path: Path | str) -> str:
    """Decode file bytes as UTF-8 (a BOM is accepted).

    Raises:
        _BadFile: NUL byte in the first 8 KiB (binary file) or invalid UTF-8; the message names
            the file and, for UTF-8 errors, the byte offset.
    """
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise _BadFile(f"{path} looks like a binary file (NUL byte in its first 8 KiB).",
                       fix=_NARROW_FIX)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _BadFile(f"{path} is not UTF-8 text (invalid byte at offset {exc.start}).",
                       fix=_NARROW_FIX) from exc
