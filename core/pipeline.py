"""From corpus names to cached Task2Vec embeddings and coefficients (the engine's entry points).

``embed_corpus`` draws a corpus's batches, looks each batch embedding up in the
:class:`~core.store.EmbeddingStore`, and computes only the missing ones (under a cross-process lock,
so two jobs never compute the same batch). The probe network's weights are loaded only when
something must be computed. ``align`` and ``diversity`` build coefficients from the cached
embeddings.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from core.batches import BatchConfig, TokenBatch, sample_batches
from core.coefficients import AlignmentMatrix, cross_alignment, rank_sources
from core.errors import AlignScopeError, CorpusError
from core.estimators import get_estimator
from core.fingerprint import array_digest, distance_block_key, embedding_key
from core.settings import EmbedSettings
from core.fingerprint import batches_key as _batches_key
from core.fingerprint import stats_key as _stats_key
from core.precision import resolve_precision
from core.probe import DEFAULT_MODEL, load_probe
from core.store import EmbeddingStore

if TYPE_CHECKING:
    from core.corpora.registry import Corpus
    from core.estimators.base import Task2VecEstimator
    from core.probe import ProbeNetwork

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


def resolve_corpus(corpus: str | Corpus) -> Corpus:
    """A registry name or a corpus object -> the corpus, checked to be installed.

    Raises:
        CorpusError: unknown or not installed corpus (the fix names the install command).
    """
    if isinstance(corpus, str):
        from core.corpora import get_corpus

        corpus = get_corpus(corpus)
    if not corpus.available():
        hint = corpus.install_hint() or "install or register it"
        raise CorpusError(f"Corpus {corpus.name!r} is not installed.", fix=f"run: {hint}")
    return corpus


_resolve_corpus = resolve_corpus     # old private name, still used by a few callers


def batches_key(corpus: str | Corpus, probe: ProbeNetwork, batch: BatchConfig) -> str:
    """Store key of a corpus's drawn batches (:func:`core.fingerprint.batches_key`)."""
    return _batches_key(corpus_fingerprint=corpus.fingerprint(), tokenizer_fingerprint=probe.tokenizer_fingerprint,
                        batch=batch.to_dict())


def stats_key(corpus: str | Corpus, probe: ProbeNetwork) -> str:
    """Store key of a corpus's size statistics (:func:`core.fingerprint.stats_key`)."""
    return _stats_key(corpus_fingerprint=corpus.fingerprint(), tokenizer_fingerprint=probe.tokenizer_fingerprint)


def _stored_batches(corpus, key: str, store: EmbeddingStore) -> list[TokenBatch] | None:
    hit = store.get(key)
    if hit is None:
        return None
    arrays, meta = hit
    return [TokenBatch(corpus.name, i, arrays["input_ids"][k], arrays["attention_mask"][k],
                       tuple(meta["doc_ids"][k]), tuple(meta["offsets"][k]))
            for k, i in enumerate(meta["indices"])]


def corpus_batches(corpus: str | Corpus, probe: ProbeNetwork, batch: BatchConfig,
                   store: EmbeddingStore) -> list[TokenBatch]:
    """The corpus's batches, read from the store when drawn before (key: corpus content
    fingerprint, tokenizer fingerprint, batch config), else drawn and stored.
    """
    key = batches_key(corpus, probe, batch)
    stored = _stored_batches(corpus, key, store)
    if stored is not None:
        return stored
    batches = sample_batches(corpus, probe.tokenizer, batch)
    store.put(key, {"input_ids": np.stack([b.input_ids for b in batches]),
                    "attention_mask": np.stack([b.attention_mask for b in batches])},
              {"indices": [b.index for b in batches], "doc_ids": [list(b.doc_ids) for b in batches],
               "offsets": [list(b.offsets) for b in batches]})
    return batches


