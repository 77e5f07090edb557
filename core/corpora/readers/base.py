"""The reader interface for local files (one :class:`FileReader` subclass per format, as
datatrove's readers are) and the helpers the row formats share.

A reader turns one file into :class:`~core.corpora.spec.Document` objects. Row readers (JSON lines,
JSON arrays, CSV, parquet) build each document from ``spec.field`` or ``spec.template``
(:mod:`core.corpora.readers.template`) and name documents ``"<relpath>:<n>"``.
"""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from core.corpora.readers.template import render
from core.corpora.readers.text import check_document_size
from core.corpora.spec import CorpusSpec, Document, template_fields
from core.paths import cache_dir


class FileReader(ABC):
    """Reads one local file of the formats in :attr:`extensions` (lower case, without ``.gz``).

    Readers are stateless; :data:`core.corpora.readers.files.READERS` maps each extension to one.
    """

    extensions: ClassVar[frozenset[str]]

    @abstractmethod
    def read(self, spec: CorpusSpec, f: Path, rel: str, *, gz: bool, warnings: list[str]) -> Iterator[Document]:
        """Documents of file ``f`` (``rel``: its path relative to the corpus base; ``gz``: compressed).

        Raises:
            CorpusError: the file is malformed (file, line and field named); a skippable
                binary, undecodable or empty file raises the subclass ``_BadFile``.
        """


def emit_rows(spec: CorpusSpec, rows: Iterable[tuple[int, dict[str, Any]]], f: Path,
              rel: str, unit: str) -> Iterator[Document]:
    """Render ``(n, row)`` pairs to documents ``"<rel>:<n>"`` (empty texts dropped; ``unit``, e.g.
    ``"line"``, names the row in error messages).

    Raises:
        CorpusError: a used field that does not hold text (:func:`~core.corpora.readers.template.text_value`),
            or a document over ``$ALIGNSCOPE_MAX_DOC_BYTES``; naming the file and the row.
    """
    for n, row in rows:
        where = f"{f} {unit} {n}"
        text = render(spec, row, where, strict=True)
        if text.strip():
            yield Document(f"{rel}:{n}", check_document_size(text, where))


def datasets_quiet() -> contextlib.AbstractContextManager:
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


def hf_load_local(builder: str, f: Path, columns: list[str], **kwargs: Any) -> dict[str, list] | str:
    """Load one local file with ``datasets`` and return the needed columns, or an error string."""
    try:
        with datasets_quiet() as datasets:
            ds = datasets.load_dataset(builder, data_files=str(f), split="train",
                                       cache_dir=str(cache_dir("hf_datasets")), **kwargs)
            present = [c for c in columns if c in ds.column_names]
            return ds.select_columns(present).to_dict() | {"__len__": [len(ds)]}
    except Exception as exc:  # noqa: BLE001 - any loader failure falls back to stdlib rows
        return f"{type(exc).__name__}: {exc}"


def needed_columns(spec: CorpusSpec) -> list[str]:
    """The columns a row must provide: ``[spec.field]`` or the template's fields."""
    return [spec.field] if spec.field is not None else template_fields(spec.template)
