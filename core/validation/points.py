"""Points of the validation lab: fine-tuning runs grouped by what was fine-tuned on, as plain data.

One idea: turn a results dict (runs and metric values) into :class:`Point` s, one per source or
dose mixture of a regime, with their successful, failed and pending seeds; list the regimes, the
dose-response pairs and the metric table; and give each point (and each dose-response pair) as a
plain record for figures, tables and the report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from core.validation.correlations import CONFIDENCE, _clean, seed_ci

DEFAULT_METRIC = "t2v-head"
MIN_POINTS = 3
DOSE_REGIME = "dose"
#: The regime whose pure-source runs give the dose-response fractions 0 and 1 (the same budget).
DOSE_BASE_REGIME = "4k"
DONE = "done"
FAILED_STATES = ("failed", "killed", "cancelled")
PENDING_STATES = ("running", "queued")


@dataclass(frozen=True)
class Point:
    """One fine-tuning condition of a regime, with its seeds.

    Attributes:
        name: the point as the lab names it: a source (``"coq-stdlib"``) or a dose mixture
            (``"coq-stdlib+news@0.25"``; the endpoints ``"A+B@1"`` / ``"A+B@0"``).
        metric_point: the ``point`` under which its metric values are recorded (a dose endpoint
            reuses the pure source's: ``"A+B@1"`` -> ``"A"``).
        regime: the regime of the runs behind it (``"4k"`` for reused dose endpoints).
        source: the pure source, or None for an interior dose point.
        pair: ``(A, B)`` for a dose point, else None.
        fraction: share of A in the training tokens (dose points), else None.
        derived: whether the training data includes text derived from the target benchmark.
        ppl: post-fine-tune perplexities of the successful seeds (float, one per seed).
        seeds, run_ids: the successful seeds and their runs, aligned with ``ppl``.
        n_failed: failed or killed seeds (excluded); n_pending: seeds still running.
    """

    name: str
    metric_point: str
    regime: str
    source: str | None
    pair: tuple[str, str] | None
    fraction: float | None
    derived: bool
    ppl: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()
    run_ids: tuple[str, ...] = ()
    n_failed: int = 0
    n_pending: int = 0
    failed_errors: tuple[str, ...] = field(default=(), compare=False)

    @property
    def ppl_mean(self) -> float:
        return float(np.mean(self.ppl)) if self.ppl else float("nan")


def _fraction_label(f: float) -> str:
    return f"{f:g}"


def dose_point_name(pair: Sequence[str], fraction: float) -> str:
    """``("A", "B"), 0.25 -> "A+B@0.25"`` (the lab's dose point names)."""
    return f"{pair[0]}+{pair[1]}@{_fraction_label(float(fraction))}"


def _derived_map(results: Mapping) -> dict[str, bool]:
    return {name: bool((info or {}).get("derived_from_target", False))
            for name, info in (results.get("sources") or {}).items()}


def _ppl_ok(run: Mapping) -> bool:
    v = run.get("ppl_after")
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _group(runs: Iterable[Mapping]) -> dict:
    """Seeds of a list of runs of one point: ppl, seeds, run ids, failed and pending counts.

    A run marked done without a finite perplexity counts as failed (it cannot be used)."""
    ppl, seeds, ids, errors = [], [], [], []
    failed = pending = 0
    for r in sorted(runs, key=lambda r: (r.get("seed", 0), str(r.get("run_id")))):
        status = r.get("status")
        if status == DONE and _ppl_ok(r):
            ppl.append(float(r["ppl_after"]))
            seeds.append(int(r.get("seed", 0)))
            ids.append(str(r.get("run_id")))
        elif status in PENDING_STATES:
            pending += 1
        else:
            failed += 1
            errors.append(str(r.get("error") or f"status {status!r} without a perplexity"))
    return dict(ppl=tuple(ppl), seeds=tuple(seeds), run_ids=tuple(ids), n_failed=failed, n_pending=pending,
                failed_errors=tuple(errors))


def regime_names(results: Mapping) -> list[str]:
    """Regimes with runs: those declared in ``results["regimes"]`` first (file order), then any
    other regime named by a run; ``"dose"`` last."""
    seen = [r for r in (results.get("regimes") or {}) if r != DOSE_REGIME]
    for run in results.get("runs") or []:
        reg = run.get("regime")
        if reg and reg != DOSE_REGIME and reg not in seen:
            seen.append(reg)
    have = {run.get("regime") for run in results.get("runs") or []}
    seen = [r for r in seen if r in have]
    if DOSE_REGIME in have:
        seen.append(DOSE_REGIME)
    return seen


def regime_points(results: Mapping, regime: str) -> list[Point]:
    """The points of ``regime`` with their seeds (see :class:`Point`).

    For ``regime="dose"``: the interior dose points of every pair, plus each pair's endpoints
    (fraction 1 = pure A, fraction 0 = pure B) taken from the ``"4k"`` regime's runs of A and B
    (the same budget, per the validation contract; :func:`dose_base_regime`), unless the lab ran that endpoint in the dose
    regime itself. A point shared by two pairs (the same pure source) appears once.

    Args:
        results: a results dict (see :func:`core.validation.report.load_results`).
        regime: a regime name (``"4k"``, ``"long"``, ``"dose"``...).

    Returns:
        Points sorted by name (dose: by pair, then fraction).
    """
    derived = _derived_map(results)
    runs = [r for r in results.get("runs") or [] if r.get("regime") == regime]
    if regime != DOSE_REGIME:
        by_point: dict[str, list] = {}
        for r in runs:
            by_point.setdefault(str(r.get("point") or r.get("source")), []).append(r)
        return [Point(name=p, metric_point=p, regime=regime, source=p, pair=None, fraction=None,
                      derived=derived.get(p, False), **_group(rs)) for p, rs in sorted(by_point.items())]
    return _pooled_dose(results)


def dose_pairs(results: Mapping) -> dict[tuple[str, str], list[Point]]:
    """Dose-response points per pair ``(A, B)``, sorted by fraction, endpoints included.

    Returns:
        ``{(A, B): [Point(fraction=0.0), ..., Point(fraction=1.0)]}`` in the order the pairs first
        appear among the runs. Endpoints without any run are left out.
    """
    derived = _derived_map(results)
    base_regime = dose_base_regime(results)
    base_runs: dict[str, list] = {}
    for r in results.get("runs") or []:
        if r.get("regime") == base_regime:
            base_runs.setdefault(str(r.get("point") or r.get("source")), []).append(r)
    groups: dict[tuple[str, str], dict[float, list]] = {}
    names: dict[tuple[tuple[str, str], float], str] = {}
    for r in results.get("runs") or []:
        if r.get("regime") != DOSE_REGIME:
            continue
        pair = tuple(str(s) for s in r["pair"])
        f = float(r["fraction"])
        groups.setdefault(pair, {}).setdefault(f, []).append(r)
        names.setdefault((pair, f), str(r.get("point") or dose_point_name(pair, f)))
    out: dict[tuple[str, str], list[Point]] = {}
    for pair, by_f in groups.items():
        a, b = pair
        pts = []
        for f in sorted({0.0, 1.0, *by_f}):
            der = (f > 0 and derived.get(a, False)) or (f < 1 and derived.get(b, False))
            name = names.get((pair, f), dose_point_name(pair, f))
            if f in (0.0, 1.0):
                src = a if f == 1.0 else b
                if f in by_f:        # the lab ran the endpoint itself
                    pts.append(Point(name=name, metric_point=src, regime=DOSE_REGIME, source=src, pair=pair,
                                     fraction=f, derived=der, **_group(by_f[f])))
                elif src in base_runs:
                    pts.append(Point(name=name, metric_point=src, regime=base_regime, source=src, pair=pair,
                                     fraction=f, derived=der, **_group(base_runs[src])))
            else:
                pts.append(Point(name=name, metric_point=name, regime=DOSE_REGIME, source=None, pair=pair,
                                 fraction=f, derived=der, **_group(by_f[f])))
        out[pair] = pts
    return out


def dose_base_regime(results: Mapping) -> str:
    """The regime whose pure-source runs are the dose-response endpoints: the first regime with the
    dose regime's token budget (``results["regimes"]``), else ``"4k"``."""
    regimes = results.get("regimes") or {}
    budget = (regimes.get(DOSE_REGIME) or {}).get("budget_tokens")
    if budget is not None:
        for name, info in regimes.items():
            if name != DOSE_REGIME and (info or {}).get("budget_tokens") == budget:
                return name
    return DOSE_BASE_REGIME


def _pooled_dose(results: Mapping) -> list[Point]:
    seen, out = set(), []
    for pts in dose_pairs(results).values():
        for p in pts:
            key = (p.metric_point, p.regime)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def metric_table(results: Mapping) -> dict[str, dict[str, dict]]:
    """``{metric: {point: entry}}`` from ``results["metrics"]`` (entries with a finite value only;
    a later duplicate wins)."""
    out: dict[str, dict[str, dict]] = {}
    for m in results.get("metrics") or []:
        v = m.get("value")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.setdefault(str(m["metric"]), {})[str(m["point"])] = dict(m)
    return out


def metric_names(results: Mapping, *, default_metric: str = DEFAULT_METRIC) -> list[str]:
    """Metric names in the results, the default first, then alphabetical."""
    names = sorted({str(m["metric"]) for m in results.get("metrics") or []})
    return sorted(names, key=lambda n: (n != default_metric, n))


# ----------------------------------------------------------------------------------------------
# Points and dose-response as plain data (figures, tables, the report)
# ----------------------------------------------------------------------------------------------
def point_records(results: Mapping, regime: str, *, confidence: float = CONFIDENCE) -> list[dict]:
    """Per point of ``regime``: perplexity mean with its seed CI and every metric value.

    Returns:
        dicts ``point, source, pair, fraction, derived, regime_of_runs, ppl_mean, ppl_ci_low,
        ppl_ci_high, n_seeds, seeds, n_failed, n_pending, metrics`` (``{metric: value}``),
        ``metric_ci`` (``{metric: [low, high]}`` where the metric reports one), ``errors``
        (messages of failed seeds).
    """
    table = metric_table(results)
    out = []
    for p in regime_points(results, regime):
        out.append(_point_record(p, table, confidence=confidence))
    return out


def _point_record(p: Point, table, *, confidence) -> dict:
    mean, lo, hi = seed_ci(p.ppl, confidence=confidence)
    vals = {m: float(v[p.metric_point]["value"]) for m, v in table.items() if p.metric_point in v}
    cis = {m: [float(v[p.metric_point]["ci_low"]), float(v[p.metric_point]["ci_high"])]
           for m, v in table.items() if p.metric_point in v
           and isinstance(v[p.metric_point].get("ci_low"), (int, float))
           and isinstance(v[p.metric_point].get("ci_high"), (int, float))}
    return {"point": p.name, "source": p.source, "pair": list(p.pair) if p.pair else None, "fraction": p.fraction,
            "derived": p.derived, "regime_of_runs": p.regime, "ppl_mean": _clean(mean), "ppl_ci_low": lo,
            "ppl_ci_high": hi, "n_seeds": len(p.ppl), "seeds": list(p.seeds), "n_failed": p.n_failed,
            "n_pending": p.n_pending, "metrics": vals, "metric_ci": cis, "errors": list(p.failed_errors)}


def _spearman(a, b) -> dict:
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size < MIN_POINTS:
        return {"rho": None, "p": None, "n": int(a.size),
                "message": f"only {a.size} fraction(s) with data; needs at least {MIN_POINTS}"}
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"rho": None, "p": None, "n": int(a.size), "message": "constant values; no rank correlation"}
    res = stats.spearmanr(a, b)
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": int(a.size), "message": None}


def dose_response(results: Mapping, *, confidence: float = CONFIDENCE) -> dict:
    """Dose-response per pair: perplexity and every metric against the share of the aligned source.

    Returns:
        ``{"pairs": [{"pair": [A, B], "label": "A+B", "points": [point_records...] (by fraction),
        "spearman_ppl": {"rho", "p", "n", "message"}`` (Spearman of mean perplexity vs fraction;
        expected negative when A is the aligned source), ``"spearman_metric": {metric: {...}}``
        (Spearman of the metric value vs fraction; expected positive)``}], "metrics": [names]}``.
        The pooled r^2/Spearman/Kendall statistics are the leaderboard's regime ``"dose"``.
    """
    table = metric_table(results)
    pairs = []
    for pair, pts in dose_pairs(results).items():
        recs = [_point_record(p, table, confidence=confidence) for p in pts]
        done = [r for r in recs if r["n_seeds"]]
        sp_metric = {}
        for m in table:
            have = [r for r in recs if m in r["metrics"]]
            sp_metric[m] = _spearman([r["fraction"] for r in have], [r["metrics"][m] for r in have])
        pairs.append({"pair": list(pair), "label": f"{pair[0]}+{pair[1]}", "points": recs,
                      "spearman_ppl": _spearman([r["fraction"] for r in done], [r["ppl_mean"] for r in done]),
                      "spearman_metric": sp_metric})
    return {"pairs": pairs, "metrics": metric_names(results)}
