"""Reading corpora: local files (kind ``"files"``) and Hugging Face datasets (kind ``"hf"``).

Local files
    ``path`` is a file, a folder (read recursively; hidden files and folders are skipped) or a
    glob (``**`` supported). Files are read in sorted order of their path relative to the base
    (the folder, the glob's fixed prefix, or the file's own folder).

    * ``.txt .md .rst .tex`` and source files (``.v .mm .ml .mli .agda .py .lean .thy .hs .c .h
      .js .ts .rs .go .java .sh .el .org``): the whole file is one document, id = relative path.
    * ``.html .htm``: tags stripped with :mod:`html.parser` (scripts and styles dropped).
    * ``.jsonl`` and ``.json`` (JSON lines, or one JSON array of objects), ``.csv``, ``.parquet``:
      one document per row, built from ``field`` or ``template``; id = ``"<relpath>:<n>"`` with n
      the 1-based line number for JSON lines and the 1-based row number otherwise. JSON lines,
      CSV and parquet are loaded with HF ``datasets`` (``load_dataset("json"|"csv"|"parquet")``)
      after a stdlib pre-validation that gives precise errors (file, line, field).
    * any of these compressed with ``.gz`` (row formats then use the stdlib parsers).

    Errors (:class:`~core.errors.CorpusError`) name the file and the fix: missing path, empty file,
    binary file (NUL byte in the first 8 KiB), non-UTF-8 file, malformed JSON line, missing
    field. In a folder or glob with several files, binary, undecodable and empty files are
    skipped with a warning instead, unless every file is bad.

HF datasets
    ``datasets.load_dataset(hf_id, hf_config, split=split or "train", cache_dir=cache_dir(
    "hf_datasets"))``. Before touching the network the hub is probed with a 3-second TCP connect;
    when it is unreachable a locally cached copy is read in offline mode, else a CorpusError
    naming the dataset id is raised at once (no retries, no hang).
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
import re
import socket
import string
import threading
import time
import zlib
from glob import glob, has_magic
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError
from core.paths import cache_dir

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


def as_text(value: Any) -> str:
    """Turn a row value into text: None/NaN -> "", str unchanged, lists/dicts -> JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def template_fields(template: str, *, where: str = "template") -> list[str]:
    """Return the column names a ``str.format`` template uses (in order, deduplicated).

    Raises:
        CorpusError: the template does not parse, uses positional fields (``{}``/``{0}``) or
            uses no field at all.
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise CorpusError(f"Template of {where} does not parse: {exc} ({template!r}).",
                          fix="write fields as {column}; double literal braces as {{ and }}.") from exc
    for _, name, _, _ in parsed:
        if name is None:
            continue
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root == "" or root.isdigit():
            raise CorpusError(f"Template of {where} uses a positional field {{{name}}} ({template!r}).",
                              fix="name the column, e.g. {nl_statement}.")
        if root not in names:
            names.append(root)
    if not names:
        raise CorpusError(f"Template of {where} uses no column ({template!r}).",
                          fix="include at least one {column}, or use field instead.")
    return names


def check_columns(spec: CorpusSpec, columns: Iterable[str], where: str) -> None:
    """Check that ``field``/``template`` of ``spec`` exist among ``columns``.

    Raises:
        CorpusError: neither field nor template set, or a missing column; the message names the
            field, ``where`` (the file or dataset) and the available fields.
    """
    columns = list(columns)
    available = ", ".join(columns) or "(none)"
    if spec.field is None and spec.template is None:
        raise CorpusError(
            f"{where} has one document per row but corpus {spec.name!r} sets neither field nor "
            f"template. Available fields: {available}.",
            fix="set field to the text column (e.g. field='text') or a template "
                "such as '{title} {body}'.")
    wanted = [spec.field] if spec.field is not None else template_fields(spec.template, where=f"corpus {spec.name!r}")
    missing = [w for w in wanted if w not in columns]
    if missing:
        what = "Field" if spec.field is not None else "Template field"
        raise CorpusError(
            f"{what} {', '.join(repr(m) for m in missing)} not found in {where}. "
            f"Available fields: {available}.",
            fix="use one of the available fields (names are case-sensitive).")


def render(spec: CorpusSpec, row: dict[str, Any], where: str) -> str:
    """Build one document's text from a row with ``spec.field`` or ``spec.template``.

    Raises:
        CorpusError: the template fails on this row (bad format spec, missing key).
    """
    if spec.field is not None:
        return as_text(row.get(spec.field))
    values = {k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()}
    try:
        return spec.template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise CorpusError(f"Template of corpus {spec.name!r} fails on {where}: {exc!r}.",
                          fix=f"check the template {spec.template!r} against the row's fields: "
                              f"{', '.join(row)}.") from exc


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


# ----------------------------------------------------------------------------------------------
# Local files
# ----------------------------------------------------------------------------------------------
def resolve_files(path: str) -> tuple[Path, list[Path], list[str]]:
    """Expand a files-kind ``path`` into ``(base, files, warnings)``.

    ``files`` are sorted by their POSIX path relative to ``base``; a folder yields every
    supported file below it (hidden names skipped), a glob every matching file (unsupported
    extensions skipped with a warning).

    Raises:
        CorpusError: the path does not exist, the glob matches nothing, or no supported file.
    """
    warnings: list[str] = []
    p = Path(path).expanduser()
    if has_magic(path):
        parts = Path(path).parts
        fixed: list[str] = []
        for part in parts:
            if has_magic(part):
                break
            fixed.append(part)
        base = Path(*fixed) if fixed else Path(".")
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
    elif p.is_dir():
        base = p
        files = []
        for root, dirs, names in os.walk(p):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for name in names:
                f = Path(root) / name
                if not name.startswith(".") and is_supported(f):
                    files.append(f)
        if not files:
            raise CorpusError(
                f"Folder {path} contains no supported file.",
                fix=f"put files ending in one of: {', '.join(sorted(SUPPORTED_EXTENSIONS))} (optionally .gz) "
                    "in it, or point path at a glob.")
    elif p.is_file():
        base = p.parent
        files = [p]
        if not is_supported(p):
            raise CorpusError(
                f"{path} has an unsupported extension.",
                fix=f"use one of: {', '.join(sorted(SUPPORTED_EXTENSIONS))} (optionally .gz), or rename it to .txt "
                    "if it is plain text.")
    else:
        raise CorpusError(f"Path {path} does not exist.",
                          fix="check the spelling, or give an absolute path, a folder or a glob.")
    files.sort(key=lambda f: _rel(f, base))
    return base, files, warnings


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
            if ext in ROW_EXTENSIONS:
                new = list(_read_rows(spec, f, rel, ext, gz, warnings))
                if not new:
                    raise _BadFile(f"{f} yields no non-empty document.",
                                   fix="check that the text field is filled in, or remove the file.",
                                   empty=True)
            else:
                text = decode_text(read_bytes(f), f)
                if ext in HTML_EXTENSIONS:
                    text = html_to_text(text)
                if not text.strip():
                    raise _BadFile(f"{f} is empty.", fix="add text to it or remove it.", empty=True)
                new = [Document(rel, text)]
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
                          fix="point path at files that contain text.")
    return docs, warnings


def _read_rows(spec: CorpusSpec, f: Path, rel: str, ext: str, gz: bool,
               warnings: list[str]) -> Iterator[Document]:
    if ext == ".parquet":
        yield from _read_parquet(spec, f, rel, gz, warnings)
        return
    text = decode_text(read_bytes(f), f)
    if not text.strip():
        raise _BadFile(f"{f} is empty.", fix="add rows to it or remove it.", empty=True)
    if ext == ".csv":
        yield from _read_csv(spec, f, rel, text, gz, warnings)
    elif ext == ".json" and text.lstrip().startswith("["):
        yield from _read_json_array(spec, f, rel, text)
    else:
        yield from _read_jsonl(spec, f, rel, text, gz, warnings)


def _emit_rows(spec: CorpusSpec, rows: Iterable[tuple[int, dict[str, Any]]], f: Path,
               rel: str, unit: str) -> Iterator[Document]:
    for n, row in rows:
        text = render(spec, row, f"{f} {unit} {n}")
        if text.strip():
            yield Document(f"{rel}:{n}", text)


def _read_json_array(spec: CorpusSpec, f: Path, rel: str, text: str) -> Iterator[Document]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{f.name} line {exc.lineno} is not valid JSON: {exc.msg} ({f}).",
                          fix="repair the file (a JSON array of objects, or one object per line).") from exc
    rows = []
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise CorpusError(f"{f.name} item {i} is a {type(row).__name__}, not an object ({f}).",
                              fix="make every array item a JSON object with the text field.")
        rows.append((i, row))
    columns = list(dict.fromkeys(k for _, r in rows for k in r))
    check_columns(spec, columns, str(f))
    yield from _emit_rows(spec, rows, f, rel, "item")


def _datasets_quiet():
    """Context manager silencing ``datasets`` progress bars, restoring the previous state."""
    import datasets

    @contextlib.contextmanager
    def cm():
        was_disabled = datasets.utils.are_progress_bars_disabled()
        datasets.utils.disable_progress_bars()
        try:
            yield datasets
        finally:
            if not was_disabled:
                datasets.utils.enable_progress_bars()

    return cm()


def _hf_load_local(builder: str, f: Path, columns: list[str], **kwargs: Any) -> dict[str, list] | str:
    """Load one local file with ``datasets`` and return the needed columns, or an error string."""
    try:
        with _datasets_quiet() as datasets:
            ds = datasets.load_dataset(builder, data_files=str(f), split="train",
                                       cache_dir=str(cache_dir("hf_datasets")), **kwargs)
            present = [c for c in columns if c in ds.column_names]
            return ds.select_columns(present).to_dict() | {"__len__": [len(ds)]}
    except Exception as exc:  # noqa: BLE001 - any loader failure falls back to stdlib rows
        return f"{type(exc).__name__}: {exc}"


def _needed_columns(spec: CorpusSpec) -> list[str]:
    return [spec.field] if spec.field is not None else template_fields(spec.template)


def jsonl_rows(f: Path, text: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Parse a JSON lines file into ``(1-based line number, object)`` pairs (blank lines skipped).

    Args:
        f: the file (``.gz`` is decompressed); used in messages.
        text: its decoded contents, when already read.

    Raises:
        CorpusError: binary/non-UTF-8 file, a line that is not valid JSON or not an object (the
            message names the file and the line number).
    """
    if text is None:
        text = decode_text(read_bytes(f), f)
    rows: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{f.name} line {lineno} is not valid JSON: {exc.msg} at column {exc.colno} ({f}).",
                              fix="repair or delete that line.") from exc
        if not isinstance(row, dict):
            raise CorpusError(f"{f.name} line {lineno} is a JSON {type(row).__name__}, not an object ({f}).",
                              fix="put one JSON object per line, e.g. {\"text\": \"...\"}.")
        rows.append((lineno, row))
    return rows