@dataclass
class CachedEmbeddings:
    """What the cache holds for one corpus's batches under some settings (nothing computed).

    Unpacks as ``found, missing = cached_embeddings(...)``.

    Attributes:
        found: ``row -> float32 [D]`` embedding of each cached batch (row = position in ``batches``).
        missing: rows whose embedding is not cached, in order.
        batches: the corpus's batches (empty when ``draw=False`` and they were never drawn).
        keys: the store key of each batch's embedding.
        probe: the :class:`core.probe.ProbeNetwork` (tokenizer loaded; weights only when used).
        estimator: the estimator instance.  precision: the resolved precision.
    """

    found: dict[int, np.ndarray]
    missing: list[int]
    batches: list[TokenBatch]
    keys: list[str]
    probe: object
    estimator: object
    precision: str

    def __iter__(self) -> Iterator:
        return iter((self.found, self.missing))

    @property
    def complete(self) -> bool:
        """Every batch's embedding is cached (and the batches were drawn)."""
        return bool(self.batches) and not self.missing

    def embeddings(self) -> np.ndarray:
        """float32 [num_batches, D] (call only when :attr:`complete`).

        Raises:
            AlignScopeError: some batch is missing, or the cached rows have different shapes.
        """
        if not self.complete:
            raise AlignScopeError(f"{len(self.missing)} batch embeddings are not cached.",
                                  fix="compute them first (python -m core embed --corpus ...).")
        rows = [self.found[k] for k in range(len(self.batches))]
        dims = {r.shape for r in rows}
        if len(dims) != 1:
            raise AlignScopeError(f"Embeddings of {self.batches[0].corpus!r} have inconsistent shapes {dims}.",
                                  fix="clear the cache (python -m core cache clear) and recompute.")
        return np.stack(rows).astype(np.float32)


def _embedding_keys(probe, est_fp: dict, precision: str, batches: Sequence[TokenBatch]) -> list[str]:
    return [embedding_key(model_fingerprint=probe.fingerprint, tokenizer_fingerprint=probe.tokenizer_fingerprint,
                          estimator=est_fp, batch_hash=b.content_hash(), precision=precision) for b in batches]


def cached_embeddings(corpus: str | Corpus, settings: EmbedSettings = EmbedSettings(), *,
                      store: EmbeddingStore | None = None, draw: bool = True,
                      progress: bool = True) -> CachedEmbeddings:
    """Look up the cached Task2Vec embeddings of ``corpus``'s batches under ``settings`` (the one
    reader of cached embeddings: :func:`embed_corpus`, the mixture code and the dashboard use it).

    Only the probe network's tokenizer is loaded, never its weights.

    Args:
        corpus: registry name or corpus object.
        draw: draw (and store) the batches when they were never drawn; with False such a corpus is
            reported with no batches and every row missing (drawing tokenises the documents).
        progress: show the probe's download/convert progress, if any.

    Returns:
        :class:`CachedEmbeddings` (unpacks as ``found, missing``).

    Raises:
        CorpusError: unknown, uninstalled or too small corpus.  ModelError: bad probe network.
        EstimatorError: unknown estimator or parameters.  AlignScopeError: unknown precision.
    """
    store = store or EmbeddingStore()
    corpus = resolve_corpus(corpus)
    probe = load_probe(settings.model, device=settings.device, progress=progress)
    estimator = get_estimator(settings.estimator, **dict(settings.estimator_params))
    precision = resolve_precision(settings.precision, probe.device)
    if draw:
        batches = corpus_batches(corpus, probe, settings.batch, store)
    else:
        batches = _stored_batches(corpus, batches_key(corpus, probe, settings.batch), store) or []
    keys = _embedding_keys(probe, estimator.fingerprint(), precision, batches)
    found: dict[int, np.ndarray] = {}
    for k, key in enumerate(keys):
        hit = store.get(key)
        if hit is not None:
            found[k] = hit[0]["embedding"]
    missing = [k for k in range(len(batches)) if k not in found] if batches else \
        list(range(settings.batch.num_batches))
    return CachedEmbeddings(found, missing, batches, keys, probe, estimator, precision)


