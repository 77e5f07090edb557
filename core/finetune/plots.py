"""Figures of the fine-tune experiment (plotly; no streamlit here).

- :func:`alignment_figure`: the alignment paper's central figure: alignment coefficient (x, with
  its 95% CI as error bars) vs perplexity of the fine-tuned model on the target's held-out split
  (y), one labelled point per run, the OLS line with its 95% confidence band, r^2 and the slope's
  95% CI in the title, and the base model's perplexity as a dashed horizontal line.
- :func:`familiarity_figure`: familiarity (base-model perplexity on the training data) vs the same
  test perplexity.
- :func:`save_figure`: :func:`core.charts.save_figure` (the one figure-export path: PNG/SVG/PDF
  through kaleido + Chromium, and HTML) at this figure's export size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import AlignScopeError
from core.finetune.fit import LinearFit, ols

POINT = "#1f77b4"
FIT = "#d62728"


def plottable(rows: list[dict], x: str = "alignment") -> list[dict]:
    """Finished runs having both ``x`` and a finite ``ppl_after``."""
    out = []
    for r in rows:
        if r.get("status") != "done":
            continue
        xv, yv = r.get(x), r.get("ppl_after")
        if xv is None or yv is None or not np.isfinite(xv) or not np.isfinite(yv):
            continue
        out.append(r)
    return out


def fit_rows(rows: list[dict], x: str = "alignment") -> LinearFit | None:
    """OLS of ``ppl_after`` on ``x`` over :func:`plottable` rows (None with fewer than 2 distinct x)."""
    pts = plottable(rows, x)
    try:
        return ols([r[x] for r in pts], [r["ppl_after"] for r in pts])
    except AlignScopeError:
        return None


def base_perplexity(rows: list[dict]) -> float | None:
    """The base model's perplexity on the held-out split (identical for every run of a group)."""
    vals = [r["ppl_before"] for r in rows if r.get("ppl_before") is not None]
    return float(np.median(vals)) if vals else None


def fit_text(fit: LinearFit | None, xname: str = "alignment") -> str:
    """One line describing ``fit``: slope with its 95% CI, r^2 and n (or why there is no fit)."""
    if fit is None:
        return "no fit yet (needs 2 runs with different x)"
    s = f"r² = {fit.r2:.3f}, slope = {fit.slope:.3g}"
    if fit.slope_ci:
        s += f" (95% CI [{fit.slope_ci[0]:.3g}, {fit.slope_ci[1]:.3g}])"
    if fit.p_value is not None:
        s += f", p = {fit.p_value:.3g}"
    return s + f", n = {fit.n}"


_CANDIDATES = {  # textposition -> offset of the label box centre (in units of box width, height)
    "top center": (0.0, 1.0), "bottom center": (0.0, -1.0), "middle right": (0.6, 0.0), "middle left": (-0.6, 0.0),
    "top right": (0.55, 0.8), "top left": (-0.55, 0.8), "bottom right": (0.55, -0.8), "bottom left": (-0.55, -0.8)}


def label_positions(xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *, char_w: float = 0.0085,
                    line_h: float = 0.045) -> list[str]:
    """A plotly ``textposition`` per point, chosen greedily so that labels overlap each other and the
    markers as little as possible (coordinates normalised to the data range; a label is a box of
    ``char_w`` per character by ``line_h``)."""
    n = len(xs)
    if n == 0:
        return []
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    xr = (xs.max() - xs.min()) or 1.0
    yr = (ys.max() - ys.min()) or 1.0
    xn, yn = (xs - xs.min()) / xr, (ys - ys.min()) / yr
    boxes: list[tuple[float, float, float, float]] = [(xn[i] - 0.008, yn[i] - 0.015, xn[i] + 0.008, yn[i] + 0.015)
                                                      for i in range(n)]   # the markers

    def overlap(b, c):
        return max(0.0, min(b[2], c[2]) - max(b[0], c[0])) * max(0.0, min(b[3], c[3]) - max(b[1], c[1]))

    out = [""] * n
    for i in sorted(range(n), key=lambda i: (xn[i], yn[i])):
        w, h = char_w * len(str(labels[i])), line_h
        best, best_cost = "top center", None
        for name, (dx, dy) in _CANDIDATES.items():
            cx, cy = xn[i] + dx * w + (0.01 if dx > 0 else -0.01 if dx < 0 else 0), yn[i] + dy * h * 0.75
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            cost = sum(overlap(box, b) for k, b in enumerate(boxes) if k != i) + (0 if dx == 0 else 1e-4)
            if best_cost is None or cost < best_cost - 1e-12:
                best, best_cost, best_box = name, cost, box
        out[i] = best
        boxes.append(best_box)
    return out


