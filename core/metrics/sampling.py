"""Seeded text samples of a corpus, and bootstrap confidence intervals, shared by the text metrics.

Text samples (:func:`iter_chunks`, :func:`sample_chunks`). Documents are cut into consecutive
chunks of at most ``chunk_chars`` characters (at the last whitespace in the chunk's final quarter
when there is one, so words are rarely split). The documents are put in a seeded random order
(``numpy.random.default_rng([seed, 5153]).permutation``) and each document's chunk list is rotated
to start at a seeded random chunk. Chunks are then taken round-robin: round ``k`` takes chunk ``k``
of every document that has one, in document order. Round 0 is one chunk per document, so a sample
spreads over as many documents as it can and one giant file cannot dominate it; a corpus smaller
than the sample is taken whole. The same (corpus content, seed, chunk size) always give the same
sample, whichever role (source or target) the corpus plays.

Confidence intervals (:func:`bootstrap_ci`). Bias-corrected and accelerated (BCa) bootstrap intervals from
``scipy.stats.bootstrap`` over the indices of the resampling units (chunks) of one corpus, or of
two corpora resampled independently (``paired=False``): a two-sample bootstrap of a statistic of
both samples, e.g. the mean over (source chunk, target chunk) pairs. BCa is undefined when every
resample falls on one side of the estimate (its bias correction is infinite), as happens for
identical source and target samples: a cosine of two resampled means is below 1 whenever the
resamples differ, so the bootstrap describes independent samples, not the one shared sample.
Then the delete-one-unit jackknife t-interval of :mod:`core.coefficients` is used instead
(:func:`jackknife_ci`), which perturbs a sample without duplicating units; the method string
says which was used.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from core.errors import CorpusError

if TYPE_CHECKING:
    from core.metrics.base import CorpusObject

CI_LEVEL = 0.95


def split_chunks(text: str, chunk_chars: int) -> list[str]:
    """Consecutive chunks of ``text`` of at most ``chunk_chars`` characters (whitespace-only ones dropped).

    A cut falls after the last whitespace of the chunk's final quarter when there is one.
    """
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
    out, start, n = [], 0, len(text)
    while start < n:
        stop = min(start + chunk_chars, n)
        if stop < n:
            lo = start + (3 * chunk_chars) // 4
            cut = max(text.rfind(" ", lo, stop), text.rfind("\n", lo, stop))
            if cut > start:
                stop = cut + 1
        piece = text[start:stop]
        if piece.strip():
            out.append(piece)
        start = stop
    return out


def iter_chunks(corpus: CorpusObject, *, seed: int, chunk_chars: int) -> Iterator[tuple[int, str]]:
    """Yield ``(document index, chunk text)`` in the seeded round-robin order of the module docstring.

    Raises:
        CorpusError: the corpus has no documents.
    """
    docs = corpus.documents()
    if not docs:
        raise CorpusError(f"Corpus {corpus.name!r} has no documents.", fix="add documents or pick another corpus.")
    order = np.random.default_rng([seed, 5153]).permutation(len(docs))
    cache: dict[int, list[str]] = {}
    rnd = 0
    while True:
        progressed = False
        for i in order:
            i = int(i)
            if i not in cache:
                parts = split_chunks(docs[i].text, chunk_chars)
                if len(parts) > 1:
                    r = int(np.random.default_rng([seed, i, 104729]).integers(0, len(parts)))
                    parts = parts[r:] + parts[:r]
                cache[i] = parts
            if rnd < len(cache[i]):
                progressed = True
                yield i, cache[i][rnd]
        if not progressed:
            return
        rnd += 1


@dataclass(frozen=True)
class TextSample:
    """A seeded sample of a corpus's text.

    Attributes:
        texts: the chunks (str), in sampling order.
        doc_index: index of each chunk's document in ``corpus.documents()``.
        characters: total characters.  documents: distinct documents sampled.
        exhausted: True when the whole corpus was taken (it is smaller than the sample asked for).
    """

    texts: list[str]
    doc_index: list[int]
    characters: int
    documents: int
    exhausted: bool

    def describe(self) -> dict:
        return {"chunks": len(self.texts), "documents": self.documents, "characters": self.characters,
                "whole_corpus": self.exhausted}


def sample_chunks(corpus: CorpusObject, *, seed: int, chunk_chars: int, max_chunks: int | None = None,
                  max_chars: int | None = None, min_chunks: int = 1) -> TextSample:
    """The first chunks of :func:`iter_chunks` until ``max_chunks`` chunks or ``max_chars`` characters.

    Raises:
        CorpusError: fewer than ``min_chunks`` chunks in the whole corpus.
    """
    texts, idx, chars = [], [], 0
    exhausted = True
    for i, text in iter_chunks(corpus, seed=seed, chunk_chars=chunk_chars):
        if (max_chunks is not None and len(texts) >= max_chunks) or (max_chars is not None and chars >= max_chars):
            exhausted = False
            break
        if max_chars is not None and chars + len(text) > max_chars:
            text = text[: max_chars - chars]
        texts.append(text)
        idx.append(i)
        chars += len(text)
    if len(texts) < min_chunks:
        raise CorpusError(f"Corpus {corpus.name!r} has only {len(texts)} text chunk(s); at least {min_chunks} are "
                          "needed for this metric.", fix="add documents to the corpus or pick a larger one.")
    return TextSample(texts=texts, doc_index=idx, characters=chars, documents=len(set(idx)), exhausted=exhausted)


def index_weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Resampling weights: for index arrays ``idx`` of shape [..., m] with values in [0, n), the
    float64 [..., n] counts of each unit (how often a bootstrap/jackknife sample holds it)."""
    idx = np.asarray(idx)
    flat = idx.reshape(-1, idx.shape[-1])
    w = np.zeros((flat.shape[0], n))
    np.add.at(w, (np.repeat(np.arange(flat.shape[0]), flat.shape[1]), flat.reshape(-1)), 1.0)
    return w.reshape(*idx.shape[:-1], n)


