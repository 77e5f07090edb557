"""``t2v-greedy``: set-level greedy selection maximising the alignment of the selection's embedding.

Objective (S2 of :mod:`core.selection.score`): for a set R of windows, ``f(R) = 1 - (1/m) sum_b
d(e(R), t_b)`` with ``e(R) = sum n_w e_w / sum n_w`` the exact closed-form head embedding of the set
(token-weighted mean; ``docs/mixture_prediction.md`` M1). Top-k by window score ignores that
windows combine: two windows that each miss different parts of the target's FIM can together match
it better than two near-duplicates. Greedy forward selection (the standard approximation for set
functions, e.g. Nemhauser, Wolsey & Fisher 1978) adds, at each step, the candidate window that
maximises ``f`` of the enlarged set, among the windows that still fit the budget and source cap.

Candidates: the ``max(ctx.depth, 10 x windows the budget needs)`` best windows by exact score
(faiss retrieval + re-rank, as ``t2v-topk``). Each step evaluates ``f`` for every remaining candidate
in one vectorised pass (no forward pass).

Monotonicity: with ``fill=False`` a step is taken only when it does not lower ``f`` (the selection
may then stop below the budget); with ``fill=True`` (default, so that methods are compared at equal
budgets) steps continue with the least-lowering window once no window raises ``f``, and
``details["improving_steps"]`` says how many steps raised or kept it.
"""
from __future__ import annotations

import numpy as np

from core.selection.base import Chosen, Ranked, SelectionContext, SelectionMethod


def greedy_select(embeddings: np.ndarray, tokens: np.ndarray, candidates: np.ndarray, targets: np.ndarray, *,
                  budget: int, corpus: np.ndarray | None = None, max_share: float | None = None,
                  fill: bool = True, min_tokens: int = 1) -> tuple[np.ndarray, list[float], int]:
    """Greedy maximisation of the set alignment (module docstring).

    Args:
        embeddings: float32 [N, D] per-window embeddings.  tokens: int [N] real tokens per window.
        candidates: int64 [k] rows the greedy may choose from.  targets: float32 [m, D].
        budget: token budget.  corpus: object [N] corpus of each row (for ``max_share``).
        max_share: cap on one corpus's share of the budget (None: no cap).
        fill: keep adding after no window raises the alignment (see module docstring).
        min_tokens: stop when fewer tokens than this are left in the budget.

    Returns:
        ``(rows int64 in selection order, trace: f after each step, improving_steps)``.
    """
    from core.selection.score import distances_to

    cand = np.asarray(candidates, dtype=np.int64)
    e = embeddings[cand].astype(np.float32)
    n = np.asarray(tokens, dtype=np.float64)[cand]
    cap = None if max_share is None else max_share * budget
    total = np.zeros(e.shape[1], dtype=np.float64)
    used, per = 0.0, {}
    alive = np.ones(cand.size, dtype=bool)
    rows, trace, improving, current = [], [], 0, -np.inf
    while alive.any() and budget - used >= min_tokens:
        fits = alive & (used + n <= budget)
        if cap is not None and corpus is not None:
            fits &= np.array([per.get(corpus[c], 0.0) + n[k] <= cap for k, c in enumerate(cand)])
        idx = np.flatnonzero(fits)
        if idx.size == 0:
            break
        means = ((total[None, :] + e[idx].astype(np.float64) * n[idx, None]) / (used + n[idx, None])).astype(np.float32)
        f = 1.0 - distances_to(means, targets).mean(1)
        best = int(np.argmax(f))
        if f[best] < current - 1e-12 and not fill:
            break
        if f[best] >= current - 1e-12:
            improving += 1
        k = idx[best]
        alive[k] = False
        total += e[k].astype(np.float64) * n[k]
        used += n[k]
        if corpus is not None:
            per[corpus[cand[k]]] = per.get(corpus[cand[k]], 0.0) + n[k]
        rows.append(int(cand[k]))
        current = float(f[best])
        trace.append(current)
    return np.asarray(rows, dtype=np.int64), trace, improving


class Task2VecGreedy(SelectionMethod, name="t2v-greedy", needs="task2vec", score_name="task2vec score",
                     description=("Task2Vec set-level greedy: adds the window that most raises the alignment of the selection's "
                                  "token-weighted mean embedding with the target (exact, no forward pass).")):
    """Set-level greedy on the alignment of the selection's mean Task2Vec embedding."""

    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        from core.selection.topk import Task2VecTopK

        return Task2VecTopK().rank(ctx, seed=seed, budget=budget)

    def choose(self, ctx: SelectionContext, *, budget: int, seed: int, max_share: float | None = None,
               fill: bool = True) -> Chosen:
        from core.selection.index import search
        from core.selection.topk import candidate_depth

        emb = ctx.window_embeddings().embeddings
        targets = ctx.target_embeddings()
        depth = max(candidate_depth(ctx, budget), int(10 * np.ceil(budget / max(1.0, ctx.pool.tokens[ctx.allowed].mean()))))
        cand, cand_scores = search(ctx.index(), emb, targets, depth=depth, allowed=ctx.allowed)
        rows, trace, improving = greedy_select(emb, ctx.pool.tokens, cand, targets, budget=budget,
                                               corpus=ctx.pool.corpus_of(), max_share=max_share, fill=fill,
                                               min_tokens=ctx.pool.config.min_tokens)
        score = dict(zip(cand.tolist(), cand_scores.tolist()))
        return Chosen(rows=rows, scores=np.array([score[int(r)] for r in rows]),
                      details={"candidates": int(cand.size), "trace": trace, "improving_steps": improving})
