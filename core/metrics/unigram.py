"""Token-unigram alignment: cosine and Jensen-Shannon similarity of token distributions.

Each corpus is sampled with :mod:`core.metrics.sampling` (seeded, round-robin over documents,
chunks of at most ``chunk_chars`` characters) and tokenised with the probe network's tokenizer
(SmolLM2 by default; no special tokens) until exactly ``budget_tokens`` tokens (the last chunk is
cut), so every corpus contributes the same number of tokens; a smaller corpus is taken whole (the
details say so). With p and q the token count vectors of source and target over the vocabulary:

- ``unigram-cos``: cos(p, q) = p.q / (|p| |q|), in [0, 1] (counts are non-negative).
- ``unigram-js``: 1 - JSD(p/|p|_1, q/|q|_1), with the Jensen-Shannon divergence in bits
  (base 2, so in [0, 1]): JSD = 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q) / 2 (Lin, "Divergence
  measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1), 1991);
  the value of ``scipy.spatial.distance.jensenshannon(P, Q, base=2) ** 2`` (scipy returns the
  distance, the square root of the divergence), computed with ``scipy.special.rel_entr`` so that
  bootstrap resamples are vectorised.

Both are symmetric and equal 1 for identical samples. CI: two-sample BCa bootstrap resampling
the source chunks and the target chunks independently (each chunk's counts are one unit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.errors import CorpusError
from core.metrics.base import AlignmentMetric, BoundedConfig, CorpusObject, MetricValue, Progress, bounded, check_stop
from core.metrics.sampling import bootstrap_ci, iter_chunks, sum_statistic
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass
class TokenSample:
    """Token ids of a seeded, budget-limited sample: one int list per chunk."""

    chunks: list[list[int]]
    documents: int
    whole_corpus: bool

    @property
    def tokens(self) -> int:
        """Tokens in the sample (all chunks)."""
        return sum(len(c) for c in self.chunks)

    def describe(self) -> dict:
        return {"chunks": len(self.chunks), "tokens": self.tokens, "documents": self.documents,
                "whole_corpus": self.whole_corpus}


def token_sample(corpus: CorpusObject, tokenizer: PreTrainedTokenizerBase, *, budget_tokens: int, seed: int, chunk_chars: int,
                 should_stop: Callable[[], bool] | None = None) -> TokenSample:
    """Tokenise seeded round-robin chunks of ``corpus`` until ``budget_tokens`` tokens.

    Raises:
        CorpusError: the corpus has no documents or no token at all.
    """
    chunks: list[list[int]] = []
    docs: set[int] = set()
    total = 0
    pending: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal total
        ids_list = tokenizer([t for _, t in pending], add_special_tokens=False)["input_ids"]
        for (d, _), ids in zip(pending, ids_list):
            if ids and total < budget_tokens:
                ids = ids[: budget_tokens - total]
                chunks.append(list(ids))
                docs.add(d)
                total += len(ids)
        pending.clear()

    for item in iter_chunks(corpus, seed=seed, chunk_chars=chunk_chars):
        pending.append(item)
        if len(pending) >= 32:
            check_stop(should_stop, f"token sample of {corpus.name!r}")
            flush()
            if total >= budget_tokens:
                break
    if pending:
        flush()
    whole = total < budget_tokens
    if total == 0:
        raise CorpusError(f"Corpus {corpus.name!r} has no tokens.", fix="add documents with text or pick another corpus.")
    return TokenSample(chunks=chunks, documents=len(docs), whole_corpus=whole)


def count_matrices(a: list[list[int]], b: list[list[int]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-chunk count matrices float64 [n_a, V'] and [n_b, V'] over the V' token ids seen in either sample."""
    vocab = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in a + b]))

    def mat(chunks):
        out = np.zeros((len(chunks), len(vocab)))
        for r, c in enumerate(chunks):
            cols, counts = np.unique(np.searchsorted(vocab, np.asarray(c, dtype=np.int64)), return_counts=True)
            out[r, cols] = counts
        return out

    return mat(a), mat(b), len(vocab)


