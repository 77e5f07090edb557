"""Kind ``"files"`` corpora: resolve a file, folder or glob, and read it with one reader per format."""
from __future__ import annotations

import os
import re
from glob import glob, has_magic
from pathlib import Path

from core.corpora.readers.base import FileReader
from core.corpora.readers.csv_rows import CsvReader
from core.corpora.readers.jsonl import JsonReader
from core.corpora.readers.parquet import ParquetReader
from core.corpora.readers.plain import HtmlReader, TextReader
from core.corpora.readers.text import (SUPPORTED_EXTENSIONS, _NARROW_FIX, _BadFile, check_regular, file_type,
                                      is_supported)
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError, opt


#: Extension (lower case, without ``.gz``) -> the reader of that format.
READERS: dict[str, FileReader] = {ext: reader for reader in (TextReader(), HtmlReader(), JsonReader(), CsvReader(),
                                                            ParquetReader()) for ext in reader.extensions}
def resolve_files(path: str) -> tuple[Path, list[Path], list[str]]:
    """Expand a files-kind ``path`` into ``(base, files, warnings)``.

    ``files`` are sorted by their POSIX path relative to ``base``; a folder yields every
    supported file below it (hidden names skipped), a glob every matching file (unsupported
    extensions skipped with a warning).

    Symlinks are followed only to regular files (a FIFO, a device or a dangling link is skipped in a
    folder, refused as the path itself: "not a regular file"); files that resolve outside ``base``
    through symlinks are named in a warning.

    Raises:
        CorpusError: the path does not exist or is not a regular file or folder, the glob matches
            nothing, or no supported file.
    """
    warnings: list[str] = []
    p = Path(path).expanduser()
    if has_magic(path):
        base, files = _glob_files(path, p, warnings)
    elif p.is_dir():
        base, files = p, _folder_files(path, p, warnings)
    elif p.is_file():
        base = p.parent
        files = [p]
        if not is_supported(p):
            raise CorpusError(
                f"{path} has an unsupported extension.",
                fix=f"use one of: {', '.join(sorted(SUPPORTED_EXTENSIONS))} (optionally .gz), or rename it to .txt "
                    "if it is plain text.")
    elif os.path.lexists(p):
        check_regular(p)                                   # raises: a FIFO, a device, a dangling symlink...
        raise CorpusError(f"Path {path} is not a regular file.", fix="point the corpus at regular files.")
    else:
        raise CorpusError(f"Path {path} does not exist.",
                          fix="check the spelling, or give an absolute path, a folder or a glob.")
    files.sort(key=lambda f: _rel(f, base))
    outside = _outside(files, base)
    if outside:
        warnings.append(f"{len(outside)} file(s) resolve outside {base} through symlinks: "
                        + ", ".join(f"{_rel(f, base)} -> {real}" for f, real in outside[:5])
                        + (" ..." if len(outside) > 5 else ""))
    files, dups = _unique_real(files)
    if dups:
        warnings.append(f"skipped {dups} duplicate path(s) of the same file(s) (symlinks) under {path}")
    return base, files, warnings


def _glob_files(path: str, p: Path, warnings: list[str]) -> tuple[Path, list[Path]]:
    """``(base, supported files)`` of a glob ``path`` (``p``: expanded); warnings appended.

    Raises:
        CorpusError: no file matches, or none has a supported extension.
    """
    fixed: list[str] = []
    for part in Path(path).parts:
        if has_magic(part):
            break
        fixed.append(part)
    base = Path(*fixed) if fixed else Path(".")
    if "**" in path:           # our own walk: symlink loops are entered once, never recursed
        matches = _walk_glob(base.expanduser(), Path(path).parts[len(fixed):])
    else:
        matches = [Path(m) for m in glob(str(p), recursive=True)]
    matches = [m for m in matches if m.is_file()]
    if not matches:
        raise CorpusError(f"Glob {path} matches no file.",
                          fix="check the pattern; use '**' to search sub-folders, e.g. 'data/**/*.txt'.")
    files = [m for m in matches if is_supported(m)]
    skipped = len(matches) - len(files)
    if skipped:
        exts = sorted({"".join(m.suffixes[-2:]) or m.name for m in matches if not is_supported(m)})
        warnings.append(f"skipped {skipped} file(s) with unsupported extensions ({', '.join(exts[:8])}) matched by {path}")
    if not files:
        raise CorpusError(
            f"Glob {path} matches {len(matches)} file(s) but none has a supported extension.",
            fix=f"use files ending in one of: {', '.join(sorted(SUPPORTED_EXTENSIONS))} (optionally .gz).")
    return base, files


def _folder_files(path: str, p: Path, warnings: list[str]) -> list[Path]:
    """Every supported regular file below folder ``p`` (hidden names and ``__pycache__`` skipped).

    Raises:
        CorpusError: the folder holds no supported file.
    """
    files, special = [], []
    for root, dirs, names in os.walk(p):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in names:
            f = Path(root) / name
            if not name.startswith(".") and is_supported(f):
                if f.is_file():                     # symlinks followed only to a regular file
                    files.append(f)
                else:
                    special.append(f.name)
    if special:
        warnings.append(f"skipped {len(special)} path(s) that are not regular files (FIFOs, devices, dangling "
                        f"symlinks) under {path}, e.g. {', '.join(special[:3])}")
    if not files:
        raise CorpusError(
            f"Folder {path} contains no supported file.",
            fix=f"put files ending in one of: {', '.join(sorted(SUPPORTED_EXTENSIONS))} (optionally .gz) "
                "in it, or point path at a glob.")
    return files


