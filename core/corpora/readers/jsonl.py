"""JSON lines (``.jsonl``) and JSON (``.json``: an array of objects, or JSON lines) files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from core.corpora.readers.base import FileReader, emit_rows, hf_load_local, needed_columns
from core.corpora.readers.template import check_columns, text_value
from core.corpora.readers.text import _BadFile, decode_text, read_bytes
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError


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
        row = _loads(f, line, line=lineno, fix="repair or delete that line.", deep=f"line {lineno}")
        rows.append((lineno, _object(row, f, f"line {lineno}", "put one JSON object per line, e.g. {\"text\": \"...\"}.")))
    return rows


def _loads(f: Path, text: str, *, line: int | None, fix: str, deep: str) -> Any:
    """``json.loads(text)``, or a CorpusError naming the file and line (``line``, else the parser's)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{f.name} line {line or exc.lineno} is not valid JSON: {exc.msg} at column {exc.colno} ({f}).",
                          fix=fix) from exc
    except RecursionError:
        raise _too_deep(f, deep) from None


def _object(row: Any, f: Path, where: str, fix: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise CorpusError(f"{f.name} {where} is a JSON {type(row).__name__}, not an object ({f}).", fix=fix)
    return row


def _too_deep(f: Path, where: str) -> CorpusError:
    return CorpusError(f"{f.name} {where} nests arrays/objects deeper than can be parsed ({f}).",
                       fix="store one flat JSON object per line, e.g. {\"text\": \"...\"}.")


def _check_types(spec: CorpusSpec, rows: list[tuple[int, dict[str, Any]]], f: Path, unit: str) -> None:
    """Every used field of every row holds text or nothing (before ``datasets`` may coerce a type)."""
    cols = needed_columns(spec)
    for n, r in rows:
        for c in cols:
            text_value(r.get(c), field=c, where=f"{f} {unit} {n}", numbers=spec.field is None)


class JsonReader(FileReader):
    """One document per JSON line (id ``"<rel>:<line>"``) or per item of a JSON array (``"<rel>:<item>"``).

    JSON lines are validated with the stdlib (precise file/line errors), then loaded with HF
    ``datasets`` (``load_dataset("json")``) unless compressed.
    """

    extensions = frozenset({".jsonl", ".json"})

    def read(self, spec: CorpusSpec, f: Path, rel: str, *, gz: bool, warnings: list[str]) -> Iterator[Document]:
        text = decode_text(read_bytes(f), f)
        if not text.strip():
            raise _BadFile(f"{f} is empty.", fix="add rows to it or remove it.", empty=True)
        if f.name.lower().removesuffix(".gz").endswith(".json") and text.lstrip().startswith("["):
            yield from self._array(spec, f, rel, text)
        else:
            yield from self._lines(spec, f, rel, text, gz, warnings)

    @staticmethod
    def _array(spec: CorpusSpec, f: Path, rel: str, text: str) -> Iterator[Document]:
        data = _loads(f, text, line=None, fix="repair the file (a JSON array of objects, or one object per line).",
                      deep="its array")
        rows = [(i, _object(row, f, f"item {i}", "make every array item a JSON object with the text field."))
                for i, row in enumerate(data, 1)]
        columns = list(dict.fromkeys(k for _, r in rows for k in r))
        check_columns(spec, columns, str(f))
        _check_types(spec, rows, f, "item")
        yield from emit_rows(spec, rows, f, rel, "item")

    @staticmethod
    def _lines(spec: CorpusSpec, f: Path, rel: str, text: str, gz: bool, warnings: list[str]) -> Iterator[Document]:
        rows = jsonl_rows(f, text)
        if not rows:
            raise _BadFile(f"{f} is empty.", fix="add JSON lines to it or remove it.", empty=True)
        columns = list(dict.fromkeys(k for _, r in rows for k in r))
        check_columns(spec, columns, str(f))
        missing_in = [n for n, r in rows if spec.field is not None and spec.field not in r]
        if missing_in and spec.field is not None:
            warnings.append(f"{f.name}: field {spec.field!r} absent on {len(missing_in)} line(s), e.g. line {missing_in[0]}")
        _check_types(spec, rows, f, "line")
        if not gz:
            loaded = hf_load_local("json", f, needed_columns(spec))
            cols = needed_columns(spec)
            if isinstance(loaded, dict) and loaded["__len__"][0] == len(rows) and all(c in loaded for c in cols):
                rows = [(n, {c: loaded[c][i] for c in cols}) for i, (n, _) in enumerate(rows)]
            elif isinstance(loaded, str):
                warnings.append(f"{f.name}: datasets could not load it ({loaded[:200]}); read with the json module instead")
        yield from emit_rows(spec, rows, f, rel, "line")
