"""The store half of the embedding pipeline: a corpus's batches and their cached Task2Vec embeddings.

:func:`corpus_batches` draws a corpus's batches once and keeps them in the
:class:`~core.store.EmbeddingStore` (key: corpus content, tokenizer, batch config);
:func:`cached_embeddings` looks every batch's embedding up (:meth:`EmbeddingStore.get_many`, the one
look-up the selection's window embeddings share) without loading the probe network's weights;
:func:`embed_batches` computes the missing ones, each under a cross-process lock on its key. The entry
points that decide *what* to embed (``embed_corpus``, ``align``...) are in :mod:`core.pipeline`, above
the execution engine that decides *where*.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from core.batches import BatchConfig, TokenBatch, sample_batches
from core.errors import AlignScopeError, CorpusError
from core.estimators import get_estimator
from core.fingerprint import batches_key as _batches_key
from core.fingerprint import embedding_key
from core.fingerprint import stats_key as _stats_key
from core.precision import resolve_precision
from core.probe import load_probe
from core.settings import EmbedSettings
from core.store import EmbeddingStore

if TYPE_CHECKING:
    from core.corpora.registry import Corpus
    from core.estimators.base import Task2VecEstimator
    from core.probe import ProbeNetwork

__all__ = ["CachedEmbeddings", "batches_key", "cached_embeddings", "corpus_batches", "embed_batches",
           "resolve_corpus", "stats_key"]


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
    precision = resolve_precision(settings.precision, probe.device, probe=probe)
    if draw:
        batches = corpus_batches(corpus, probe, settings.batch, store)
    else:
        batches = _stored_batches(corpus, batches_key(corpus, probe, settings.batch), store) or []
    keys = _embedding_keys(probe, estimator.fingerprint(), precision, batches)
    found = store.get_many(keys)
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
