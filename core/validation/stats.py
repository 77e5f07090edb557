"""Statistics of the validation lab: how well does each alignment metric predict fine-tuning?

For every alignment metric and regime (``4k``, ``long``, the pooled ``dose`` points), with and
without the points derived from the target benchmark, the outcome of a *point* (a source, or a
dose mixture ``"A+B@0.25"``) is ``y`` = the mean post-fine-tune perplexity over the point's
successful seeds, and its predictor ``x`` = the metric value of that point (oriented so that
higher = more aligned, see ``core/metrics/base.py``). The statistics are:

- Pearson ``r`` and ``r^2``, Spearman ``rho`` and Kendall ``tau-b`` (``scipy.stats.pearsonr``,
  ``spearmanr``, ``kendalltau``);
- their 95% confidence intervals from a **nested (two-stage) bootstrap** (Davison & Hinkley 1997,
  *Bootstrap Methods and their Application*, sec. 3.8, "multistage sampling"): resample the points
  with replacement, then, within each resampled point, its seeds with replacement; recompute the
  seed means and the statistic; percentile interval of the resamples. A resample whose ``x`` (or
  ``y``) is constant has no correlation; it is skipped and ``n_boot_used`` says how many were used.
  Resampling both stages over-states the seed noise (Davison & Hinkley eq. 3.29), so the
  intervals are, if anything, conservative: in the simulation of
  ``tests/core/validation/test_stats.py`` (12 sources x 3 seeds, population rho 0.71, 200 labs x
  300 resamples) the nominal-95% intervals covered the true r, r^2, Spearman and Kendall in 97.5%,
  97.5%, 99% and 99.5% of the labs;
- a two-sided permutation p-value of Pearson ``r`` (``scipy.stats.permutation_test``, pairings);
- the leave-one-source-out (LOO) prediction error: for each point, ``y ~ a + b x`` fitted by
  ``scipy.stats.linregress`` on the other points predicts the left-out perplexity; the mean
  absolute error, in perplexity units;
- a paired-bootstrap CI of ``r^2(metric) - r^2(default)`` (default ``t2v-head``): both metrics are
  evaluated on the *same* resampled points and seeds.

Fewer than :data:`MIN_POINTS` points give a row with a ``message`` and no fit, never an exception.
Failed and killed seeds are excluded and counted (``n_runs_failed``); running ones are counted as
``n_runs_pending``. All randomness comes from ``numpy.random.default_rng`` seeded by ``seed`` and a
CRC32 of the resampled point set, so the numbers are reproducible and do not depend on the order in
which metrics are evaluated.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from core.errors import AlignScopeError

DEFAULT_METRIC = "t2v-head"
MIN_POINTS = 3
CONFIDENCE = 0.95
DOSE_REGIME = "dose"
#: The regime whose pure-source runs give the dose-response fractions 0 and 1 (the same budget).
DOSE_BASE_REGIME = "4k"
#: Below this share of usable resamples a bootstrap interval is not reported.
MIN_BOOT_SHARE = 0.5
DONE = "done"
FAILED_STATES = ("failed", "killed", "cancelled")
PENDING_STATES = ("running", "queued")


# ----------------------------------------------------------------------------------------------
# Points: runs grouped by what was fine-tuned on
# ----------------------------------------------------------------------------------------------
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
# Elementary statistics
# ----------------------------------------------------------------------------------------------
def seed_ci(values: Sequence[float], *, confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """Mean over seeds with its Student-t confidence interval.

    ``mean +- t(1 - alpha/2, m - 1) * s / sqrt(m)`` with ``s`` the sample standard deviation of the
    ``m`` seeds (``scipy.stats.t.interval``).

    Returns:
        ``(mean, low, high)``; low/high are None with fewer than 2 seeds; NaN mean with none.
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), None, None
    mean = float(v.mean())
    if v.size < 2:
        return mean, None, None
    sem = float(v.std(ddof=1) / math.sqrt(v.size))
    if sem == 0.0:
        return mean, mean, mean
    lo, hi = stats.t.interval(confidence, df=v.size - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)