def cosine(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """cos(p, q) of non-negative vectors along the last axis (broadcasting; 0 when one is all zero)."""
    den = np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1)
    num = np.sum(p * q, axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def js_similarity(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """1 - Jensen-Shannon divergence in bits of the normalised count vectors (last axis), in [0, 1].

    Same value as ``1 - scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2``, vectorised.
    """
    from scipy.special import rel_entr

    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)
    jsd = 0.5 * (rel_entr(p, m).sum(-1) + rel_entr(q, m).sum(-1)) / np.log(2.0)
    return 1.0 - np.clip(jsd, 0.0, 1.0)


@dataclass(frozen=True)
class UnigramConfig(BoundedConfig):
    """Hyperparameters of ``unigram-cos`` and ``unigram-js`` (the token sample, bootstrap).

    Attributes:
        model: probe network whose tokenizer is used (weights are never loaded).
        budget_tokens: tokens sampled per corpus (same for every corpus).
        chunk_chars: maximum characters per chunk (a chunk is one bootstrap unit).
        seed: sampling seed (same for source and target).
        n_resamples: bootstrap resamples for the CI.
    """

    model: str = DEFAULT_MODEL
    budget_tokens: int = bounded(20000, low=10)
    chunk_chars: int = bounded(1024, low=16)
    seed: int = 0
    n_resamples: int = bounded(999, low=10)


class _Unigram(AlignmentMetric):
    """Shared sampling, counting and CI of the two unigram metrics (formula in the module docstring)."""

    cost = "model-free"
    requires = ()
    symmetric = True
    version = 1

    Config = UnigramConfig

    @staticmethod
    def _similarity(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Similarity of count vectors along the last axis (set by each subclass)."""
        raise NotImplementedError

    def _tokenizer(self):
        from core.probe import load_probe

        return load_probe(self.config.model)

    def key_extras(self) -> dict:
        return {"tokenizer": self._tokenizer().tokenizer_fingerprint}

    def _compute(self, source, target, *, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> MetricValue:
        cfg = self.config
        tok = self._tokenizer().tokenizer
        if progress:
            progress(0, 2, f"tokenising {source.name}")
        s = token_sample(source, tok, budget_tokens=cfg.budget_tokens, seed=cfg.seed, chunk_chars=cfg.chunk_chars,
                         should_stop=should_stop)
        if progress:
            progress(1, 2, f"tokenising {target.name}")
        t = token_sample(target, tok, budget_tokens=cfg.budget_tokens, seed=cfg.seed, chunk_chars=cfg.chunk_chars,
                         should_stop=should_stop)
        check_stop(should_stop, self.name)
        xs, xt, vocab = count_matrices(s.chunks, t.chunks)
        sim = self._similarity
        value = float(sim(xs.sum(0), xt.sum(0)))
        lo, hi, method = bootstrap_ci(sum_statistic(sim, xs, xt), (len(xs), len(xt)), seed=cfg.seed,
                                      n_resamples=cfg.n_resamples)
        if progress:
            progress(2, 2, "done")
        return MetricValue(value=float(value), ci_low=lo, ci_high=hi, seconds=0.0, n=len(xs),
                           details={"ci_method": method, "unit": "text chunk", "n_target": len(xt),
                                    "token_types": vocab, "source_sample": s.describe(), "target_sample": t.describe()})


class UnigramCosine(_Unigram):
    """``unigram-cos``: cosine of token-unigram count vectors (module docstring)."""

    name = "unigram-cos"
    description = ("Cosine of the token-unigram count vectors of equal-size token samples of source and target "
                   "(probe tokenizer, SmolLM2). CI: two-sample bootstrap over chunks.")
    units = "cosine (dimensionless, 0..1)"
    _similarity = staticmethod(cosine)


class UnigramJensenShannon(_Unigram):
    """``unigram-js``: 1 - Jensen-Shannon divergence (bits) of token-unigram distributions (module docstring)."""

    name = "unigram-js"
    description = ("1 - Jensen-Shannon divergence (base 2, Lin 1991) of the token-unigram distributions of "
                   "equal-size token samples of source and target (probe tokenizer, SmolLM2). CI: two-sample "
                   "bootstrap over chunks.")
    units = "1 - JSD in bits (dimensionless, 0..1)"
    _similarity = staticmethod(js_similarity)