def _read_jsonl(spec: CorpusSpec, f: Path, rel: str, text: str, gz: bool,
                warnings: list[str]) -> Iterator[Document]:
    rows = jsonl_rows(f, text)
    if not rows:
        raise _BadFile(f"{f} is empty.", fix="add JSON lines to it or remove it.", empty=True)
    columns = list(dict.fromkeys(k for _, r in rows for k in r))
    check_columns(spec, columns, str(f))
    missing_in = [n for n, r in rows if spec.field is not None and spec.field not in r]
    if missing_in and spec.field is not None:
        warnings.append(f"{f.name}: field {spec.field!r} absent on {len(missing_in)} line(s), e.g. line {missing_in[0]}")
    if not gz:
        loaded = _hf_load_local("json", f, _needed_columns(spec))
        cols = _needed_columns(spec)
        if isinstance(loaded, dict) and loaded["__len__"][0] == len(rows) and all(c in loaded for c in cols):
            rows = [(n, {c: loaded[c][i] for c in cols}) for i, (n, _) in enumerate(rows)]
        elif isinstance(loaded, str):
            warnings.append(f"{f.name}: datasets could not load it ({loaded[:200]}); read with the json module instead")
    yield from _emit_rows(spec, rows, f, rel, "line")


def _read_csv(spec: CorpusSpec, f: Path, rel: str, text: str, gz: bool,
              warnings: list[str]) -> Iterator[Document]:
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise CorpusError(f"{f} is not a readable CSV file ({exc}).",
                          fix="save it as comma-separated UTF-8 with a header row.") from exc
    check_columns(spec, header, str(f))
    if not gz:
        from datasets import Features, Value

        features = Features({c: Value("string") for c in header})
        loaded = _hf_load_local("csv", f, _needed_columns(spec), features=features,
                                keep_default_na=False)
        if isinstance(loaded, dict):
            n = loaded["__len__"][0]
            cols = [c for c in _needed_columns(spec) if c in loaded]
            rows = ((i + 1, {c: loaded[c][i] for c in cols}) for i in range(n))
            yield from _emit_rows(spec, rows, f, rel, "row")
            return
        warnings.append(f"{f.name}: datasets could not load it ({loaded[:200]}); read with the csv module instead")
    try:
        dict_rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CorpusError(f"{f} is not a readable CSV file ({exc}).",
                          fix="save it as comma-separated UTF-8 with a header row.") from exc
    yield from _emit_rows(spec, enumerate(dict_rows, 1), f, rel, "row")


