"""Per-window Task2Vec embeddings of a pool, cached one window at a time.

Each window's embedding is eq. (2) of :mod:`core.estimators.closed_form` over that window's real
positions only (``ClosedFormHeadEstimator.embed_rows``): one forward pass per batch of
``batch_size`` windows, with the estimator code that embeds corpora. The store key of a window is
:func:`core.fingerprint.embedding_key` of its content hash (ids and mask of the one window, shape
``[1, seq_len]``) with the estimator's fingerprint plus ``"per_sequence": True``: so batch
embeddings keep their keys, and a window embedded once (in any pool, at any cap) is never computed
again.

Because the closed-form head embedding is a token-weighted mean over positions, the embedding of
any set of windows is ``sum_w n_w e_w / sum_w n_w`` (n_w = real tokens of window w), exactly as a
mixed batch's is in ``docs/mixture_prediction.md`` (M1): a selection's alignment needs no further
forward pass (:mod:`core.selection.score`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.errors import EstimatorError

if TYPE_CHECKING:
    from core.settings import EmbedSettings
    from core.estimators.base import Task2VecEstimator
    from core.probe import ProbeNetwork
    from core.selection.pool import Pool
    from core.store import EmbeddingStore

Progress = Callable[[int, int, str], None]


@dataclass
class WindowEmbeddings:
    """Per-window Task2Vec embeddings of a pool.

    Attributes:
        embeddings: float32 [N, D], row i = window i of the pool.
        keys: store key of each window.  computed / cached: windows computed now / read from the store.
        seconds: wall time of this call.  precision: the resolved precision.  estimator: its fingerprint.
    """

    embeddings: np.ndarray
    keys: list[str]
    computed: int
    cached: int
    seconds: float
    precision: str
    estimator: dict


def window_hash(ids: np.ndarray, mask: np.ndarray) -> str:
    """Content hash of one window: :meth:`core.batches.TokenBatch.content_hash` of the ``[1, T]`` batch."""
    from core.batches import TokenBatch

    return TokenBatch("", 0, ids[None], mask[None], ("",), (0,)).content_hash()


def window_keys(pool: Pool, probe: ProbeNetwork, estimator: Task2VecEstimator, precision: str) -> list[str]:
    """Store key of every window (module docstring)."""
    from core.fingerprint import embedding_key

    est = {**estimator.fingerprint(), "per_sequence": True}
    return [embedding_key(model_fingerprint=probe.fingerprint, tokenizer_fingerprint=probe.tokenizer_fingerprint,
                          estimator=est, batch_hash=window_hash(pool.input_ids[i], pool.attention_mask[i]),
                          precision=precision) for i in range(len(pool))]


def embed_windows(pool: Pool, settings: EmbedSettings, *, store: EmbeddingStore | None = None,
                  progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                  compute: bool = True) -> WindowEmbeddings:
    """Per-window embeddings of ``pool`` under ``settings`` (model, estimator, device, precision;
    ``settings.batch.batch_size`` windows per forward pass).

    Args:
        pool: the windows.  store: embedding store (default ``cache/embeddings``).
        progress: ``(windows done, windows, message)``.
        should_stop: polled between forward passes; True raises ``InterruptedError`` (finished
            windows stay stored).
        compute: False reads the cache only and raises when a window is missing.

    Returns:
        :class:`WindowEmbeddings` (float32 [N, D]).

    Raises:
        EstimatorError: the estimator has no per-window embedding (only ``closed_form_head`` has),
            or ``compute=False`` and windows are missing.  InterruptedError: stopped.
    """
    from core.execution import current_engine
    from core.estimators import get_estimator
    from core.precision import resolve_precision
    from core.probe import load_probe
    from core.store import EmbeddingStore

    t0 = time.perf_counter()
    estimator = get_estimator(settings.estimator, **dict(settings.estimator_params))
    if not hasattr(estimator, "embed_rows"):
        raise EstimatorError(f"Estimator {settings.estimator!r} has no per-window embeddings.",
                             fix="use --estimator closed_form_head for window selection.")
    store = store or EmbeddingStore()
    engine = current_engine()
    pinned = engine.pin_precision(settings.precision, settings.device)   # ``auto`` as the engine's workers resolve it
    settings = replace(settings, precision=pinned) if pinned != settings.precision else settings
    probe = load_probe(settings.model, device=settings.device, progress=False)
    precision = resolve_precision(settings.precision, probe.device, probe=probe)
    keys = window_keys(pool, probe, estimator, precision)
    rows: dict[int, np.ndarray] = store.get_many(keys)
    cached = len(rows)
    missing = [i for i in range(len(pool)) if i not in rows]
    if missing and not compute:
        raise EstimatorError(f"{len(missing)} of {len(pool)} windows of the pool have no cached embedding.",
                             fix="compute them first (python -m core select embed --pool ...).")
    if progress:
        progress(cached, len(pool), f"{cached} windows cached")
    done = [cached, 0]

    def stored(part: list, vecs: list, fresh: int) -> None:
        rows.update(zip(part, vecs))
        done[0], done[1] = done[0] + len(part), done[1] + fresh
        if progress:
            progress(done[0], len(pool), f"{done[1]} windows embedded")

    computed = engine.embed_windows_missing(pool, missing, settings, keys=keys, probe=probe, estimator=estimator,
                                            precision=precision, store=store, should_stop=should_stop,
                                            on_rows=stored) if missing else 0   # local or ray: where, never what
    emb = np.stack([rows[i] for i in range(len(pool))]).astype(np.float32, copy=False)
    return WindowEmbeddings(embeddings=emb, keys=keys, computed=computed, cached=cached,
                            seconds=time.perf_counter() - t0, precision=precision,
                            estimator=estimator.fingerprint())
