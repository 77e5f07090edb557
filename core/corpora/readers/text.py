"""File types and text decoding shared by every reader: extensions, binary/UTF-8 checks, ``.gz``."""
from __future__ import annotations

import gzip
import os
import stat
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


def check_regular(path: Path) -> os.stat_result:
    """``os.stat`` of ``path`` (symlinks followed), which must be a regular file.

    Raises:
        CorpusError: a FIFO, a device (``/dev/zero``), a socket or a folder: "not a regular file";
            a path that cannot be stat-ed: it does not exist or cannot be read.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CorpusError(f"{path} does not exist" + (" (a dangling symlink)" if os.path.islink(path) else "") + ".",
                          fix="check the spelling, or give an absolute path, a folder or a glob.") from None
    except OSError as exc:
        raise CorpusError(f"{path} cannot be read ({exc.strerror or exc}).", fix="check the file's permissions.") from None
    if not stat.S_ISREG(st.st_mode):
        raise CorpusError(f"{path} is not a regular file ({_kind(st.st_mode)}).",
                          fix="point the corpus at regular files (a FIFO or a device has no end to read).")
    return st


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a file"


def _inflate(path: Path, compressed: int) -> bytes:
    """Gunzip ``path`` in chunks, refusing an output over ``$ALIGNSCOPE_MAX_DECOMPRESSED_BYTES`` or a
    ratio over ``$ALIGNSCOPE_MAX_GZIP_RATIO`` (past :data:`core.limits.RATIO_GRACE_BYTES`): a gzip bomb
    stops within one chunk of the cap, never inflating the whole of it."""
    from core.limits import RATIO_GRACE_BYTES, human, limit

    cap, ratio = limit("ALIGNSCOPE_MAX_DECOMPRESSED_BYTES"), limit("ALIGNSCOPE_MAX_GZIP_RATIO")
    chunks, total = [], 0
    with gzip.open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise CorpusError(f"{path} inflates to more than {human(cap)} ($ALIGNSCOPE_MAX_DECOMPRESSED_BYTES) from "
                                  f"{human(compressed)}.", fix="split it into smaller files, or raise the cap "
                                  "(docs/limits.md).")
            if total > RATIO_GRACE_BYTES and total > ratio * max(compressed, 1):
                raise CorpusError(f"{path} inflates more than {ratio}x ({human(compressed)} -> over {human(total)}; "
                                  "$ALIGNSCOPE_MAX_GZIP_RATIO): it looks like a decompression bomb.",
                                  fix="check where the file comes from; raise the cap if it is genuine (docs/limits.md).")
            chunks.append(chunk)
    return b"".join(chunks)


def read_bytes(path: Path) -> bytes:
    """Read a regular file, transparently gunzipping ``*.gz``, within the size caps of :mod:`core.limits`.

    Raises:
        CorpusError: not a regular file, a file over ``$ALIGNSCOPE_MAX_FILE_BYTES``, a ``.gz`` over
            the decompressed size or ratio caps, or unreadable. _BadFile: the ``.gz`` file is not
            valid gzip.
    """
    from core.limits import human, limit

    st = check_regular(path)
    cap = limit("ALIGNSCOPE_MAX_FILE_BYTES")
    if st.st_size > cap:
        raise CorpusError(f"{path} is {human(st.st_size)}, over the {human(cap)} a corpus file may have "
                          "($ALIGNSCOPE_MAX_FILE_BYTES).", fix="split it into smaller files, or raise the cap (docs/limits.md).")
    try:
        if file_type(path)[1]:
            return _inflate(path, st.st_size)
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _BadFile(f"{path} is not a valid gzip file ({exc}).",
                       fix="re-compress it with gzip, or exclude it with a narrower glob.") from exc
    except OSError as exc:
        raise CorpusError(f"{path} cannot be read ({exc.strerror or exc}).",
                          fix="check the file's permissions.") from exc


def check_document_size(text: str, where: str) -> str:
    """``text`` unchanged when it is at most ``$ALIGNSCOPE_MAX_DOC_BYTES`` (UTF-8).

    Raises:
        CorpusError: a larger document, naming ``where`` (file, line or row).
    """
    from core.limits import human, limit

    cap = limit("ALIGNSCOPE_MAX_DOC_BYTES")
    if len(text) * 4 > cap and len(text.encode("utf-8", "surrogatepass")) > cap:
        raise CorpusError(f"The document of {where} is {human(len(text.encode('utf-8', 'surrogatepass')))}, over the "
                          f"{human(cap)} one document may have ($ALIGNSCOPE_MAX_DOC_BYTES).",
                          fix="split it into smaller documents, or raise the cap (docs/limits.md).")
    return text


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
