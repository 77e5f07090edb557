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
Layout: :mod:`~core.corpora.readers.base` (the :class:`FileReader` interface), one module per
format (:mod:`~core.corpora.readers.plain`, :mod:`~core.corpora.readers.jsonl`,
:mod:`~core.corpora.readers.csv_rows`, :mod:`~core.corpora.readers.parquet`),
:mod:`~core.corpora.readers.files` (paths, globs, dispatch), :mod:`~core.corpora.readers.hf`,
:mod:`~core.corpora.readers.text` (decoding), :mod:`~core.corpora.readers.html_text` and
:mod:`~core.corpora.readers.template` (field/template rendering, shared with the spec).
"""
from core.corpora.readers.base import FileReader
from core.corpora.readers.csv_rows import CsvReader
from core.corpora.readers.files import READERS, files_identity, read_files, resolve_files
from core.corpora.readers.hf import (_PROBE_CACHE, hf_available, hf_cached, hf_local_path,  # noqa: F401
                                     hf_offline_env, hub_reachable, load_hf_dataset, read_hf)
from core.corpora.readers.html_text import html_to_text
from core.corpora.readers.jsonl import JsonReader, jsonl_rows
from core.corpora.readers.parquet import ParquetReader
from core.corpora.readers.plain import HtmlReader, TextReader
from core.corpora.readers.template import as_text, check_columns, render, template_fields
from core.corpora.readers.text import (HTML_EXTENSIONS, PLAIN_EXTENSIONS, ROW_EXTENSIONS, SUPPORTED_EXTENSIONS,
                                       decode_text, file_type, is_supported, read_bytes)

__all__ = ["CsvReader", "FileReader", "HTML_EXTENSIONS", "HtmlReader", "JsonReader", "PLAIN_EXTENSIONS", "ParquetReader",
           "READERS", "ROW_EXTENSIONS", "SUPPORTED_EXTENSIONS", "TextReader", "as_text", "check_columns", "decode_text",
           "file_type", "files_identity", "hf_available", "hf_cached", "hf_local_path", "hf_offline_env", "html_to_text",
           "hub_reachable", "is_supported", "jsonl_rows", "load_hf_dataset", "read_bytes", "read_files", "read_hf",
           "render", "resolve_files", "template_fields"]
