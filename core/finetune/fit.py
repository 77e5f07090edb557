"""Ordinary least squares ``y = intercept + slope * x`` with r^2, the slope's 95% CI and a 95% band.

The fit itself is :func:`scipy.stats.linregress`; this module adds the interval and the band.

For ``n`` points, residual variance ``s^2 = SSR / (n - 2)``, ``Sxx = sum((x - mean x)^2)``:

- slope SE ``= s / sqrt(Sxx)``; its CI ``slope +- t(0.975, n - 2) * SE``;
- the confidence band of the fitted mean at ``x0``:
  ``yhat(x0) +- t(0.975, n - 2) * s * sqrt(1/n + (x0 - mean x)^2 / Sxx)``;
- ``r^2 = 1 - SSR / SST`` (equal to the squared Pearson correlation for a fit with intercept).

With 2 points the line is exact and the intervals are undefined (None); fewer than 2 points, or
all x equal, give no fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from core.errors import AlignScopeError


@dataclass
class LinearFit:
    """Result of :func:`ols`.

    Attributes:
        slope, intercept, r2, r (Pearson), n.
        slope_se, slope_ci (low, high), p_value (slope != 0, two-sided t test): None when n < 3.
        x_mean, sxx, s (residual standard deviation), t_crit: what :meth:`band` needs.
    """

    slope: float
    intercept: float
    r2: float
    r: float
    n: int
    slope_se: float | None
    slope_ci: tuple[float, float] | None
    p_value: float | None
    x_mean: float
    sxx: float
    s: float | None
    t_crit: float | None
    level: float = 0.95

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Fitted values ``intercept + slope * x`` (float64, the shape of ``x``)."""
        return self.intercept + self.slope * np.asarray(x, dtype=float)

    def band(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray] | None:
        """The confidence band ``(low, high)`` of the fitted mean at ``x`` (None when n < 3)."""
        if self.s is None or self.t_crit is None:
            return None
        x = np.asarray(x, dtype=float)
        half = self.t_crit * self.s * np.sqrt(1.0 / self.n + (x - self.x_mean) ** 2 / self.sxx)
        y = self.predict(x)
        return y - half, y + half

    def to_dict(self) -> dict:
        """JSON-able summary: slope, intercept, r2, r, n, slope_se, slope_ci, p_value, level."""
        return {"slope": self.slope, "intercept": self.intercept, "r2": self.r2, "r": self.r, "n": self.n,
                "slope_se": self.slope_se, "slope_ci": list(self.slope_ci) if self.slope_ci else None,
                "p_value": self.p_value, "level": self.level}


def ols(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> LinearFit:
    """Fit ``y = intercept + slope * x`` by least squares (:func:`scipy.stats.linregress`), with the
    slope's confidence interval and what :meth:`LinearFit.band` needs.

    Args:
        x, y: 1-D sequences of equal length; pairs with a non-finite value are dropped.
        level: confidence level of the slope interval and the band (default 0.95).

    Raises:
        AlignScopeError: fewer than 2 finite points, or all x equal.
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 2:
        raise AlignScopeError(f"A linear fit needs at least 2 points, got {n}.", fix="finish more runs.")
    xm = x.mean()
    sxx = float(((x - xm) ** 2).sum())
    if sxx <= 0:
        raise AlignScopeError("All points have the same x value: no line can be fitted.",
                              fix="add runs on sources with different alignment.")
    flat = not np.any(y != y[0])                  # all y equal: a perfect horizontal line
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = stats.linregress(x, y)
    r = 0.0 if flat else float(lr.rvalue)
    if n >= 3:
        se = 0.0 if flat else float(lr.stderr)
        s = se * float(np.sqrt(sxx))
        t_crit = float(stats.t.ppf(0.5 + level / 2, n - 2))
        ci = (float(lr.slope) - t_crit * se, float(lr.slope) + t_crit * se)
        p = float(lr.pvalue) if se > 0 else 0.0
    else:
        s = se = t_crit = None
        ci = p = None
    return LinearFit(slope=float(lr.slope), intercept=float(lr.intercept), r2=1.0 if flat else r * r, r=r, n=n,
                     slope_se=se, slope_ci=ci, p_value=p, x_mean=float(xm), sxx=sxx, s=s, t_crit=t_crit, level=level)
