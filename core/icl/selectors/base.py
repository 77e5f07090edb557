"""The demonstration-selector interface, its registry, and the selection of each problem's demonstrations.

A selector ranks a :class:`~core.icl.demos.DemoPool`'s candidates for each target problem.
**It sees only the problems' retrieval keys: their informal statements (conditions), never their
reference formal statements** (:meth:`DemoSelector.rank` takes ``queries: list[str]``, nothing
else of a problem). :func:`select_demonstrations` then fills the fixed context budget from each
ranking (:func:`core.icl.budget.fill_budget`): ``k`` distinct demonstrations at most, first fit.

Selectors are registered by name in :data:`DEMO_SELECTORS` (a lazy :class:`core.registry.Registry`,
one file per selector under ``core/icl/selectors/``): ``random`` (one seeded draw shared by every
problem, so its prompts share one key-value cache), ``t2v`` (nearest per-window Task2Vec
embeddings through the selection index), ``sbert`` (KATE: nearest all-MiniLM-L6-v2 neighbours),
``bm25`` (Okapi BM25 via ``bm25s``), ``unigram`` (cosine of token-unigram counts). Each is
deterministic for one seed; score ties are broken by a seeded permutation of the candidates
(:func:`rank_by_score`), not by corpus order.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

import numpy as np

from core.errors import AlignScopeError, opt
from core.bounds import BoundedConfig
from core.probe import DEFAULT_MODEL
from core.registry import Registry, build_config

if TYPE_CHECKING:
    from core.icl.budget import DemoChoice
    from core.icl.demos import DemoPool

DEMO_SELECTORS = Registry("demonstration selector", fix_hint="list them with: python -m core icl selectors.")
DEMO_SELECTORS.register("random", "core.icl.selectors.random_draw:RandomDemos", aliases=("rand",))
DEMO_SELECTORS.register("t2v", "core.icl.selectors.t2v:Task2VecDemos", aliases=("task2vec",))
DEMO_SELECTORS.register("sbert", "core.icl.selectors.sbert:SbertDemos", aliases=("kate",))
DEMO_SELECTORS.register("bm25", "core.icl.selectors.bm25:Bm25Demos")
DEMO_SELECTORS.register("unigram", "core.icl.selectors.unigram:UnigramDemos", aliases=("unigram-cos",))

Progress = Callable[[int, int, str], None]


class SelectorError(AlignScopeError):
    """Bad selector input: unknown name or parameter, ``k`` < 1, a budget too small for any demonstration."""


@dataclass(frozen=True)
class RankEnv:
    """What a selector may need besides the pool and the queries (execution, never a problem's answer).

    Attributes:
        model: the probe network (``t2v`` embeds windows with it; the tokenizer of ``unigram``).
        device: ``auto``, ``cpu``, ``cuda``...  precision: requested precision (``auto`` | ``fp32`` | ``bf16``).
        should_stop: polled between expensive steps; True raises ``InterruptedError``.
        progress: ``progress(done, total, message)``.
    """

    model: str = DEFAULT_MODEL
    device: str = "auto"
    precision: str = "auto"
    should_stop: Callable[[], bool] | None = None
    progress: Progress | None = None


class DemoSelector(ABC):
    """Base of a demonstration selector. Subclasses set the ClassVars and implement :meth:`_rank`.

    - ``name``: registry name.  ``description``: what it ranks by, its formula and source.
    - ``shared``: True when the ranking does not depend on the problem (one draw for all: ``random``).
    - ``version``: bumped when the ranking changes (enters :meth:`fingerprint`).
    - ``Config``: frozen :class:`~core.metrics.base.BoundedConfig` dataclass of keyword-only
      parameters; fields whose metadata says ``key=False`` are execution only.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    shared: ClassVar[bool] = False
    version: ClassVar[int] = 1

    @dataclass(frozen=True)
    class Config(BoundedConfig):
        pass

    def __init__(self, **params: Any) -> None:
        self.config = build_config(self.Config, params, kind="Selector", name=self.name, error=SelectorError)

    def fingerprint(self) -> dict:
        """``{"selector", "version", "config"}`` with the config fields that change the ranking."""
        cfg = {f.name: getattr(self.config, f.name) for f in fields(self.config) if f.metadata.get("key", True)}
        return {"selector": self.name, "version": self.version, "config": cfg}

    def rank(self, pool: DemoPool, queries: Sequence[str], *, depth: int, seed: int,
             env: RankEnv | None = None) -> list[np.ndarray]:
        """Each query's candidates, best first.

        Args:
            pool: the candidates (``N`` of them).
            queries: ``[P]`` retrieval keys: the problems' informal statements only.
            depth: rows wanted per query (at most ``N`` are returned).
            seed: the run's seed (random draws, score ties).
            env: :class:`RankEnv` (default ``RankEnv()``).

        Returns:
            ``[P]`` int64 arrays of distinct pool rows, each of length ``min(depth, N)``.

        Raises:
            SelectorError: no query, a query that is not a string, ``depth`` < 1, or a ranking that is
                not distinct rows of the pool (a selector bug).  InterruptedError: stopped.
        """
        queries = list(queries)
        if not queries or not all(isinstance(q, str) for q in queries):
            raise SelectorError(f"Selector {self.name!r} needs one query string per problem (its informal statement).",
                                fix="pass the problems' conditions.")
        if not isinstance(depth, int) or depth < 1:
            raise SelectorError(f"Ranking depth {depth!r} is below 1.", fix="ask for at least 1 row per query.")
        want = min(depth, len(pool))
        out = self._rank(pool, queries, want, int(seed), env or RankEnv())
        if len(out) != len(queries):
            raise SelectorError(f"Selector {self.name!r} ranked {len(out)} of {len(queries)} queries.",
                                fix="report this bug: a selector returns one ranking per query.")
        checked = []
        for r in out:
            r = np.asarray(r, dtype=np.int64)[:want]
            if r.size and (r.min() < 0 or r.max() >= len(pool) or len(np.unique(r)) != r.size):
                raise SelectorError(f"Selector {self.name!r} returned rows that are not distinct rows of the pool.",
                                    fix="report this bug: a ranking holds distinct pool rows.")
            checked.append(r)
        return checked

    @abstractmethod
    def _rank(self, pool: DemoPool, queries: list[str], depth: int, seed: int, env: RankEnv) -> list[np.ndarray]:
        """The rankings, on validated inputs (``depth <= N``)."""


def rank_by_score(scores: np.ndarray, depth: int, seed: int) -> list[np.ndarray]:
    """Rows of each query by decreasing score, ties broken by a seeded permutation of the candidates.

    Args:
        scores: float ``[P, N]``, higher = better.  depth: rows kept per query.  seed: tie-break seed.

    Returns:
        ``[P]`` int64 arrays of length ``min(depth, N)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    tie = np.random.default_rng([int(seed), 0x71E]).permutation(scores.shape[1])
    out = []
    for row in scores:
        order = np.lexsort((tie, -row))                  # primary: -score; secondary: the seeded permutation
        out.append(order[:depth].astype(np.int64))
    return out


def get_selector(name: str, **params: Any) -> DemoSelector:
    """The selector ``name`` (or an alias) with validated ``params``.

    Raises:
        RegistryError: unknown name.  SelectorError: bad parameter.
    """
    return DEMO_SELECTORS.build(name, **params)


def list_selectors() -> list[dict]:
    """``[{"name", "aliases", "shared", "description"}]`` of every registered selector."""
    return DEMO_SELECTORS.describe("shared", "description")


def check_choice_inputs(pool: DemoPool, *, k: int, budget_tokens: int) -> None:
    """Validate ``k`` and the budget against a pool before any ranking.

    Raises:
        SelectorError: ``k`` < 1, ``budget_tokens`` < 1, or a budget smaller than the cheapest
            candidate plus its separator (no demonstration fits; the message names the smallest cost).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise SelectorError(f"{opt('k', k)} demonstrations: k must be an integer >= 1.", fix=f"give {opt('k', 4)}.")
    if not isinstance(budget_tokens, int) or isinstance(budget_tokens, bool) or budget_tokens < 1:
        raise SelectorError(f"Context budget {opt('budget_tokens', budget_tokens)} must be an integer >= 1 tokens.",
                            fix=f"give {opt('budget_tokens', 512)}.")
    cheapest = int(pool.cost.min())
    if cheapest > budget_tokens:
        raise SelectorError(f"Context budget {opt('budget_tokens', budget_tokens)} is too small for one demonstration "
                            f"of source {pool.source!r}: its shortest candidate takes {cheapest} tokens with the separator.",
                            fix=f"give {opt('budget_tokens', cheapest)} or more (default 512).")


def select_demonstrations(selector: DemoSelector, pool: DemoPool, queries: Sequence[str], *, k: int,
                          budget_tokens: int, seed: int, env: RankEnv | None = None) -> list[DemoChoice]:
    """Each query's demonstrations: its ranking, then the budget (:func:`core.icl.budget.fill_budget`).

    A ranking is first asked for ``max(8k, 64)`` rows; a query whose prompt still has room and whose
    ranking ran out is ranked again over the whole pool. A ``shared`` selector ranks once for all.

    Args:
        selector: the selector.  pool: the candidates.  queries: ``[P]`` informal statements.
        k: most demonstrations per prompt (>= 1).  budget_tokens: demonstration tokens per prompt,
            separators included.  seed: the run's seed.  env: :class:`RankEnv`.

    Returns:
        ``[P]`` :class:`~core.icl.budget.DemoChoice` (rows in prompt order, tokens, skipped).

    Raises:
        SelectorError: see :func:`check_choice_inputs` and :meth:`DemoSelector.rank`.
    """
    from core.icl.budget import fill_budget

    check_choice_inputs(pool, k=k, budget_tokens=budget_tokens)
    queries = list(queries)
    cost, n = pool.cost, len(pool)
    depth = min(n, max(8 * k, 64))
    if selector.shared:
        order = selector.rank(pool, queries[:1], depth=n, seed=seed, env=env)[0]
        one = fill_budget(order, cost, k=k, budget_tokens=budget_tokens)
        return [one] * len(queries)
    ranks = selector.rank(pool, queries, depth=depth, seed=seed, env=env)
    choices = [fill_budget(r, cost, k=k, budget_tokens=budget_tokens) for r in ranks]
    again = [i for i, c in enumerate(choices) if c.exhausted and len(ranks[i]) < n]
    if again:
        deeper = selector.rank(pool, [queries[i] for i in again], depth=n, seed=seed, env=env)
        for i, r in zip(again, deeper):
            choices[i] = fill_budget(r, cost, k=k, budget_tokens=budget_tokens)
    return choices