def _read_parquet(spec: CorpusSpec, f: Path, rel: str, gz: bool,
                  warnings: list[str]) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pa.BufferReader(read_bytes(f)) if gz else str(f)
        schema = pq.read_schema(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CorpusError(f"{f} is not a valid parquet file ({exc}).",
                          fix="re-export it with pandas.DataFrame.to_parquet, or exclude it.") from exc
    check_columns(spec, schema.names, str(f))
    cols = _needed_columns(spec)
    loaded = None if gz else _hf_load_local("parquet", f, cols)
    if isinstance(loaded, dict):
        n = loaded["__len__"][0]
    else:
        if isinstance(loaded, str):
            warnings.append(f"{f.name}: datasets could not load it ({loaded[:200]}); read with pyarrow instead")
        table = pq.read_table(pa.BufferReader(read_bytes(f)) if gz else str(f), columns=cols)
        loaded = table.to_pydict()
        n = table.num_rows
    rows = ((i + 1, {c: loaded[c][i] for c in cols}) for i in range(n))
    yield from _emit_rows(spec, rows, f, rel, "row")


# ----------------------------------------------------------------------------------------------
# Hugging Face datasets
# ----------------------------------------------------------------------------------------------
_PROBE_CACHE: dict[tuple[str, int], tuple[float, bool]] = {}
_PROBE_TTL_S = 60.0
_PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "ON", "YES", "TRUE"}


