"""From corpus names to cached Task2Vec embeddings and coefficients (the entry points).

The store half (a corpus's batches, the cached-embedding look-up, computing missing batches) is
:mod:`core.embedding`; its names are re-exported here. ``embed_corpus`` draws a corpus's batches, looks each batch embedding up in the
:class:`~core.store.EmbeddingStore`, and computes only the missing ones (under a cross-process lock,
so two jobs never compute the same batch). The probe network's weights are loaded only when
something must be computed. ``align`` and ``diversity`` build coefficients from the cached
embeddings.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from core.coefficients import AlignmentMatrix, cross_alignment, rank_sources
from core.embedding import (CachedEmbeddings, batches_key, cached_embeddings, corpus_batches,  # noqa: F401
                            embed_batches, resolve_corpus, stats_key)
from core.errors import AlignScopeError
from core.estimators import get_estimator
from core.fingerprint import array_digest, distance_block_key
from core.probe import DEFAULT_MODEL, load_probe
from core.settings import EmbedSettings
from core.store import EmbeddingStore

if TYPE_CHECKING:
    from core.corpora.registry import Corpus
    from core.execution import Engine

Progress = Callable[[int, int, str], None]

__all__ = ["CachedEmbeddings", "CorpusEmbeddings", "EmbedSettings", "Progress", "align", "alignment_matrix",
           "batches_key", "cached_distances", "cached_embeddings", "corpus_batches", "corpus_stats", "embed_batches",
           "embed_corpora", "embed_corpus", "resolve_corpus", "stats_key"]


@dataclass
class CorpusEmbeddings:
    """Task2Vec embeddings of one corpus's batches.

    Attributes:
        corpus: corpus name.
        embeddings: float32 [num_batches, D].
        batch_indices: batch numbers, in row order.
        computed, cached: how many rows were computed now / read from the cache.
        computed_by_other: rows missing at look-up that another process computed while this one
            waited for their lock (``computed + cached + computed_by_other == num_batches``).
        seconds: wall time of the call (s).  tokens: real tokens over all batches.
        estimator: the estimator's fingerprint dict (name + hyperparameters).
        precision: the resolved forward-pass precision (``fp32`` or ``bf16``).
    """

    corpus: str
    embeddings: np.ndarray
    batch_indices: list[int]
    computed: int
    cached: int
    seconds: float
    tokens: int
    estimator: dict
    precision: str = "fp32"
    computed_by_other: int = 0


def embed_corpus(corpus: str | Corpus, settings: EmbedSettings = EmbedSettings(), *,
                 store: EmbeddingStore | None = None, progress: bool | Progress = True,
                 should_stop: Callable[[], bool] | None = None, engine: Engine | None = None) -> CorpusEmbeddings:
    """Task2Vec embeddings of every batch of ``corpus`` (cached; computes only what is missing).

    Args:
        corpus: a corpus name (registry) or :class:`core.corpora.Corpus`.
        settings: probe network, estimator, batch shape, device, precision.
        store: the embedding store (default ``cache/embeddings``).
        progress: True for a tqdm bar on stderr, False for silence, or a callable
            ``(done, total, message)`` (used by dashboard jobs).
        should_stop: polled between batches; returning True raises ``InterruptedError`` after the
            batches finished so far have been stored.
        engine: where the missing batches are computed (:mod:`core.execution`), handed in by the
            caller; default: this process's engine (``local`` unless ``--engine``/the sidebar chose).

    Returns:
        :class:`CorpusEmbeddings` with float32 [num_batches, D].

    Raises:
        CorpusError: unknown, uninstalled, unreadable or too small corpus.
        ModelError: the probe network cannot be loaded.  EstimatorError: NaN / all-zero FIM.
    """
    t0 = time.perf_counter()
    store = store or EmbeddingStore()
    corpus = resolve_corpus(corpus)
    engine = engine or _engine()             # local (default) or ray: where, never what (no key changes)
    pinned = engine.pin_precision(settings.precision, settings.device)
    if pinned != settings.precision:         # ``auto`` as the engine's workers resolve it (e.g. GPU workers)
        settings = replace(settings, precision=pinned)
    look = cached_embeddings(corpus, settings, store=store)
    batches, cached, missing = look.batches, len(look.found), look.missing
    bar = None
    if progress is True and missing:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(batches), initial=cached, desc=f"embed {corpus.name}", unit="batch")
    report = progress if callable(progress) else None
    if report:
        report(cached, len(batches), f"{corpus.name}: {cached} cached")
    done, by_other = [cached], [0]

    def on_batch(k: int, fresh: bool) -> None:
        done[0] += 1
        by_other[0] += not fresh
        if bar:
            bar.update(1)
        if report:
            report(done[0], len(batches), f"{corpus.name}: batch {batches[k].index}")

    try:
        rows, computed = engine.embed_missing(look, settings, store=store, should_stop=should_stop, on_batch=on_batch)
    finally:
        if bar:
            bar.close()
    look.found = dict(enumerate(rows))
    look.missing = []
    return CorpusEmbeddings(corpus=corpus.name, embeddings=look.embeddings(),
                            batch_indices=[b.index for b in batches], computed=computed, cached=cached,
                            seconds=time.perf_counter() - t0, tokens=int(sum(b.num_tokens for b in batches)),
                            estimator=look.estimator.fingerprint(), precision=look.precision,
                            computed_by_other=by_other[0])


def _engine():
    """This process's execution engine (:func:`core.execution.current_engine`: ``local`` unless the CLI's
    ``--engine``, the dashboard's sidebar or ``$ALIGNSCOPE_ENGINE`` chose ``ray``)."""
    from core.execution import current_engine

    return current_engine()


