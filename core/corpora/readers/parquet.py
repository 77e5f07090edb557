"""Parquet files (``.parquet``): one document per row, id ``"<rel>:<row>"``."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from core.corpora.readers.base import FileReader, emit_rows, hf_load_local, needed_columns
from core.corpora.readers.template import check_columns
from core.corpora.readers.text import read_bytes
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError


class ParquetReader(FileReader):
    """Columns loaded with HF ``datasets`` (``load_dataset("parquet")``), or pyarrow when compressed."""

    extensions = frozenset({".parquet"})

    def read(self, spec: CorpusSpec, f: Path, rel: str, *, gz: bool, warnings: list[str]) -> Iterator[Document]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            source = pa.BufferReader(read_bytes(f)) if gz else str(f)
            schema = pq.read_schema(source)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorpusError(f"{f} is not a valid parquet file ({exc}).",
                              fix="re-export it with pandas.DataFrame.to_parquet, or exclude it.") from exc
        check_columns(spec, schema.names, str(f))
        cols = needed_columns(spec)
        for c in cols:                             # non-text columns refused from the schema, before any loading
            t = schema.field(c).type
            ok = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) or (
                spec.field is None and (pa.types.is_integer(t) or pa.types.is_floating(t)))
            if not ok:
                raise CorpusError(f"Field {c!r} of {f} row 1 is of type {t}, not text (every row of a parquet "
                                  "column has one type).",
                                  fix=f"store the text as strings in {c!r}, or pick another column that holds text.")
        loaded = None if gz else hf_load_local("parquet", f, cols)
        if isinstance(loaded, dict):
            n = loaded["__len__"][0]
        else:
            if isinstance(loaded, str):
                warnings.append(f"{f.name}: datasets could not load it ({loaded[:200]}); read with pyarrow instead")
            table = pq.read_table(pa.BufferReader(read_bytes(f)) if gz else str(f), columns=cols)
            loaded = table.to_pydict()
            n = table.num_rows
        rows = ((i + 1, {c: loaded[c][i] for c in cols}) for i in range(n))
        yield from emit_rows(spec, rows, f, rel, "row")
