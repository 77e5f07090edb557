"""Built demo corpora: fetched, pruned and converted once into ``cache_dir("corpora")/<name>/``
(atomic, idempotent install)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from core.corpora.demo.base import DemoSource, INSTALL_CMD, Log, _quiet, _stat_identity
from core.corpora.demo.fetchers import AptFetcher, WheelFetcher, _FetchError
from core.corpora.demo.sources import _dist_license, _license_from_metadata
from core.corpora.spec import Document
from core.errors import CorpusError
from core.fingerprint import corpus_fingerprint as _sha_of
from core.paths import cache_dir


@dataclass
class BuiltSource(DemoSource):
    """A corpus installed into ``cache_dir("corpora")/<name>`` from a fetcher plus a builder.

    ``builder(raw, warnings)`` yields the documents from the fetched (pruned) tree ``raw``;
    ``live_root()`` optionally gives an already present tree in the same layout (an installed
    PyPI package), read directly without installing; ``live_inputs(root)`` lists the files the
    builder reads there (for the fingerprint).
    """

    fetcher: AptFetcher | WheelFetcher | None = None
    builder: Callable[[Path, list[str]], Iterable[Document]] | None = None
    live_root: Callable[[], Path | None] | None = None
    live_inputs: Callable[[Path], list[Path]] | None = None
    dist: str | None = None  # PyPI distribution whose metadata gives the license (package corpora)

    # -- locations ---------------------------------------------------------------------------
    def folder(self) -> Path:
        return cache_dir("corpora") / self.name

    def _manifest(self) -> dict | None:
        m = self.folder() / "manifest.json"
        try:
            data = json.loads(m.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("version") != self.version or not (self.folder() / "documents.jsonl").is_file():
            return None
        return data

    def installed(self) -> bool:
        return self._manifest() is not None

    def _live(self) -> Path | None:
        if self.live_root is None:
            return None
        root = self.live_root()
        if root is None or self.live_inputs is None:
            return root
        return root if all(p.is_file() for p in self.live_inputs(root)) else None

    # -- API ---------------------------------------------------------------------------------
    def current_license(self) -> str:
        m = self._manifest()
        if m and m.get("license"):
            return m["license"]
        if self.dist and self._live() is not None:
            return _dist_license(self.dist) or self.license
        return self.license

    def available(self) -> bool:
        return self.installed() or self._live() is not None

    def load(self) -> tuple[list[Document], list[str]]:
        if self.installed():
            docs = []
            path = self.folder() / "documents.jsonl"
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    try:
                        row = json.loads(line)
                        docs.append(Document(row["id"], row["text"]))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise CorpusError(f"Installed demo corpus file {path} line {lineno} is damaged ({exc}).",
                                          fix=f"delete {self.folder()} and run: {INSTALL_CMD} {self.name}") from exc
            return docs, []
        live = self._live()
        if live is not None:
            warnings: list[str] = []
            return list(self.builder(live, warnings)), warnings
        raise self.not_available_error()

    def identity(self) -> str:
        m = self._manifest()
        if m is not None:
            return _sha_of([self.version, m.get("content_sha256")])
        live = self._live()
        if live is not None:
            files = self.live_inputs(live) if self.live_inputs else []
            return _sha_of([self.version, _stat_identity(files, live)])
        raise self.not_available_error()

    def document_count(self) -> int | None:
        m = self._manifest()
        if m is not None:
            return int(m["documents"])
        return super().document_count()

    def install(self, log: Log = _quiet) -> str:
        if self.available():
            return "already installed"
        cmd = f"{INSTALL_CMD} {self.name}"
        parent = cache_dir("corpora")
        _clean_stale_tmp(parent, self.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{self.name}-", dir=parent))
        t0 = time.time()
        try:
            raw = tmp / "raw"
            versions = self.fetcher.fetch(self.name, raw, log)
            log(f"{self.name}: extracting documents")
            warnings: list[str] = []
            docs = list(self.builder(raw, warnings))
            if not docs:
                raise _FetchError("the downloaded files yield no document", cmd)
            h = hashlib.sha256()
            chars = 0
            with open(tmp / "documents.jsonl", "w", encoding="utf-8") as fh:
                for d in docs:
                    line = json.dumps({"id": d.doc_id, "text": d.text}, ensure_ascii=False) + "\n"
                    fh.write(line)
                    h.update(line.encode("utf-8"))
                    chars += len(d.text)
            license_ = self.license
            if self.dist:
                license_ = _wheel_license(raw, self.dist) or self.license
            manifest = {
                "name": self.name, "version": self.version, "source": self.source, "license": license_,
                "fetched_from": self.fetcher.describe(), "package_versions": versions,
                "documents": len(docs), "characters": chars, "content_sha256": h.hexdigest(),
                "warnings": warnings[:50], "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "install_seconds": round(time.time() - t0, 2),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            os.chmod(tmp, 0o755)  # mkdtemp made it private
            dest = self.folder()
            old = None
            if dest.exists():  # an outdated or damaged install: swap it out
                old = parent / f".old-{self.name}-{os.getpid()}"
                os.replace(dest, old)
            try:
                os.rename(tmp, dest)
            except OSError:
                if self.installed():  # another process won the race
                    return "already installed"
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return "installed"
        except _FetchError as exc:
            return f"not installed: {exc.reason}; run: {exc.command}"
        except (OSError, subprocess.SubprocessError, CorpusError, ValueError) as exc:
            return f"not installed: {type(exc).__name__}: {str(exc)[:300]}; run: {cmd}"
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _clean_stale_tmp(parent: Path, name: str, max_age_s: float = 3600) -> None:
    for p in parent.glob(f".tmp-{name}-*"):
        try:
            if time.time() - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _wheel_license(raw: Path, dist: str) -> str | None:
    """License from a ``*.dist-info/METADATA`` extracted from a wheel into ``raw``."""
    from email.parser import Parser

    norm = dist.replace("-", "_")
    for info in raw.glob("*.dist-info"):
        if info.name.lower().startswith(norm.lower()):
            meta = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8", errors="replace"))

            def read(name: str, info=info) -> str | None:
                p = info / name
                return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None

            return _license_from_metadata(meta, read)
    return None