#: Marker of points whose training text is derived from the target benchmark (``row["derived"]``).
DERIVED = "#ff7f0e"


#: Legend name of quick runs' points (``finetune --quick``: perplexity on a seeded held-out subsample).
QUICK_POINTS = "quick runs (bars: 95% CI over the held-out subsample's documents)"


def _bounds(r: dict) -> tuple[float | None, float | None]:
    """A point's vertical bar: ``ppl_low`` / ``ppl_high`` (e.g. min–max over seeds), else a quick
    run's 95% CI over documents (``ppl_ci_low`` / ``ppl_ci_high``)."""
    if r.get("ppl_low") is not None or r.get("ppl_high") is not None:
        return r.get("ppl_low"), r.get("ppl_high")
    return r.get("ppl_ci_low"), r.get("ppl_ci_high")


def _y_error(pts: list[dict]) -> dict | None:
    """Vertical error bars from :func:`_bounds`, when rows have them."""
    bounds = [_bounds(r) for r in pts]
    if not any(lo is not None and hi is not None for lo, hi in bounds):
        return None
    lo = [max(0.0, r["ppl_after"] - b[0]) if b[0] is not None else 0.0 for r, b in zip(pts, bounds)]
    hi = [max(0.0, b[1] - r["ppl_after"]) if b[1] is not None else 0.0 for r, b in zip(pts, bounds)]
    return dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1, color="#7f7f7f")


def _hover_extra(r: dict) -> str:
    """Hover line of a point summarising several seeds (a committed-lab point), else ``""``."""
    seeds = r.get("ppl_seeds")
    if not seeds:
        return ""
    return (f"<br>{len(seeds)} seeds: " + ", ".join(f"{v:.2f}" for v in seeds)
            + (" · derived from the target" if r.get("derived") else ""))


