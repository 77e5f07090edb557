"""The corpus registry: :class:`Corpus` objects, the demo pack plus user-registered corpora (the read
side; registering and unregistering, which consult the contamination guard, are :mod:`core.corpora.register`).

User registrations persist in ``cache_root()/corpora/registry.json`` (``{"version": 1,
"corpora": {name: spec dict}}``), written atomically (:func:`core.paths.atomic_write`) under an
advisory file lock. ``cache_root()`` honours ``$ALIGNSCOPE_CACHE`` on every call.
"""
from __future__ import annotations

import difflib
import json
import threading
from pathlib import Path

from core.corpora import readers
from core.corpora.spec import CorpusSpec, Document, validate_spec
from core.errors import CorpusError, opt
from core.fingerprint import corpus_fingerprint as _sha
from core.paths import atomic_write, cache_dir, file_lock

FINGERPRINT_VERSION = 1
_REGISTRY_VERSION = 1
_HOW_TO_ADD = (f"register it with {opt('add_corpus')}; demo corpora are installed with "
               "'python -m core corpora install'.")

# Per-process document cache: key -> (documents, warnings)
_DOC_CACHE: dict[str, tuple[list[Document], list[str]]] = {}
_DOC_CACHE_LOCK = threading.Lock()


def _demo_module():
    """``core.corpora.demo``, imported lazily (so ``python -m core.corpora.demo`` runs cleanly)."""
    from core.corpora import demo

    return demo


def clear_document_cache() -> None:
    """Forget the documents cached in memory by :meth:`Corpus.documents` (all corpora)."""
    with _DOC_CACHE_LOCK:
        _DOC_CACHE.clear()


class Corpus:
    """A corpus built from a :class:`CorpusSpec`.

    Attributes:
        spec: the (validated) spec; for kind ``"files"`` its ``path`` is absolute.
        warnings: messages about skipped files/rows, filled by :meth:`documents`.

    Raises (constructor):
        CorpusError: invalid spec (see :func:`core.corpora.spec.validate_spec`), or kind ``"demo"``
            with a name that is not in the demo pack.
    """

    def __init__(self, spec: CorpusSpec) -> None:
        self.spec: CorpusSpec = validate_spec(spec, allow_demo=True)
        if self.spec.kind == "demo":
            self._demo = _demo_module().demo_source(self.spec.name)
        else:
            self._demo = None
        self.warnings: list[str] = []

    @property
    def name(self) -> str:
        """The corpus name (``spec.name``)."""
        return self.spec.name

    def __repr__(self) -> str:
        return f"Corpus({self.spec.name!r}, kind={self.spec.kind!r}, domain={self.spec.domain!r})"

    # -- availability --------------------------------------------------------------------------
    def available(self) -> bool:
        """Whether :meth:`documents` can be expected to work now.

        files: the path exists and holds supported files; demo: installed (or its in-place source
        is present); hf: a local folder, a cached copy, or the hub answers a 3-second TCP probe.
        Never downloads anything.
        """
        kind = self.spec.kind
        if kind == "demo":
            return self._demo.available()
        if kind == "files":
            try:
                readers.resolve_files(self.spec.path)
            except CorpusError:
                return False
            return True
        return readers.hf_available(self.spec)

    def install_hint(self) -> str | None:
        """What to run or do to make the corpus available; None when it is available."""
        if self.available():
            return None
        kind = self.spec.kind
        if kind == "demo":
            return self._demo.install_hint()
        if kind == "files":
            return f"create {self.spec.path} (a file, folder or glob of supported files), or re-register the corpus"
        return (f"connect to the internet once so that {self.spec.hf_id!r} can be downloaded, or set "
                "HF_DATASETS_OFFLINE=1 with it cached, or register a local copy with kind files")

    # -- content -------------------------------------------------------------------------------
    def _content_identity(self) -> str:
        kind = self.spec.kind
        if kind == "files":
            return _sha(readers.files_identity(self.spec.path))
        if kind == "demo":
            return self._demo.identity()
        _, _, identity = self._load_hf()
        return _sha(identity)

    def _load_hf(self) -> tuple[list[Document], list[str], str]:
        key = "hf:" + _sha(self.spec.content_dict())
        with _DOC_CACHE_LOCK:
            hit = _DOC_CACHE.get(key)
        if hit is not None:
            docs, warnings = hit
            return docs, warnings, _HF_IDENTITY[key]
        docs, warnings, identity = readers.read_hf(self.spec)
        with _DOC_CACHE_LOCK:
            _DOC_CACHE[key] = (docs, warnings)
            _HF_IDENTITY[key] = identity
        return docs, warnings, identity

    def documents(self) -> list[Document]:
        """All documents, in a deterministic order, capped at ``spec.max_documents``.

        Order: files -> sorted relative path, then row order inside a file; hf -> dataset row
        order; demo -> the corpus' own order (sorted file paths, file order, or problem id).
        Cached in memory per process, keyed by the fingerprint (a changed file is re-read).

        Returns:
            A new list of :class:`Document` (never empty; every text non-blank).

        Raises:
            CorpusError: missing path, empty/binary/non-UTF-8 file, malformed JSONL line, missing
                field, unreachable or unknown HF dataset, demo corpus not installed (the message
                names the file/field/line/dataset and the fix).
        """
        if self.spec.kind == "hf":
            docs, warnings, _ = self._load_hf()
        else:
            if self.spec.kind == "demo" and not self._demo.available():
                raise self._demo.not_available_error()
            key = self.fingerprint()
            with _DOC_CACHE_LOCK:
                hit = _DOC_CACHE.get(key)
            if hit is None:
                if self.spec.kind == "files":
                    docs, warnings = readers.read_files(self.spec)
                else:
                    docs, warnings = self._demo.load()
                    if self.spec.max_documents is not None:
                        docs = docs[: self.spec.max_documents]
                    if not docs:
                        raise CorpusError(f"Demo corpus {self.name!r} has no document.",
                                          fix=f"reinstall it: python -m core.corpora.demo install {self.name}")
                with _DOC_CACHE_LOCK:
                    _DOC_CACHE[key] = (docs, warnings)
            else:
                docs, warnings = hit
        self.warnings = list(warnings)
        return list(docs)

    def fingerprint(self) -> str:
        """Deterministic sha256 hex digest of the spec's content fields plus content identity.

        Content fields: kind, path, field, template, hf_id, hf_config, split, max_documents (and
        the name for demo corpora); name, domain, description, source and license do not enter,
        so re-describing or renaming a user corpus keeps its cached embeddings. Content identity:
        files -> sorted (relative path, size, mtime_ns); hf -> the loaded dataset's fingerprint,
        row count and columns; demo -> the installed ``documents.jsonl`` sha256 or the source
        files' (relative path, size, mtime_ns). Same content -> same fingerprint in every process.

        Raises:
            CorpusError: the corpus cannot be located (missing path, demo not installed, hf
                unreachable).
        """
        if self.spec.kind == "demo" and not self._demo.available():
            raise self._demo.not_available_error()
        content = self.spec.content_dict()
        if self.spec.kind == "demo":
            content["name"] = self.spec.name
        return _sha({"v": FINGERPRINT_VERSION, "spec": content, "content": self._content_identity()})

    def document_count(self) -> int | None:
        """Number of documents (from the install manifest when possible); None if unavailable."""
        if self.spec.kind == "demo" and self.spec.max_documents is None:
            return self._demo.document_count()
        if not self.available():
            return None
        return len(self.documents())

    def describe(self) -> dict:
        """JSON-serialisable summary: spec fields plus ``available`` and ``install_hint``."""
        return {**self.spec.to_dict(), "available": self.available(), "install_hint": self.install_hint()}


