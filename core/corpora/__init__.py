"""Corpus registry and demo corpora of AlignScope.

Public API::

    Document(doc_id, text)                    # one text of a corpus
    CorpusSpec(name, kind, path=..., ...)     # declarative, JSON-serialisable corpus description
    Corpus(spec)                              # .available() .install_hint() .documents() .fingerprint()
    list_corpora() / get_corpus(name)
    register_corpus(spec, overwrite=False) / unregister_corpus(name)
    install_demo_corpora(names=None, progress=True)

Errors are :class:`core.errors.CorpusError` naming the input and the fix. See
:mod:`core.corpora.readers` for the supported file formats and :mod:`core.corpora.demo` for the
demo pack (``python -m core.corpora.demo list|install``).
"""
from core.corpora.register import register_corpus, unregister_corpus
from core.corpora.registry import Corpus, clear_document_cache, get_corpus, list_corpora, registry_path
from core.corpora.spec import DOMAINS, KINDS, CorpusSpec, Document

_LAZY = {"DEMO_SOURCES", "demo_names", "install_demo_corpora"}


def __getattr__(name: str):
    # The demo module is imported lazily so that ``python -m core.corpora.demo`` does not find
    # it already imported by this package (runpy would warn).
    if name in _LAZY:
        from core.corpora import demo

        return getattr(demo, name)
    raise AttributeError(f"module 'core.corpora' has no attribute {name!r}")


__all__ = [
    "Corpus",
    "CorpusSpec",
    "DEMO_SOURCES",
    "DOMAINS",
    "Document",
    "KINDS",
    "clear_document_cache",
    "demo_names",
    "get_corpus",
    "install_demo_corpora",
    "list_corpora",
    "register_corpus",
    "registry_path",
    "unregister_corpus",
]
