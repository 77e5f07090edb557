"""The write side of the corpus registry: :func:`register_corpus` and :func:`unregister_corpus`.

Registering consults the contamination guard (:func:`core.corpora.contamination.check_registration`),
which itself reads the registry (:mod:`core.corpora.registry`), so the two halves live apart and no
file imports one that imports it back.
"""
from __future__ import annotations

from core.corpora.contamination import check_registration
from core.corpora.registry import Corpus, _demo_module, _locked, _read_registry, _write_registry
from core.corpora.spec import CorpusSpec, validate_spec
from core.errors import CorpusError, opt
from core.paths import cache_dir


def register_corpus(spec: CorpusSpec, *, overwrite: bool = False) -> Corpus:
    """Validate a user corpus (reads it once) and persist it in the registry.

    Args:
        spec: kind ``"files"`` or ``"hf"``; a relative ``path`` is resolved against the current
            directory and stored absolute.
        overwrite: replace an existing registration with the same name.

    Returns:
        The registered :class:`Corpus` (its documents are already cached in memory).

    Raises:
        CorpusError: invalid spec, name of a demo corpus, name already registered without
            ``overwrite``, a benchmark's held-out split from the hub outside the ``target benchmark``
            domain (:func:`core.corpora.contamination.check_registration`), or the corpus cannot be
            read / yields no non-empty document.
    """
    spec = validate_spec(spec)
    if spec.name in _demo_module().DEMO_SOURCES:
        raise CorpusError(f"Corpus name {spec.name!r} is reserved by the demo pack.",
                          fix="choose another name.")
    check_registration(spec)          # a benchmark's test split from the hub: only as a target benchmark
    with _locked():
        existing = _read_registry()
        if spec.name in existing and not overwrite:
            raise CorpusError(f"A corpus named {spec.name!r} is already registered "
                              f"({existing[spec.name].kind}: {existing[spec.name].path or existing[spec.name].hf_id}).",
                              fix=f"choose another name, or replace it with {opt('overwrite', True)}.")
    corpus = Corpus(spec)
    corpus.documents()  # raises CorpusError when unreadable or empty
    with _locked():
        existing = _read_registry()
        if spec.name in existing and not overwrite:
            raise CorpusError(f"A corpus named {spec.name!r} was registered meanwhile.",
                              fix=f"choose another name, or replace it with {opt('overwrite', True)}.")
        existing[spec.name] = corpus.spec
        _write_registry(existing)
    return corpus


def unregister_corpus(name: str) -> None:
    """Remove a user registration (the data files themselves are untouched).

    Raises:
        CorpusError: ``name`` is a demo corpus or is not registered (the message lists the
            registered names).
    """
    if name in _demo_module().DEMO_SOURCES:
        raise CorpusError(f"{name!r} is a demo corpus and cannot be unregistered.",
                          fix=f"delete {cache_dir('corpora') / name} to uninstall its data instead.")
    with _locked():
        existing = _read_registry()
        if name not in existing:
            names = ", ".join(sorted(existing)) or "(none)"
            raise CorpusError(f"No registered corpus is named {name!r}. Registered corpora: {names}.",
                              fix=f"check the name with {opt('list_corpora')}.")
        del existing[name]
        _write_registry(existing)
