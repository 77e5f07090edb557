"""Live demo sources read in place: ProofNet (shared data folder or the HF hub) and installed Python trees."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.corpora.demo.base import DemoSource, Log, _quiet, _read_tree, _stat_identity, _tree_files
from core.corpora.readers import hf_available, jsonl_rows, load_hf_dataset
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError
from core.fingerprint import corpus_fingerprint as _sha_of
from core.paths import shared_data_dir


@dataclass
class ProofNetSource(DemoSource):
    """ProofNet rows from ``shared_data_dir()/proofnet/<split>.jsonl`` (HF hub fallback).

    ``mode``: ``"pair"`` -> ``"informal statement <nl> formal statement <formal>"``;
    ``"af"`` -> informal and formal statements as separate documents (ids ``…:informal`` /
    ``…:formal``); ``"informal"`` -> ``nl_statement`` only.
    """

    split: str = "test"   # "test" | "valid"
    mode: str = "pair"

    HF_ID = "hoskinson-center/proofnet"

    def _file(self) -> Path:
        return shared_data_dir() / "proofnet" / f"{self.split}.jsonl"

    def _hf_spec(self) -> CorpusSpec:
        return CorpusSpec(name=self.name, kind="hf", hf_id=self.HF_ID,
                          split="validation" if self.split == "valid" else self.split, field="nl_statement")

    def available(self) -> bool:
        return self._file().is_file() or (not (shared_data_dir() / "proofnet").is_dir()
                                           and hf_available(self._hf_spec()))

    def install_hint(self) -> str | None:
        if self.available():
            return None
        return (f"put ProofNet's {self.split}.jsonl in {shared_data_dir() / 'proofnet'}, or connect to the "
                f"internet once so that the HF dataset {self.HF_ID} can be downloaded")

    def not_available_error(self) -> CorpusError:
        return CorpusError(f"Demo corpus {self.name!r} is not available: {self._file()} is missing and the "
                           f"HF hub is unreachable.", fix=self.install_hint() or "")

    def _rows(self) -> list[dict]:
        f = self._file()
        if f.is_file():
            return [r for _, r in jsonl_rows(f)]
        if (shared_data_dir() / "proofnet").is_dir():
            raise CorpusError(f"ProofNet split file {f} is missing.", fix=f"restore {f.name} in {f.parent}.")
        ds = load_hf_dataset(self._hf_spec())
        return ds.to_list()

    def load(self) -> tuple[list[Document], list[str]]:
        docs: list[Document] = []
        for row in self._rows():
            for key in ("id", "nl_statement", "formal_statement"):
                if key not in row:
                    raise CorpusError(f"ProofNet {self.split} row lacks field {key!r} (fields: {', '.join(row)}).",
                                      fix=f"restore the original ProofNet {self.split}.jsonl.")
            base = f"{self.split}/{row['id']}"
            nl, formal = row["nl_statement"].strip(), row["formal_statement"].strip()
            if self.mode == "pair":
                docs.append(Document(base, f"informal statement {nl} formal statement {formal}"))
            elif self.mode == "af":
                docs.append(Document(f"{base}:informal", nl))
                docs.append(Document(f"{base}:formal", formal))
            else:
                docs.append(Document(base, nl))
        return docs, []

    def identity(self) -> str:
        f = self._file()
        if f.is_file():
            st = f.stat()
            return _sha_of([self.version, self.split, self.mode, f.name, st.st_size, st.st_mtime_ns])
        ds = load_hf_dataset(self._hf_spec())
        return _sha_of([self.version, self.split, self.mode, self.HF_ID, ds._fingerprint])

    def install(self, log: Log = _quiet) -> str:
        if self.available():
            return "already installed"
        return f"not installed: {self._file()} is missing and the HF hub is unreachable; run: {self.install_hint()}"


# -- Live source trees (python stdlib, sympy) -----------------------------------------------
@dataclass
class LiveTreeSource(DemoSource):
    """Source files read in place from an installed tree: one document per file, or with
    ``unit = "docstring-function"`` one per public function with a docstring, in HumanEval's layout
    (:func:`core.corpora.extract.python_docstring_pairs`; id ``"<file>::<qualname>"``)."""

    root_fn: Callable[[], Path | None] = lambda: None
    exts: tuple[str, ...] = (".py",)
    exclude_dirs: frozenset[str] = frozenset({"__pycache__", "test", "tests"})
    exclude_top: frozenset[str] = frozenset()
    hint: str = ""
    unit: str = "file"

    def _files(self) -> tuple[Path, list[Path]]:
        root = self.root_fn()
        if root is None or not root.is_dir():
            raise self.not_available_error()
        return root, _tree_files(root, self.exts, self.exclude_dirs, self.exclude_top)

    def available(self) -> bool:
        root = self.root_fn()
        return root is not None and root.is_dir()

    def install_hint(self) -> str | None:
        return None if self.available() else self.hint

    def not_available_error(self) -> CorpusError:
        return CorpusError(f"Demo corpus {self.name!r} is not available here ({self.source}).",
                           fix=self.hint)

    def load(self) -> tuple[list[Document], list[str]]:
        root, files = self._files()
        warnings: list[str] = []
        docs = list(_read_tree(root, files, warnings))
        if self.unit == "docstring-function":
            from core.corpora.extract import python_docstring_pairs

            docs = [Document(f"{d.doc_id}::{q}", prompt + body) for d in docs
                    for q, prompt, body in python_docstring_pairs(d.text)]
        return docs, warnings

    def identity(self) -> str:
        root, files = self._files()
        parts = [self.version, _stat_identity(files, root)]
        return _sha_of(parts if self.unit == "file" else parts + [self.unit])   # the default keeps its key

    def install(self, log: Log = _quiet) -> str:
        if self.available():
            return "already installed"
        return f"not installed: {self.source} not found; run: {self.hint}"


def _stdlib_root() -> Path | None:
    p = Path(sysconfig.get_paths()["stdlib"])
    return p if p.is_dir() else None


def _package_root(module: str) -> Path | None:
    """Folder of an importable package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _dist_license(dist: str) -> str | None:
    """License of an installed distribution from its metadata (License-Expression, License,
    classifiers, then the first line of its LICENSE file)."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    return _license_from_metadata(d.metadata, lambda name: d.read_text(name))


def _license_from_metadata(meta, read_text: Callable[[str], str | None]) -> str | None:
    for key in ("License-Expression", "License"):
        v = (meta.get(key) or "").strip()
        if v and v.upper() not in ("UNKNOWN", "NONE") and len(v) < 80:
            return v
    for c in meta.get_all("Classifier") or []:
        if c.startswith("License ::"):
            return c.split("::")[-1].strip().replace(" License", "")
    for name in ("LICENSE", "LICENSE.txt", "licenses/LICENSE", "COPYING"):
        try:
            text = read_text(name)
        except (OSError, KeyError):
            text = None
        if text:
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            if "MIT" in first:
                return "MIT"
            return first[:60]
    return None


# -- Built (installed) sources --------------------------------------------------------------