def correlations(x: Sequence[float], y: Sequence[float]) -> dict:
    """Pearson ``r``, ``r^2``, Spearman ``rho`` and Kendall ``tau-b`` of two 1-D samples (scipy.stats).

    Returns:
        ``{"pearson", "r2", "spearman", "kendall"}`` (floats; NaN when ``x`` or ``y`` is constant).
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        nan = float("nan")
        return {"pearson": nan, "r2": nan, "spearman": nan, "kendall": nan}
    r = float(stats.pearsonr(x, y).statistic)
    return {"pearson": r, "r2": r * r, "spearman": float(stats.spearmanr(x, y).statistic),
            "kendall": float(stats.kendalltau(x, y).statistic)}


def kendall_tau_b_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every row pair of ``x`` and ``y`` (``[B, n]`` each), vectorised.

    ``tau_b = sum_{i<j} s_ij t_ij / sqrt(sum_{i<j} s_ij^2 * sum_{i<j} t_ij^2)`` with
    ``s_ij = sign(x_i - x_j)``, ``t_ij = sign(y_i - y_j)`` (Kendall 1945, the tie-corrected tau-b;
    equal to ``scipy.stats.kendalltau(x, y, variant="b")``, which loops over rows and is ~50x slower
    here). Rows where x or y is constant give NaN.
    """
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    num = (sx * sy).sum(axis=(1, 2))
    den = np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def nested_resample(ppl: Sequence[Sequence[float]], *, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two-stage bootstrap resamples of the points' seed means.

    Stage 1 draws ``n`` point indices with replacement; stage 2 draws, for each drawn point with
    ``m_i`` seeds, ``m_i`` seeds with replacement and averages them.

    Args:
        ppl: per point, the perplexities of its successful seeds (at least one each).
        n_boot: number of resamples ``B``.
        rng: the random generator.

    Returns:
        ``(idx, ybar)``: int64 ``[B, n]`` resampled point indices and float64 ``[B, n]`` their
        resampled seed means.
    """
    n = len(ppl)
    m = np.array([len(p) for p in ppl], dtype=np.int64)
    if n == 0 or (m < 1).any():
        raise AlignScopeError("nested_resample needs at least one point and one seed per point.",
                              fix="drop points without a successful run first.")
    width = int(m.max())
    table = np.full((n, width), np.nan)
    for i, p in enumerate(ppl):
        table[i, : len(p)] = p
    idx = rng.integers(0, n, size=(n_boot, n))
    mi = m[idx]                                                         # [B, n]
    j = np.floor(rng.random((n_boot, n, width)) * mi[..., None]).astype(np.int64)
    vals = table[idx[..., None], j]                                     # [B, n, width]
    used = np.arange(width) < mi[..., None]
    ybar = np.where(used, vals, 0.0).sum(axis=-1) / mi
    return idx, ybar


def resampled_correlations(x: np.ndarray, idx: np.ndarray, ybar: np.ndarray) -> dict[str, np.ndarray]:
    """Pearson ``r``, ``r^2``, Spearman and Kendall of every resample (NaN where degenerate).

    Args:
        x: float ``[n]`` metric values of the points.
        idx, ybar: from :func:`nested_resample`.

    Returns:
        ``{"pearson", "r2", "spearman", "kendall"}`` -> float ``[B]``, plus ``"valid"`` -> bool
        ``[B]`` (x and y both non-constant in that resample).
    """
    from scipy import stats

    xb = np.asarray(x, dtype=float)[idx]
    valid = (np.ptp(xb, axis=1) > 0) & (np.ptp(ybar, axis=1) > 0)
    out = {k: np.full(idx.shape[0], np.nan) for k in ("pearson", "spearman", "kendall")}
    if valid.any():
        xv, yv = xb[valid], ybar[valid]
        out["pearson"][valid] = stats.pearsonr(xv, yv, axis=1).statistic
        out["spearman"][valid] = stats.spearmanrho(xv, yv, axis=1).statistic
        out["kendall"][valid] = kendall_tau_b_rows(xv, yv)
    out["r2"] = out["pearson"] ** 2
    out["valid"] = valid
    return out


def percentile_ci(samples: np.ndarray, *, confidence: float = CONFIDENCE, min_count: int = 1) -> list[float] | None:
    """Percentile bootstrap interval ``[q_{alpha/2}, q_{1-alpha/2}]`` of the finite samples (Efron &
    Tibshirani 1993, eq. 13.5); None when fewer than ``min_count`` are finite."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size < max(1, min_count):
        return None
    alpha = 1.0 - confidence
    lo, hi = np.percentile(s, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return [float(lo), float(hi)]


def _pearson_stat(x, y, axis=-1):
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    return (xc * yc).sum(axis=axis) / np.sqrt((xc * xc).sum(axis=axis) * (yc * yc).sum(axis=axis))


def permutation_pvalue(x: Sequence[float], y: Sequence[float], *, n_resamples: int = 9999,
                       rng: np.random.Generator | None = None) -> float:
    """Two-sided permutation p-value of Pearson ``r`` (``scipy.stats.permutation_test`` with
    ``permutation_type="pairings"``: the pairing of x and y is permuted; exact when ``n!`` does not
    exceed ``n_resamples``)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    res = stats.permutation_test((x, y), _pearson_stat, permutation_type="pairings", vectorized=True,
                                 n_resamples=n_resamples, alternative="two-sided",
                                 rng=rng if rng is not None else np.random.default_rng(0))
    return float(res.pvalue)


def loo_error(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, int]:
    """Leave-one-source-out prediction error.

    For each point ``i``, ``y = a + b x`` is fitted by least squares (``scipy.stats.linregress``)
    on the other points and predicts ``y_i``; the result is ``mean_i |y_i - (a_i + b_i x_i)|`` in
    the units of ``y`` (perplexity).

    Returns:
        ``(mean absolute error, number of points predicted)``; a point whose complement has a
        constant x cannot be predicted and is left out; ``(None, 0)`` when none can be.
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    errs = []
    for i in range(x.size):
        keep = np.arange(x.size) != i
        if keep.sum() < 2 or np.ptp(x[keep]) == 0:
            continue
        fit = stats.linregress(x[keep], y[keep])
        errs.append(abs(y[i] - (fit.intercept + fit.slope * x[i])))
    return (float(np.mean(errs)), len(errs)) if errs else (None, 0)


# ----------------------------------------------------------------------------------------------
# The leaderboard
# ----------------------------------------------------------------------------------------------
class _Resamples:
    """Nested-bootstrap resamples shared by every metric evaluated on the same points (so the
    paired r^2 differences use the same resampled points and seeds for both metrics)."""

    def __init__(self, *, n_boot: int, seed: int, regime: str) -> None:
        self.n_boot, self.seed, self.regime = n_boot, seed, regime
        self._memo: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    def get(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(p.name for p in points)
        if key not in self._memo:
            rng = _rng(self.seed, self.regime, *key)
            self._memo[key] = nested_resample([p.ppl for p in points], n_boot=self.n_boot, rng=rng)
        return self._memo[key]


def _rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32("\x1f".join(parts).encode())])


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _seed_summary(points: Sequence[Point]) -> tuple:
    counts = [len(p.ppl) for p in points]
    if not counts:
        return 0, 0, 0
    lo, hi = min(counts), max(counts)
    return (lo if lo == hi else round(float(np.mean(counts)), 2)), lo, hi


def validate_options(*, n_boot: int, n_permutations: int, confidence: float, seed: int) -> None:
    """Check the statistics' options once, before any work.

    Raises:
        AlignScopeError: ``n_boot`` < 100, ``n_permutations`` < 99, ``confidence`` outside (0.5, 1)
            or a negative ``seed``.
    """
    if not isinstance(n_boot, int) or n_boot < 100:
        raise AlignScopeError(f"n_boot must be an integer of at least 100, got {n_boot!r}.",
                              fix="use --n-boot 2000 (the default) or more.")
    if not isinstance(n_permutations, int) or n_permutations < 99:
        raise AlignScopeError(f"n_permutations must be an integer of at least 99, got {n_permutations!r}.",
                              fix="use --n-permutations 9999 (the default).")
    if not (0.5 < float(confidence) < 1.0):
        raise AlignScopeError(f"confidence must lie in (0.5, 1), got {confidence!r}.", fix="use 0.95.")
    if not isinstance(seed, int) or seed < 0:
        raise AlignScopeError(f"seed must be a non-negative integer, got {seed!r}.", fix="use --seed 0.")


def build_leaderboard(results: Mapping, *, exclude_derived: bool, regimes: Sequence[str] | None = None,
                      metrics: Sequence[str] | None = None, default_metric: str = DEFAULT_METRIC,
                      n_boot: int = 2000, n_permutations: int = 9999, confidence: float = CONFIDENCE,
                      seed: int = 0) -> list[dict]:
    """One row per (metric, regime): how well the metric predicts post-fine-tune perplexity.

    Args:
        results: a validated results dict (:func:`core.validation.report.load_results`).
        exclude_derived: leave out the points whose training data is derived from the target
            benchmark (``sources[...]["derived_from_target"]``; a dose point when A with a nonzero
            share, or B with a share below 1, is derived).
        regimes: regimes to evaluate (default: :func:`regime_names`).
        metrics: metrics to evaluate (default: all in the file, the default metric first).
        default_metric: the metric the r^2 differences are taken against (``t2v-head``).
        n_boot: nested-bootstrap resamples; n_permutations: permutation-test resamples.
        confidence: level of every interval (0.95).
        seed: seed of the random generators (results are reproducible for a given seed).

    Returns:
        dicts with keys ``metric, regime, exclude_derived, n_sources`` (points with a finished run
        and a metric value), ``n_seeds`` (seeds per point: an int when equal for all points, else
        the mean) with ``n_seeds_min, n_seeds_max``, ``n_runs_used, n_runs_failed, n_runs_pending,
        r2, r2_ci, pearson, pearson_ci, spearman, spearman_ci, kendall, kendall_ci`` (CIs are
        ``[low, high]`` or None), ``n_boot, n_boot_used, p_perm, loo_error`` (perplexity units)
        ``, loo_n, slope, intercept`` (perplexity per unit of metric), ``r2_diff_vs_default,
        r2_diff_ci, n_boot_diff, default_metric, cost_s`` (mean seconds per point to compute the
        metric), ``points`` (names used), ``excluded`` (derived points left out), ``message``
        (None, or why there is no fit). Rows are ordered by regime, then r^2 (highest first; rows
        without a fit last).

    Raises:
        AlignScopeError: bad options (see :func:`validate_options`).
    """
    validate_options(n_boot=n_boot, n_permutations=n_permutations, confidence=confidence, seed=seed)
    table = metric_table(results)
    names = list(metrics) if metrics is not None else metric_names(results, default_metric=default_metric)
    rows: list[dict] = []
    for regime in regimes if regimes is not None else regime_names(results):
        rows.extend(_regime_rows(results, regime, table, names, exclude_derived=exclude_derived,
                                 default_metric=default_metric, n_boot=n_boot, n_permutations=n_permutations,
                                 confidence=confidence, seed=seed))
    return rows


def _regime_rows(results, regime, table, names, *, exclude_derived, default_metric, n_boot, n_permutations,
                 confidence, seed) -> list[dict]:
    all_points = regime_points(results, regime)
    excluded = [p.name for p in all_points if p.derived] if exclude_derived else []
    points = [p for p in all_points if not (exclude_derived and p.derived)]
    finished = [p for p in points if p.ppl]
    n_failed = sum(p.n_failed for p in points)
    n_pending = sum(p.n_pending for p in points)
    resamples = _Resamples(n_boot=n_boot, seed=seed, regime=regime)
    per_metric: dict[str, tuple[list[Point], np.ndarray, dict | None]] = {}
    rows = []
    for metric in names:
        values = table.get(metric, {})
        pts = [p for p in finished if p.metric_point in values]
        x = np.array([values[p.metric_point]["value"] for p in pts], dtype=float)
        y = np.array([p.ppl_mean for p in pts], dtype=float)
        n_seeds, smin, smax = _seed_summary(pts)
        secs = [values[p.metric_point].get("seconds") for p in pts]
        secs = [float(s) for s in secs if isinstance(s, (int, float)) and math.isfinite(s)]
        row = {"metric": metric, "regime": regime, "exclude_derived": bool(exclude_derived),
               "n_sources": len(pts), "n_seeds": n_seeds, "n_seeds_min": smin, "n_seeds_max": smax,
               "n_runs_used": int(sum(len(p.ppl) for p in pts)), "n_runs_failed": int(n_failed),
               "n_runs_pending": int(n_pending), "r2": None, "r2_ci": None, "pearson": None, "pearson_ci": None,
               "spearman": None, "spearman_ci": None, "kendall": None, "kendall_ci": None,
               "n_boot": n_boot, "n_boot_used": 0, "p_perm": None, "loo_error": None, "loo_n": 0,
               "slope": None, "intercept": None, "r2_diff_vs_default": None, "r2_diff_ci": None,
               "n_boot_diff": 0, "default_metric": default_metric, "is_default": metric == default_metric,
               "cost_s": float(np.mean(secs)) if secs else None,
               "points": [p.name for p in pts], "excluded": excluded,
               "missing_metric": [p.name for p in finished if p.metric_point not in values],
               "message": None}
        rows.append(row)
        boot = None
        if len(pts) < MIN_POINTS:
            row["message"] = (f"Only {len(pts)} point(s) of regime {regime} have a finished run and a {metric} "
                              f"value{' (target-derived sources excluded)' if exclude_derived else ''}; "
                              f"a fit needs at least {MIN_POINTS}.")
        elif np.ptp(x) == 0 or np.ptp(y) == 0:
            row["message"] = (f"All {len(pts)} points have the same {'metric value' if np.ptp(x) == 0 else 'perplexity'}"
                              f" in regime {regime}; no correlation is defined.")
        else:
            _fill_fit(row, x, y, n_permutations=n_permutations, seed=seed)
            idx, ybar = resamples.get(pts)
            boot = resampled_correlations(x, idx, ybar)
            _fill_boot(row, boot, confidence=confidence, n_boot=n_boot)
        per_metric[metric] = (pts, x, boot)
    _fill_diffs(rows, per_metric, table, resamples, default_metric=default_metric, confidence=confidence,
                n_boot=n_boot)
    rows.sort(key=lambda r: (r["r2"] is None, -(r["r2"] or 0.0), r["metric"]))
    return rows


def _fill_fit(row, x, y, *, n_permutations, seed) -> None:
    from scipy import stats

    c = correlations(x, y)
    row.update({k: _clean(v) for k, v in c.items()})
    fit = stats.linregress(x, y)
    row["slope"], row["intercept"] = float(fit.slope), float(fit.intercept)
    row["p_perm"] = permutation_pvalue(x, y, n_resamples=n_permutations,
                                       rng=_rng(seed, "perm", row["regime"], row["metric"], *row["points"]))
    row["loo_error"], row["loo_n"] = loo_error(x, y)


def _fill_boot(row, boot, *, confidence, n_boot) -> None:
    valid = boot["valid"]
    row["n_boot_used"] = int(valid.sum())
    min_count = int(math.ceil(MIN_BOOT_SHARE * n_boot))
    for k in ("r2", "pearson", "spearman", "kendall"):
        row[f"{k}_ci"] = percentile_ci(boot[k][valid], confidence=confidence, min_count=min_count)
    if row["r2_ci"] is None:
        row["message"] = (f"Only {row['n_boot_used']} of {n_boot} bootstrap resamples had a non-constant "
                          f"metric; no confidence interval.")


def _fill_diffs(rows, per_metric, table, resamples, *, default_metric, confidence, n_boot) -> None:
    if default_metric not in per_metric:
        return
    dpts, dx, dboot = per_metric[default_metric]
    dvalues = table.get(default_metric, {})
    min_count = int(math.ceil(MIN_BOOT_SHARE * n_boot))
    for row in rows:
        if row["metric"] == default_metric or row["r2"] is None:
            continue
        pts, x, boot = per_metric[row["metric"]]
        if [p.name for p in pts] == [p.name for p in dpts] and dboot is not None and boot is not None:
            b_m, b_d, d_r2 = boot, dboot, correlations(dx, _means(dpts))["r2"]
            r2_m = row["r2"]
        else:                                      # different point sets: resample the common points
            values = table.get(row["metric"], {})
            common = [p for p in pts if p.metric_point in dvalues]
            if len(common) < MIN_POINTS:
                continue
            xm = np.array([values[p.metric_point]["value"] for p in common])
            xd = np.array([dvalues[p.metric_point]["value"] for p in common])
            y = _means(common)
            r2_m, d_r2 = correlations(xm, y)["r2"], correlations(xd, y)["r2"]
            if not (math.isfinite(r2_m) and math.isfinite(d_r2)):
                continue
            idx, ybar = resamples.get(common)
            b_m, b_d = resampled_correlations(xm, idx, ybar), resampled_correlations(xd, idx, ybar)
        if not math.isfinite(d_r2):
            continue
        both = b_m["valid"] & b_d["valid"]
        row["r2_diff_vs_default"] = float(r2_m - d_r2)
        row["n_boot_diff"] = int(both.sum())
        row["r2_diff_ci"] = percentile_ci((b_m["r2"] - b_d["r2"])[both], confidence=confidence, min_count=min_count)


def _means(points: Sequence[Point]) -> np.ndarray:
    return np.array([p.ppl_mean for p in points], dtype=float)


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