def _fmt3(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _scatter_with_fit(rows, x: str, xtitle: str, title: str, base: float | None, *, xerr: bool,
                      points_name: str = "fine-tuned runs"):
    import plotly.graph_objects as go

    pts = plottable(rows, x)
    fit = fit_rows(rows, x)
    if pts and all(r.get("quick") for r in pts):       # a quick group: marked in the legend and the title
        points_name = QUICK_POINTS if points_name == "fine-tuned runs" else points_name
        title = f"{title} (quick runs)"
    fig = go.Figure()
    if fit is not None:
        xs = np.array([r[x] for r in pts], dtype=float)
        lo, hi = xs.min(), xs.max()
        pad = 0.05 * (hi - lo) if hi > lo else 0.01
        grid = np.linspace(lo - pad, hi + pad, 100)
        band = fit.band(grid)
        if band is not None:
            fig.add_trace(go.Scatter(x=np.concatenate([grid, grid[::-1]]), y=np.concatenate([band[1], band[0][::-1]]),
                                     fill="toself", fillcolor="rgba(214,39,40,0.15)", line=dict(width=0),
                                     hoverinfo="skip", name="95% confidence band"))
        fig.add_trace(go.Scatter(x=grid, y=fit.predict(grid), mode="lines", line=dict(color=FIT, width=2),
                                 name=f"OLS fit (r² = {fit.r2:.3f})"))
    positions = dict(zip((id(r) for r in pts),
                         label_positions([r[x] for r in pts], [r["ppl_after"] for r in pts], [r["label"] for r in pts])))
    derived = [r for r in pts if r.get("derived")]
    for group, name, marker in (
            ([r for r in pts if not r.get("derived")], points_name, dict(size=10, color=POINT)),
            (derived, "derived from the target benchmark", dict(size=12, color=DERIVED, symbol="diamond"))):
        if not group and name != points_name:           # the derived trace only when there are such points
            continue
        err = None
        if xerr and group:
            lo_e = [max(0.0, r[x] - r["align_ci_low"]) if r.get("align_ci_low") is not None else 0.0 for r in group]
            hi_e = [max(0.0, r["align_ci_high"] - r[x]) if r.get("align_ci_high") is not None else 0.0 for r in group]
            err = dict(type="data", symmetric=False, array=hi_e, arrayminus=lo_e, thickness=1, color="#7f7f7f")
        fig.add_trace(go.Scatter(
            x=[r[x] for r in group], y=[r["ppl_after"] for r in group], mode="markers+text",
            text=[r["label"] for r in group], textposition=[positions[id(r)] for r in group], marker=marker,
            error_x=err, error_y=_y_error(group), name=name,
            customdata=[[_fmt3(r.get("ppl_before")), _fmt3(r.get("familiarity")), r.get("tokens_trained"),
                         r.get("run_id"), _hover_extra(r)] for r in group],
            hovertemplate=("<b>%{text}</b><br>" + xtitle + " %{x:.4f}<br>perplexity after %{y:.3f}<br>"
                           "before %{customdata[0]}<br>familiarity %{customdata[1]}<br>"
                           "tokens %{customdata[2]}<br>run %{customdata[3]}%{customdata[4]}<extra></extra>")))
    if base is not None:
        fig.add_hline(y=base, line_dash="dash", line_color="#555555",
                      annotation_text=f"base model (before fine-tuning) {base:.2f}", annotation_position="top right")
    fig.update_layout(title=dict(text=f"{title}<br><sup>{fit_text(fit, x)}</sup>"), xaxis_title=xtitle,
                      yaxis_title="perplexity on the held-out split (lower is better)", template="plotly_white",
                      height=560, legend=dict(orientation="h", y=-0.18), margin=dict(t=90))
    return fig, fit


def alignment_figure(rows: list[dict], *, target: str = "", base: float | None = None,
                     points_name: str = "fine-tuned runs") -> tuple[go.Figure, LinearFit | None]:
    """Alignment vs test perplexity; returns ``(figure, LinearFit | None)``.

    Rows are results-database rows (:func:`core.finetune.results.list_runs`) or rows shaped like them
    (:func:`core.validation.committed.lab_groups`). A row may also carry ``ppl_low`` / ``ppl_high``
    (vertical error bars, e.g. min–max over seeds), ``ppl_seeds`` (listed in the hover) and
    ``derived`` (training text derived from the target benchmark: an orange diamond, still in the fit).
    Quick runs (``quick``) have their 95% CI over documents as bars, and a group of them is named
    "quick" in the legend (:data:`QUICK_POINTS`) and the title. ``points_name`` names the points.
    """
    base = base if base is not None else base_perplexity(rows)
    t = f"Alignment with {target} vs test perplexity after fine-tuning" if target else "Alignment vs test perplexity"
    return _scatter_with_fit(rows, "alignment", "alignment coefficient with the target (Task2Vec)", t, base, xerr=True,
                             points_name=points_name)


def alignment_figure_styled(rows: list[dict], *, target: str = "", provenance: str = "",
                            points_name: str = "fine-tuned runs") -> go.Figure:
    """:func:`alignment_figure` in the dashboard's style (:func:`core.charts.dashboard_style`: same
    fonts and margins as the other charts, no point, label or base-model line clipped), naming the
    estimator and probe network that produced the alignments (from each run's ``align_settings``), or
    ``provenance`` when given (e.g. a committed lab group's :attr:`~core.validation.committed.LabGroup.label`)."""
    from core.charts import dashboard_style

    fig, _ = alignment_figure(list(rows), target=target, base=base_perplexity(list(rows)), points_name=points_name)
    used = sorted({f"estimator {(r.get('align_settings') or {}).get('estimator')} · probe "
                   f"{(r.get('align_settings') or {}).get('model')}" for r in rows
                   if r.get("align_settings") and not r.get("lab")})
    fig.update_yaxes(title_text="test perplexity (lower is better)")
    subtitle = provenance or (("alignment: " + "; ".join(used)) if used else "")
    return dashboard_style(fig, subtitle=subtitle)


def familiarity_figure(rows: list[dict], *, target: str = "", base: float | None = None,
                       points_name: str = "fine-tuned runs") -> tuple[go.Figure, LinearFit | None]:
    """Familiarity (base-model perplexity on the source) vs test perplexity; ``(figure, fit)``.
    Rows as for :func:`alignment_figure`."""
    base = base if base is not None else base_perplexity(rows)
    t = f"Familiarity vs perplexity on {target}" if target else "Familiarity vs test perplexity"
    return _scatter_with_fit(rows, "familiarity", "familiarity: base-model perplexity on the source (lower = more familiar)",
                             t, base, xerr=False, points_name=points_name)


#: Pixel size of exported fine-tune figures (PNG/SVG/PDF), passed to :func:`core.charts.save_figure`.
EXPORT_SIZE = (1000, 620)


def save_figure(fig: go.Figure, path: str | Path, *, plotlyjs: str | bool = True) -> Path:
    """:func:`core.charts.save_figure` at :data:`EXPORT_SIZE`; the format follows the extension."""
    from core.charts import save_figure as _save

    return _save(fig, path, plotlyjs=plotlyjs, width=EXPORT_SIZE[0], height=EXPORT_SIZE[1])
