"""The validation lab: which alignment metric predicts fine-tuning outcomes?

A lab is a :class:`LabPlan`: a target benchmark, candidate sources, fine-tune regimes (token budget,
epochs, seeds), dose-response pairs and the alignment metrics to compare. :func:`plan_runs` expands
it into one fine-tune per (regime, point, seed); :func:`run_lab` performs the missing ones through the
product's own fine-tune launcher (:func:`core.finetune.runner.run_finetune`, rows in the results
database), then measures every metric on every point and writes the results file that
:mod:`core.validation.report` turns into the leaderboard.

Design (Chawla et al., "Quantifying the Importance of Data Alignment in Downstream Model
Performance", Sec. 4; replicated with seeds):

- Observational points: each source is fine-tuned with identical hyperparameters, once per seed. The
  seed changes which documents fill the budget (seeded document permutation and chunk rotation in
  :mod:`core.finetune.data`) and the training order (Trainer ``seed``/``data_seed``).
- Interventional dose-response: an aligned source A and an unaligned source B are mixed at a fixed
  total budget with token share ``f`` of A (a saved :class:`core.mixture.Mixture` per fraction and
  seed, so the seed also changes the mixture's documents). Fractions 0 and 1 are the pure-source runs
  of the same budget. Metrics are measured on the real mixed data (the materialised mixture of seed
  0), not on a prediction.
- Resumable: a finished run is a ``done`` row in the results database; rerunning skips it. A run
  killed mid-way (even ``kill -9``) is simply run again. One lab runs at a time per cache (a
  ``filelock`` that the OS releases if the process dies).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.errors import AlignScopeError
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    from core.settings import EmbedSettings

#: Sources of the committed 9-source experiment (formal maths, informal maths, code, prose), plus
#: champ (informal maths, 73k tokens), which stands in for proofnet-informal (8.6k tokens) in the
#: longer regime, and six further demo corpora for statistical power (formal maths, code, technical
#: and general prose).
COMMITTED_SOURCES = ("proofnet-valid", "proofnet-informal", "coq-stdlib", "metamath", "hol-light", "humaneval",
                     "python-stdlib", "wikipedia", "news")
FURTHER_SOURCES = ("agda-stdlib", "sympy", "python-docs", "linux-doc", "foldoc", "gcide")
DEFAULT_SOURCES = COMMITTED_SOURCES + ("champ",) + FURTHER_SOURCES
#: (aligned, unaligned) pairs of the dose-response experiment.
DEFAULT_DOSE_PAIRS = (("proofnet-valid", "wikipedia"), ("coq-stdlib", "news"))
#: Interior token shares of the aligned source (0 and 1 are the pure-source runs).
DEFAULT_DOSE_FRACTIONS = (0.25, 0.5, 0.75)
RESULTS_VERSION = 1

Progress = Callable[[str], None]


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
    from core.finetune.runner import run_id_for
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


# -- cost model ------------------------------------------------------------------------------------
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


# -- execution -------------------------------------------------------------------------------------
def status_of(runs: list[PlannedRun]) -> dict[str, str]:
    """run_id -> status in the results database (``missing`` when never started)."""
    from core.finetune import results

    return {r.run_id: ((results.get_run(r.run_id) or {}).get("status") or "missing") for r in runs}


def run_lab(plan: LabPlan, *, out: Path, settings: EmbedSettings | None = None, say: Progress = print, limit: int | None = None,
            metrics: bool = True, should_stop: Callable[[], bool] | None = None,
            resume_from: Path | None = None) -> dict:
    """Perform the plan's missing fine-tunes, measure the metrics, write the results file.

    Args:
        plan: the lab.  out: results file (JSON, written atomically after every run).
        settings: Task2Vec settings of the runner's own alignment column (default settings).
        say: receives one progress line per event (with the ETA).
        limit: stop after this many new runs (for staged execution); None = all.
        metrics: also measure every metric on every point (cached) at the end.
        resume_from: a results file of an earlier (possibly other machine's) run of the same plan:
            its finished runs are imported first (:func:`import_runs`) and not run again.

    Returns:
        The results dict (also written to ``out``).

    Raises:
        AlignScopeError: a bad plan (:func:`validate_plan`), another lab running on this cache.
    """
    from filelock import FileLock, Timeout

    from core.finetune.runner import run_finetune
    from core.mixture import save_mixture
    from core.paths import cache_dir
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings(model=plan.model)
    validate_plan(plan)
    runs = plan_runs(plan, settings)
    stop = should_stop or (lambda: False)
    lock = FileLock(str(cache_dir("validation") / "lab.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AlignScopeError("Another validation lab is running on this cache.",
                              fix="wait for it to finish (it continues where it stops), or stop it first.") from None
    t0 = time.time()
    try:
        if resume_from is not None:
            say(f"imported {import_runs(Path(resume_from), runs)} finished runs from {resume_from}")
        state = status_of(runs)
        todo = [r for r in runs if state[r.run_id] != "done"]
        if limit is not None:
            todo = todo[:limit]
        say(f"validation lab: {len(runs)} fine-tunes planned, {len(runs) - len(todo)} already done, "
            f"{len(todo)} to run; expected {_fmt_s(estimate_seconds(todo, plan.model))}")
        from core.execution import current_engine

        if current_engine().distributed:      # --engine ray: one Ray task per run, rows recorded here
            _run_on_engine(plan, runs, todo, settings, out=out, t0=t0, say=say, stop=stop)
            todo = []
        for k, r in enumerate(todo):
            if stop():
                raise InterruptedError("stopped by request")
            left = todo[k:]
            eta = estimate_seconds(left, plan.model)
            say(f"[{k + 1}/{len(todo)}] {r.regime} {r.point} seed {r.seed}: fine-tuning (ETA {_fmt_s(eta)} for the rest)")
            if r.mixture is not None:
                save_mixture(r.mixture)
            t1 = time.time()
            try:
                row = run_finetune(r.config, settings, run_id=r.run_id, should_stop=stop,
                                   progress=_throttled(say, eta - estimate_seconds(todo[k + 1:], plan.model), t1))
                say(f"  perplexity {row['ppl_before']:.3f} -> {row['ppl_after']:.3f} in {time.time() - t1:.0f} s")
            except InterruptedError:
                raise
            except Exception as exc:   # recorded as failed in its row; the lab goes on
                say(f"  FAILED: {exc}")
            write_results(plan, runs, out, wall=time.time() - t0)
        if metrics:
            measure_metrics(plan, runs, say=say, should_stop=stop)
        res = write_results(plan, runs, out, wall=time.time() - t0)
        say(f"validation lab: results written to {out}")
        return res
    finally:
        lock.release()


def _run_on_engine(plan: LabPlan, runs: list[PlannedRun], todo: list[PlannedRun], settings, *, out: Path, t0: float,
                   say: Progress, stop: Callable[[], bool]) -> None:
    """The lab's missing runs on a distributed engine (:meth:`core.engine.Engine.run_finetunes`): the
    dose points' mixtures are saved first, every run is sent at once (one task per run), and the
    results file is rewritten as each run's row arrives."""
    from core.execution import RunRequest, current_engine
    from core.mixture import save_mixture

    for r in todo:
        if r.mixture is not None:
            save_mixture(r.mixture)
    requests = [RunRequest(r.config, settings, r.run_id, label=f"{r.regime} {r.point} seed {r.seed}") for r in todo]
    for o in current_engine().run_finetunes(requests, should_stop=stop, log=say):
        row = o.row or {}
        if o.ok and row.get("ppl_before") is not None and row.get("ppl_after") is not None:
            say(f"  {requests[o.index].label}: perplexity {row['ppl_before']:.3f} -> {row['ppl_after']:.3f}")
        write_results(plan, runs, out, wall=time.time() - t0)


def _throttled(say: Progress, expected: float, t_start: float, every: float = 20.0) -> Callable[[int, int, str], None]:
    """A run's progress callback ``(percent, 100, message)`` that passes one line at most every
    ``every`` seconds to ``say``, with the time left in this run (``expected`` s from the cost model,
    corrected by the progress made so far)."""
    last = [0.0]

    def report(done: int, total: int, message: str) -> None:
        now = time.time()
        if now - last[0] < every:
            return
        last[0] = now
        frac = done / max(total, 1)
        spent = now - t_start
        left = spent * (1 - frac) / frac if frac > 0.05 else max(expected - spent, 0.0)
        say(f"    {100 * frac:3.0f}% {message} (about {_fmt_s(left)} left in this run)")

    return report


def _fmt_s(s: float) -> str:
    return f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


# -- metrics ---------------------------------------------------------------------------------------
def point_corpora(plan: LabPlan, runs: list[PlannedRun]) -> dict[str, object]:
    """point name -> the data its metrics are measured on: a source's registry name, or for a dose
    point the materialised mixture (its lowest seed) cut into ``seq_len``-token pieces, as an
    in-memory corpus.

    The pieces are what the fine-tune packs (a 4,000-token mixture may hold only a few whole
    documents, fewer than one Task2Vec batch), the same cut :func:`core.finetune.runner.compute_alignment`
    makes for a mixture's alignment.
    """
    from core.corpora.memory import InMemoryCorpus
    from core.mixture import materialize
    from core.probe import load_probe

    out: dict[str, object] = {s: s for r in plan.regimes for s in regime_sources(plan, r)}
    tok = None
    for r in sorted((r for r in runs if r.mixture is not None), key=lambda r: r.seed):
        if r.point in out:
            continue
        tok = tok or load_probe(plan.model, progress=False).tokenizer
        rows = materialize(r.mixture, tokenizer=tok)
        L = r.config.seq_len
        pieces = []
        for ids in tok([str(x["text"]) for x in rows], add_special_tokens=False)["input_ids"]:
            pieces += [tok.decode(ids[k:k + L]) for k in range(0, len(ids), L)]
        out[r.point] = InMemoryCorpus(f"dose:{r.point}", [p for p in pieces if p.strip()])
    return out


def metric_names(plan: LabPlan) -> list[str]:
    """The plan's metrics, or every registered metric."""
    from core.metrics import METRICS

    return list(plan.metrics) or METRICS.names()


def _metrics_path(plan: LabPlan) -> Path:
    from core.fingerprint import fingerprint
    from core.paths import cache_dir

    return cache_dir("validation") / f"metrics-{fingerprint(plan.to_dict())[:16]}.json"


def measure_metrics(plan: LabPlan, runs: list[PlannedRun], *, say: Progress = print,
                    should_stop: Callable[[], bool] | None = None, names: list[str] | None = None,
                    params: dict[str, dict] | None = None, points: list[str] | None = None) -> list[dict]:
    """Every metric on every point against the target (each value cached by the metrics package).

    Metric by metric, cheapest first (the registry's leaderboard order), so an interrupted
    measurement already holds the cheap metrics; the rows are merged into the plan's metrics file
    after each metric, so several processes may measure different metrics of one plan. A metric
    that fails (missing package, model) is reported and skipped; the others go on.

    Args:
        names: metrics to measure (default :func:`metric_names` of the plan).
        params: optional ``{metric: {parameter: value}}`` (e.g. fewer batches for ``t2v-reference``).
        points: only these points (default every point of the plan).

    Returns rows ``{"metric", "point", "value", "ci_low", "ci_high", "seconds", "cached"}`` of the
    metrics measured by this call.
    """
    from core.metrics import score_all

    names = list(names or metric_names(plan))
    corpora = point_corpora(plan, runs)
    if points is not None:
        unknown = sorted(set(points) - set(corpora))
        if unknown:
            raise AlignScopeError(f"Unknown lab point(s) {', '.join(unknown)}.", fix=f"use some of: {', '.join(corpora)}.")
        corpora = {p: c for p, c in corpora.items() if p in points}
    rows: list[dict] = []
    for name in names:
        got_rows, error = [], None
        for k, (point, corpus) in enumerate(corpora.items()):
            if should_stop and should_stop():
                raise InterruptedError("stopped while measuring metrics")
            p = {name: params[name]} if params and name in params else None
            v = score_all([name], corpus, plan.target, params=p)[_canonical(name)]
            if isinstance(v, Exception):   # this point only; the metric goes on with the others
                error = f"{point}: {v}"
                say(f"  metric {name} unavailable on {point}: {v}")
                continue
            d = v.to_dict()
            got_rows.append({"metric": _canonical(name), "point": point,
                             **{k2: d[k2] for k2 in ("value", "ci_low", "ci_high", "seconds", "cached")}})
            say(f"metric {name} [{k + 1}/{len(corpora)}] {point}: {d['value']:.4f} ({d['seconds']:.1f} s)")
        rows += got_rows
        _merge_metric_rows(plan, got_rows, {name: error} if error else {})
    return rows


def _canonical(name: str) -> str:
    from core.metrics import METRICS

    return METRICS.canonical(name)


def _merge_metric_rows(plan: LabPlan, rows: list[dict], broken: dict[str, str]) -> None:
    """Merge ``rows`` into the plan's metrics file (a later value of a (metric, point) replaces the
    earlier one), under a file lock, written atomically."""
    from core.paths import atomic_write, file_lock

    path = _metrics_path(plan)
    with file_lock(str(path) + ".lock"):
        old = json.loads(path.read_text()) if path.is_file() else {"rows": [], "broken": {}}
        merged = {(r["metric"], r["point"]): r for r in old["rows"]}
        merged.update({(r["metric"], r["point"]): r for r in rows})
        data = {"rows": list(merged.values()), "broken": {**old.get("broken", {}), **broken}}
        atomic_write(path, json.dumps(data, indent=1))


def derived_from_target(name: str, target: str) -> bool:
    """Whether corpus ``name`` is derived from the target benchmark (another split or view of it).

    Read from the corpus registry: a corpus spec's ``derived_from`` names the benchmark it comes
    from (the demo pack marks ``proofnet-valid``, ``proofnet-informal`` and ``proofnet-af``), merged
    with the content check of :func:`core.corpora.contamination.derived_from` (13-gram overlap).
    """
    from core.corpora import get_corpus
    from core.corpora.contamination import derived_from
    from core.corpora.benchmarks import BENCHMARKS

    family = {target, *(BENCHMARKS.get(target, (target, ()))[1])}
    try:
        get_corpus(name)
    except AlignScopeError:
        return False
    return bool(derived_from(name) & family) or name in family     # declared or by content


# -- the results file ------------------------------------------------------------------------------
def write_results(plan: LabPlan, runs: list[PlannedRun], out: Path, *, wall: float = 0.0) -> dict:
    """Assemble the lab's results file and write it atomically; returns it as a dict.

    Format (read by :func:`core.validation.report.load_results`): ``version, target, model,
    precision, created, wall_seconds (s), plan, regimes, base, sources ({name: {derived_from_target}}),
    runs`` (one per planned run that has a row: regime, point, seed, status, perplexities, seconds and
    the row itself under ``record``, see :func:`import_runs`), ``metrics`` (rows merged by
    :func:`measure_metrics`) and ``metric_info``.
    """
    from core.finetune import results as db

    rows = []
    base = None
    for r in runs:
        row = db.get_run(r.run_id, reconcile_first=False) or {}
        status = row.get("status") or "missing"
        if status == "missing":
            continue
        if base is None and row.get("ppl_before"):
            base = {"perplexity": row["ppl_before"], "nll": row.get("nll_before"), "tokens": row.get("eval_tokens")}
        rows.append({"run_id": r.run_id, "regime": r.regime, "point": r.point,
                     "source": r.config.source, "pair": list(r.pair) if r.pair else None, "fraction": r.fraction,
                     "seed": r.seed, "status": status, "error": row.get("error"),
                     "ppl_before": row.get("ppl_before"), "ppl_after": row.get("ppl_after"),
                     "nll_after": row.get("nll_after"), "tokens_trained": row.get("tokens_trained"),
                     "wall_seconds": row.get("wall_seconds"), "train_seconds": row.get("train_seconds"),
                     "precision": row.get("precision"), "alignment": row.get("alignment"),
                     "familiarity": row.get("familiarity"), "outcomes": row.get("outcomes"),
                     "record": {k: v for k, v in row.items() if k in _RECORD_FIELDS}})
    metrics_file = _metrics_path(plan)
    metric_rows = json.loads(metrics_file.read_text())["rows"] if metrics_file.is_file() else []
    info = {}
    try:
        from core.metrics import list_metrics

        info = {m["name"]: {"description": m["description"], "cost": m["cost"]} for m in list_metrics()}
    except Exception:   # the leaderboard still works without descriptions
        info = {}
    every = sorted({s for r in plan.regimes for s in regime_sources(plan, r)} | {s for p in plan.dose_pairs for s in p})
    res = {"version": RESULTS_VERSION, "target": plan.target, "model": plan.model, "precision": plan.precision,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_seconds": wall,
           "plan": plan.to_dict(),
           "regimes": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in plan.regimes},
           "base": base, "sources": {s: {"derived_from_target": derived_from_target(s, plan.target)} for s in every},
           "runs": rows, "metrics": metric_rows, "metric_info": info}
    res["regimes"]["dose"] = {**res["regimes"][plan.regimes[0].name], "seeds": list(plan.dose_seeds),
                              "pairs": [list(p) for p in plan.dose_pairs], "fractions": list(plan.dose_fractions)}
    from core.paths import atomic_write

    atomic_write(out, json.dumps(res, indent=1, default=_json_default))
    return res


