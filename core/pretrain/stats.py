"""Statistics of the pre-training grid: r^2 of alignment vs held-out cross-entropy, with a nested bootstrap.

Points are (training corpus, evaluation corpus) pairs: ``x`` = the metric's alignment of the pair
(higher = more aligned, :mod:`core.metrics`), ``y`` = the cross-entropy (nats/token) averaged over
the seeds. The fit is ordinary least squares ``y = a + b x`` (``scipy.stats.linregress``) and
Pearson ``r^2`` / Spearman / Kendall (:func:`core.validation.stats.correlations`).

The confidence interval is a **nested (two-stage) cluster bootstrap over evaluation corpora**
(Davison & Hinkley 1997, sec. 3.8): stage 1 draws the evaluation corpora with replacement (the pairs
of one evaluation corpus share its difficulty, so they are not independent points); stage 2 draws,
within each drawn evaluation corpus, its pairs with replacement; r^2 and the slope are recomputed on
the drawn points and the interval is the percentile interval of the resamples
(:func:`core.validation.stats.percentile_ci`, Efron & Tibshirani 1993 eq. 13.5). A resample whose x or y
is constant has no correlation and is skipped (``n_boot_used``).

There are no target-derived sources in this design (no benchmark's text is trained on), so the
"with and without" split of the validation lab does not apply; instead the report gives r^2 with and
without the in-domain pairs (an evaluation corpus that is one of the training corpus's sources).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from core.validation.stats import CONFIDENCE, correlations, percentile_ci


def fit(x: Sequence[float], y: Sequence[float]) -> dict:
    """``{"n", "pearson", "r2", "spearman", "kendall", "slope", "intercept"}`` of the points (NaN when degenerate)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = {"n": int(x.size), **correlations(x, y)}
    if x.size >= 2 and np.ptp(x) > 0:
        lr = stats.linregress(x, y)
        out.update(slope=float(lr.slope), intercept=float(lr.intercept))
    else:
        out.update(slope=float("nan"), intercept=float("nan"))
    return out


def nested_bootstrap(x: Sequence[float], y: Sequence[float], clusters: Sequence[str], *, n_boot: int = 2000,
                     seed: int = 0, confidence: float = CONFIDENCE) -> dict:
    """Two-stage bootstrap over clusters (evaluation corpora), then points within them (module docstring).

    Args:
        x, y: float [n] alignment and cross-entropy of the points.
        clusters: [n] the evaluation corpus of each point.
        n_boot: resamples ``B``.  seed: ``numpy.random.default_rng(seed)``.

    Returns:
        ``{"r2_ci", "slope_ci", "pearson_ci", "n_boot", "n_boot_used"}`` (intervals None with fewer than
        half the resamples usable).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    names = list(dict.fromkeys(clusters))
    members = [np.flatnonzero(np.asarray(clusters) == c) for c in names]
    rng = np.random.default_rng(seed)
    r = np.full(n_boot, np.nan)
    slope = np.full(n_boot, np.nan)
    for b in range(n_boot):
        picked = rng.integers(0, len(names), size=len(names))                              # stage 1
        idx = np.concatenate([members[c][rng.integers(0, members[c].size, size=members[c].size)] for c in picked])
        xb, yb = x[idx], y[idx]                                                             # stage 2
        if np.ptp(xb) == 0 or np.ptp(yb) == 0:
            continue
        xc, yc = xb - xb.mean(), yb - yb.mean()
        r[b] = (xc @ yc) / np.sqrt((xc @ xc) * (yc @ yc))
        slope[b] = (xc @ yc) / (xc @ xc)
    used = int(np.isfinite(r).sum())
    need = max(1, n_boot // 2)
    return {"r2_ci": percentile_ci(r ** 2, confidence=confidence, min_count=need),
            "slope_ci": percentile_ci(slope, confidence=confidence, min_count=need),
            "pearson_ci": percentile_ci(r, confidence=confidence, min_count=need),
            "n_boot": int(n_boot), "n_boot_used": used}


def _row(points: list[dict], *, n_boot: int, seed: int) -> dict:
    x = [p["x"] for p in points]
    y = [p["y"] for p in points]
    row = fit(x, y)
    if len(points) >= 3:
        row.update(nested_bootstrap(x, y, [p["eval"] for p in points], n_boot=n_boot, seed=seed))
    return row


def grid_report(results: Mapping, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Per metric, r^2 (with its nested-bootstrap CI) of alignment vs cross-entropy, all pairs and without
    in-domain pairs, beside the paper's r^2; and the grid's cross-entropy table.

    Returns:
        ``{"paper_r2", "n_runs", "table", "metrics": {name: {"all": row, "out_of_domain": row}}}``.
    """
    from core.pretrain.grid import PAPER_R2, grid_table, in_domain, measured_metrics, metric_values

    table = grid_table(results)
    ce = {(t["train"], t["eval"]): float(np.mean(t["nats"])) for t in table}
    out: dict = {"paper_r2": PAPER_R2, "n_runs": sum(1 for r in results.get("runs", {}).values()
                                                     if r.get("status") == "done"),
                 "table": [{**t, "nats_mean": float(np.mean(t["nats"]))} for t in table], "metrics": {}}
    for m in measured_metrics(results):
        vals = metric_values(results, m)
        pts = [{"train": t, "eval": e, "x": vals[(t, e)], "y": ce[(t, e)]} for (t, e) in ce if (t, e) in vals]
        out["metrics"][m] = {"all": _row(pts, n_boot=n_boot, seed=seed),
                             "out_of_domain": _row([p for p in pts if not in_domain(p["train"], p["eval"])],
                                                   n_boot=n_boot, seed=seed)}
    return out


def report_text(rep: Mapping) -> str:
    """The report as a plain-text table."""
    def ci(c):
        return f"[{c[0]:.2f}, {c[1]:.2f}]" if c else "n/a"

    lines = [f"{rep['n_runs']} runs; paper r^2 = {rep['paper_r2']}",
             f"{'metric':14s} {'n':>3s} {'r':>6s} {'r2':>5s} {'95% CI':14s} {'r2 out-of-domain':>16s}"]
    for m, rows in rep["metrics"].items():
        a, o = rows["all"], rows["out_of_domain"]
        lines.append(f"{m:14s} {a['n']:3d} {a['pearson']:6.2f} {a['r2']:5.2f} {ci(a.get('r2_ci')):14s} "
                     f"{o['r2']:5.2f} {ci(o.get('r2_ci'))}")
    return "\n".join(lines)
