"""``random``: windows in a seeded random order (the no-selection baseline)."""
from __future__ import annotations

import numpy as np

from core.selection.base import Ranked, SelectionContext, SelectionMethod


class RandomSelection(SelectionMethod, name="random", needs="none", score_name="random rank",
                      description="Random windows of the pool (seeded): the baseline every method must beat."):
    """Uniformly random windows of the allowed pool (``numpy.random.default_rng([seed, 5])``)."""

    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        rows = np.flatnonzero(ctx.allowed)
        rows = rows[np.random.default_rng([seed, 5]).permutation(rows.size)]
        return Ranked(rows=rows, scores=-np.arange(rows.size, dtype=np.float64))
