"""Correlation of a metric with an outcome, and its uncertainty: the lab's general statistics.

One idea: given per-point metric values ``x`` and per-seed outcomes, compute Pearson ``r``,
``r^2``, Spearman ``rho`` and Kendall ``tau-b`` (scipy.stats), the mean over seeds with its
Student-t interval, the nested (two-stage) bootstrap of the seed means and its percentile
intervals, a permutation p-value and the leave-one-source-out prediction error. Nothing here knows
about regimes, points or the leaderboard (:mod:`core.validation.stats` builds those from these).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from core.errors import AlignScopeError

CONFIDENCE = 0.95


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


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
