"""The fixed context budget: first fit over a ranking, distinct rows, best-ranked last."""
from __future__ import annotations

import numpy as np

from core.icl.budget import fill_budget


def test_first_fit_skips_what_does_not_fit_and_takes_the_next():
    cost = np.array([50, 300, 40, 200, 10])
    c = fill_budget([1, 0, 3, 2, 4], cost, k=3, budget_tokens=100)
    # 1 (300) does not fit; 0 (50) fits; 3 (200) does not; 2 (40) fits; 4 (10) fits -> k reached
    assert c.rows == (4, 2, 0) and c.tokens == 100 and c.skipped == 2 and not c.exhausted
    assert c.fitted == 3


def test_rows_are_distinct_and_the_budget_is_never_exceeded():
    rng = np.random.default_rng(0)
    for _ in range(50):
        cost = rng.integers(5, 120, size=30)
        order = rng.integers(0, 30, size=60)                    # repeats on purpose
        budget = int(rng.integers(5, 400))
        c = fill_budget(order, cost, k=5, budget_tokens=budget)
        assert len(set(c.rows)) == len(c.rows) <= 5
        assert c.tokens == int(cost[list(c.rows)].sum()) <= budget


def test_exhausted_when_fewer_than_k_fit():
    c = fill_budget([0, 1], np.array([60, 60]), k=2, budget_tokens=100)
    assert c.rows == (0,) and c.exhausted and c.skipped == 1