def hf_offline_env() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` asks for offline mode."""
    return any(os.environ.get(k, "").upper() in _TRUE for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable() -> bool:
    """Probe the hub (``$HF_ENDPOINT`` or https://huggingface.co) with a TCP connect.

    Takes at most about 3 s (DNS included, in a daemon thread); the answer is cached 60 s.
    Downloads nothing.
    """
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    u = urlparse(endpoint)
    host = u.hostname or "huggingface.co"
    port = u.port or (80 if u.scheme == "http" else 443)
    key = (host, port)
    hit = _PROBE_CACHE.get(key)
    if hit and time.monotonic() - hit[0] < _PROBE_TTL_S:
        return hit[1]
    result = [False]

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
                result[0] = True
        except OSError:
            result[0] = False

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(_PROBE_TIMEOUT_S + 0.5)
    _PROBE_CACHE[key] = (time.monotonic(), bool(result[0]) and not t.is_alive())
    return _PROBE_CACHE[key][1]


def _snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return name.lower()


def hf_cached(hf_id: str) -> bool:
    """True when ``hf_id`` has a prepared copy in AlignScope's ``datasets`` cache or the HF hub cache."""
    parts = hf_id.split("/")
    parts[-1] = _snake(parts[-1])
    root = cache_dir("hf_datasets") / "___".join(parts)
    if any(p.is_dir() for p in root.glob("*/*/*")):
        return True
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    return (Path(hub) / ("datasets--" + hf_id.replace("/", "--"))).is_dir()


def hf_local_path(hf_id: str) -> Path | None:
    """Return the folder when ``hf_id`` names an existing local dataset folder, else None."""
    p = Path(hf_id).expanduser()
    return p if p.exists() else None


def hf_available(spec: CorpusSpec) -> bool:
    """Whether an hf corpus can plausibly be loaded now, without downloading anything."""
    if hf_local_path(spec.hf_id) is not None or hf_cached(spec.hf_id):
        return True
    if hf_offline_env():
        return False
    return hub_reachable()


@contextlib.contextmanager
def _forced_offline() -> Iterator[None]:
    """Temporarily switch ``datasets`` and ``huggingface_hub`` to offline mode (cache only)."""
    import datasets.config as dcfg
    import huggingface_hub.constants as hcst

    saved = (dcfg.HF_HUB_OFFLINE, getattr(dcfg, "HF_DATASETS_OFFLINE", None), hcst.HF_HUB_OFFLINE)
    dcfg.HF_HUB_OFFLINE = True
    if hasattr(dcfg, "HF_DATASETS_OFFLINE"):
        dcfg.HF_DATASETS_OFFLINE = True
    hcst.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        dcfg.HF_HUB_OFFLINE = saved[0]
        if hasattr(dcfg, "HF_DATASETS_OFFLINE"):
            dcfg.HF_DATASETS_OFFLINE = saved[1]
        hcst.HF_HUB_OFFLINE = saved[2]


def _unreachable(hf_id: str, detail: str = "", *, offline: bool = False) -> CorpusError:
    why = ("offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)" if offline
           else "the hub is unreachable")
    return CorpusError(
        f"Hugging Face dataset {hf_id!r} cannot be loaded: {why} and no local copy "
        f"is cached{' (' + detail + ')' if detail else ''}.",
        fix="connect to the internet once, or set HF_DATASETS_OFFLINE=1 with the dataset already "
            "cached, or register a local copy with kind files.")


def load_hf_dataset(spec: CorpusSpec):
    """Load ``spec``'s HF dataset split (a ``datasets.Dataset``) without hanging offline.

    Raises:
        CorpusError: hub unreachable and not cached, dataset or config not found, unknown split,
            or any other loading failure; the message names the dataset id.
    """
    hf_id, split = spec.hf_id, spec.split or "train"
    local = hf_local_path(hf_id) is not None
    offline = hf_offline_env()
    force_offline = False
    if not local and (offline or not hub_reachable()):
        if not hf_cached(hf_id):
            raise _unreachable(hf_id, offline=offline)
        force_offline = True  # read the cached copy; never retry the network
    try:
        with _datasets_quiet() as datasets:
            with (_forced_offline() if force_offline else contextlib.nullcontext()):
                return datasets.load_dataset(str(Path(hf_id).expanduser()) if local else hf_id,
                                             spec.hf_config, split=split,
                                             cache_dir=str(cache_dir("hf_datasets")))
    except Exception as exc:  # noqa: BLE001 - mapped to a CorpusError below
        msg = f"{type(exc).__name__}: {exc}"
        if "Unknown split" in str(exc) or "split" in str(exc).lower() and "should be one of" in str(exc):
            raise CorpusError(f"Hugging Face dataset {hf_id!r} has no split {split!r} ({exc}).",
                              fix="set split to one of the dataset's splits (see the message).") from exc
        if isinstance(exc, ConnectionError) or "OfflineModeIsEnabled" in msg or "Couldn't reach" in msg:
            raise _unreachable(hf_id, str(exc)[:200], offline=offline or force_offline) from exc
        if isinstance(exc, FileNotFoundError) or "DatasetNotFound" in msg:
            raise CorpusError(f"Hugging Face dataset {hf_id!r} (config {spec.hf_config!r}) was not found: {str(exc)[:300]}",
                              fix="check the id and config on https://huggingface.co/datasets, or register a "
                                  "local copy with kind files.") from exc
        if "Config name is missing" in str(exc) or "BuilderConfig" in str(exc):
            raise CorpusError(f"Hugging Face dataset {hf_id!r} needs a valid hf_config ({str(exc)[:300]}).",
                              fix="set hf_config to one of the configs listed in the message.") from exc
        raise CorpusError(f"Hugging Face dataset {hf_id!r} could not be loaded: {msg[:400]}",
                          fix="check hf_id, hf_config and split, or register a local copy with kind files.") from exc


def read_hf(spec: CorpusSpec) -> tuple[list[Document], list[str], str]:
    """Read a kind-``"hf"`` corpus.

    Returns:
        ``(documents, warnings, identity)`` where ``identity`` is the loaded dataset's
        fingerprint (``Dataset._fingerprint``), used in :meth:`Corpus.fingerprint`.

    Raises:
        CorpusError: see :func:`load_hf_dataset`; missing field/template column (message names
            the dataset and its columns); no non-empty document.
    """
    ds = load_hf_dataset(spec)
    split = spec.split or "train"
    where = f"Hugging Face dataset {spec.hf_id!r} split {split!r}"
    check_columns(spec, ds.column_names, where)
    cols = _needed_columns(spec)
    n = len(ds)
    data = ds.select_columns(cols).to_dict()
    docs: list[Document] = []
    for i in range(n):
        text = render(spec, {c: data[c][i] for c in cols}, f"{where} row {i + 1}")
        if text.strip():
            docs.append(Document(f"{split}:{i + 1}", text))
            if spec.max_documents is not None and len(docs) >= spec.max_documents:
                break
    if not docs:
        raise CorpusError(f"{where} has no non-empty document in column(s) {', '.join(cols)}.",
                          fix="pick another field or template.")
    identity = json.dumps({"fingerprint": getattr(ds, "_fingerprint", None), "rows": len(ds),
                           "columns": ds.column_names})
    return docs, [], identity