def _outside(files: list[Path], base: Path) -> list[tuple[Path, str]]:
    """``(file, real path)`` of the files whose real path (symlinks resolved) is not below ``base``'s."""
    try:
        root = os.path.realpath(base)
    except OSError:
        return []
    out = []
    for f in files:
        try:
            real = os.path.realpath(f)
        except OSError:
            continue
        if os.path.commonpath([root, real]) != root:
            out.append((f, real))
    return out


def _unique_real(files: list[Path]) -> tuple[list[Path], int]:
    """``files`` without the later paths of a file already listed (same real path); and how many went."""
    seen: set[str] = set()
    out = []
    for f in files:
        try:
            real = os.path.realpath(f)
        except OSError:
            real = str(f)
        if real not in seen:
            seen.add(real)
            out.append(f)
    return out, len(files) - len(out)


def _part_regex(part: str) -> str:
    """Regex of one glob path component (``*``, ``?``, ``[...]``; ``*`` and ``?`` never match ``/``,
    and a leading wildcard never matches a hidden name, as in :mod:`glob`)."""
    out, i, n = ["(?!\\.)" if part[:1] in ("*", "?", "[") else ""], 0, len(part)
    while i < n:
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1 + (part[i + 1:i + 2] == "!")
            j = part.find("]", j + (part[j:j + 1] == "]"))
            if j < 0:
                out.append("\\[")
            else:
                body = part[i + 1:j]
                body = ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\")
                out.append("[" + body + "]")
                i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _walk_glob(base: Path, parts: tuple[str, ...]) -> list[Path]:
    """Files under ``base`` whose relative path matches the glob ``parts`` (``**`` = any number of
    folders). Folder symlinks are followed, but a folder already visited (same device and inode,
    e.g. a symlink loop) is not entered again, so the walk always ends. Hidden folders are skipped."""
    regex = []
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        if part == "**":
            regex.append("(?:(?!\\.)[^/]+/)*" + ("(?!\\.)[^/]+" if last else ""))
        else:
            regex.append(_part_regex(part) + ("" if last else "/"))
    rx = re.compile("".join(regex) + r"\Z", re.S)
    seen: set[tuple[int, int]] = set()
    out: list[Path] = []
    for root, dirs, names in os.walk(base, followlinks=True):
        try:
            st = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_root = Path(root).relative_to(base).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        out += [Path(root) / n for n in sorted(names) if rx.match(prefix + n)]
    return out


def _rel(f: Path, base: Path) -> str:
    try:
        return f.relative_to(base).as_posix()
    except ValueError:
        return f.as_posix()


def files_identity(path: str) -> list[tuple[str, int, int]]:
    """Return sorted ``(relative path, size, mtime_ns)`` of the files ``path`` expands to.

    Raises:
        CorpusError: as :func:`resolve_files`.
    """
    base, files, _ = resolve_files(path)
    out = []
    for f in files:
        st = f.stat()
        out.append((_rel(f, base), st.st_size, st.st_mtime_ns))
    return out


def read_files(spec: CorpusSpec) -> tuple[list[Document], list[str]]:
    """Read a kind-``"files"`` corpus.

    Returns:
        ``(documents, warnings)``; documents are non-empty, in file order then row order, capped
        at ``spec.max_documents``.

    Raises:
        CorpusError: see the module docstring (file, field and line named in the message).
    """
    base, files, warnings = resolve_files(spec.path)
    single = len(files) == 1
    docs: list[Document] = []
    bad: list[str] = []
    empty: list[str] = []
    cap = spec.max_documents
    for f in files:
        rel = _rel(f, base)
        ext, gz = file_type(f)
        try:
            new = list(READERS[ext].read(spec, f, rel, gz=gz, warnings=warnings))
            if not new:
                raise _BadFile(f"{f} yields no non-empty document.",
                               fix=f"check that the text column ({opt('field')}) is filled in, or remove the file.", empty=True)
        except _BadFile as exc:
            if single:
                raise
            if exc.empty:
                empty.append(rel)
            else:
                bad.append(rel)
                warnings.append(f"skipped {exc.what}")
            continue
        docs.extend(new)
        if cap is not None and len(docs) >= cap:
            del docs[cap:]
            break
    if empty:
        warnings.append(f"skipped {len(empty)} empty file(s), e.g. {', '.join(empty[:3])}")
    if not docs:
        if bad:
            also = f" (and {len(empty)} empty: {', '.join(empty[:3])})" if empty else ""
            raise CorpusError(
                f"Every file of corpus {spec.name!r} ({spec.path}) is unreadable as text: "
                f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}{also}.",
                fix=_NARROW_FIX)
        raise CorpusError(f"Corpus {spec.name!r} ({spec.path}) has no non-empty document"
                          f"{' (empty: ' + ', '.join(empty[:5]) + ')' if empty else ''}.",
                          fix=f"point {opt('path')} at files that contain text.")
    return docs, warnings