def embed_corpora(names: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs: Any) -> dict[str,
                  CorpusEmbeddings]:
    """:func:`embed_corpus` for each name (duplicates removed, order kept)."""
    corpora = [resolve_corpus(n) for n in dict.fromkeys(names)]   # fail on a bad name before any work
    load_probe(settings.model, device=settings.device)                # ...or a bad model
    get_estimator(settings.estimator, **dict(settings.estimator_params))  # ...or a bad estimator
    engine = kwargs.pop("engine", None) or _engine()
    fresh = _prefetch(engine, corpora, settings, **kwargs) if engine.distributed and len(corpora) > 1 else {}
    out = {c.name: embed_corpus(c, settings, engine=engine, **kwargs) for c in corpora}
    for name, n in fresh.items():              # computed by this call's one engine job, not read from a cache
        out[name].computed, out[name].cached = out[name].computed + n, out[name].cached - n
    return out


def _prefetch(engine, corpora: list, settings: EmbedSettings, *, store: EmbeddingStore | None = None,
              progress: bool | Progress = True, should_stop: Callable[[], bool] | None = None, **_: Any) -> dict[str, int]:
    """Every corpus's missing batches in one job of a distributed engine (:meth:`core.engine.Engine.prefetch`:
    one actor pool for all corpora); returns ``{corpus: embeddings computed}``."""
    store = store or EmbeddingStore()
    pinned = engine.pin_precision(settings.precision, settings.device)
    settings = replace(settings, precision=pinned) if pinned != settings.precision else settings
    looks = [cached_embeddings(c, settings, store=store) for c in corpora]
    todo = sum(len(look.missing) for look in looks)
    if not todo:
        return {}
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=todo, desc=f"embed {len(corpora)} corpora on {engine.name}", unit="batch")

    def report(done: int, total: int, message: str) -> None:
        if bar:
            bar.update(1)
        elif callable(progress):
            progress(done, total, message)

    try:
        computed = engine.prefetch(looks, settings, store=store, should_stop=should_stop, progress=report)
    finally:
        if bar:
            bar.close()
    return {c.name: n for c, n in zip(corpora, computed)}


