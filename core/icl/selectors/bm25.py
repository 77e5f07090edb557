"""``bm25``: the candidates with the highest Okapi BM25 score for the problem's informal statement.

Okapi BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond"),
in the Lucene variant of Kamphuis et al. 2020 ("Which BM25 Do You Mean? A Large-Scale
Reproducibility Study of Scoring Variants", ECIR, Table 1), as implemented by ``bm25s`` 0.3.16
(Lù 2024, arXiv 2407.03618; ``method="lucene"``):

    score(q, w) = sum_{t in q} IDF(t) * f(t, w) / (f(t, w) + k1 (1 - b + b |w| / avgdl))

with ``f(t, w)`` the count of term ``t`` in the candidate's retrieval key (a pair's informal
statement, a window's text), ``|w|`` its length in terms, ``avgdl`` the mean length over the pool
and ``IDF(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))`` (``n_t``: candidates holding ``t``; Lucene drops
the constant factor ``k1 + 1`` of the original, which does not change the ranking). Terms: ``bm25s.tokenize`` (lower case,
words of two or more characters, English stop words removed). A query with no known term scores 0
everywhere; ties are broken by a seeded permutation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from core.icl.selectors.base import DemoSelector, RankEnv, SelectorError, rank_by_score


class Bm25Demos(DemoSelector):
    """``bm25``: Okapi BM25 of the problem's informal statement against each candidate (module docstring)."""

    name: ClassVar[str] = "bm25"
    description: ClassVar[str] = ("Okapi BM25 (Robertson & Zaragoza 2009; bm25s 0.3.16, Lucene variant, k1 = 1.5, "
                                  "b = 0.75) of the problem's informal statement against each candidate's key.")

    @dataclass(frozen=True)
    class Config(DemoSelector.Config):
        """``k1``: term-frequency saturation; ``b``: length normalisation (0..1)."""

        k1: float = 1.5
        b: float = 0.75

        def __post_init__(self) -> None:
            if not (self.k1 >= 0 and 0 <= self.b <= 1):
                raise ValueError(f"k1 must be >= 0 and b in [0, 1] (got k1={self.k1}, b={self.b})")

    def _rank(self, pool, queries, depth, seed, env: RankEnv) -> list[np.ndarray]:
        try:
            import bm25s
        except ImportError:
            raise SelectorError("Selector 'bm25' needs the bm25s package.",
                                fix="run: .venv/bin/python -m pip install bm25s==0.3.16") from None
        corpus = bm25s.tokenize(pool.keys(), stopwords="en", show_progress=False)
        retriever = bm25s.BM25(k1=float(self.config.k1), b=float(self.config.b), method="lucene")
        retriever.index(corpus, show_progress=False)
        terms = bm25s.tokenize(list(queries), stopwords="en", return_ids=False, show_progress=False)
        scores = np.zeros((len(queries), len(pool)))                                      # [P, N]
        for i, t in enumerate(terms):
            if t:
                scores[i] = retriever.get_scores(t)
        return rank_by_score(scores, depth, seed)
