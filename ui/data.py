"""What the pages read from the cache: embedding status, alignment matrices, token counts.

Nothing here ever computes an embedding or loads the probe network's weights: missing embeddings
are computed by background jobs (``core.jobs``, kind ``embed``), and cached ones are read through
:func:`core.pipeline.embed_corpus` with a ``should_stop`` that stops before the first missing batch.
Token counts of large corpora are computed by a ``corpus_stats`` job (:mod:`ui.tasks`).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from core.errors import AlignScopeError
from core.pipeline import EmbedSettings, batches_key, stats_key


@dataclass
class CorpusStatus:
    """Embedding status of one corpus under some settings.

    Attributes:
        name: corpus name.  cached: batch embeddings in the cache.  total: batches wanted.
        error: why the corpus cannot be embedded (an AlignScopeError message), else "".
        embeddings: float32 [total, D] when every batch is cached, else None.
    """

    name: str
    cached: int = 0
    total: int = 0
    error: str = ""
    embeddings: np.ndarray | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.embeddings is not None and not self.error

    @property
    def missing(self) -> int:
        return 0 if self.error else self.total - self.cached


def corpus_status(name: str, settings: EmbedSettings, *, store=None) -> CorpusStatus:
    """How many of ``name``'s batch embeddings are cached; the embeddings when all are.

    Never computes anything and never loads model weights: a corpus whose batches were never drawn
    is reported as 0 cached without drawing them (drawing tokenises documents, which the embedding
    job does anyway).

    Errors (unknown/uninstalled corpus, bad model, too few documents...) are returned in ``error``.
    """
    from core.corpora import get_corpus
    from core.pipeline import embed_corpus
    from core.probe import load_probe
    from core.store import EmbeddingStore

    total = settings.batch.num_batches
    store = store or EmbeddingStore()
    try:
        corpus = get_corpus(name)
        if not corpus.available():
            hint = corpus.install_hint() or "install or register it"
            return CorpusStatus(name, 0, total, f"Corpus {name!r} is not installed. Fix: {hint}")
        probe = load_probe(settings.model, device=settings.device, progress=False)
        if store.get(batches_key(corpus, probe, settings.batch)) is None:
            return CorpusStatus(name, 0, total)
        seen: list[int] = []

        def report(done, _total, _msg):
            seen.append(done)            # first call: how many batches are cached

        try:
            r = embed_corpus(corpus, settings, store=store, progress=report, should_stop=lambda: True)
        except InterruptedError:         # stopped before the first missing batch: nothing computed
            return CorpusStatus(name, seen[0] if seen else 0, total)
        return CorpusStatus(name, r.cached + r.computed, len(r.batch_indices), embeddings=r.embeddings)
    except AlignScopeError as exc:
        return CorpusStatus(name, 0, total, str(exc))
    except (OSError, ValueError) as exc:  # e.g. a file vanished while reading
        return CorpusStatus(name, 0, total, f"Corpus {name!r} could not be read: {exc}")


def statuses(names: list[str], settings: EmbedSettings) -> dict[str, CorpusStatus]:
    """:func:`corpus_status` of each name (order kept)."""
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    return {n: corpus_status(n, settings, store=store) for n in dict.fromkeys(names) if n}


def _digest(e: np.ndarray) -> str:
    e = np.ascontiguousarray(e, dtype=np.float32)
    return hashlib.sha256(str(e.shape).encode() + b"\0" + e.tobytes()).hexdigest()[:32]


def _block(store, ea: np.ndarray, eb: np.ndarray, da: str, db: str) -> np.ndarray:
    """Task2Vec distances [n_a, n_b] between two corpora's batches, cached in the store by content."""
    from core.distance import pairwise_distances

    if db < da:
        return _block(store, eb, ea, db, da).T
    key = f"dist:v1:{da}:{db}"
    hit = store.get(key)
    if hit is not None and hit[0]["d"].shape == (len(ea), len(eb)):
        return hit[0]["d"]
    d = pairwise_distances(ea, eb)
    if da == db:
        d = (d + d.T) / 2.0
    store.put(key, {"d": d})
    return d


def matrix_from_embeddings(embeddings: dict[str, np.ndarray], *, store=None):
    """:func:`core.coefficients.cross_alignment` with each pair of corpora's distance block cached
    in the store (keyed by the two embedding matrices' content), so adding a corpus computes only
    its own blocks and a re-opened view computes nothing. Same values as ``cross_alignment``."""
    from core.coefficients import AlignmentMatrix, Coefficient, alignment_from_distances, diversity_from_distances
    from core.store import EmbeddingStore

    store = store or EmbeddingStore()
    names = list(embeddings)
    digests = {n: _digest(embeddings[n]) for n in names}
    blocks = {}
    for i, a in enumerate(names):
        for b in names[i:]:
            blocks[(a, b)] = _block(store, embeddings[a], embeddings[b], digests[a], digests[b])
            blocks[(b, a)] = blocks[(a, b)].T
    align, div = {}, {}
    for a in names:
        div[a] = diversity_from_distances(blocks[(a, a)]) if len(embeddings[a]) >= 2 else \
            Coefficient(float("nan"), float("nan"), float("nan"), float("nan"), (1,), 0)
        for b in names:
            if a != b:
                align[(a, b)] = alignment_from_distances(blocks[(a, b)])
    offsets = np.cumsum([0] + [len(embeddings[n]) for n in names]).tolist()
    dist = np.block([[blocks[(a, b)] for b in names] for a in names]) if names else np.zeros((0, 0))
    return AlignmentMatrix(names, align, div, dist, offsets)


@st.cache_data(max_entries=32, show_spinner=False)
def _matrix(key: tuple, _embeddings: dict):
    return matrix_from_embeddings(_embeddings)


def alignment_matrix(ready: dict[str, CorpusStatus]):
    """The cross-alignment matrix of corpora whose embeddings are all cached.

    Memoised by the embeddings' content, so changing settings, corpora or the cache gives a fresh
    matrix and re-opening a view costs only the cache reads.

    Returns:
        ``(AlignmentMatrix, seconds)``.
    """
    t = time.perf_counter()
    emb = {n: s.embeddings for n, s in ready.items() if s.ready}
    m = _matrix(tuple((n, _digest(e)) for n, e in emb.items()), emb)
    return m, time.perf_counter() - t


# ----------------------------------------------------------------------------------------------
# Token counts
# ----------------------------------------------------------------------------------------------
def cached_token_counts(names: list[str]) -> dict[str, int | None]:
    """Token counts (default probe tokenizer) already in the cache; None where not counted yet."""
    from core.corpora import get_corpus
    from core.probe import DEFAULT_MODEL, load_probe
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    try:
        probe = load_probe(DEFAULT_MODEL, progress=False)
    except AlignScopeError:
        return {n: None for n in names}
    out: dict[str, int | None] = {}
    for n in names:
        try:
            hit = store.get(stats_key(get_corpus(n), probe))
        except AlignScopeError:
            hit = None
        out[n] = int(hit[1]["tokens"]) if hit is not None else None
    return out


def warm_up(settings: EmbedSettings) -> None:
    """Read the probe network's tokenizer and fingerprints (never its weights) so that the first
    Alignment/Ranking page of this server process does not wait for the torch/transformers imports.
    Call it at the end of a page, after everything is drawn (synchronously: importing transformers
    from two threads at once is not safe). Errors are ignored (the page that needs the probe shows them)."""
    try:
        from core.probe import load_probe

        load_probe(settings.model, device=settings.device, progress=False)
    except Exception:
        pass
