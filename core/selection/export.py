"""Export a selection as JSONL, read it back, and save it by name as a corpus that can be fine-tuned.

JSONL format, one selected window per line (keys in this order)::

    {"corpus": "coq-stdlib", "doc_id": "Init/Logic.v", "offset": 1280, "tokens": 128,
     "score": 0.7412, "text": "...", "method": "t2v-greedy", "target": "proofnet"}

``corpus``, ``doc_id`` and ``offset`` are the window's provenance (registry name, ``Document.doc_id``,
token offset in the document, probe tokenizer); ``score`` is the method's own score of the window.

A saved selection (:func:`save_selection`) is the JSONL file ``cache/selections/NAME.jsonl`` plus
``NAME.json`` (the selection without texts: request, pool summary, alignment, composition),
registered as the corpus ``NAME`` (kind ``files``, field ``text``, domain ``custom``), so
``python -m core finetune --source NAME`` (or ``--selection NAME``) trains on it like any source.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.corpora.registry import Corpus
    from core.selection.select import SelectionResult

#: Keys of an exported line, in order.
FIELDS = ("corpus", "doc_id", "offset", "tokens", "score", "text", "method", "target")


def selections_dir() -> Path:
    """``cache/selections`` (created on demand)."""
    from core.paths import cache_dir

    return cache_dir("selections")


def to_jsonl(result: SelectionResult) -> str:
    """JSONL text of a :class:`~core.selection.select.SelectionResult` whose windows have ``text``.

    Raises:
        AlignScopeError: a window has no text (call :func:`core.selection.select.with_texts` first).
    """
    lines = []
    for w in result.windows:
        if "text" not in w:
            raise AlignScopeError("The selection's windows have no text to export.",
                                  fix="build it with core.selection.select.with_texts(result, pool, tokenizer).")
        row = {**w, "method": result.method, "target": result.target}
        lines.append(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def write_jsonl(result: SelectionResult, path: str | Path) -> Path:
    """Write :func:`to_jsonl` atomically to ``path``; returns the path."""
    from core.paths import atomic_write

    return atomic_write(Path(path), to_jsonl(result))


def read_jsonl(path: str | Path) -> list[dict]:
    """The exported windows of ``path`` (dicts with :data:`FIELDS`).

    Raises:
        AlignScopeError: missing file, a line that is not JSON, or a line without provenance keys.
    """
    p = Path(path)
    if not p.exists():
        raise AlignScopeError(f"Selection file {str(p)!r} does not exist.", fix="check the path, or export it again.")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise AlignScopeError(f"Line {n} of {str(p)!r} is not JSON.", fix="export the selection again.") from None
        missing = [k for k in ("corpus", "doc_id", "offset", "text") if k not in row]
        if missing:
            raise AlignScopeError(f"Line {n} of {str(p)!r} lacks {', '.join(missing)}.", fix="export the selection again.")
        out.append(row)
    return out


def save_selection(result: SelectionResult, name: str, *, overwrite: bool = True) -> Corpus:
    """Save ``result`` (windows with text) as ``cache/selections/NAME.jsonl`` + ``NAME.json`` and
    register it as the corpus ``NAME``; returns the :class:`core.corpora.Corpus`.

    Raises:
        CorpusError: bad name (letters, digits, ``.``, ``_``, ``-``), or a demo corpus's name.
    """
    from core.corpora import register_corpus
    from core.corpora.spec import CorpusSpec
    from core.paths import atomic_write

    spec = CorpusSpec(name=name, kind="files", path=str(selections_dir() / f"{name}.jsonl"), field="text",
                      domain="custom", description=f"selection: {result.method}, {result.tokens} tokens for {result.target}",
                      source=f"python -m core select run --method {result.method} --budget {result.budget}")
    from core.corpora.spec import validate_spec

    validate_spec(spec)                               # bad name -> CorpusError before writing anything
    write_jsonl(result, spec.path)
    meta = result.to_dict()
    meta["windows"] = [{k: v for k, v in w.items() if k != "text"} for w in meta["windows"]]
    atomic_write(selections_dir() / f"{name}.json", json.dumps(meta, indent=1))
    return register_corpus(spec, overwrite=overwrite)


def load_selection(name: str) -> dict:
    """The saved selection ``NAME``'s summary (``NAME.json``).

    Raises:
        AlignScopeError: no such saved selection.
    """
    p = selections_dir() / f"{name}.json"
    if not p.exists():
        known = ", ".join(list_selections()) or "none"
        raise AlignScopeError(f"No saved selection named {name!r} (saved: {known}).",
                              fix="save one with python -m core select run ... --save NAME.")
    return json.loads(p.read_text())


def list_selections() -> list[str]:
    """Names of the saved selections, sorted."""
    return sorted(p.stem for p in selections_dir().glob("*.json"))
