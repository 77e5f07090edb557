"""The selection-method interface, its registry, and the context every method selects from.

A selection method chooses windows of a :class:`~core.selection.pool.Pool` up to a token budget.
Each is registered by name in :data:`SELECTION_METHODS` (a lazy :class:`core.registry.Registry`) and
implements :meth:`SelectionMethod.rank`: an order of preference over the allowed windows (with a
score per window). :func:`fill_budget` then takes windows in that order until the budget is met,
with an optional cap on each source's share. Set-level methods (greedy) override
:meth:`SelectionMethod.choose` instead.

The :class:`SelectionContext` computes what methods need lazily and once: window texts, the target
benchmark's texts, per-window Task2Vec embeddings (:mod:`core.selection.embed`), the target's batch
embeddings, the faiss index (:mod:`core.selection.index`). A method that needs no embeddings (DSIR,
ZIP-FIT, random, unigram-cos) never triggers a forward pass.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from core.errors import AlignScopeError, opt
from core.registry import Registry, RegistryError

if TYPE_CHECKING:
    from core.settings import EmbedSettings
    from core.selection.embed import WindowEmbeddings
    from core.selection.index import WindowIndex
    from core.selection.pool import Pool

Progress = Callable[[int, int, str], None]


class SelectionError(AlignScopeError):
    """Bad selection input: unknown method, budget larger than the pool, bad share cap."""


@dataclass
class SelectionContext:
    """What a method selects from (lazily computed caches, see the module docstring).

    Attributes:
        pool: the windows.  tokenizer: the probe network's tokenizer.  target: target benchmark name.
        settings: Task2Vec settings (probe, estimator, batch size for forward passes and CIs).
        allowed: bool [N], windows this selection may use (a seed's share of the pool; default all).
        depth: index candidates re-ranked exactly (Task2Vec methods).
        progress: ``(done, total, message)``.
    """

    pool: Pool
    tokenizer: object
    target: str
    settings: EmbedSettings
    allowed: np.ndarray | None = None
    depth: int = 400
    progress: Progress | None = None
    should_stop: Callable[[], bool] | None = None
    _memo: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.allowed is None:
            self.allowed = np.ones(len(self.pool), dtype=bool)

    def has(self, name: str) -> bool:
        """Whether :meth:`memo` already holds ``name`` (e.g. ``"emb"``: the pool's embeddings are loaded)."""
        return name in self._memo

    def memo(self, name: str, make: Callable[[], object]) -> Any:
        """The value cached under ``name`` in this context, made by ``make()`` the first time."""
        if name not in self._memo:
            self._memo[name] = make()
        return self._memo[name]

    def texts(self) -> list[str]:
        """Decoded text of every window of the pool."""
        return self.memo("texts", lambda: self.pool.texts(self.tokenizer))

    def target_texts(self) -> list[str]:
        """The target benchmark's documents (its evaluation corpus, as the alignment uses it)."""
        from core.corpora import get_corpus

        return self.memo("target_texts", lambda: [d.text for d in get_corpus(self.target).documents()])

    def window_embeddings(self) -> WindowEmbeddings:
        """:class:`core.selection.embed.WindowEmbeddings` of the pool (computed when missing)."""
        from core.selection.embed import embed_windows

        return self.memo("emb", lambda: embed_windows(self.pool, self.settings, progress=self.progress,
                                                      should_stop=self.should_stop))

    def target_embeddings(self) -> np.ndarray:
        """float32 [m, D]: the target's batch embeddings under the same settings (cached)."""
        from core.pipeline import embed_corpus

        return self.memo("target_emb", lambda: embed_corpus(self.target, self.settings, progress=False,
                                                            should_stop=self.should_stop).embeddings)

    def index(self) -> WindowIndex:
        """:class:`core.selection.index.WindowIndex` of the pool's embeddings (loaded or built)."""
        from core.selection.index import load_or_build

        def make():
            we = self.window_embeddings()
            return load_or_build(we.embeddings, pool_fingerprint=self.pool.fingerprint, embedding_keys=we.keys)

        return self.memo("index", make)

    def scores(self) -> np.ndarray:
        """float64 [N]: exact Task2Vec score (S1) of every window (all windows; for evaluation)."""
        from core.selection.score import window_scores

        return self.memo("scores", lambda: window_scores(self.window_embeddings().embeddings, self.target_embeddings()))


@dataclass
class Ranked:
    """A method's preference: ``rows`` (int64, most preferred first) with their ``scores`` (float64)."""

    rows: np.ndarray
    scores: np.ndarray
    details: dict = field(default_factory=dict)


@dataclass
class Chosen:
    """The selected windows: ``rows`` in selection order, ``scores`` (the method's own), ``details``."""

    rows: np.ndarray
    scores: np.ndarray
    details: dict = field(default_factory=dict)


class SelectionMethod(ABC):
    """A named way of choosing windows (see the module docstring).

    Class attributes: ``name`` (registry key), ``description`` (one line for ``select methods``),
    ``needs`` (``"task2vec"`` | ``"text"`` | ``"tokens"`` | ``"none"``: what it reads), ``score_name``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    needs: ClassVar[str] = "none"
    score_name: ClassVar[str] = "score"

    def __init_subclass__(cls, *, name: str | None = None, description: str | None = None,
                          needs: str | None = None, score_name: str | None = None, **kwargs: Any) -> None:
        """Declare a method's class attributes in its class statement:
        ``class Random(SelectionMethod, name="random", needs="none", score_name="random rank", description=...)``."""
        super().__init_subclass__(**kwargs)
        for attr, value in (("name", name), ("description", description), ("needs", needs), ("score_name", score_name)):
            if value is not None:
                setattr(cls, attr, value)

    @abstractmethod
    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        """Order of preference over ``ctx.allowed`` windows (not necessarily all of them; ``budget``
        tells how many a method must at least rank)."""

    def choose(self, ctx: SelectionContext, *, budget: int, seed: int, max_share: float | None = None) -> Chosen:
        """Windows within ``budget`` tokens: :meth:`rank` then :func:`fill_budget`."""
        ranked = self.rank(ctx, seed=seed, budget=budget)
        keep = fill_budget(ranked.rows, ctx.pool, budget=budget, max_share=max_share)
        pos = {int(r): k for k, r in enumerate(ranked.rows)}
        return Chosen(rows=keep, scores=np.array([ranked.scores[pos[int(r)]] for r in keep]), details=ranked.details)


def fill_budget(order: np.ndarray, pool: Pool, *, budget: int, max_share: float | None = None) -> np.ndarray:
    """Take windows in ``order`` while they fit: a window is added when the selection's tokens plus
    its own stay within ``budget`` and (with ``max_share``) its corpus's tokens stay within
    ``max_share * budget``; others are skipped. Stops once fewer than ``pool.config.min_tokens``
    tokens are left.

    Returns:
        int64 row ids in selection order.
    """
    tokens = pool.tokens
    cap = None if max_share is None else max_share * budget
    used, per = 0, {}
    out = []
    for r in np.asarray(order, dtype=np.int64):
        t = int(tokens[r])
        c = pool.windows[int(r)].corpus
        if used + t > budget or (cap is not None and per.get(c, 0) + t > cap):
            continue
        out.append(int(r))
        used += t
        per[c] = per.get(c, 0) + t
        if budget - used < pool.config.min_tokens:
            break
    return np.asarray(out, dtype=np.int64)


def check_budget(pool: Pool, allowed: np.ndarray, budget: int, max_share: float | None = None) -> None:
    """Validate a budget against a pool before any work.

    Raises:
        SelectionError: budget not a positive integer; larger than the allowed windows' tokens;
            ``max_share`` outside (0, 1] or too small for the pool's corpora to fill the budget.
    """
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise SelectionError(f"{opt('budget', budget)} is not a positive number of tokens.", fix=f"use e.g. {opt('budget', 4000)}.")
    have = int(pool.tokens[allowed].sum())
    if budget > have:
        raise SelectionError(f"{opt('budget', int(budget))} tokens is larger than the pool ({have:,} tokens in "
                             f"{int(allowed.sum()):,} windows).",
                             fix=f"lower {opt('budget')} to at most {have:,}, or raise {opt('max_windows')} / add corpora to {opt('pool')}.")
    if max_share is not None:
        if not 0 < max_share <= 1:
            raise SelectionError(f"{opt('max_share', max_share)} is outside (0, 1].", fix=f"use e.g. {opt('max_share', 0.5)}.")
        n = len({w.corpus for w in pool.windows})
        if max_share * n < 1:
            raise SelectionError(f"{opt('max_share', max_share)} with {n} pool corpora cannot fill the budget.",
                                 fix=f"use {opt('max_share', round(1 / n, 2))} or more.")


SELECTION_METHODS = Registry("selection method", fix_hint="(CLI: --method NAME; list them: python -m core select methods)")
SELECTION_METHODS.register("t2v-topk", "core.selection.topk:Task2VecTopK", aliases=("task2vec",))
SELECTION_METHODS.register("t2v-greedy", "core.selection.greedy:Task2VecGreedy")
SELECTION_METHODS.register("dsir", "core.selection.dsir:DsirSelection")
SELECTION_METHODS.register("zip-fit", "core.selection.zipfit:ZipFitSelection", aliases=("zipfit",))
SELECTION_METHODS.register("random", "core.selection.random_windows:RandomSelection")
SELECTION_METHODS.register("best-single", "core.selection.best_single:BestSingleSource")
SELECTION_METHODS.register("unigram-cos", "core.selection.unigram:UnigramCosSelection")


def get_method(name: str) -> SelectionMethod:
    """An instance of the method registered as ``name``.

    Raises:
        SelectionError: unknown name (the message lists the known ones).
    """
    try:
        return SELECTION_METHODS.get(name)()
    except RegistryError as exc:
        raise SelectionError(exc.what, fix=exc.fix) from None
