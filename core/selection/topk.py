"""``t2v-topk``: the windows with the highest Task2Vec score against the target.

Candidates come from the faiss index (:mod:`core.selection.index`: the ``depth`` nearest windows in
the reduced space, ``depth = max(ctx.depth, 3 x the windows the budget needs)``, widened to the
allowed share of the pool), then are re-ranked by the exact score (S1 of :mod:`core.selection.score`:
``1 - mean_b d(e_w, t_b)``, Chawla et al. eq. 1 with one window) and taken in that order up to the
budget.
"""
from __future__ import annotations

import numpy as np

from core.selection.base import Ranked, SelectionContext, SelectionMethod


def candidate_depth(ctx: SelectionContext, budget: int) -> int:
    """Candidates to retrieve for a budget: ``max(ctx.depth, 3 * budget / mean window tokens)``."""
    mean_tokens = max(1.0, float(ctx.pool.tokens[ctx.allowed].mean()))
    return int(max(ctx.depth, 3 * np.ceil(budget / mean_tokens)))


class Task2VecTopK(SelectionMethod, name="t2v-topk", needs="task2vec", score_name="task2vec score",
                   description="Task2Vec: faiss candidates, exact re-rank by 1 - mean d(window, target batches); top windows to the budget."):
    """Top windows by exact Task2Vec score after faiss candidate retrieval."""

    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        from core.selection.index import search

        emb = ctx.window_embeddings().embeddings
        rows, scores = search(ctx.index(), emb, ctx.target_embeddings(), depth=candidate_depth(ctx, budget),
                              allowed=ctx.allowed)
        return Ranked(rows=rows, scores=scores, details={"candidates": int(rows.size)})
