"""The fixed context budget: which demonstrations of a ranking fit in ``budget_tokens`` tokens.

Every source gets the same budget (default :data:`DEFAULT_BUDGET` = 512 tokens) for the
demonstrations of a prompt, separators included: a demonstration of ``n`` tokens costs ``n + s``
(``s`` = separator tokens; the last one separates the demonstrations from the problem). Up to ``k``
demonstrations are taken in the selector's ranking order; one that does not fit in what is left is
skipped and the next one tried (first fit over the ranking), so a source of long documents gets
fewer demonstrations rather than a longer prompt. The prompt holds them with the best-ranked one
*last*, next to the problem (a fixed design choice, the same for every selector: the nearest
neighbour is the most recent context; KATE, Liu et al. 2021, "What Makes Good In-Context Examples for
GPT-3?", studies both orders).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Demonstration tokens per prompt (separators included), the same for every source.
DEFAULT_BUDGET = 512


@dataclass(frozen=True)
class DemoChoice:
    """The demonstrations of one prompt.

    Attributes:
        rows: pool rows in prompt order (best-ranked last); distinct.
        tokens: budget tokens they take (their tokens plus one separator each).
        skipped: candidates passed over because they did not fit in what was left.
        exhausted: the ranking ran out before ``k`` demonstrations fitted.
    """

    rows: tuple[int, ...]
    tokens: int
    skipped: int
    exhausted: bool

    @property
    def fitted(self) -> int:
        """How many demonstrations the prompt holds."""
        return len(self.rows)


def fill_budget(order: Sequence[int], cost: np.ndarray, *, k: int, budget_tokens: int) -> DemoChoice:
    """Take up to ``k`` distinct rows of ``order`` whose costs fit in ``budget_tokens`` (first fit).

    Args:
        order: pool rows in ranking order (best first); repeated rows are taken once.
        cost: int ``[N]``: budget tokens of each pool row (tokens + separator).
        k: most demonstrations (>= 1).  budget_tokens: the budget (>= 1).

    Returns:
        :class:`DemoChoice` with ``rows`` in prompt order (best-ranked last).
    """
    left, taken, seen, skipped = int(budget_tokens), [], set(), 0
    for r in order:
        r = int(r)
        if r in seen:
            continue
        seen.add(r)
        c = int(cost[r])
        if c <= left:
            taken.append(r)
            left -= c
            if len(taken) == k:
                break
        else:
            skipped += 1
    return DemoChoice(rows=tuple(reversed(taken)), tokens=int(budget_tokens) - left, skipped=skipped,
                      exhausted=len(taken) < k)
