"""The validation lab's plan and cost model: what a lab runs and how long it takes.

A lab is a :class:`LabPlan`: a target benchmark, candidate sources, fine-tune regimes (:class:`Regime`:
token budget, epochs, seeds), dose-response pairs and the alignment metrics to compare.
:func:`validate_plan` checks it before any work; :func:`plan_runs` expands it into one
:class:`PlannedRun` per (regime, point, seed) with its fine-tune configuration and run id;
:func:`cost_model` / :func:`estimate_seconds` give the expected time from the finished runs of the
results store (else :data:`FALLBACK_COST`). :mod:`core.validation.lab` performs the runs.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

from core.errors import AlignScopeError
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    from core.settings import EmbedSettings

#: Sources of the committed 9-source experiment (formal maths, informal maths, code, prose), plus
#: champ (informal maths, 73k tokens), which stands in for proofnet-informal (8.6k tokens) in the
#: longer regime, and six further demo corpora for statistical power (formal maths, code, technical
#: and general prose). ``python-docstrings`` (stdlib docstring -> code pairs) took the place of
#: ``humaneval`` when HumanEval became a target benchmark (its test split never trains); the
#: committed results keep their humaneval runs, made before that.
COMMITTED_SOURCES = ("proofnet-valid", "proofnet-informal", "coq-stdlib", "metamath", "hol-light", "python-docstrings",
                     "python-stdlib", "wikipedia", "news")

FURTHER_SOURCES = ("agda-stdlib", "sympy", "python-docs", "linux-doc", "foldoc", "gcide")

DEFAULT_SOURCES = COMMITTED_SOURCES + ("champ",) + FURTHER_SOURCES

#: (aligned, unaligned) pairs of the dose-response experiment.
DEFAULT_DOSE_PAIRS = (("proofnet-valid", "wikipedia"), ("coq-stdlib", "news"))

#: Interior token shares of the aligned source (0 and 1 are the pure-source runs).
DEFAULT_DOSE_FRACTIONS = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Regime:
    """One fine-tune regime: identical optimisation settings for every point.

    Attributes:
        name: label in tables (``4k``, ``long``).
        budget_tokens: training tokens per run (unique; each epoch sees them once).
        epochs, learning_rate, batch_size, seq_len: optimisation (AdamW, linear decay).
        seeds: one run per seed and point.
        sources: the sources this regime allows (None: every source of the plan); a longer budget
            may leave out a source too small for it.
    """

    name: str
    budget_tokens: int
    epochs: float = 2.0
    learning_rate: float = 1e-4
    batch_size: int = 8
    seq_len: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)
    sources: tuple[str, ...] | None = None

    def steps(self) -> int:
        """Optimiser steps of one run (sequences of ``seq_len`` tokens, ``batch_size`` per step)."""
        return max(1, math.ceil(math.ceil(self.budget_tokens / self.seq_len) / self.batch_size * self.epochs))

#: The paper's controlled budget, 3 seeds (the default regime).
REGIME_4K = Regime("4k", 4000, sources=tuple(s for s in DEFAULT_SOURCES if s != "champ"))

#: The longer regime: 4x the tokens (32 optimiser steps instead of 8), three seeds. Chosen so that the
#: spread between sources is well beyond seed noise; see docs/results/validation.json and docs/validation.md.
REGIME_LONG = Regime("long", 16000, seeds=(0, 1, 2), sources=tuple(s for s in DEFAULT_SOURCES if s != "proofnet-informal"))


@dataclass(frozen=True)
class LabPlan:
    """What the lab measures (see the module docstring).

    Attributes:
        target: target benchmark (its held-out split is evaluated).
        sources: candidate training sources (observational points).
        regimes: fine-tune regimes; the first is the one dose-response runs use.
        dose_pairs: ``(aligned, unaligned)`` source pairs.
        dose_fractions: interior token shares of the aligned source.
        dose_seeds: seeds per dose point.
        metrics: alignment metric names (``core.metrics``); empty -> every registered metric.
        model: the causal LM that is fine-tuned (and the probe network of the metrics).
        precision: ``auto`` | ``fp32`` | ``bf16`` for training and evaluation.
        outcomes: target outcomes (:mod:`core.outcomes`, e.g. ``("af-nll",)``) every run measures
            before and after, beside held-out perplexity (the lab's ``text-ppl`` outcome); each run
            row then carries ``outcomes`` (:func:`core.finetune.runner.outcome_record`).
    """

    target: str = "proofnet"
    sources: tuple[str, ...] = DEFAULT_SOURCES
    regimes: tuple[Regime, ...] = (REGIME_4K, REGIME_LONG)
    dose_pairs: tuple[tuple[str, str], ...] = DEFAULT_DOSE_PAIRS
    dose_fractions: tuple[float, ...] = DEFAULT_DOSE_FRACTIONS
    dose_seeds: tuple[int, ...] = (0, 1, 2)
    metrics: tuple[str, ...] = ()
    model: str = DEFAULT_MODEL
    precision: str = "auto"
    outcomes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.outcomes:            # plans made before outcomes existed keep their dicts
            d.pop("outcomes")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LabPlan":
        d = dict(d)
        d["regimes"] = tuple(Regime(**{**r, "seeds": tuple(r["seeds"]),
                                       "sources": None if r.get("sources") is None else tuple(r["sources"])})
                         for r in d.get("regimes", ()))
        for k in ("sources", "dose_fractions", "dose_seeds", "metrics", "outcomes"):
            if k in d:
                d[k] = tuple(d[k])
        if "dose_pairs" in d:
            d["dose_pairs"] = tuple(tuple(p) for p in d["dose_pairs"])
        return cls(**d)


@dataclass
class PlannedRun:
    """One fine-tune of the lab.

    Attributes:
        regime: regime name (``dose`` for dose-response points).
        point: the point's name: a source, or ``"A+B@f"`` for a dose point.
        seed: the run's seed.  config: its :class:`core.finetune.config.FinetuneConfig`.
        pair, fraction: dose points only.  mixture: the dose point's mixture (saved before the run).
        run_id: the results database row id.
    """

    regime: str
    point: str
    seed: int
    config: object
    run_id: str
    pair: tuple[str, str] | None = None
    fraction: float | None = None
    mixture: object | None = None
    tokens_seen: int = 0


def dose_point(a: str, b: str, fraction: float) -> str:
    """Name of a dose-response point: ``"A+B@0.25"`` (``fraction`` = token share of A)."""
    return f"{a}+{b}@{fraction:g}"


def mixture_name(a: str, b: str, fraction: float, seed: int) -> str:
    """File-safe name of a dose point's saved mixture."""
    return f"lab-{a}-{b}-{fraction:.4f}-s{seed}"[:100]


def regime_sources(plan: "LabPlan", regime: Regime) -> tuple[str, ...]:
    """The sources fine-tuned in ``regime``: the plan's sources that the regime allows (all of them
    when ``regime.sources`` is None), in the plan's order."""
    if regime.sources is None:
        return plan.sources
    return tuple(s for s in plan.sources if s in regime.sources)


def _config(plan: LabPlan, regime: Regime, seed: int, *, source: str | None = None, mixture: str | None = None):
    from core.finetune.config import FinetuneConfig

    kw = dict(source=source, mixture=mixture, target=plan.target, model=plan.model,
              budget_tokens=regime.budget_tokens, epochs=regime.epochs, learning_rate=regime.learning_rate,
              batch_size=regime.batch_size, seq_len=regime.seq_len, seed=seed, save_adapter=False)
    if "precision" in FinetuneConfig.__dataclass_fields__:
        kw["precision"] = plan.precision
    if plan.outcomes:
        kw["outcomes"] = tuple(plan.outcomes)
    return FinetuneConfig(**kw)


def validate_plan(plan: LabPlan, *, token_counts: Callable[[str], int] | None = None) -> None:
    """Check a plan before any work (fast; corpora sizes are counted once and cached).

    Raises:
        AlignScopeError: no regime or seed; an outcome the target cannot give (e.g. ``af-nll`` of a
            target without a pair format); fewer than 3 sources (no fit possible); a duplicate or
            unknown source; a source on the target's test split; a dose fraction outside (0, 1); a
            source smaller than a regime's budget (the message gives the largest feasible budget).
    """
    from core.finetune.data import check_training_sources

    if not plan.regimes:
        raise AlignScopeError("The lab plan has no fine-tune regime.", fix="give at least one regime (--regimes 4k).")
    for r in plan.regimes:
        if not r.seeds:
            raise AlignScopeError(f"Regime {r.name!r} has no seed.", fix="give at least one seed (--seeds 0,1,2).")
        if r.budget_tokens < r.seq_len:
            raise AlignScopeError(f"Regime {r.name!r} budget {r.budget_tokens} is below one sequence ({r.seq_len} tokens).",
                                  fix="use a budget of at least one sequence, e.g. 4000.")
    if len(set(plan.sources)) != len(plan.sources):
        dup = sorted({s for s in plan.sources if plan.sources.count(s) > 1})
        raise AlignScopeError(f"Sources listed twice: {', '.join(dup)}.", fix="list each source once (--sources).")
    if plan.outcomes:
        from core.outcomes.base import get_outcome

        for name in plan.outcomes:
            get_outcome(name).check(plan.target)
    if len(plan.sources) < 3:
        raise AlignScopeError(f"The lab needs at least 3 sources to fit a metric against perplexity; got {len(plan.sources)}.",
                              fix="pass 3 or more sources with --sources.")
    for r in plan.regimes:
        if len(regime_sources(plan, r)) < 3:
            raise AlignScopeError(f"Regime {r.name!r} has {len(regime_sources(plan, r))} sources; a fit needs at least 3.",
                                  fix="pass 3 or more sources with --sources.")
    for a, b in plan.dose_pairs:
        if a == b:
            raise AlignScopeError(f"Dose pair {a}+{b} mixes a source with itself.", fix="give two different sources (--dose-pairs A+B).")
    for f in plan.dose_fractions:
        if not (0.0 < f < 1.0):
            raise AlignScopeError(f"Dose fraction {f!r} is not strictly between 0 and 1 (0 and 1 are the pure-source runs).",
                                  fix="use e.g. --dose-fractions 0.125,0.25,0.5,0.75.")
    every = sorted({s for r in plan.regimes for s in regime_sources(plan, r)} | {s for p in plan.dose_pairs for s in p})
    check_training_sources(every, plan.target)
    count = token_counts or _token_count
    dose_budget = plan.regimes[0].budget_tokens
    for s in every:
        have = count(s)
        need = max([r.budget_tokens for r in plan.regimes if s in regime_sources(plan, r)] or [0])
        for a, b in plan.dose_pairs:
            if s == a:
                need = max(need, math.ceil(max(plan.dose_fractions, default=0) * dose_budget))
            if s == b:
                need = max(need, math.ceil((1 - min(plan.dose_fractions, default=1)) * dose_budget))
        if have < need:
            raise AlignScopeError(f"Source {s!r} has {have:,} tokens, fewer than the {need:,} the lab needs from it.",
                                  fix=f"use a budget of at most {have:,} tokens for it, or drop it from --sources/--dose-pairs.")


def _token_count(name: str) -> int:
    from core.pipeline import corpus_stats

    return int(corpus_stats(name)["tokens"])


def plan_runs(plan: LabPlan, settings: EmbedSettings | None = None) -> list[PlannedRun]:
    """Every fine-tune of the plan, in execution order, so that an interrupted lab has the most useful
    subset: the first regime (seed by seed over all sources), the dose points of the first dose seed,
    the other regimes, then the other dose seeds.
    """
    from core.finetune.identity import run_id_for
    from core.mixture import Mixture
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings(model=plan.model)
    runs: list[PlannedRun] = []
    first, *others = plan.regimes

    def add_source(regime: Regime, source: str, seed: int) -> None:
        cfg = _config(plan, regime, seed, source=source)
        runs.append(PlannedRun(regime.name, source, seed, cfg, run_id_for(cfg, settings),
                               tokens_seen=int(regime.budget_tokens * regime.epochs)))

    def add_dose(seed: int) -> None:
        for a, b in plan.dose_pairs:
            for f in plan.dose_fractions:
                mix = Mixture(name=mixture_name(a, b, f, seed), weights={a: f, b: 1.0 - f},
                              budget_tokens=first.budget_tokens, seed=seed, target=plan.target)
                cfg = _config(plan, first, seed, mixture=mix.name)
                runs.append(PlannedRun("dose", dose_point(a, b, f), seed, cfg, run_id_for(cfg, settings, mixture=mix),
                                       pair=(a, b), fraction=f, mixture=mix,
                                       tokens_seen=int(first.budget_tokens * first.epochs)))

    for seed in first.seeds:
        for s in regime_sources(plan, first):
            add_source(first, s, seed)
    for seed in plan.dose_seeds[:1]:
        add_dose(seed)
    for regime in others:
        for seed in regime.seeds:
            for s in regime_sources(plan, regime):
                add_source(regime, s, seed)
    for seed in plan.dose_seeds[1:]:
        add_dose(seed)
    return runs

#: Fallback cost model when no run has been timed on this machine yet (seconds = a + b * tokens seen):
#: SmolLM2-135M fp32 on 2 CPU cores, from the runs timed on this project's machine (4,000 tokens x 2
#: epochs: 130-360 s under load; evaluation ~60 s and training ~8 s per 1,000 tokens seen, CPU time).
FALLBACK_COST = (60.0, 0.012)


def cost_model(model: str) -> tuple[float, float, int]:
    """``(a, b, n)``: seconds per run ~ ``a + b * tokens_seen``, least squares over the ``n`` finished
    runs of ``model`` in the results database (scipy.stats.linregress); the fallback when n < 3 or
    the fit is degenerate."""
    from scipy import stats

    from core.finetune import results

    rows = [r for r in results.list_runs(status="done") if r.get("model") == model and r.get("wall_seconds")]
    xs = [float(r.get("tokens_seen") or 0) for r in rows]
    ys = [float(r["wall_seconds"]) for r in rows]
    if len(rows) >= 3 and len(set(xs)) >= 2:
        fit = stats.linregress(xs, ys)
        if fit.slope > 0 and fit.intercept > -30:
            return max(fit.intercept, 5.0), float(fit.slope), len(rows)
    if rows:
        b = FALLBACK_COST[1]
        a = max(5.0, sum(y - b * x for x, y in zip(xs, ys)) / len(rows))
        return a, b, len(rows)
    return FALLBACK_COST[0], FALLBACK_COST[1], 0


def estimate_seconds(runs: list[PlannedRun], model: str) -> float:
    """Expected wall time (s) of ``runs`` from :func:`cost_model`."""
    a, b, _ = cost_model(model)
    return sum(a + b * r.tokens_seen for r in runs)
