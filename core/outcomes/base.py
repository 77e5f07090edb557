"""Target-benchmark outcomes: what a (fine-tuned) model achieves on a target, per target problem.

Every outcome is measured **per problem** (a held-out document or a condition -> completion pair)
and stores its per-problem arrays, so that its 95% confidence interval, and the CI of the
difference between two models (before/after a fine-tune, two sources), come from a bootstrap over
problems (Efron & Tibshirani 1993, ch. 13; ``scipy.stats.bootstrap``, percentile method, seeded;
the difference with ``paired=True`` over the common problems).

Aggregates (:class:`Statistic`):

- ``ratio``: ``sum(num) / sum(den)`` over problems, e.g. token-weighted NLL ``sum(nll) / sum(tokens)``
  (nats/token), optionally through ``exp`` (the alignment paper's eq. 2: perplexity); the bootstrap
  resamples problems and recomputes the ratio (a ratio estimator, not a mean of per-problem ratios).
- ``mean``: the mean of a per-problem score (chrF, exact match).

The registry :data:`OUTCOMES` maps names (and aliases) to ``"module:Class"``; :func:`get_outcome`
builds one with validated parameters, :func:`list_outcomes` lists them without importing torch.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from core.errors import AlignScopeError
from core.bounds import BoundedConfig
from core.registry import Registry, build_config

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from core.outcomes.problems import PairFormat, PairProblem

OUTCOMES = Registry("outcome", fix_hint="list them with: python -m core outcomes list.")
OUTCOMES.register("text-ppl", "core.outcomes.text_ppl:TextPerplexity", aliases=("perplexity", "ppl"))
OUTCOMES.register("af-nll", "core.outcomes.pair_nll:PairNLL", aliases=("pair-nll",))
OUTCOMES.register("af-gen", "core.outcomes.pair_gen:PairGeneration", aliases=("pair-gen",))

#: Bootstrap resamples and seed of every CI (scipy.stats.bootstrap, percentile method).
N_RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
DIRECTIONS = ("lower", "higher")


class OutcomeError(AlignScopeError):
    """Bad outcome name, parameter or result."""


# -- statistics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statistic:
    """How an outcome's per-problem arrays aggregate to its value.

    Attributes:
        kind: ``"ratio"`` (``sum(arrays[num]) / sum(arrays[den])``) or ``"mean"`` (``mean(arrays[num])``).
        num, den: array names (``den`` only for ``ratio``).
        transform: ``""`` or ``"exp"`` (applied to the aggregate: eq. 2's perplexity).
    """

    kind: str
    num: str
    den: str = ""
    transform: str = ""

    def data(self, arrays: Mapping[str, np.ndarray], idx: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        cols = (self.num, self.den) if self.kind == "ratio" else (self.num,)
        return tuple(np.asarray(arrays[c], dtype=np.float64) if idx is None else np.asarray(arrays[c], dtype=np.float64)[idx]
                     for c in cols)

    def __call__(self, *data: np.ndarray, axis: int = -1) -> np.ndarray | float:
        """The aggregate of float64 ``data`` arrays (``[..., n]``, reduced over ``axis``)."""
        if self.kind == "ratio":
            v = np.sum(data[0], axis=axis) / np.sum(data[1], axis=axis)
        else:
            v = np.mean(data[0], axis=axis)
        if self.transform == "exp":
            v = np.exp(np.minimum(v, 700.0))
        return v


def bootstrap_ci(stat: Callable[..., Any], data: Sequence[np.ndarray], *, seed: int = SEED,
                 n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """95% percentile bootstrap CI over problems (``scipy.stats.bootstrap(paired=True)``: the
    arrays in ``data``, each float64 ``[n]``, are resampled together, problem by problem).

    ``n < 2`` or a constant statistic gives the degenerate interval ``(value, value)``.
    """
    from scipy.stats import bootstrap

    value = float(stat(*data, axis=-1))
    n = len(data[0])
    if n < 2 or not math.isfinite(value):
        return value, value
    res = bootstrap(tuple(data), stat, paired=True, vectorized=True, n_resamples=n_resamples, method="percentile",
                    confidence_level=CONFIDENCE, rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):       # constant resamples: no spread
        return value, value
    return min(low, value), max(high, value)


# -- results ----------------------------------------------------------------------------------------
@dataclass
class PairedDifference:
    """``a - b`` of one outcome measured on two models, over their common problems.

    Attributes:
        outcome, target: as in :class:`OutcomeResult`.  n: common problems.
        value_a, value_b: each side's aggregate on the common problems.  difference: ``value_a - value_b``.
        ci: 95% paired percentile bootstrap CI of the difference (problems resampled jointly).
        direction: ``lower`` or ``higher`` is better (so a negative difference is an improvement when lower).
    """

    outcome: str
    target: str
    n: int
    value_a: float
    value_b: float
    difference: float
    ci: tuple[float, float]
    direction: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci)
        return d


@dataclass
class OutcomeResult:
    """One outcome measured on one model and target, per problem.

    Attributes:
        outcome: registry name.  target: the target benchmark.  fingerprint: the outcome's fingerprint.
        problem_ids: ``[n]`` problem ids (held-out document ids).
        arrays: per-problem arrays, each ``[n]`` (e.g. ``nll`` float64 nats and ``tokens`` int64).
        statistic: how ``arrays`` aggregate (:class:`Statistic`).
        value: the aggregate (e.g. token-weighted NLL, nats/token).  ci: its 95% bootstrap CI over problems.
        direction: ``lower`` or ``higher`` is better.  unit: the value's unit.
        extra: JSON-safe extras (perplexity, corpus-level scores, seconds, precision, generations...).
    """

    outcome: str
    target: str
    fingerprint: str
    problem_ids: list[str]
    arrays: dict[str, np.ndarray]
    statistic: Statistic
    value: float
    ci: tuple[float, float]
    direction: str
    unit: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, *, outcome: str, target: str, fingerprint: str, problem_ids: Sequence[str],
              arrays: Mapping[str, np.ndarray], statistic: Statistic, direction: str, unit: str,
              extra: Mapping | None = None) -> OutcomeResult:
        """Compute ``value`` and its bootstrap ``ci`` from the per-problem ``arrays``.

        Raises:
            OutcomeError: arrays of another length than ``problem_ids``, duplicate ids, or no problem.
        """
        ids = [str(p) for p in problem_ids]
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if not ids or any(len(v) != len(ids) for v in arrays.values()) or len(set(ids)) != len(ids):
            raise OutcomeError(f"Outcome {outcome!r}: per-problem arrays must have one entry per (unique) problem "
                               f"({len(ids)} ids; lengths {[len(v) for v in arrays.values()]}).",
                               fix="pass one value per problem.")
        data = statistic.data(arrays)
        return cls(outcome=outcome, target=target, fingerprint=fingerprint, problem_ids=ids, arrays=arrays,
                   statistic=statistic, value=float(statistic(*data)), ci=bootstrap_ci(statistic, data),
                   direction=direction, unit=unit, extra=dict(extra or {}))

    @property
    def n(self) -> int:
        """Number of problems."""
        return len(self.problem_ids)

    def to_dict(self) -> dict:
        """JSON-safe and lossless: arrays as lists with their dtype (float64 round-trips exactly through JSON)."""
        return {"outcome": self.outcome, "target": self.target, "fingerprint": self.fingerprint,
                "problem_ids": list(self.problem_ids),
                "arrays": {k: {"dtype": str(v.dtype), "values": v.tolist()} for k, v in self.arrays.items()},
                "statistic": asdict(self.statistic), "value": self.value, "ci": list(self.ci),
                "direction": self.direction, "unit": self.unit, "n": self.n, "extra": self.extra}

    @classmethod
    def from_dict(cls, d: Mapping) -> OutcomeResult:
        """The inverse of :meth:`to_dict`.

        Raises:
            OutcomeError: a field is missing.
        """
        try:
            return cls(outcome=d["outcome"], target=d["target"], fingerprint=d["fingerprint"],
                       problem_ids=list(d["problem_ids"]),
                       arrays={k: np.asarray(v["values"], dtype=v["dtype"]) for k, v in d["arrays"].items()},
                       statistic=Statistic(**d["statistic"]), value=float(d["value"]),
                       ci=(float(d["ci"][0]), float(d["ci"][1])), direction=d["direction"], unit=d["unit"],
                       extra=dict(d.get("extra", {})))
        except (KeyError, TypeError, IndexError) as e:
            raise OutcomeError(f"Outcome result dict lacks or garbles field {e}.",
                               fix="pass a dict made by OutcomeResult.to_dict().") from None

    def paired_difference(self, other: OutcomeResult) -> PairedDifference:
        """``self - other`` (e.g. after - before a fine-tune) on their common problems, with a 95%
        paired percentile bootstrap CI (``scipy.stats.bootstrap(paired=True)``: each resample draws
        the same problems for both sides, so between-problem variance cancels).

        Raises:
            OutcomeError: other outcome or target, another statistic, or no common problem.
        """
        if (other.outcome, other.target, other.statistic) != (self.outcome, self.target, self.statistic):
            raise OutcomeError(f"Cannot pair outcome {self.outcome!r} on {self.target!r} with {other.outcome!r} on "
                               f"{other.target!r}.", fix="compare results of the same outcome and target.")
        pos = {p: i for i, p in enumerate(other.problem_ids)}
        common = [p for p in self.problem_ids if p in pos]
        if not common:
            raise OutcomeError(f"Outcome {self.outcome!r}: the two results share no problem.",
                               fix="measure both models on the same problems.")
        mine = {p: i for i, p in enumerate(self.problem_ids)}
        a = self.statistic.data(self.arrays, np.array([mine[p] for p in common]))
        b = other.statistic.data(other.arrays, np.array([pos[p] for p in common]))
        k, stat = len(a), self.statistic

        def diff(*data: np.ndarray, axis: int = -1):
            return stat(*data[:k], axis=axis) - stat(*data[k:], axis=axis)

        va, vb = float(stat(*a)), float(stat(*b))
        return PairedDifference(outcome=self.outcome, target=self.target, n=len(common), value_a=va, value_b=vb,
                                difference=va - vb, ci=bootstrap_ci(diff, a + b), direction=self.direction)


# -- outcomes ---------------------------------------------------------------------------------------
class Outcome(ABC):
    """Base of an outcome. Subclasses set the ClassVars and implement :meth:`_measure`.

    - ``name``: registry name.  ``description``: what it measures, its formula and source.
    - ``direction``: ``"lower"`` (NLL, perplexity) or ``"higher"`` (chrF, BLEU, exact match) is better.
    - ``unit``: the value's unit.  ``uses_pair_format``: whether it reads the target's
      :class:`~core.outcomes.problems.PairFormat` (its fingerprint then enters the outcome's).
    - ``version``: bumped when the computation changes (enters the fingerprint).
    - ``Config``: frozen dataclass of keyword-only parameters (:class:`BoundedConfig` ranges); every
      field whose metadata does not say ``key=False`` enters the fingerprint.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    direction: ClassVar[str]
    unit: ClassVar[str]
    uses_pair_format: ClassVar[bool] = True
    version: ClassVar[int] = 1

    @dataclass(frozen=True)
    class Config(BoundedConfig):
        pass

    def __init__(self, **params: Any) -> None:
        self.config = build_config(self.Config, params, kind="Outcome", name=self.name, error=OutcomeError)

    def config_key(self) -> dict:
        """The config fields that enter the fingerprint."""
        return {f.name: getattr(self.config, f.name) for f in fields(self.config) if f.metadata.get("key", True)}

    def fingerprint(self, target: str) -> str:
        """sha256 hex of the outcome's name, version, config and (when it uses one) the target's pair format.

        Raises:
            CorpusError: a pair outcome on a target without a pair format.
        """
        from core.fingerprint import fingerprint

        fmt = None
        if self.uses_pair_format:
            from core.outcomes.problems import pair_format

            fmt = pair_format(target).fingerprint()
        return fingerprint({"outcome": self.name, "version": self.version, "config": self.config_key(), "format": fmt})

    def content_key(self, tokenizer: PreTrainedTokenizerBase, target: str) -> str:
        """sha256 hex of what the outcome reads of ``target`` (pair outcomes: the format and the problems'
        content, :func:`core.outcomes.problems.problems_fingerprint`); enters cache keys.

        Raises:
            CorpusError: bad target.
        """
        from core.outcomes.problems import problems_fingerprint, target_problems

        return problems_fingerprint(*target_problems(target))

    def check(self, target: str) -> None:
        """Validate ``target`` for this outcome before any heavy work (loads no weights).

        Raises:
            CorpusError: unknown target, no held-out split, or (pair outcomes) no pair format.
        """
        from core.corpora.benchmarks import heldout_split

        heldout_split(target)
        if self.uses_pair_format:
            from core.outcomes.problems import pair_format

            pair_format(target)

    def measure(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, target: str, *,
                precision: str = "fp32", batch_size: int = 8, should_stop: Callable[[], bool] | None = None,
                progress: Callable[[int, int], None] | None = None,
                problem_ids: Sequence[str] | None = None) -> OutcomeResult:
        """Measure the outcome of ``model`` on ``target``'s held-out problems.

        Args:
            precision: resolved precision (``fp32`` | ``bf16``).  batch_size: items per forward pass.
            should_stop: ``InterruptedError`` between batches when it returns True.
            progress: ``progress(done, total)`` after each batch.
            problem_ids: restrict to these problems (a subsample); None: every problem.

        Returns:
            :class:`OutcomeResult` with the per-problem arrays, the value and its 95% bootstrap CI;
            ``extra["seconds"]`` is the wall time of the measurement.

        Raises:
            CorpusError: bad target.  OutcomeError: unknown problem ids.  AlignScopeError: bad precision.
            InterruptedError: stopped.
        """
        import time

        from core.precision import check_precision

        check_precision(precision)
        if precision == "auto":
            raise OutcomeError("Precision 'auto' is not resolved.",
                               fix="pass core.precision.resolve_precision('auto', device).")
        self.check(target)
        t0 = time.perf_counter()
        res = self._measure(model, tokenizer, target, precision=precision, batch_size=int(batch_size),
                            should_stop=should_stop, progress=progress,
                            problem_ids=None if problem_ids is None else list(problem_ids))
        res.extra.setdefault("precision", precision)
        res.extra["seconds"] = time.perf_counter() - t0
        return res

    @abstractmethod
    def _measure(self, model, tokenizer, target, *, precision, batch_size, should_stop, progress,
                 problem_ids) -> OutcomeResult:
        """The computation, on validated inputs."""

    def _result(self, target: str, problem_ids: Sequence[str], arrays: Mapping[str, np.ndarray],
                statistic: Statistic, extra: Mapping) -> OutcomeResult:
        """:meth:`OutcomeResult.build` with this outcome's name, fingerprint, direction and unit."""
        return OutcomeResult.build(outcome=self.name, target=target, fingerprint=self.fingerprint(target),
                                   problem_ids=problem_ids, arrays=arrays, statistic=statistic,
                                   direction=self.direction, unit=self.unit, extra=extra)


def select_problems(items: Sequence[Any], ids: Sequence[str], wanted: Sequence[str] | None, *, what: str) -> list[int]:
    """Indices of ``wanted`` ids in ``ids`` (all when None), in ``ids`` order.

    Raises:
        OutcomeError: an id of ``wanted`` is unknown (the first few are named), or none is wanted.
    """
    if wanted is None:
        return list(range(len(items)))
    pos = {p: i for i, p in enumerate(ids)}
    missing = [p for p in wanted if p not in pos]
    if missing:
        raise OutcomeError(f"Unknown problem id(s) of {what}: {missing[:3]}{' ...' if len(missing) > 3 else ''}.",
                           fix="use ids from core.outcomes.problems.target_problems(target).")
    if not wanted:
        raise OutcomeError(f"No problem of {what} selected.", fix="select at least one problem.")
    want = set(wanted)
    return [i for i, p in enumerate(ids) if p in want]


def chosen_problems(target: str, problem_ids: Sequence[str] | None) -> tuple[PairFormat, list[PairProblem]]:
    """The pair format of ``target`` and its problems restricted to ``problem_ids`` (all when None), in
    target order.

    Raises:
        CorpusError: bad target.  OutcomeError: unknown problem ids, or an empty selection.
    """
    from core.outcomes.problems import target_problems

    fmt, problems = target_problems(target)
    idx = select_problems(problems, [p.problem_id for p in problems], problem_ids, what=f"target {target!r}")
    return fmt, [problems[i] for i in idx]


def get_outcome(name: str, **params: Any) -> Outcome:
    """The outcome ``name`` (or an alias) built with validated ``params``.

    Raises:
        RegistryError: unknown name.  OutcomeError: bad parameter.
    """
    return OUTCOMES.build(name, **params)


def list_outcomes() -> list[dict]:
    """``[{"name", "aliases", "direction", "unit", "description"}]`` of every registered outcome."""
    return OUTCOMES.describe("direction", "unit", "description")
