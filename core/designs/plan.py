"""The two designs as plans: what is fine-tuned (and shown in context), in which order, and how long it takes.

- :class:`KindsDesign`: one pair-format source -> its four variants (:mod:`core.designs.kinds`), each
  fine-tuned at one budget (:class:`core.validation.plan.Regime`) per seed, and each a demonstration
  source of the in-context condition (:class:`IclSettings`, :func:`core.icl.run.run_icl`) per seed.
- :class:`BudgetDesign`: sources x budgets x seeds, a budget never beyond the source's size (such
  cells are listed as ``skipped``).

:func:`plan_design` validates a design (fast; the kinds variants are derived and registered, which
the run ids need) and returns a :class:`DesignPlan`: the fine-tunes as
:class:`core.validation.plan.PlannedRun` (run ids = the results database rows, so a finished run is
never redone), the in-context points, the corpora whose alignment is measured, and
:func:`expected_seconds` (fine-tunes by the lab's cost model, :func:`core.validation.plan.estimate_seconds`,
learned from this machine's finished runs; outcomes, in-context points and metrics by the constants below).

Execution order (an interrupted design keeps the most useful subset): seed by seed; within a seed,
kinds: every variant's fine-tune, then its in-context points; budgets: every budget, smallest first,
over every source.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from core.errors import AlignScopeError, opt
from core.probe import DEFAULT_MODEL
from core.validation.plan import PlannedRun, Regime

if TYPE_CHECKING:
    from core.designs.kinds import DerivedKinds, KindsConfig
    from core.settings import EmbedSettings

DESIGNS = ("kinds", "budget")
#: Alignment metrics measured by default: the Task2Vec default and the lab's other metrics of
#: probe-forward or no model cost (``t2v-blocks``/``t2v-reference`` need backward passes, ``sbert`` a
#: second model; ``--metrics all`` adds them).
DEFAULT_METRICS = ("t2v-head", "t2v-head-cos", "gzip", "unigram-cos", "unigram-js", "dsir", "familiarity")
DEFAULT_OUTCOMES = ("text-ppl", "af-nll")
DEFAULT_BUDGETS = (1000, 2000, 4000, 8000, 16000)
#: Sources spanning the committed lab's t2v-head alignment with ProofNet (docs/results/validation.json:
#: proofnet-valid 0.93, metamath 0.72, wikipedia 0.38).
DEFAULT_BUDGET_SOURCES = ("proofnet-valid", "metamath", "wikipedia")
#: Seconds per outcome per fine-tune measured after training (CPU; 186 ProofNet test problems,
#: SmolLM2-135M: one forward pass over ~25k tokens, like the held-out perplexity's ~60 s).
OUTCOME_S = 60.0
#: Seconds of an in-context point when no cached one was timed here (docs/results/validation_icl_cpu.json:
#: median 38 s in bf16 on these 2 cores; fp32 about twice).
ICL_FALLBACK_S = 80.0
#: Seconds per (metric, corpus) by the metric's cost class, when not cached (measured order of magnitude).
METRIC_S = {"model-free": 10.0, "probe forward": 60.0, "probe forward+backward": 600.0, "small model": 60.0}


@dataclass(frozen=True)
class IclSettings:
    """The in-context condition of the kinds design (:func:`core.icl.run.run_icl`).

    Attributes:
        k: demonstrations per prompt.  selector: ``random`` | ``bm25`` | ``t2v`` | ``sbert`` | ``unigram``.
        budget_tokens: demonstration tokens per prompt.  problems: None (all), a seeded subsample size,
            or problem ids (:func:`core.icl.run.choose_problems`).
        batch_size: prompts per forward pass.
    """

    k: int = 4
    selector: str = "random"
    budget_tokens: int = 512
    problems: int | tuple[str, ...] | None = None
    batch_size: int = 8


@dataclass(frozen=True)
class KindsDesign:
    """Data kinds from one pair-format corpus (module docstring; :mod:`core.designs.kinds`).

    Attributes:
        source: the pair-format corpus.  target: the target benchmark (its test split is evaluated).
        regime: budget, optimisation and seeds of every fine-tune (the seeds also seed the in-context points).
        kinds: which of :data:`core.designs.kinds.KINDS`.  perm_seed, max_pairs, splitter, informal_field:
            the derivation (:class:`core.designs.kinds.KindsConfig`).
        finetune: run the fine-tunes.  icl: the in-context condition, or None.
        outcomes: measured after every fine-tune (``text-ppl``, ``af-nll``), per problem.
        metrics: alignment metrics of every variant with the target.  model, precision: of every run.
    """

    source: str
    target: str = "proofnet"
    regime: Regime = Regime("kinds", 4000, seeds=(0, 1, 2))
    kinds: tuple[str, ...] = ("paired", "unpaired", "formal-only", "informal-only")
    perm_seed: int = 0
    max_pairs: int | None = None
    splitter: str = "auto"
    informal_field: str | None = None
    finetune: bool = True
    icl: IclSettings | None = IclSettings()
    outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    metrics: tuple[str, ...] = DEFAULT_METRICS
    model: str = DEFAULT_MODEL
    precision: str = "auto"

    name = "kinds"

    def kinds_config(self) -> KindsConfig:
        from core.designs.kinds import KindsConfig

        return KindsConfig(source=self.source, target=self.target, perm_seed=self.perm_seed, max_pairs=self.max_pairs,
                           splitter=self.splitter, informal_field=self.informal_field, model=self.model)

    def to_dict(self) -> dict:
        return {"design": "kinds", **asdict(self)}


@dataclass(frozen=True)
class BudgetDesign:
    """Size vs alignment: sources x budgets x seeds (module docstring; :mod:`core.designs.budget_curves`).

    Attributes:
        sources: the training sources (at least 2; 3 or more spanning the alignment range).
        target: the target benchmark.  budgets: training tokens, each run's unique tokens.
        regime: optimisation and seeds (its ``budget_tokens`` is replaced by each budget).
        reference, reference_tokens: the report's question "how many tokens of B match
            ``reference_tokens`` of ``reference``?" (None: the source most aligned by ``t2v-head``).
        outcomes, metrics, model, precision: as :class:`KindsDesign`.
    """

    sources: tuple[str, ...] = DEFAULT_BUDGET_SOURCES
    target: str = "proofnet"
    budgets: tuple[int, ...] = DEFAULT_BUDGETS
    regime: Regime = Regime("budget", 4000, seeds=(0, 1, 2))
    reference: str | None = None
    reference_tokens: int = 4000
    outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    metrics: tuple[str, ...] = DEFAULT_METRICS
    model: str = DEFAULT_MODEL
    precision: str = "auto"

    name = "budget"

    def to_dict(self) -> dict:
        return {"design": "budget", **asdict(self)}


def design_from_dict(d: dict) -> KindsDesign | BudgetDesign:
    """The design of a results file's ``plan`` (the inverse of ``to_dict``).

    Raises:
        AlignScopeError: not a design dict.
    """
    d = dict(d)
    kind = d.pop("design", None)
    try:
        r = dict(d.pop("regime"))
        r["seeds"] = tuple(r["seeds"])
        r["sources"] = None if r.get("sources") is None else tuple(r["sources"])
        regime = Regime(**r)
        for k in ("kinds", "outcomes", "metrics", "sources", "budgets"):
            if k in d:
                d[k] = tuple(d[k])
        if kind == "kinds":
            icl = d.pop("icl", None)
            if icl is not None and isinstance(icl.get("problems"), list):
                icl = {**icl, "problems": tuple(icl["problems"])}
            return KindsDesign(regime=regime, icl=None if icl is None else IclSettings(**icl), **d)
        if kind == "budget":
            return BudgetDesign(regime=regime, **d)
    except (KeyError, TypeError) as exc:
        raise AlignScopeError(f"Not a design plan: {exc}.", fix="read a results file written by python -m core design run.") from None
    raise AlignScopeError(f"Unknown design {kind!r}.", fix=f"use one of {', '.join(DESIGNS)}.")


@dataclass
class IclPoint:
    """One in-context point: ``point`` (a kind), its demonstration source ``corpus`` and ``seed``."""

    point: str
    corpus: str
    seed: int


@dataclass
class DesignPlan:
    """A validated design's work.

    Attributes:
        design: the design.  finetunes: :class:`core.validation.plan.PlannedRun` in execution order
            (``regime`` = the kind or the budget's label, ``point`` = the kind or the source).
        icl: in-context points.  order: ``("ft"|"icl", index)`` the interleaved execution order.
        points: point -> the corpus its metrics are measured on.
        derived: the kinds derivation (kinds only).  sizes: source -> tokens (budget only).
        skipped: ``{"source", "budget", "tokens"}`` cells beyond a source's size (budget only).
    """

    design: KindsDesign | BudgetDesign
    finetunes: list[PlannedRun]
    icl: list[IclPoint]
    order: list[tuple[str, int]]
    points: dict[str, str]
    derived: DerivedKinds | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)


def _config(design, budget: int, seed: int, source: str):
    """The :class:`core.finetune.config.FinetuneConfig` of one run (the lab's settings: no adapter kept)."""
    from core.finetune.config import FinetuneConfig

    r = design.regime
    return FinetuneConfig(source=source, target=design.target, model=design.model, budget_tokens=int(budget),
                          epochs=r.epochs, learning_rate=r.learning_rate, batch_size=r.batch_size, seq_len=r.seq_len,
                          seed=seed, save_adapter=False, precision=design.precision, outcomes=tuple(design.outcomes))


def _check_common(design) -> None:
    """Checks both designs share: seeds, outcomes, metrics, precision."""
    from core.metrics import METRICS
    from core.outcomes.base import get_outcome
    from core.precision import check_precision

    r = design.regime
    if not r.seeds:
        raise AlignScopeError("The design has no seed.", fix=f"give at least one seed ({opt('seeds', '0,1,2')}).")
    if len(set(r.seeds)) != len(r.seeds) or any(s < 0 for s in r.seeds):
        raise AlignScopeError(f"Seeds {list(r.seeds)} repeat or are negative.", fix=f"give distinct seeds >= 0 ({opt('seeds', '0,1,2')}).")
    check_precision(design.precision)
    for name in design.outcomes:
        get_outcome(name).check(design.target)
    for m in design.metrics:
        METRICS.canonical(m)


def plan_design(design: KindsDesign | BudgetDesign, settings: EmbedSettings | None = None, *,
                token_counts: Callable[[str], int] | None = None) -> DesignPlan:
    """Validate ``design`` and expand it into its runs (module docstring).

    Args:
        settings: Task2Vec settings of the runner's alignment column (default ``EmbedSettings(model=design.model)``).
        token_counts: source -> tokens (budget design; default :func:`core.pipeline.corpus_stats`, cached).

    Raises:
        AlignScopeError (CorpusError): see :func:`validate_kinds` and :func:`validate_budget`.
    """
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings(model=design.model)
    if isinstance(design, KindsDesign):
        return _plan_kinds(design, settings)
    if isinstance(design, BudgetDesign):
        return _plan_budget(design, settings, token_counts or _token_count)
    raise AlignScopeError(f"Unknown design {type(design).__name__}.", fix=f"use one of {', '.join(DESIGNS)}.")


def validate_kinds(design: KindsDesign) -> None:
    """Fast checks of a kinds design before anything is derived.

    Raises:
        AlignScopeError: no seed, an unknown or repeated kind, nothing to run, a budget below one
            sequence, an outcome the target cannot give, the in-context condition on a target without
            a pair format, bad in-context settings, an unknown metric or precision.
    """
    from core.designs.kinds import KINDS

    _check_common(design)
    if not design.kinds or len(set(design.kinds)) != len(design.kinds) or set(design.kinds) - set(KINDS):
        raise AlignScopeError(f"Kinds {list(design.kinds)} are empty, repeated or unknown.",
                              fix=f"choose among {', '.join(KINDS)} ({opt('kinds', ','.join(KINDS))}).")
    if not design.finetune and design.icl is None:
        raise AlignScopeError("The kinds design has neither fine-tunes nor the in-context condition.",
                              fix=f"drop {opt('no_finetune')} or {opt('no_icl')}.")
    if design.regime.budget_tokens < design.regime.seq_len:
        raise AlignScopeError(f"Budget {design.regime.budget_tokens} is below one sequence ({design.regime.seq_len} tokens).",
                              fix=f"give {opt('budget_tokens', 4000)}.")
    if design.icl is not None:
        from core.outcomes.problems import pair_format

        pair_format(design.target)
        i = design.icl
        if i.k < 1 or i.budget_tokens < 1 or i.batch_size < 1 or (isinstance(i.problems, int) and i.problems < 1) \
                or (isinstance(i.problems, tuple) and not i.problems):
            raise AlignScopeError(f"In-context settings {asdict(i)} must be positive.",
                                  fix=f"give e.g. {opt('icl_k', 4)} and {opt('icl_budget', 512)}.")


def _plan_kinds(design: KindsDesign, settings) -> DesignPlan:
    from core.designs.kinds import derive_kinds
    from core.finetune.data import check_training_sources
    from core.finetune.identity import run_id_for

    validate_kinds(design)
    derived = derive_kinds(design.kinds_config())
    names = [derived.corpora[k] for k in design.kinds]
    if design.finetune:
        smallest = min(design.kinds, key=lambda k: derived.tokens[k])
        if derived.tokens[smallest] < design.regime.budget_tokens:
            raise AlignScopeError(f"Variant {smallest!r} of {design.source!r} has {derived.tokens[smallest]:,} tokens, fewer "
                                  f"than the budget of {design.regime.budget_tokens:,} (equal budgets: every variant "
                                  "must hold it).",
                                  fix=f"give {opt('budget_tokens', derived.tokens[smallest] // 1000 * 1000 or derived.tokens[smallest])} "
                                      f"or less, or drop {smallest} from {opt('kinds')}.")
        check_training_sources(names, design.target)          # the contamination guard sees every variant
    ft: list[PlannedRun] = []
    icl: list[IclPoint] = []
    order: list[tuple[str, int]] = []
    r = design.regime
    for seed in r.seeds:
        if design.finetune:
            for kind in design.kinds:
                cfg = _config(design, r.budget_tokens, seed, derived.corpora[kind])
                order.append(("ft", len(ft)))
                ft.append(PlannedRun(kind, kind, seed, cfg, run_id_for(cfg, settings),
                                     tokens_seen=int(r.budget_tokens * r.epochs)))
        if design.icl is not None:
            for kind in design.kinds:
                order.append(("icl", len(icl)))
                icl.append(IclPoint(kind, derived.corpora[kind], seed))
    return DesignPlan(design=design, finetunes=ft, icl=icl, order=order,
                      points={k: derived.corpora[k] for k in design.kinds}, derived=derived)


def validate_budget(design: BudgetDesign, sizes: dict[str, int]) -> None:
    """Checks of a budget design (``sizes``: source -> tokens).

    Raises:
        AlignScopeError: fewer than 2 sources, a repeated source, no or a non-positive or repeated
            budget, a budget below one sequence, a source too small for the smallest budget (naming
            its size), a reference that is not a source, a non-positive reference budget.
    """
    _check_common(design)
    if len(design.sources) < 2 or len(set(design.sources)) != len(design.sources):
        raise AlignScopeError(f"Sources {list(design.sources)}: budget curves need at least 2 distinct sources "
                              "(3 or more spanning the alignment range).",
                              fix=f"give e.g. {opt('sources', ','.join(DEFAULT_BUDGET_SOURCES))}.")
    b = list(design.budgets)
    if not b or len(set(b)) != len(b) or any((not isinstance(x, int)) or x < design.regime.seq_len for x in b):
        raise AlignScopeError(f"Budgets {b} must be distinct integers of at least one sequence ({design.regime.seq_len} tokens).",
                              fix=f"give e.g. {opt('budgets', '1000,2000,4000,8000,16000')}.")
    if design.reference is not None and design.reference not in design.sources:
        raise AlignScopeError(f"Reference source {design.reference!r} is not one of the sources.",
                              fix=f"give one of {', '.join(design.sources)} as {opt('reference')}.")
    if not design.reference_tokens > 0:
        raise AlignScopeError(f"Reference tokens {design.reference_tokens} must be positive.", fix=f"give {opt('reference_tokens', 4000)}.")
    for s in design.sources:
        if sizes[s] < min(b):
            raise AlignScopeError(f"Source {s!r} has {sizes[s]:,} tokens, fewer than the smallest budget {min(b):,}.",
                                  fix=f"drop it from {opt('sources')}, or give budgets of at most {sizes[s]:,} tokens.")


def _token_count(name: str) -> int:
    from core.pipeline import corpus_stats

    return int(corpus_stats(name)["tokens"])


def _plan_budget(design: BudgetDesign, settings, count: Callable[[str], int]) -> DesignPlan:
    from core.finetune.data import check_training_sources
    from core.finetune.identity import run_id_for

    if len(set(design.sources)) == len(design.sources):
        check_training_sources(list(design.sources), design.target)    # before counting: the test split never trains
    sizes = {s: count(s) for s in design.sources}
    validate_budget(design, sizes)
    ft: list[PlannedRun] = []
    skipped = []
    r = design.regime
    for seed in r.seeds:
        for b in sorted(design.budgets):
            for s in design.sources:
                if b > sizes[s]:
                    if seed == r.seeds[0]:
                        skipped.append({"source": s, "budget": b, "tokens": sizes[s]})
                    continue
                cfg = _config(design, b, seed, s)
                ft.append(PlannedRun(budget_label(b), s, seed, cfg, run_id_for(cfg, settings), tokens_seen=int(b * r.epochs)))
    return DesignPlan(design=design, finetunes=ft, icl=[], order=[("ft", k) for k in range(len(ft))],
                      points={s: s for s in design.sources}, sizes=sizes, skipped=skipped)


def budget_label(tokens: int) -> str:
    """``"4k"`` for 4000, ``"1.5k"`` for 1500, ``"700"`` for 700."""
    return f"{tokens / 1000:g}k" if tokens >= 1000 else str(tokens)


# -- expected time ------------------------------------------------------------------------------------
def icl_seconds() -> float:
    """Seconds of one in-context point: the median ``seconds`` of the cached points under
    ``cache/icl/results`` (timed on this machine), else :data:`ICL_FALLBACK_S`."""
    import json
    import statistics

    from core.paths import cache_dir

    secs = []
    for p in list(cache_dir("icl", "results").glob("*.json"))[:200]:
        try:
            secs.append(float(json.loads(p.read_text())["seconds"]))
        except (ValueError, KeyError, OSError, TypeError):
            continue
    return statistics.median(secs) if secs else ICL_FALLBACK_S


def expected_seconds(plan: DesignPlan, *, todo_finetunes: list[PlannedRun] | None = None,
                     todo_icl: list[IclPoint] | None = None, metrics: bool = True) -> dict:
    """Expected wall time (s) of the work left: ``{"finetune", "outcomes", "icl", "metrics", "total"}``.

    Fine-tunes: :func:`core.validation.plan.estimate_seconds` (least squares of this machine's finished
    runs: seconds ~ a + b x tokens seen); outcomes: :data:`OUTCOME_S` per outcome per fine-tune; in-context
    points: :func:`icl_seconds`; metrics: :data:`METRIC_S` per (metric, corpus) (an upper bound: cached
    values take no time).
    """
    from core.metrics import METRICS
    from core.validation.plan import estimate_seconds

    d = plan.design
    fts = plan.finetunes if todo_finetunes is None else todo_finetunes
    icl = plan.icl if todo_icl is None else todo_icl
    out = {"finetune": estimate_seconds(fts, d.model) if fts else 0.0,
           "outcomes": OUTCOME_S * len(d.outcomes) * len(fts),
           "icl": icl_seconds() * len(icl) if icl else 0.0,
           "metrics": 0.0}
    if metrics:
        for m in d.metrics:
            cost = getattr(METRICS.get(m), "cost", "probe forward")
            out["metrics"] += METRIC_S.get(cost, 60.0) * len(plan.points)
    out["total"] = sum(out.values())
    return out


def with_seeds(design: KindsDesign | BudgetDesign, seeds: tuple[int, ...]) -> KindsDesign | BudgetDesign:
    """``design`` with other seeds (its regime's)."""
    return replace(design, regime=replace(design.regime, seeds=tuple(seeds)))


def fmt_seconds(s: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.4 h"``."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
