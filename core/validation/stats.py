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

This file holds the leaderboard (:func:`build_leaderboard`); the points it is computed over live in
:mod:`core.validation.points` and the general statistics in :mod:`core.validation.correlations`.
Their names stay importable from here.
"""
from __future__ import annotations

import math
import zlib
from typing import Mapping, Sequence

import numpy as np

from core.errors import AlignScopeError
from core.validation.correlations import (CONFIDENCE, _clean, correlations, kendall_tau_b_rows,  # noqa: F401
                                          loo_error, nested_resample, percentile_ci, permutation_pvalue,
                                          resampled_correlations, seed_ci)
from core.validation.points import (DEFAULT_METRIC, DONE, DOSE_BASE_REGIME, DOSE_REGIME, FAILED_STATES,  # noqa: F401
                                    MIN_POINTS, PENDING_STATES, Point, dose_base_regime, dose_pairs,
                                    dose_point_name, dose_response, metric_names, metric_table, point_records,
                                    regime_names, regime_points)

#: Below this share of usable resamples a bootstrap interval is not reported.
MIN_BOOT_SHARE = 0.5


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
