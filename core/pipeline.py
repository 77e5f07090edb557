"""From corpus names to cached Task2Vec embeddings and coefficients (the engine's entry points).

``embed_corpus`` draws a corpus's batches, looks each batch embedding up in the
:class:`~core.store.EmbeddingStore`, and computes only the missing ones (under a cross-process lock,
so two jobs never compute the same batch). The probe network's weights are loaded only when
something must be computed. ``align`` and ``diversity`` build coefficients from the cached
embeddings.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from core.batches import BatchConfig, TokenBatch, sample_batches
from core.coefficients import AlignmentMatrix, cross_alignment, rank_sources
from core.errors import AlignScopeError, CorpusError
from core.estimators import DEFAULT_ESTIMATOR, get_estimator
from core.probe import DEFAULT_MODEL, load_probe
from core.store import EmbeddingStore, embedding_key, fingerprint

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class EmbedSettings:
    """Everything that determines a Task2Vec embedding besides the corpus.

    Attributes:
        model: probe network name (``smollm2-135m``, a hub id or a folder).
        estimator: registered estimator name (``closed_form_head``, ``reference``, ...).
        estimator_params: hyperparameters as ``(key, value)`` pairs (hashable).
        batch: :class:`~core.batches.BatchConfig`.
        device: ``auto``, ``cpu``, ``cuda``...
    """

    model: str = DEFAULT_MODEL
    estimator: str = DEFAULT_ESTIMATOR
    estimator_params: tuple = ()
    batch: BatchConfig = field(default_factory=BatchConfig)
    device: str = "auto"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["estimator_params"] = dict(self.estimator_params)
        return d


@dataclass
class CorpusEmbeddings:
    """Task2Vec embeddings of one corpus's batches.

    Attributes:
        corpus: corpus name.
        embeddings: float32 [num_batches, D].
        batch_indices: batch numbers, in row order.
        computed, cached: how many rows were computed now / read from the cache.
        seconds: wall time of the call (s).  tokens: real tokens over all batches.
        estimator: the estimator's fingerprint dict (name + hyperparameters).
    """

    corpus: str
    embeddings: np.ndarray
    batch_indices: list[int]
    computed: int
    cached: int
    seconds: float
    tokens: int
    estimator: dict


def _resolve_corpus(corpus):
    if isinstance(corpus, str):
        from core.corpora import get_corpus

        corpus = get_corpus(corpus)
    if not corpus.available():
        hint = corpus.install_hint() or "install or register it"
        raise CorpusError(f"Corpus {corpus.name!r} is not installed.", fix=f"run: {hint}")
    return corpus


def batches_key(corpus, probe, batch: BatchConfig) -> str:
    """Store key of a corpus's drawn batches: corpus content, tokenizer and batch config fingerprints."""
    return "batches:" + fingerprint({"corpus": corpus.fingerprint(), "tok": probe.tokenizer_fingerprint,
                                     "batch": batch.to_dict()})


def stats_key(corpus, probe) -> str:
    """Store key of a corpus's size statistics (corpus content and tokenizer fingerprints)."""
    return "stats:" + fingerprint({"corpus": corpus.fingerprint(), "tok": probe.tokenizer_fingerprint})


def corpus_batches(corpus, probe, batch: BatchConfig, store: EmbeddingStore) -> list[TokenBatch]:
    """The corpus's batches, read from the store when drawn before (key: corpus content
    fingerprint, tokenizer fingerprint, batch config), else drawn and stored.
    """
    key = batches_key(corpus, probe, batch)
    hit = store.get(key)
    if hit is not None:
        arrays, meta = hit
        return [TokenBatch(corpus.name, i, arrays["input_ids"][k], arrays["attention_mask"][k],
                           tuple(meta["doc_ids"][k]), tuple(meta["offsets"][k]))
                for k, i in enumerate(meta["indices"])]
    batches = sample_batches(corpus, probe.tokenizer, batch)
    store.put(key, {"input_ids": np.stack([b.input_ids for b in batches]),
                    "attention_mask": np.stack([b.attention_mask for b in batches])},
              {"indices": [b.index for b in batches], "doc_ids": [list(b.doc_ids) for b in batches],
               "offsets": [list(b.offsets) for b in batches]})
    return batches