_HF_IDENTITY: dict[str, str] = {}


# ----------------------------------------------------------------------------------------------
# Persistence of user registrations
# ----------------------------------------------------------------------------------------------
def registry_path() -> Path:
    """``cache_root()/corpora/registry.json`` (the folder is created on demand)."""
    return cache_dir("corpora") / "registry.json"


def _locked():
    """The registry file's cross-process lock (:func:`core.paths.file_lock`)."""
    return file_lock(cache_dir("corpora") / "registry.lock")


def _read_registry() -> dict[str, CorpusSpec]:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["corpora"]
        if not isinstance(entries, dict):
            raise TypeError("'corpora' is not an object")
        return {name: CorpusSpec.from_dict(spec) for name, spec in entries.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"Corpus registry {path} is damaged ({exc}).",
                          fix=f"repair the JSON by hand, or delete {path} and register the corpora again.") from exc


def _write_registry(specs: dict[str, CorpusSpec]) -> None:
    path = registry_path()
    data = {"version": _REGISTRY_VERSION,
            "corpora": {name: specs[name].to_dict() for name in sorted(specs)}}
    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def list_corpora() -> list[Corpus]:
    """All corpora: the demo pack (installed or not) plus user registrations, sorted by name.

    Raises:
        CorpusError: the registry file is damaged.
    """
    corpora = {name: Corpus(src.spec()) for name, src in _demo_module().DEMO_SOURCES.items()}
    for name, spec in _read_registry().items():
        if name not in corpora:
            corpora[name] = Corpus(spec)
    return [corpora[n] for n in sorted(corpora)]


def get_corpus(name: str) -> Corpus:
    """The demo or registered corpus called ``name``.

    Raises:
        CorpusError: unknown name; the message lists the known names (and close matches) and
            says how to add one.
    """
    if name in _demo_module().DEMO_SOURCES:
        return Corpus(_demo_module().DEMO_SOURCES[name].spec())
    registered = _read_registry()
    if name in registered:
        return Corpus(registered[name])
    known = sorted(set(_demo_module().DEMO_SOURCES) | set(registered))
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise CorpusError(f"Unknown corpus {name!r}.{hint} Known corpora: {', '.join(known)}.", fix=_HOW_TO_ADD)
