"""CSV files (``.csv``, header row): one document per row, id ``"<rel>:<row>"``."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from core.corpora.readers.base import FileReader, emit_rows, hf_load_local, needed_columns
from core.corpora.readers.template import check_columns
from core.corpora.readers.text import _BadFile, decode_text, read_bytes
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError


class CsvReader(FileReader):
    """Rows loaded with HF ``datasets`` (``load_dataset("csv")``, every column a string), or the
    :mod:`csv` module when compressed or when ``datasets`` cannot load the file."""

    extensions = frozenset({".csv"})

    def read(self, spec: CorpusSpec, f: Path, rel: str, *, gz: bool, warnings: list[str]) -> Iterator[Document]:
        text = decode_text(read_bytes(f), f)
        if not text.strip():
            raise _BadFile(f"{f} is empty.", fix="add rows to it or remove it.", empty=True)
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
            loaded = hf_load_local("csv", f, needed_columns(spec), features=features,
                                    keep_default_na=False)
            if isinstance(loaded, dict):
                n = loaded["__len__"][0]
                cols = [c for c in needed_columns(spec) if c in loaded]
                rows = ((i + 1, {c: loaded[c][i] for c in cols}) for i in range(n))
                yield from emit_rows(spec, rows, f, rel, "row")
                return
            warnings.append(f"{f.name}: datasets could not load it ({loaded[:200]}); read with the csv module instead")
        try:
            dict_rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise CorpusError(f"{f} is not a readable CSV file ({exc}).",
                              fix="save it as comma-separated UTF-8 with a header row.") from exc
        yield from emit_rows(spec, enumerate(dict_rows, 1), f, rel, "row")
