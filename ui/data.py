"""What the pages read from the cache: embedding status, alignment matrices, token counts.

Nothing here ever computes an embedding or loads the probe network's weights: missing embeddings
are computed by background jobs (``core.jobs``, kind ``embed``), and cached ones are read through
:func:`core.pipeline.cached_embeddings`.
Token counts of large corpora are computed by a ``corpus_stats`` job (:mod:`ui.tasks`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from core.errors import AlignScopeError
from core.fingerprint import array_digest
from core.settings import EmbedSettings
from core.pipeline import stats_key


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
        """Every batch embedding is cached and there is no error."""
        return self.embeddings is not None and not self.error

    @property
    def missing(self) -> int:
        """Batch embeddings still to compute (0 when the corpus has an error)."""
        return 0 if self.error else self.total - self.cached


def corpus_status(name: str, settings: EmbedSettings, *, store=None) -> CorpusStatus:
    """How many of ``name``'s batch embeddings are cached; the embeddings when all are.

    Reads the cache with :func:`core.pipeline.cached_embeddings` (``draw=False``): never computes
    anything, never loads model weights, and a corpus whose batches were never drawn is reported as
    0 cached without drawing them (drawing tokenises documents, which the embedding job does anyway).

    Errors (unknown/uninstalled corpus, bad model, too few documents...) are returned in ``error``.
    """
    from core.pipeline import cached_embeddings

    total = settings.batch.num_batches
    try:
        look = cached_embeddings(name, settings, store=store, draw=False, progress=False)
        if not look.complete:
            return CorpusStatus(name, len(look.found), total)
        return CorpusStatus(name, len(look.found), len(look.batches), embeddings=look.embeddings())
    except AlignScopeError as exc:
        return CorpusStatus(name, 0, total, str(exc))
    except (OSError, ValueError) as exc:  # e.g. a file vanished while reading
        return CorpusStatus(name, 0, total, f"Corpus {name!r} could not be read: {exc}")


def statuses(names: list[str], settings: EmbedSettings) -> dict[str, CorpusStatus]:
    """:func:`corpus_status` of each name (order kept)."""
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    return {n: corpus_status(n, settings, store=store) for n in dict.fromkeys(names) if n}


@st.cache_data(max_entries=32, show_spinner=False)
def _matrix(key: tuple, _embeddings: dict):
    from core.coefficients import cross_alignment
    from core.pipeline import cached_distances

    return cross_alignment(_embeddings, block=cached_distances(_embeddings))


def alignment_matrix(ready: dict[str, CorpusStatus]):
    """The cross-alignment matrix of corpora whose embeddings are all cached.

    Each pair's distance block is kept in the store (:func:`core.pipeline.cached_distances`), and
    the matrix is memoised by the embeddings' content, so changing settings, corpora or the cache
    gives a fresh matrix and re-opening a view costs only the cache reads.

    Returns:
        ``(AlignmentMatrix, seconds)``.
    """
    t = time.perf_counter()
    emb = {n: s.embeddings for n, s in ready.items() if s.ready}
    m = _matrix(tuple((n, array_digest(e)) for n, e in emb.items()), emb)
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