#: Results-database columns kept with each run in the results file, enough to re-create the row on
#: another machine (:func:`import_runs`), so a lab can continue where a previous machine stopped.
_RECORD_FIELDS = ("group_key", "label", "source", "mixture", "target", "eval_corpus", "model", "method", "alignment",
                  "align_ci_low", "align_ci_high", "align_settings", "budget_tokens", "tokens_trained", "tokens_seen",
                  "documents_used", "hparams", "ppl_before", "ppl_after", "nll_before", "nll_after", "eval_tokens",
                  "familiarity", "train_loss_first", "train_loss_last", "train_steps", "train_seconds", "wall_seconds",
                  "device", "precision", "status", "error", "notes", "started", "finished", "outcomes")


def import_runs(path: Path, runs: list[PlannedRun]) -> int:
    """Re-create, in this machine's results database, the finished runs of ``runs`` that the results
    file ``path`` holds (rows written by :func:`write_results`) and the database lacks.

    Only runs of the plan are imported (same run id: same configuration, data and settings), so a
    lab can continue on a fresh machine from the committed results file. Returns how many rows
    were imported.

    Raises:
        AlignScopeError: the file is missing or is not a results file.
    """
    from core.finetune import results as db

    path = Path(path)
    try:
        saved = json.loads(path.read_text())
        rows = {r["run_id"]: r for r in saved["runs"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AlignScopeError(f"Cannot read lab results from {str(path)!r}: {exc}",
                              fix="give a results file written by python -m core validate run (--resume-from).") from None
    n = 0
    for r in runs:
        rec = (rows.get(r.run_id) or {}).get("record")
        if not rec or rec.get("status") != "done":
            continue
        have = db.get_run(r.run_id, reconcile_first=False)
        if have and have.get("status") == "done":
            continue
        note = f"imported from {path.name}"
        db.upsert_run(r.run_id, **{**rec, "notes": "; ".join(x for x in (rec.get("notes"), note) if x)})
        n += 1
    return n


def _json_default(v):
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
