"""``best-single``: random windows of the pool corpus that the Task2Vec ranking puts first.

The product's source-level answer (``python -m core align --target T --sources ...``): the ranking
of :func:`core.pipeline.align` (alignment coefficient of each corpus's batch embeddings with the
target's, cached) picks the best source; its allowed windows are taken in a seeded random order. When
that source's windows cannot fill the budget, the next sources of the ranking fill the rest.
"""
from __future__ import annotations

import numpy as np

from core.selection.base import Ranked, SelectionContext, SelectionMethod


class BestSingleSource(SelectionMethod, name="best-single", needs="task2vec", score_name="source alignment",
                       description="Source-level baseline: random windows of the pool corpus ranked first by Task2Vec alignment (core align)."):
    """Windows of the top-ranked source (module docstring)."""

    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        from core.pipeline import align

        corpora = sorted({w.corpus for w in ctx.pool.windows})
        ranking = ctx.memo("ranking", lambda: align(ctx.target, corpora, ctx.settings, progress=False,
                                                    should_stop=ctx.should_stop)["ranking"])
        of = ctx.pool.corpus_of()
        rng = np.random.default_rng([seed, 17])
        rows, scores = [], []
        for r in ranking:
            mine = np.flatnonzero(ctx.allowed & (of == r["source"]))
            rows.append(mine[rng.permutation(mine.size)])
            scores.append(np.full(mine.size, float(r["alignment"])))
        return Ranked(rows=np.concatenate(rows).astype(np.int64), scores=np.concatenate(scores),
                      details={"ranking": [{"source": r["source"], "alignment": r["alignment"]} for r in ranking[:5]]})