def bootstrap_ci(statistic: Callable[..., np.ndarray], sizes: tuple[int, ...], *, seed: int = 0,
                 n_resamples: int = 999) -> tuple[float | None, float | None, str]:
    """95% bootstrap CI of a statistic of resampled unit indices (one index array per sample).

    Args:
        statistic: vectorised function ``statistic(idx_1, ..., idx_k)`` of int index arrays of
            shape [..., m_i] (values in [0, sizes[i])), returning the statistic with shape [...]
            (leading axes broadcast); :func:`index_weights` turns indices into unit counts.
        sizes: number of units of each sample; each sample is resampled independently.
        seed: seeds ``numpy.random.default_rng``.
        n_resamples: bootstrap resamples.

    Returns:
        ``(low, high, method)``; ``(None, None, reason)`` when a sample has fewer than 2 units.
        Falls back to :func:`jackknife_ci` when BCa is undefined (module docstring).
    """
    from scipy import stats

    if min(sizes) < 2:
        return None, None, f"no CI: fewer than 2 resampling units ({list(sizes)})"
    data = tuple(np.arange(n) for n in sizes)

    def stat(*idx, axis=-1):
        return statistic(*(np.moveaxis(np.asarray(i), axis, -1) for i in idx))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(data, stat, n_resamples=n_resamples, vectorized=True, paired=False, batch=200,
                              confidence_level=CI_LEVEL, method="BCa", rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    kind = "two-sample" if len(sizes) == 2 else "one-sample"
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi, f"{kind} BCa bootstrap over units ({n_resamples} resamples, scipy.stats.bootstrap)"
    lo, hi, method = jackknife_ci(statistic, sizes)
    return lo, hi, method + " (BCa undefined: every bootstrap resample fell on one side of the estimate)"


def jackknife_ci(statistic: Callable[..., np.ndarray], sizes: tuple[int, ...]) -> tuple[float | None, float | None, str]:
    """95% delete-one-unit jackknife CI (Efron & Stein 1981), samples jackknifed separately.

    The variance is the sum over samples of ``(n-1)/n * sum_i (theta_(i) - mean)^2`` where
    ``theta_(i)`` leaves unit i of that sample out (the others kept whole), as in
    :mod:`core.coefficients`; the interval is ``theta +- t_{0.975, df} * se`` with
    ``df = min(sizes) - 1``, not clipped. ``statistic`` is vectorised as in :func:`bootstrap_ci`.

    Returns:
        ``(low, high, method)``; ``(None, None, reason)`` when a sample has fewer than 2 units.
    """
    from scipy import stats

    if min(sizes) < 2:
        return None, None, f"no CI: fewer than 2 resampling units ({list(sizes)})"
    full = [np.arange(n) for n in sizes]
    theta = float(statistic(*full))
    var = 0.0
    for k, n in enumerate(sizes):
        loo = np.array([np.delete(np.arange(n), i) for i in range(n)])          # [n, n-1]
        vals = np.asarray(statistic(*[loo if j == k else full[j] for j in range(len(sizes))]), dtype=float)
        var += (n - 1) / n * float(np.sum((vals - vals.mean()) ** 2))
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, min(sizes) - 1)) * float(np.sqrt(var))
    kind = "two-sample" if len(sizes) == 2 else "one-sample"
    return theta - half, theta + half, f"{kind} delete-one-unit jackknife, t interval (df {min(sizes) - 1})"


def sum_statistic(similarity: Callable[[np.ndarray, np.ndarray], np.ndarray], xs: np.ndarray,
                  xt: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Vectorised statistic for :func:`bootstrap_ci` of ``similarity(sum of source rows, sum of target rows)``.

    Args:
        similarity: ``f(P [..., D], Q [..., D]) -> [...]`` (broadcasting over leading axes).
        xs, xt: float [n_s, D] and [n_t, D] per-unit vectors (counts, embeddings...).
    """
    def stat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return similarity(index_weights(a, len(xs)) @ xs, index_weights(b, len(xt)) @ xt)

    return stat