def embed_corpus(corpus, settings: EmbedSettings = EmbedSettings(), *, store: EmbeddingStore | None = None,
                 progress: bool | Progress = True, should_stop: Callable[[], bool] | None = None) -> CorpusEmbeddings:
    """Task2Vec embeddings of every batch of ``corpus`` (cached; computes only what is missing).

    Args:
        corpus: a corpus name (registry) or :class:`core.corpora.Corpus`.
        settings: probe network, estimator, batch shape, device.
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
    corpus = _resolve_corpus(corpus)
    probe = load_probe(settings.model, device=settings.device)
    estimator = get_estimator(settings.estimator, **dict(settings.estimator_params))
    est_fp = estimator.fingerprint()
    batches = corpus_batches(corpus, probe, settings.batch, store)
    keys = [embedding_key(model_fingerprint=probe.fingerprint, tokenizer_fingerprint=probe.tokenizer_fingerprint,
                          estimator=est_fp, batch_hash=b.content_hash()) for b in batches]
    rows: list[np.ndarray | None] = [None] * len(batches)
    for k, key in enumerate(keys):
        hit = store.get(key)
        if hit is not None:
            rows[k] = hit[0]["embedding"]
    cached = sum(r is not None for r in rows)
    missing = [k for k, r in enumerate(rows) if r is None]

    bar = None
    if progress is True and missing:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(batches), initial=cached, desc=f"embed {corpus.name}", unit="batch")
    report = progress if callable(progress) else None
    if report:
        report(cached, len(batches), f"{corpus.name}: {cached} cached")
    computed = 0
    try:
        for k in missing:
            if should_stop and should_stop():
                raise InterruptedError(f"stopped after {computed} new batches of {corpus.name!r}")
            with store.lock(keys[k]):
                hit = store.get(keys[k])               # another job may have computed it meanwhile
                if hit is not None:
                    rows[k] = hit[0]["embedding"]
                else:
                    t = time.perf_counter()
                    vec = estimator.embed(probe, batches[k])
                    store.put(keys[k], {"embedding": vec},
                              {"corpus": corpus.name, "batch": batches[k].index, "seconds": time.perf_counter() - t,
                               "tokens": batches[k].num_tokens, "estimator": est_fp, "model": probe.name})
                    rows[k] = vec
                    computed += 1
            if bar:
                bar.update(1)
            if report:
                report(cached + missing.index(k) + 1, len(batches), f"{corpus.name}: batch {batches[k].index}")
    finally:
        if bar:
            bar.close()
    dims = {r.shape for r in rows}
    if len(dims) != 1:
        raise AlignScopeError(f"Embeddings of {corpus.name!r} have inconsistent shapes {dims}.",
                              fix="clear the cache (python -m core cache clear) and recompute.")
    return CorpusEmbeddings(corpus=corpus.name, embeddings=np.stack(rows).astype(np.float32),
                            batch_indices=[b.index for b in batches], computed=computed, cached=cached,
                            seconds=time.perf_counter() - t0, tokens=int(sum(b.num_tokens for b in batches)),
                            estimator=est_fp)


def embed_corpora(names: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs) -> dict[str, CorpusEmbeddings]:
    """:func:`embed_corpus` for each name (duplicates removed, order kept)."""
    corpora = [_resolve_corpus(n) for n in dict.fromkeys(names)]   # fail on a bad name before any work
    load_probe(settings.model, device=settings.device)                # ...or a bad model
    get_estimator(settings.estimator, **dict(settings.estimator_params))  # ...or a bad estimator
    return {c.name: embed_corpus(c, settings, **kwargs) for c in corpora}


def align(target: str, sources: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs) -> dict:
    """Alignment of each source with the target benchmark, ranked, plus the full cross-alignment matrix.

    Returns:
        ``{"target", "ranking": [...rank_sources rows], "matrix": AlignmentMatrix, "settings", "embedded": {...}}``.

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
            "settings": settings.to_dict(), "embedded": embedded}


def alignment_matrix(names: list[str], settings: EmbedSettings = EmbedSettings(), **kwargs) -> AlignmentMatrix:
    """Cross-alignment matrix of the named corpora (diversity on the diagonal)."""
    embedded = embed_corpora(names, settings, **kwargs)
    return cross_alignment({n: e.embeddings for n, e in embedded.items()})


def corpus_stats(corpus, *, model: str = DEFAULT_MODEL, store: EmbeddingStore | None = None,
                 progress: bool = False) -> dict:
    """Size of a corpus: ``{"documents": int, "tokens": int, "characters": int}``.

    Tokens are counted with the probe network's tokenizer (no special tokens) over every document,
    once per (corpus content fingerprint, tokenizer); the result is cached in the store.

    Raises:
        CorpusError: the corpus is not installed or cannot be read.
    """
    store = store or EmbeddingStore()
    corpus = _resolve_corpus(corpus)
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