def align(target: str, sources: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs: Any) -> dict:
    """Alignment of each source with the target benchmark, ranked, plus the full cross-alignment matrix.

    Returns:
        ``{"target", "ranking": [...rank_sources rows], "matrix": AlignmentMatrix, "settings",
        "precision" (resolved), "embedded": {...}}``.

    Raises:
        CorpusError / ModelError / EstimatorError as :func:`embed_corpus`; AlignScopeError when no
        source is given or the target is among the sources.
    """
    sources = [s for s in dict.fromkeys(sources) if s]
    if not sources:
        raise AlignScopeError("No source corpora given.", fix="pass --sources A,B,... (see python -m core corpora).")
    if target in sources:
        raise AlignScopeError(f"The target {target!r} is also listed as a source.", fix="remove it from --sources.")
    embedded = embed_corpora([target, *sources], settings, **kwargs)
    matrix = cross_alignment({n: e.embeddings for n, e in embedded.items()})
    return {"target": target, "ranking": rank_sources(matrix, target), "matrix": matrix,
            "settings": settings.to_dict(), "precision": embedded[target].precision, "embedded": embedded}


def alignment_matrix(names: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs: Any) -> AlignmentMatrix:
    """Cross-alignment matrix of the named corpora (diversity on the diagonal)."""
    embedded = embed_corpora(names, settings, **kwargs)
    return cross_alignment({n: e.embeddings for n, e in embedded.items()})


def cached_distances(embeddings: dict[str, np.ndarray], *, store: EmbeddingStore | None = None
                     ) -> Callable[[str, str], np.ndarray]:
    """A ``block(a, b)`` for :func:`core.coefficients.cross_alignment` that keeps each pair of
    corpora's Task2Vec distance block [n_a, n_b] in the store, keyed by the two embedding matrices'
    content (:func:`core.fingerprint.distance_block_key`), so adding a corpus to a view computes only
    its own blocks and re-opening a view computes none. Same values as computing them afresh.
    """
    from core.distance import pairwise_distances

    store = store or EmbeddingStore()
    digests = {n: array_digest(e) for n, e in embeddings.items()}

    def block(a: str, b: str) -> np.ndarray:
        da, db = digests[a], digests[b]
        if db < da:
            return block(b, a).T
        key = distance_block_key(da, db)
        hit = store.get(key)
        ea, eb = embeddings[a], embeddings[b]
        if hit is not None and hit[0]["d"].shape == (len(ea), len(eb)):
            return hit[0]["d"]
        d = pairwise_distances(ea, eb)
        if da == db:
            d = (d + d.T) / 2.0
        store.put(key, {"d": d})
        return d

    return block


def corpus_stats(corpus: str | Corpus, *, model: str = DEFAULT_MODEL, store: EmbeddingStore | None = None,
                 progress: bool = False) -> dict:
    """Size of a corpus: ``{"documents": int, "tokens": int, "characters": int}``.

    Tokens are counted with the probe network's tokenizer (no special tokens) over every document,
    once per (corpus content fingerprint, tokenizer); the result is cached in the store.

    Raises:
        CorpusError: the corpus is not installed or cannot be read.
    """
    store = store or EmbeddingStore()
    corpus = resolve_corpus(corpus)
    probe = load_probe(model)
    key = stats_key(corpus, probe)
    hit = store.get(key)
    if hit is not None:
        return dict(hit[1])
    docs = corpus.documents()
    tokens = 0
    chunks = range(0, len(docs), 256)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"count tokens {corpus.name}", unit="chunk")
    for i in chunks:
        enc = probe.tokenizer([d.text for d in docs[i:i + 256]], add_special_tokens=False)["input_ids"]
        tokens += sum(len(e) for e in enc)
    stats = {"documents": len(docs), "tokens": int(tokens), "characters": int(sum(len(d.text) for d in docs))}
    store.put(key, {"none": np.zeros(0, dtype=np.int8)}, stats)
    return stats
