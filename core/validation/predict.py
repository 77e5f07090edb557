"""Predicted outcome for a new source, with a prediction interval calibrated over the lab's sources.

The question a user asks: "what perplexity (or AF NLL) would fine-tuning on *my* source give, and how
sure is that?". The answer comes from the validation lab (:mod:`core.validation.lab`): its points are
sources, each with a metric value ``x`` (the alignment metric) and an outcome ``y`` (mean over seeds of
the outcome of one condition, :mod:`core.validation.axes`).

- **Fit:** ordinary least squares ``y ~ a + b x`` over the lab's points (``scipy.stats.linregress``), by
  default without the target-derived sources: a user's new source is not derived from the target.
- **Interval (jackknife / leave-one-source-out split conformal):** for each lab source ``i`` the fit
  without it predicts it; ``R_i = |y_i - yhat_{-i}(x_i)|`` are the leave-one-out absolute residuals.
  The interval is ``yhat(x) ± q`` with ``q`` the ``ceil((n + 1)(1 - alpha))``-th smallest ``R_i``
  (Vovk et al. 2005, "Algorithmic Learning in a Random World"; Lei et al. 2018, "Distribution-Free
  Predictive Inference for Regression", JASA, sec. 2.2 and the jackknife of sec. 2.3; Barber et al.
  2021, "Predictive inference with the jackknife+", Ann. Statist., eq. 2). With ``n`` sources the
  largest level this gives a finite interval is ``n / (n + 1)``: when ``n + 1 < 1 / alpha`` (fewer
  than 19 sources at 95%) the interval is the largest residual and its stated level is
  ``n / (n + 1)``, never a claimed 95%.
- **Empirical coverage:** each lab source in turn is held out, the whole procedure (fit, residuals,
  ``q``) is rebuilt on the others, and we count whether its outcome falls inside its interval.
- **Extrapolation:** a metric value outside ``[min x, max x]`` of the fitted points is flagged, and the
  radius grows with the OLS leverage, ``q * h(x) / max_i h(x_i)`` with ``h(x) = sqrt(1 + 1/n +
  (x - mean x)^2 / Sxx)`` (the factor of the classical prediction interval's width). Beyond
  :data:`REFUSE_BEYOND` of the fitted range outside it, the point estimate is refused (``value`` None):
  only the interval is given.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from core.errors import AlignScopeError

#: Miscoverage of the interval (0.05: a 95% interval when there are enough sources).
ALPHA = 0.05
#: Beyond this fraction of the fitted metric range outside it, no point estimate is given.
REFUSE_BEYOND = 0.5
#: Fewest lab points a prediction is built on.
MIN_POINTS = 4


@dataclass(frozen=True)
class Prediction:
    """A predicted outcome with its interval.

    Attributes:
        value: the predicted outcome (the outcome's units: perplexity, or nats per token), or None when
            refused (extrapolating beyond :data:`REFUSE_BEYOND`).
        low, high: the prediction interval (``high`` may be ``inf`` only if the lab has < 2 points).
        level: the interval's nominal coverage (``min(1 - alpha, n / (n + 1))``).
        metric, metric_value: the metric and the source's value of it.
        extrapolates: the metric value lies outside the fitted range ``fit_range``; ``distance``: how
            far outside, in units of that range (0 inside).
        radius: half-width of the interval; ``base_radius``: before the extrapolation widening.
        n: lab points fitted; coverage: empirical leave-one-source-out coverage of the procedure
            (fraction of lab points inside their own held-out interval); slope, intercept, r2: the fit.
        exclude_derived: target-derived sources left out of the fit; points: the lab points used.
        condition, outcome, regime: the lab selection.
        note: plain-language caveats (extrapolation, small n).
    """

    value: float | None
    low: float
    high: float
    level: float
    metric: str
    metric_value: float
    extrapolates: bool
    distance: float
    fit_range: tuple[float, float]
    radius: float
    base_radius: float
    n: int
    coverage: float | None
    slope: float
    intercept: float
    r2: float
    exclude_derived: bool
    condition: str
    outcome: str
    regime: str
    points: tuple[str, ...]
    note: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fit_range"] = list(self.fit_range)
        d["points"] = list(self.points)
        return d


@dataclass(frozen=True)
class Predictor:
    """The lab's fit of one (condition, outcome, regime, metric): ``x`` [n] metric values, ``y`` [n]
    outcomes (means over seeds), ``names`` [n] the sources; :meth:`predict` answers for a new value."""

    x: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    metric: str
    condition: str
    outcome: str
    regime: str
    exclude_derived: bool
    alpha: float = ALPHA
    measured: float | None = None      # the lab's own mean outcome of a left-out source (fit_predictor(leave_out=))

    def predict(self, value: float) -> Prediction:
        """The prediction for metric value ``value`` (see the module docstring).

        Raises:
            AlignScopeError: ``value`` is not a finite number.
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AlignScopeError(f"Metric value {value!r} is not a finite number.", fix="score the source first.")
        return _compute_prediction(self, float(value))

    def coverage(self) -> float | None:
        """Empirical leave-one-source-out coverage of the whole procedure (None with < MIN_POINTS + 1);
        computed once per (x, y, alpha)."""
        x, y = (np.ascontiguousarray(v, dtype=np.float64) for v in (self.x, self.y))
        return _loso_coverage_memo(x.tobytes(), y.tobytes(), len(x), float(self.alpha))


def conformal_radius(residuals: Sequence[float], *, alpha: float = ALPHA) -> tuple[float, float]:
    """``(q, level)``: the ``ceil((n + 1)(1 - alpha))``-th smallest absolute residual and the coverage
    level it gives, capped at the largest residual (level ``n / (n + 1)``) when that rank exceeds ``n``
    (Lei et al. 2018, sec. 2.2).

    Raises:
        AlignScopeError: no residual, or ``alpha`` outside (0, 1).
    """
    r = np.sort(np.abs(np.asarray(residuals, dtype=float)))
    if r.size == 0:
        raise AlignScopeError("No residual to calibrate an interval on.", fix="run the lab on more sources.")
    if not 0 < alpha < 1:
        raise AlignScopeError(f"alpha={alpha!r} is outside (0, 1).", fix="use e.g. 0.05 for a 95% interval.")
    n = r.size
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        return float(r[-1]), n / (n + 1)
    return float(r[k - 1]), 1 - alpha


def loo_residuals(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``|y_i - yhat_{-i}(x_i)|`` [n] float64: each point predicted by the OLS fit of the others."""
    n = len(x)
    out = np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        slope, intercept = _ols(x[keep], y[keep])
        out[i] = abs(y[i] - (intercept + slope * x[i]))
    return out


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line (the mean when ``x`` is constant): the closed form
    ``slope = sum(dx dy) / sum(dx^2)``, what ``scipy.stats.linregress`` gives, without its per-call
    overhead (the leave-one-out coverage fits n^2 lines)."""
    if np.ptp(x) == 0:
        return 0.0, float(np.mean(y))
    xbar, ybar = float(np.mean(x)), float(np.mean(y))
    dx = x - xbar
    slope = float(dx @ (y - ybar) / (dx @ dx))
    return slope, ybar - slope * xbar


def _leverage(x: np.ndarray, at: float) -> float:
    n, xbar = len(x), float(np.mean(x))
    sxx = float(np.sum((x - xbar) ** 2))
    return math.sqrt(1 + 1 / n + ((at - xbar) ** 2 / sxx if sxx > 0 else 0.0))


def _interval(x: np.ndarray, y: np.ndarray, at: float, *, alpha: float) -> dict:
    slope, intercept = _ols(x, y)
    q, level = conformal_radius(loo_residuals(x, y), alpha=alpha)
    lo, hi = float(np.min(x)), float(np.max(x))
    span = hi - lo
    outside = max(lo - at, at - hi, 0.0)
    distance = outside / span if span > 0 else (0.0 if outside == 0 else math.inf)
    widen = 1.0
    if outside > 0:
        widen = max(1.0, _leverage(x, at) / max(_leverage(x, v) for v in x))
    center = intercept + slope * at
    return {"center": center, "radius": q * widen, "base_radius": q, "level": level, "slope": slope,
            "intercept": intercept, "range": (lo, hi), "distance": distance, "extrapolates": outside > 0}


@functools.lru_cache(maxsize=256)
def _loso_coverage_memo(xb: bytes, yb: bytes, n: int, alpha: float) -> float | None:
    x, y = np.frombuffer(xb, dtype=np.float64, count=n), np.frombuffer(yb, dtype=np.float64, count=n)
    return _loso_coverage(x, y, alpha=alpha)


def _loso_coverage(x: np.ndarray, y: np.ndarray, *, alpha: float) -> float | None:
    n = len(x)
    if n < MIN_POINTS + 1:
        return None
    hits = 0
    for j in range(n):
        keep = np.arange(n) != j
        iv = _interval(x[keep], y[keep], float(x[j]), alpha=alpha)
        hits += abs(y[j] - iv["center"]) <= iv["radius"]
    return hits / n


def _compute_prediction(p: Predictor, value: float) -> Prediction:
    iv = _interval(p.x, p.y, value, alpha=p.alpha)
    slope, r = iv["slope"], float(np.corrcoef(p.x, p.y)[0, 1]) if np.ptp(p.x) > 0 and np.ptp(p.y) > 0 else 0.0
    notes = []
    refused = iv["extrapolates"] and iv["distance"] > REFUSE_BEYOND
    if iv["extrapolates"]:
        lo, hi = iv["range"]
        notes.append(f"extrapolation: {p.metric} = {value:.4g} lies outside the fitted range [{lo:.4g}, {hi:.4g}] "
                     f"({iv['distance']:.2f} of the range outside); the interval is widened by the fit's leverage"
                     + ("; no point estimate so far outside" if refused else ""))
    if iv["level"] < 1 - p.alpha - 1e-12:
        notes.append(f"with {len(p.x)} lab sources the widest distribution-free interval has level "
                     f"{iv['level']:.1%}, not {1 - p.alpha:.0%}")
    return Prediction(value=None if refused else iv["center"], low=iv["center"] - iv["radius"],
                      high=iv["center"] + iv["radius"], level=iv["level"], metric=p.metric, metric_value=value,
                      extrapolates=iv["extrapolates"], distance=iv["distance"], fit_range=iv["range"],
                      radius=iv["radius"], base_radius=iv["base_radius"], n=len(p.x), coverage=p.coverage(),
                      slope=slope, intercept=iv["intercept"], r2=r * r, exclude_derived=p.exclude_derived,
                      condition=p.condition, outcome=p.outcome, regime=p.regime, points=p.names,
                      note="; ".join(notes))


def leaderboard_metric(results: Mapping, *, condition: str, outcome: str, regime: str, exclude_derived: bool) -> str:
    """The metric the leaderboard ranks first for this selection: highest r^2 among the metrics whose
    Pearson r with the outcome is negative (the verdict's rule, :func:`core.validation.report.verdict`).

    Raises:
        AlignScopeError: no metric has a fit in this selection.
    """
    from core.validation import stats
    from core.validation.axes import axis_view

    view = axis_view(results, condition, outcome)
    rows = stats.build_leaderboard(view, exclude_derived=exclude_derived, regimes=[regime], n_boot=200,
                                   n_permutations=99)
    cands = [r for r in rows if r.get("r2") is not None and (r.get("pearson") or 0.0) < 0]
    if not cands:
        raise AlignScopeError(f"No metric predicts {outcome} under {condition} in regime {regime} "
                              "(none correlates negatively with a fit).", fix="run the lab on more sources.")
    return max(cands, key=lambda r: r["r2"])["metric"]


def fit_predictor(results: Mapping, *, condition: str = "finetune", outcome: str = "text-ppl",
                  regime: str | None = None, metric: str | None = None, exclude_derived: bool = True,
                  alpha: float = ALPHA, leave_out: str | None = None) -> Predictor:
    """The lab's predictor for one (condition, outcome, regime, metric).

    Args:
        results: a lab results dict (:func:`core.validation.report.load_results`).
        regime: default ``4k`` when present, else the first regime with runs.
        metric: default :func:`leaderboard_metric`.
        exclude_derived: leave the target-derived sources out (default: a new source is not derived).
        leave_out: a lab source to leave out of the fit (the one being predicted, so that its own
            runs never inform its prediction); its measured outcome is kept as ``Predictor.measured``.

    Raises:
        AlignScopeError: unknown condition/outcome/regime/metric, or fewer than :data:`MIN_POINTS`
            sources with a finished run and a metric value.
    """
    from core.validation import stats
    from core.validation.axes import axis_view

    view = axis_view(results, condition, outcome)
    names = [r for r in stats.regime_names(view) if r != stats.DOSE_REGIME]
    regime = regime or ("4k" if "4k" in names else (names[0] if names else None))
    if regime not in names:
        raise AlignScopeError(f"Regime {regime!r} has no {condition} runs with {outcome}.",
                              fix=f"choose one of {', '.join(names) or '(none)'}.")
    metric = metric or leaderboard_metric(results, condition=condition, outcome=outcome, regime=regime,
                                          exclude_derived=exclude_derived)
    table = stats.metric_table(view).get(metric)
    if not table:
        known = ", ".join(sorted(stats.metric_table(view))) or "(none)"
        raise AlignScopeError(f"The lab results have no values of metric {metric!r}.", fix=f"choose one of {known}.")
    pts = [p for p in stats.regime_points(view, regime) if p.ppl and p.metric_point in table
           and not (exclude_derived and p.derived)]
    measured = next((p.ppl_mean for p in stats.regime_points(view, regime) if p.ppl and p.name == leave_out), None)
    pts = [p for p in pts if p.name != leave_out]
    if len(pts) < MIN_POINTS:
        raise AlignScopeError(f"Only {len(pts)} lab sources have a {condition} {outcome} and a {metric} value in "
                              f"regime {regime}; a prediction needs {MIN_POINTS}.", fix="run the lab on more sources.")
    x = np.array([table[p.metric_point]["value"] for p in pts], dtype=float)
    y = np.array([p.ppl_mean for p in pts], dtype=float)
    return Predictor(x=x, y=y, names=tuple(p.name for p in pts), metric=metric, condition=condition,
                     outcome=outcome, regime=regime, exclude_derived=exclude_derived, alpha=alpha,
                     measured=None if measured is None else float(measured))
