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


def check_csv(f: Path, text: str) -> list[str]:
    """Parse ``text`` strictly with the :mod:`csv` module and return the header.

    Every record must have as many fields as the header (blank lines aside) and every quote must
    be closed: pandas (under ``datasets``) would otherwise pad or swallow rows, or make the rest of
    the file one document.

    Raises:
        CorpusError: no header, a ragged record or an unterminated quote, naming the line.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        header = next(reader)
        start = reader.line_num + 1
        for row in reader:
            if row and len(row) != len(header):
                raise CorpusError(f"{f} line {start} has {len(row)} field(s) but the header has {len(header)}.",
                                  fix="give every row as many comma-separated fields as the header (quote fields "
                                      "that contain commas).")
            start = reader.line_num + 1
    except StopIteration:
        raise CorpusError(f"{f} has no header row.", fix="save it as comma-separated UTF-8 with a header row.") from None
    except csv.Error as exc:
        what = "has a quote that is never closed" if "end of data" in str(exc) or "EOF" in str(exc) else f"is not valid CSV ({exc})"
        raise CorpusError(f"{f} line {start} {what}.",
                          fix="close the quote (a literal quote inside a quoted field is written twice: \"\"), "
                              "or save it as comma-separated UTF-8 with a header row.") from exc
    return header


class CsvReader(FileReader):
    """Rows loaded with HF ``datasets`` (``load_dataset("csv")``, every column a string), or the
    :mod:`csv` module when compressed or when ``datasets`` cannot load the file."""

    extensions = frozenset({".csv"})

    def read(self, spec: CorpusSpec, f: Path, rel: str, *, gz: bool, warnings: list[str]) -> Iterator[Document]:
        text = decode_text(read_bytes(f), f)
        if not text.strip():
            raise _BadFile(f"{f} is empty.", fix="add rows to it or remove it.", empty=True)
        header = check_csv(f, text)
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
