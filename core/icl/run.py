"""Run the in-context condition: for each target problem, demonstrations from a source, then the problem;
the outcome is ``af-nll``, the NLL of the reference formal statement's tokens given that prompt.

    af-nll(source) = sum_i nll_i / sum_i tokens_i       (nats/token; perplexity = exp, eq. 2 of the alignment paper)

with ``nll_i = -sum_j log p(y_ij | prefix_i, context_i, y_i,<j)`` (teacher forcing, completion tokens
only; :func:`core.outcomes.nll.completion_nll`) and ``prefix_i`` the problem's demonstrations
(:mod:`core.icl.prompts`). Forward passes only. The zero-shot baseline (empty prefix) is the
``af-nll`` outcome of the base model, computed once and cached by
:func:`core.outcomes.measure.base_outcomes`; ``gain = zero-shot af-nll - af-nll`` (> 0: the source's
demonstrations help).

Steps of :func:`run_icl` (validation first, nothing heavy before it):

1. Validate: the source is not, and does not reproduce, the target's test split
   (:func:`core.icl.demos.check_demo_source`); selector and its parameters; ``k``; the budget; the
   precision; the problems (``None``: all; an int: a seeded subsample, numpy ``default_rng(0)``, the
   same for every source and seed; or a list of problem ids).
2. Cache: the result is atomic JSON under ``cache/icl/results/<key>.json``, key = :func:`icl_key`
   (model, tokenizer, source content, demonstration-pool config, selector + config, k, budget, seed,
   pair format, the problems' content, the resolved precision when not fp32). A rerun computes nothing.
3. Candidates (:func:`core.icl.demos.build_demo_pool`, cached), rankings and the budget
   (:func:`core.icl.selectors.select_demonstrations`), prompts (:func:`core.icl.prompts.build_prompts`);
   every prompt must fit the model's positions.
4. Scoring (:func:`score_prompts`): problems whose demonstrations are the same (``random``: one draw
   per seed) share them as ``prefix``, so one key-value cache serves all of them; the others are
   batched with their demonstrations in the context. Both paths give the same NLL (to 1e-5 in fp32).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from core.errors import AlignScopeError, opt
from core.icl.budget import DEFAULT_BUDGET
from core.icl.result import IclError, IclResult
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    import torch

    from core.icl.demos import DemoConfig, DemoPool
    from core.icl.prompts import IclPrompt
    from core.icl.selectors.base import DemoSelector
    from core.outcomes.nll import CompletionScores
    from core.outcomes.problems import PairFormat, PairProblem

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
#: Version of the run's computation (enters :func:`icl_key`).
ICL_VERSION = 1
#: Seed of the ``problems=<int>`` subsample (fixed: every source and seed sees the same problems).
PROBLEM_SEED = 0




# -- the plan (validation, selection, prompts) -------------------------------------------------------
@dataclass
class IclPlan:
    """A validated condition point with its prompts (what :func:`run_icl` scores and ``icl export`` writes).

    Attributes:
        target, fmt, problems: the target, its pair format and the chosen problems (corpus order).
        source: the source's name.  pool: its candidates.  selector: the selector.  prompts: ``[n]``.
        k, budget_tokens, seed, model, device, precision: the settings (precision resolved).
        key: :func:`icl_key`.  select_seconds: wall time of the candidates, rankings and prompts.
    """

    target: str
    fmt: PairFormat
    problems: list[PairProblem]
    source: str
    pool: DemoPool
    selector: DemoSelector
    prompts: list[IclPrompt]
    k: int
    budget_tokens: int
    seed: int
    model: str
    device: str
    precision: str
    key: str
    select_seconds: float


@dataclass
class _Checked:
    """What :func:`_validate` establishes before any heavy work."""

    corpus: Any
    selector: DemoSelector
    fmt: PairFormat
    all_problems: list[PairProblem]
    problems: list[PairProblem]
    subsample: bool
    probe: Any
    precision: str
    config: DemoConfig
    key: str


def choose_problems(problems: Sequence[PairProblem], wanted: None | int | Sequence[str]) -> tuple[list[PairProblem], bool]:
    """The problems of a run: all (``None``), a seeded subsample of ``wanted`` of them (an int: numpy
    ``default_rng(PROBLEM_SEED).choice`` without replacement, kept in corpus order, the same draw as
    ``python -m core outcomes measure --limit N --seed 0``), or the listed ids (corpus order).

    Returns:
        ``(problems, is_subset)``.

    Raises:
        IclError: an int below 1, unknown or duplicate ids, or an empty list.
    """
    problems = list(problems)
    if wanted is None:
        return problems, False
    if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool):
        if wanted < 1:
            raise IclError(f"{opt('problems', int(wanted))}: the subsample needs at least 1 problem.",
                           fix=f"give {opt('problems', 20)} or leave it out for all {len(problems)}.")
        if wanted >= len(problems):
            return problems, False
        pick = np.sort(np.random.default_rng(PROBLEM_SEED).choice(len(problems), size=int(wanted), replace=False))
        return [problems[i] for i in pick], True
    if isinstance(wanted, str):
        wanted = [wanted]
    ids = [str(w) for w in wanted]
    known = {p.problem_id for p in problems}
    bad = [w for w in ids if w not in known]
    if not ids or bad or len(set(ids)) != len(ids):
        raise IclError(f"Problem ids {bad[:3] or ids[:3]} are unknown, duplicated or empty.",
                       fix="use ids from core.outcomes.problems.target_problems(target), each once.")
    want = set(ids)
    return [p for p in problems if p.problem_id in want], len(want) < len(problems)


def icl_key(*, model_fingerprint: str, tokenizer_fingerprint: str, source_fingerprint: str, config: DemoConfig,
            selector: dict, k: int, budget_tokens: int, seed: int, fmt: PairFormat, problems_fingerprint: str,
            precision: str) -> str:
    """Identity of a condition point (:func:`core.fingerprint.fingerprint` of everything that
    determines it; the precision only when not fp32)."""
    from dataclasses import asdict

    from core.fingerprint import fingerprint

    d = {"what": "icl", "v": ICL_VERSION, "model": model_fingerprint, "tok": tokenizer_fingerprint,
         "source": source_fingerprint, "demos": asdict(config), "selector": selector, "k": int(k),
         "budget": int(budget_tokens), "seed": int(seed), "format": fmt.fingerprint(), "problems": problems_fingerprint}
    if precision != "fp32":
        d["precision"] = precision
    return fingerprint(d)


def _validate(target: str, source: str | Any, *, k: int, selector: str, selector_params: Mapping | None, seed: int,
              budget_tokens: int, model: str, device: str, precision: str, problems, max_candidates: int,
              window_tokens: int, pool_seed: int | None = None) -> _Checked:
    from core.corpora import get_corpus
    from core.icl.demos import DemoConfig, check_demo_source
    from core.icl.selectors.base import SelectorError, get_selector
    from core.outcomes.problems import problems_fingerprint, target_problems
    from core.precision import check_precision, resolve_precision
    from core.probe import load_probe

    check_precision(precision)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise SelectorError(f"{opt('k', k)} demonstrations: k must be an integer >= 1.", fix=f"give {opt('k', 4)}.")
    if not isinstance(budget_tokens, int) or isinstance(budget_tokens, bool) or budget_tokens < 1:
        raise SelectorError(f"Context budget {opt('budget_tokens', budget_tokens)} must be an integer >= 1 tokens.",
                            fix=f"give {opt('budget_tokens', DEFAULT_BUDGET)}.")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SelectorError(f"{opt('seed', seed)} is not an integer.", fix=f"give {opt('seed', 0)}.")
    sel = get_selector(selector, **dict(selector_params or {}))
    config = DemoConfig(max_candidates=max_candidates, window_tokens=window_tokens,
                        seed=seed if pool_seed is None else pool_seed)
    fmt, all_problems = target_problems(target)
    check_demo_source(source, target)
    corpus = get_corpus(source) if isinstance(source, str) else source
    chosen, subset = choose_problems(all_problems, problems)
    probe = load_probe(model, device=device, progress=False)
    resolved = resolve_precision(precision, probe.device)
    key = icl_key(model_fingerprint=probe.fingerprint, tokenizer_fingerprint=probe.tokenizer_fingerprint,
                  source_fingerprint=corpus.fingerprint(), config=config, selector=sel.fingerprint(), k=k,
                  budget_tokens=budget_tokens, seed=seed, fmt=fmt, problems_fingerprint=problems_fingerprint(fmt, chosen),
                  precision=resolved)
    return _Checked(corpus=corpus, selector=sel, fmt=fmt, all_problems=all_problems, problems=chosen, subsample=subset,
                    probe=probe, precision=resolved, config=config, key=key)


def _plan(c: _Checked, target: str, *, k: int, budget_tokens: int, seed: int, model: str, device: str,
          requested_precision: str, should_stop, progress) -> IclPlan:
    from core.icl.demos import build_demo_pool
    from core.icl.prompts import build_prompts
    from core.icl.selectors.base import RankEnv, select_demonstrations
    from core.probe import model_limits

    t0 = time.perf_counter()
    if progress:
        progress(0, 3, f"candidate demonstrations of {c.corpus.name}")
    pool = build_demo_pool(c.corpus, c.probe.tokenizer, c.fmt, c.all_problems, config=c.config,
                           tokenizer_fingerprint=c.probe.tokenizer_fingerprint)
    if progress:
        progress(1, 3, f"{len(pool)} {pool.kind} candidates; selecting with {c.selector.name}")
    env = RankEnv(model=model, device=device, precision=requested_precision, should_stop=should_stop,
                  progress=(lambda d, t, m: progress(1, 3, m)) if progress else None)
    choices = select_demonstrations(c.selector, pool, [p.condition for p in c.problems], k=k,
                                    budget_tokens=budget_tokens, seed=seed, env=env)
    prompts = build_prompts(pool, choices, c.problems, c.fmt, c.probe.tokenizer)
    limits = model_limits(model)
    longest = max(prompts, key=lambda p: p.length)
    if limits is not None and limits.max_positions and longest.length > limits.max_positions:
        raise IclError(f"The prompt of problem {longest.problem_id!r} takes {longest.length} tokens "
                       f"({longest.demo_tokens} of demonstrations), more than the {limits.max_positions} positions of "
                       f"model {model!r}.", fix=f"lower {opt('budget_tokens')} (or use a model with more positions).")
    if progress:
        progress(2, 3, f"{len(prompts)} prompts, {np.mean([len(p.rows) for p in prompts]):.1f} demonstrations each")
    return IclPlan(target=target, fmt=c.fmt, problems=c.problems, source=c.corpus.name, pool=pool, selector=c.selector,
                   prompts=prompts, k=k, budget_tokens=budget_tokens, seed=seed, model=model, device=device,
                   precision=c.precision, key=c.key, select_seconds=time.perf_counter() - t0)


def plan_icl(target: str, source: str | Any, *, k: int, selector: str, seed: int = 0,
             budget_tokens: int = DEFAULT_BUDGET, model: str = DEFAULT_MODEL, precision: str = "auto",
             problems: None | int | Sequence[str] = None, selector_params: Mapping | None = None,
             max_candidates: int = 256, window_tokens: int = 128, pool_seed: int | None = None, device: str = "auto",
             should_stop: Callable[[], bool] | None = None, progress: Progress | None = None) -> IclPlan:
    """Validate a condition point and choose every problem's demonstrations (no scoring; ``t2v``
    embeds windows, the others load no model weights). Arguments as :func:`run_icl`.

    Raises:
        as :func:`run_icl`.
    """
    c = _validate(target, source, k=k, selector=selector, selector_params=selector_params, seed=seed,
                  budget_tokens=budget_tokens, model=model, device=device, precision=precision, problems=problems,
                  max_candidates=max_candidates, window_tokens=window_tokens, pool_seed=pool_seed)
    return _plan(c, target, k=k, budget_tokens=budget_tokens, seed=seed, model=model, device=device,
                 requested_precision=precision, should_stop=should_stop, progress=progress)


# -- scoring ----------------------------------------------------------------------------------------
@dataclass
class ScoredPrompts:
    """What :func:`score_prompts` returns.

    Attributes:
        scores: :class:`core.outcomes.nll.CompletionScores` (``nll`` float64 ``[n]``, ``tokens`` int64 ``[n]``).
        tokens_processed: tokens run through the model (a shared prefix once per group).
        prefix_groups: groups of >= 2 problems that shared one prefix cache.  seconds: wall time.
    """

    scores: CompletionScores
    tokens_processed: int
    prefix_groups: int
    seconds: float


def score_prompts(model: torch.nn.Module, prompts: Sequence[IclPrompt], *, batch_size: int = 8, pad_id: int = 0,
                  precision: str = "fp32", share_prefix: bool = True, should_stop: Callable[[], bool] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> ScoredPrompts:
    """Summed NLL of each prompt's completion tokens given its prefix and context (forward passes only).

    Prompts with the same non-empty prefix (``share_prefix``, at least two of them) are scored by one
    :func:`~core.outcomes.nll.completion_nll` call with that ``prefix`` (its key-value cache computed
    once, batch 1, and expanded over each batch); the others are batched with the prefix in the
    context. Either way token ``j`` of completion ``i`` is predicted from ``prefix_i + context_i +
    completion_i[:j]``, so the NLLs agree (to 1e-5 in fp32).

    Args:
        model: a HF causal LM.  prompts: ``[n]``.  batch_size: items per forward pass.  pad_id: padding id.
        precision: resolved precision (``fp32`` | ``bf16``).  share_prefix: use the shared-prefix path.
        should_stop: polled between batches (``InterruptedError``).  progress: ``progress(done, total)`` over batches.

    Returns:
        :class:`ScoredPrompts` (scores in the order of ``prompts``).

    Raises:
        AlignScopeError: no prompt, bad batch size or precision.  InterruptedError: stopped.
    """
    from core.outcomes.nll import CompletionScores, completion_nll

    if not prompts:
        raise AlignScopeError("No prompt to score.", fix="pass at least one prompt.")
    t0 = time.perf_counter()
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(p.prefix, []).append(i)
    shared = [(pre, idx) for pre, idx in groups.items() if share_prefix and pre and len(idx) >= 2]
    in_shared = {i for _, idx in shared for i in idx}
    alone = [i for i in range(len(prompts)) if i not in in_shared]
    calls = [(pre, idx) for pre, idx in shared] + ([((), alone)] if alone else [])
    total = sum(-(-len(idx) // batch_size) for _, idx in calls)
    nll = np.zeros(len(prompts), dtype=np.float64)
    tokens = np.zeros(len(prompts), dtype=np.int64)
    processed, done = 0, [0]
    for pre, idx in calls:
        if pre:
            items = [(prompts[i].context, prompts[i].completion) for i in idx]
            processed += len(pre)
        else:
            items = [(prompts[i].prefix + prompts[i].context, prompts[i].completion) for i in idx]
        processed += sum(len(c) + len(m) for c, m in items)
        base = done[0]

        def step(d: int, t: int, base: int = base) -> None:
            done[0] = base + d
            if progress:
                progress(done[0], total)

        s = completion_nll(model, items, prefix=pre, batch_size=batch_size, pad_id=pad_id, precision=precision,
                           should_stop=should_stop, progress=step)
        nll[idx] = s.nll
        tokens[idx] = s.tokens
    return ScoredPrompts(scores=CompletionScores(nll=nll, tokens=tokens), tokens_processed=int(processed),
                         prefix_groups=len(shared), seconds=time.perf_counter() - t0)


# -- the run ----------------------------------------------------------------------------------------
def run_icl(target: str, source: str | Any, *, k: int, selector: str, seed: int = 0,
            budget_tokens: int = DEFAULT_BUDGET, model: str = DEFAULT_MODEL, precision: str = "auto",
            problems: None | int | Sequence[str] = None, selector_params: Mapping | None = None,
            max_candidates: int = 256, window_tokens: int = 128, pool_seed: int | None = None, device: str = "auto",
            batch_size: int = 8,
            use_cache: bool = True, should_stop: Callable[[], bool] | None = None,
            progress: Progress | None = None) -> IclResult:
    """The in-context condition point (``target``, ``source``, ``selector``, ``k``, ``seed``) scored by
    ``af-nll`` per problem, with the zero-shot baseline (module docstring).

    Args:
        target: target benchmark (``proofnet``).  source: demonstration source (registry name or corpus object).
        k: most demonstrations per prompt (>= 1).  selector: ``random`` | ``t2v`` | ``sbert`` | ``bm25`` | ``unigram``.
        seed: the run's seed (the candidate sample unless ``pool_seed`` is given, ``random`` draws, score ties).
        budget_tokens: demonstration tokens per prompt, separators included (default 512, the same for every source).
        model: the probe network scored (and, for ``t2v``, embedding the windows).
        precision: ``auto`` (resolved on the device: :func:`core.precision.resolve_precision`) | ``fp32`` | ``bf16``.
        problems: ``None`` (all), an int (seeded subsample, ids recorded) or a list of problem ids.
        selector_params: the selector's parameters (its ``Config``).
        max_candidates: candidates per source.  window_tokens: tokens of a window demonstration with its separator.
        pool_seed: seed of the candidate sample (default None: ``seed``); fixing it keeps one candidate
            sample per source across seeds (the seeds then vary only the ``random`` draws and ties).
        device: ``auto`` | ``cpu`` | ``cuda``...  batch_size: items per forward pass.
        use_cache: read and write ``cache/icl/results``.
        should_stop: polled between batches; True raises ``InterruptedError``.
        progress: ``progress(done, total, message)``.

    Returns:
        :class:`IclResult` (per-problem NLL, tokens, demonstration ids; aggregate af-nll, perplexity, zero-shot, gain).

    Raises:
        CorpusError: unknown target or source, a source that is (or reproduces) the test split, a source
            without candidates.  RegistryError: unknown selector.  SelectorError: bad selector parameter,
            ``k`` < 1, a budget too small for one demonstration.  IclError: bad problems, a prompt longer
            than the model's positions.  ModelError: the model does not load.  AlignScopeError: bad precision.
        InterruptedError: stopped.
    """
    from core.paths import atomic_write, cache_dir

    t0 = time.perf_counter()
    c = _validate(target, source, k=k, selector=selector, selector_params=selector_params, seed=seed,
                  budget_tokens=budget_tokens, model=model, device=device, precision=precision, problems=problems,
                  max_candidates=max_candidates, window_tokens=window_tokens, pool_seed=pool_seed)
    path = cache_dir("icl", "results") / f"{c.key}.json"
    if use_cache:
        hit = _read(path)
        if hit is not None:
            hit.cached = True
            return hit
    plan = _plan(c, target, k=k, budget_tokens=budget_tokens, seed=seed, model=model, device=device,
                 requested_precision=precision, should_stop=should_stop, progress=progress)
    tok = c.probe.tokenizer

    def batches(what: str):
        return (lambda d, t: progress(d, t, f"{what}: batch {d}/{t}")) if progress else None

    scored = score_prompts(c.probe.model, plan.prompts, batch_size=batch_size, pad_id=tok.pad_token_id or 0,
                           precision=c.precision, should_stop=should_stop, progress=batches("scoring"))
    ids = [p.problem_id for p in plan.problems]
    zero, zero_cached = _zero_shot(c, target, ids, scored.scores.tokens, batch_size=batch_size,
                                   should_stop=should_stop, progress=batches("zero-shot"))
    res = IclResult(target=target, source=plan.source, selector=c.selector.name,
                    selector_config=c.selector.fingerprint()["config"], k=k, budget_tokens=budget_tokens, seed=seed,
                    model=model, precision=c.precision, pair_format=c.fmt.name, problem_ids=ids,
                    nll=scored.scores.nll, tokens=scored.scores.tokens, zero_shot_nll=zero,
                    demo_ids=[list(p.demo_ids) for p in plan.prompts],
                    demo_tokens=np.array([p.demo_tokens for p in plan.prompts], dtype=np.int64),
                    fitted=np.array([len(p.rows) for p in plan.prompts], dtype=np.int64), pool=plan.pool.describe(),
                    seconds=time.perf_counter() - t0, select_seconds=plan.select_seconds, score_seconds=scored.seconds,
                    tokens_processed=scored.tokens_processed, prefix_groups=scored.prefix_groups, fingerprint=c.key,
                    extra={"zero_shot_cached": zero_cached, "subsample": c.subsample,
                           "problem_seed": PROBLEM_SEED if c.subsample and isinstance(problems, (int, np.integer))
                           else None})
    if use_cache:
        atomic_write(path, json.dumps(res.to_dict()))
    return res


def _zero_shot(c: _Checked, target: str, ids: list[str], tokens: np.ndarray, *, batch_size: int,
               should_stop: Callable[[], bool] | None, progress) -> tuple[np.ndarray, bool]:
    """The zero-shot ``af-nll`` per problem of ``ids`` (float64 nats ``[P]``, the base model's cached
    outcome) and whether it came from the cache.

    Raises:
        IclError: it scored other completion tokens than the in-context run (``tokens``, int64 ``[P]``).
    """
    from core.outcomes.measure import base_outcomes

    base = base_outcomes(c.probe, target, ("af-nll",), precision=c.precision, batch_size=batch_size,
                         should_stop=should_stop, progress=progress,
                         problem_ids=ids if c.subsample else None)["af-nll"]
    pos = {p: i for i, p in enumerate(base.problem_ids)}
    zero = np.array([base.arrays["nll"][pos[p]] for p in ids], dtype=np.float64)
    zero_tokens = np.array([base.arrays["tokens"][pos[p]] for p in ids], dtype=np.int64)
    if not np.array_equal(zero_tokens, tokens):
        raise IclError("The zero-shot baseline scored other completion tokens than the in-context run.",
                       fix="clear cache/outcomes and rerun (the tokenizer or the problems changed).")
    return zero, bool(base.extra.get("cached"))


def _read(path) -> IclResult | None:
    """The cached result at ``path``, or None (missing; an unreadable file is logged and removed)."""
    if not path.is_file():
        return None
    try:
        return IclResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError) as exc:
        log.warning("dropping unreadable in-context result %s: %s", path, exc)
        path.unlink(missing_ok=True)
        return None
