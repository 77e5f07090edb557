"""One selection end to end: validate, build the pool, run a method, measure the selection's alignment.

:func:`run_selection` is what ``python -m core select run``, the Select page and ``select compare``
call. Validation happens before any heavy work (:func:`validate_request`): unknown method, empty
pool, pool containing the target, budget larger than the pool all fail in seconds with a message
naming the flag.

The selection's Task2Vec alignment (with its 95% CI, :func:`core.selection.score.selection_alignment`)
is measured for every method, Task2Vec or not, from the per-window embeddings of the *selected*
windows only (a few forward passes when they are not cached; the whole pool is never embedded for a
method that does not need it).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.errors import opt
from core.selection.base import SelectionContext, SelectionError, SelectionMethod, check_budget, get_method
from core.selection.pool import Pool, PoolConfig

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.settings import EmbedSettings

#: Share of the pool each seed may select from (seeds differ in the windows they can see).
SEED_SHARE = 0.8


@dataclass
class SelectionResult:
    """A finished selection.

    Attributes:
        method, target, budget, seed: the request.  pool: pool summary (config, size, fingerprint, excluded).
        windows: one dict per selected window: ``corpus, doc_id, offset, tokens, score, row``
            (``text`` added by :func:`with_texts`).
        tokens: selected tokens.  composition: tokens per corpus.
        alignment: ``{"value", "ci_low", "ci_high", "num_batches"}`` Task2Vec alignment of the
            selection with the target (eq. 1 of Chawla et al. on batches of the selected windows).
        seconds: wall time of the method's choice (pool and embeddings already built).
        details: method-specific (greedy trace, DSIR/ZIP-FIT parameters, ranking...).
    """

    method: str
    target: str
    budget: int
    seed: int
    pool: dict
    windows: list[dict]
    tokens: int
    composition: dict[str, int]
    alignment: dict
    seconds: float
    score_name: str = "score"
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def allowed_rows(pool: Pool, seed: int, share: float = SEED_SHARE) -> np.ndarray:
    """bool [N]: the windows a seed may select (``default_rng([seed, 1618]).random(N) < share``;
    ``share >= 1`` allows all)."""
    if share >= 1:
        return np.ones(len(pool), dtype=bool)
    return np.random.default_rng([seed, 1618]).random(len(pool)) < share


def validate_request(*, method: str, budget: int, pool_config: PoolConfig, max_share: float | None = None
                     ) -> tuple[SelectionMethod, list[str]]:
    """Fast checks before any tokenising or forward pass; returns ``(method object, corpora)``.

    Raises:
        SelectionError: unknown method, bad budget.  PoolError: empty pool, pool containing the target.
        CorpusError: unknown corpus.
    """
    from core.selection.pool import pool_corpora

    m = get_method(method)
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise SelectionError(f"{opt('budget', budget)} is not a positive number of tokens.", fix=f"use e.g. {opt('budget', 4000)}.")
    if max_share is not None and not 0 < max_share <= 1:
        raise SelectionError(f"{opt('max_share', max_share)} is outside (0, 1].", fix=f"use e.g. {opt('max_share', 0.5)}.")
    cap = pool_config.max_windows * pool_config.seq_len
    if budget > cap:
        raise SelectionError(f"{opt('budget', int(budget))} tokens is larger than the pool can be "
                             f"({opt('max_windows', pool_config.max_windows)} windows of {pool_config.seq_len} tokens = {cap:,} tokens).",
                             fix=f"lower {opt('budget')} to at most {cap:,}, or raise {opt('max_windows')}.")
    corpora, _ = pool_corpora(pool_config)
    return m, corpora


def run_selection(*, method: str, target: str, pool_config: PoolConfig, budget: int, settings: EmbedSettings | None = None,
                  seed: int = 0,
                  share: float = 1.0, max_share: float | None = None, pool: Pool | None = None,
                  context: SelectionContext | None = None, progress: Callable[[int, int, str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> SelectionResult:
    """Select windows of the pool for the target (module docstring).

    Args:
        method: registered selection method.  target: target benchmark.  pool_config: the pool.
        budget: tokens to select.  settings: Task2Vec settings (default :class:`EmbedSettings`).
        seed: method seed (random order, DSIR noise) and which share of the pool is allowed.
        share: fraction of the pool this seed may use (1: all; ``select compare`` uses 0.8).
        max_share: cap on one corpus's share of the budget.
        pool, context: reuse an already built pool / context (``select compare``).

    Returns:
        :class:`SelectionResult`.

    Raises:
        SelectionError, PoolError, CorpusError: bad input (before heavy work).  EstimatorError.
    """
    from core.settings import EmbedSettings
    from core.probe import load_probe
    from core.selection.embed import embed_windows
    from core.selection.pool import load_pool, subset
    from core.selection.score import selection_alignment

    settings = settings or EmbedSettings()
    m, _ = validate_request(method=method, budget=budget, pool_config=pool_config, max_share=max_share)
    probe = load_probe(settings.model, device=settings.device, progress=False)
    if context is None:
        pool = pool or load_pool(pool_config, probe, progress=progress)
        context = SelectionContext(pool=pool, tokenizer=probe.tokenizer, target=target, settings=settings,
                                   progress=progress, should_stop=should_stop)
    pool = context.pool
    context.allowed = allowed_rows(pool, seed, share)
    check_budget(pool, context.allowed, budget, max_share)
    t0 = time.perf_counter()
    chosen = m.choose(context, budget=budget, seed=seed, max_share=max_share)
    seconds = time.perf_counter() - t0
    if chosen.rows.size == 0:
        raise SelectionError(f"Method {method!r} selected no window within {opt('budget', int(budget))}.",
                             fix=f"raise {opt('budget')} or {opt('max_share')}.")
    sel = subset(pool, chosen.rows)
    emb = embed_windows(sel, settings, should_stop=should_stop).embeddings
    coef = selection_alignment(emb, sel.tokens, range(len(sel)), context.target_embeddings(),
                               batch_size=settings.batch.batch_size, seed=seed).to_dict()
    windows = [{"corpus": w.corpus, "doc_id": w.doc_id, "offset": w.offset, "tokens": w.tokens,
                "score": float(s), "row": int(r)} for w, s, r in zip(sel.windows, chosen.scores, chosen.rows)]
    return SelectionResult(method=m.name, target=target, budget=int(budget), seed=int(seed),
                           pool={"config": pool.config.to_dict(), "windows": len(pool), "allowed": int(context.allowed.sum()),
                                 "tokens": int(pool.tokens.sum()), "fingerprint": pool.fingerprint,
                                 "excluded": pool.excluded, "composition": pool.composition()},
                           windows=windows, tokens=int(sel.tokens.sum()), composition=sel.composition(),
                           alignment={k: coef.get(k) for k in ("value", "ci_low", "ci_high", "num_batches")},
                           seconds=seconds, score_name=m.score_name, details=_jsonable(chosen.details))


def with_texts(result: SelectionResult, pool: Pool, tokenizer: PreTrainedTokenizerBase) -> SelectionResult:
    """Add each window's decoded ``text`` (for export and display)."""
    texts = pool.texts(tokenizer, [w["row"] for w in result.windows])
    for w, t in zip(result.windows, texts):
        w["text"] = t
    return result


def _jsonable(d):
    if isinstance(d, dict):
        return {str(k): _jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    if isinstance(d, np.generic):
        return d.item()
    if isinstance(d, np.ndarray):
        return d.tolist()
    return d
