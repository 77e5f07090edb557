"""The demo-source interface (:class:`DemoSource`) and the file helpers every kind of source shares."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from core.corpora.readers import decode_text, read_bytes
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError
from core.fingerprint import corpus_fingerprint as _sha_of


INSTALL_CMD = "python -m core.corpora.demo install"
GENSIM_REQ = "gensim==4.3.3"
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _stat_identity(files: Iterable[Path], base: Path) -> str:
    rows = []
    for f in files:
        st = f.stat()
        rows.append((f.relative_to(base).as_posix() if f.is_relative_to(base) else f.as_posix(),
                     st.st_size, st.st_mtime_ns))
    return _sha_of(sorted(rows))


def _tree_files(root: Path, exts: tuple[str, ...], exclude_dirs: frozenset[str] = frozenset(),
                exclude_top: frozenset[str] = frozenset()) -> list[Path]:
    """Files under ``root`` ending in ``exts``, sorted by relative path; excluded folder names skipped."""
    out: list[Path] = []
    for dirpath, dirs, names in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirs[:] = [d for d in dirs
                   if d not in exclude_dirs and not d.startswith(".")
                   and not (rel_dir == Path(".") and (d in exclude_top or any(fnmatch.fnmatch(d, p) for p in exclude_top)))]
        for n in names:
            if n.endswith(exts) and not n.startswith("."):
                out.append(Path(dirpath) / n)
    out.sort(key=lambda f: f.relative_to(root).as_posix())
    return out


def _read_tree(root: Path, files: list[Path], warnings: list[str],
               transform: Callable[[str], str] | None = None,
               id_of: Callable[[str], str] | None = None) -> Iterator[Document]:
    """One document per file (``.gz`` decompressed); undecodable or empty files skipped with a warning."""
    skipped: list[str] = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        try:
            text = decode_text(read_bytes(f), f)
        except CorpusError as exc:
            skipped.append(rel)
            warnings.append(f"skipped {exc.what}")
            continue
        if transform is not None:
            text = transform(text)
        if text.strip():
            yield Document(id_of(rel) if id_of else rel, text)


# ----------------------------------------------------------------------------------------------
# Demo sources
# ----------------------------------------------------------------------------------------------
@dataclass
class DemoSource:
    """Base class of a demo corpus definition (metadata + how to read/install it)."""

    name: str
    domain: str
    description: str
    source: str
    license: str
    max_documents: int | None = None
    version: int = 1  # bump when the extraction changes (invalidates installs and fingerprints)
    derived_from: str | None = None  # the target benchmark this corpus is another split or view of

    def spec(self) -> CorpusSpec:
        """The corpus' :class:`CorpusSpec` (kind ``"demo"``)."""
        return CorpusSpec(name=self.name, kind="demo", domain=self.domain,
                          description=self.description, source=self.source,
                          license=self.current_license(), max_documents=self.max_documents,
                          derived_from=self.derived_from)

    def current_license(self) -> str:
        """SPDX-style license of the data as installed (may read the package metadata)."""
        return self.license

    def available(self) -> bool:
        """Whether the corpus can be read now (installed, or a live tree/hub copy present)."""
        raise NotImplementedError

    def install_hint(self) -> str | None:
        """The command installing it, or None when it is available."""
        return None if self.available() else f"{INSTALL_CMD} {self.name}"

    def load(self) -> tuple[list[Document], list[str]]:
        """``(documents, warnings)`` of the corpus.

        Raises:
            CorpusError: not available, or its files cannot be read.
        """
        raise NotImplementedError

    def identity(self) -> str:
        """Content identity (hashed into the corpus fingerprint): changes when the data changes."""
        raise NotImplementedError

    def install(self, log: Log = _quiet) -> str:
        """Install into the cache; returns ``"installed"``, ``"already installed"`` or ``"not installed: ...; run: ..."``."""
        raise NotImplementedError

    def document_count(self) -> int | None:
        """Number of documents (cheap for installed corpora; loads live ones); None if unavailable."""
        if not self.available():
            return None
        return len(self.load()[0])

    def not_available_error(self) -> CorpusError:
        """The :class:`CorpusError` raised when it is read while not available (names the install command)."""
        return CorpusError(f"Demo corpus {self.name!r} is not installed.",
                           fix=f"run: {self.install_hint() or INSTALL_CMD + ' ' + self.name}")


# -- ProofNet -----------------------------------------------------------------------------------