def embed_batches(batches: Sequence[TokenBatch], probe: ProbeNetwork, estimator: Task2VecEstimator, *,
                  precision: str = "fp32", store: EmbeddingStore | None = None, keys: Sequence[str] | None = None,
                  found: dict[int, np.ndarray] | None = None, should_stop: Callable[[], bool] | None = None,
                  on_batch: Callable[[int, bool], None] | None = None) -> tuple[list[np.ndarray], int]:
    """Embeddings of ``batches``: cached ones read, missing ones computed and stored (each under a
    cross-process lock on its key, re-checked inside the lock, so two jobs never compute one batch).

    Args:
        batches: token batches (a corpus's, or mixed batches).  probe, estimator: as loaded.
        precision: resolved precision passed to ``estimator.embed``.
        keys: the batches' store keys (default: built from probe, estimator, precision).
        found: rows already read from the store (skipped).
        should_stop: polled before each computed batch; True raises ``InterruptedError`` (finished
            batches stay stored).
        on_batch: called ``(row, computed)`` after each row not in ``found``.

    Returns:
        ``(rows, computed)``: float32 [D] per batch, in order, and how many were computed now.

    Raises:
        InterruptedError: ``should_stop`` returned True.  EstimatorError: NaN / all-zero FIM.
    """
    store = store or EmbeddingStore()
    est_fp = estimator.fingerprint()
    keys = list(keys) if keys is not None else _embedding_keys(probe, est_fp, precision, batches)
    found = dict(found or {})
    rows: list[np.ndarray | None] = [found.get(k) for k in range(len(batches))]
    computed = 0
    for k, b in enumerate(batches):
        if rows[k] is not None:
            continue
        if should_stop and should_stop():
            raise InterruptedError(f"stopped after {computed} new batches of {b.corpus!r}")
        with store.lock(keys[k], what=f"batch {b.index} of {b.corpus!r}"):
            hit = store.get(keys[k])               # another job may have computed it meanwhile
            fresh = hit is None
            if fresh:
                t = time.perf_counter()
                vec = estimator.embed(probe, b, precision=precision)
                store.put(keys[k], {"embedding": vec},
                          {"corpus": b.corpus, "batch": b.index, "seconds": time.perf_counter() - t,
                           "tokens": b.num_tokens, "estimator": est_fp, "model": probe.name,
                           "precision": precision})
                computed += 1
            else:
                vec = hit[0]["embedding"]
        rows[k] = vec
        if on_batch:
            on_batch(k, fresh)
    return rows, computed


def embed_corpus(corpus: str | Corpus, settings: EmbedSettings = EmbedSettings(), *,
                 store: EmbeddingStore | None = None, progress: bool | Progress = True,
                 should_stop: Callable[[], bool] | None = None) -> CorpusEmbeddings:
    """Task2Vec embeddings of every batch of ``corpus`` (cached; computes only what is missing).

    Args:
        corpus: a corpus name (registry) or :class:`core.corpora.Corpus`.
        settings: probe network, estimator, batch shape, device, precision.
        store: the embedding store (default ``cache/embeddings``).
        progress: True for a tqdm bar on stderr, False for silence, or a callable
            ``(done, total, message)`` (used by dashboard jobs).
        should_stop: polled between batches; returning True raises ``InterruptedError`` after the
            batches finished so far have been stored.

    Returns:
        :class:`CorpusEmbeddings` with float32 [num_batches, D].

    Raises:
        CorpusError: unknown, uninstalled, unreadable or too small corpus.
        ModelError: the probe network cannot be loaded.  EstimatorError: NaN / all-zero FIM.
    """
    t0 = time.perf_counter()
    store = store or EmbeddingStore()
    corpus = resolve_corpus(corpus)
    engine = _engine()                       # local (default) or ray: where, never what (no key changes)
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
    """This process's execution engine (:func:`core.engine.current_engine`: ``local`` unless the CLI's
    ``--engine``, the dashboard's sidebar or ``$ALIGNSCOPE_ENGINE`` chose ``ray``)."""
    from core.execution import current_engine

    return current_engine()


def embed_corpora(names: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs: Any) -> dict[str,
                  CorpusEmbeddings]:
    """:func:`embed_corpus` for each name (duplicates removed, order kept)."""
    corpora = [resolve_corpus(n) for n in dict.fromkeys(names)]   # fail on a bad name before any work
    load_probe(settings.model, device=settings.device)                # ...or a bad model
    get_estimator(settings.estimator, **dict(settings.estimator_params))  # ...or a bad estimator
    engine = _engine()
    fresh = _prefetch(engine, corpora, settings, **kwargs) if engine.distributed and len(corpora) > 1 else {}
    out = {c.name: embed_corpus(c, settings, **kwargs) for c in corpora}
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
