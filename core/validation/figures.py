"""Figures and tables of the validation lab ("Which metric predicts?"). Plotly, no streamlit.

- :func:`leaderboard_table` / :func:`leaderboard_frame`: the leaderboard as displayed (metric | cost
  per source (s) | r² [CI] | Spearman [CI] | LOO error | p ...) and as a flat numeric table (CSV).
- :func:`scatter_figure`: small multiples, one panel per metric, perplexity on a shared y axis,
  95% seed-CI error bars (Student t over the seeds of a point), the least-squares fit line.
- :func:`dose_ppl_figure`, :func:`dose_metric_figure`: the dose-response curves (perplexity and
  every metric against the share of the aligned source A), per pair, with seed CIs.

Built for a projector like :mod:`core.charts` (fonts >= 14 px, one accent colour); every builder is
a pure function of the report's plain data (:func:`core.validation.report.report`).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from core.charts import ACCENT, BASE_FONT, _esc, base_layout

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

DERIVED_COLOUR = "#c77c1e"
EXCLUDED_COLOUR = "#b0b0b0"
FIT_COLOUR = "#b5483b"
PAIR_COLOURS = ("#1f4e79", "#c77c1e", "#2e8b57", "#7a5195", "#b5483b")
SMALL_FONT = BASE_FONT - 4


def _num(v, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _with_ci(v, ci, digits: int = 2, *, signed: bool = False) -> str:
    if v is None:
        return "–"
    head = f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    return head + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else " [n/a]")


def _p(p) -> str:
    if p is None:
        return "–"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _seeds(row: Mapping) -> str:
    lo, hi = row.get("n_seeds_min"), row.get("n_seeds_max")
    if not row.get("n_sources"):
        return "0"
    return f"{row['n_sources']} × {lo}" if lo == hi else f"{row['n_sources']} × {lo}-{hi}"


def leaderboard_table(rows: Sequence[Mapping], *, unit: str = "ppl") -> "pd.DataFrame":
    """The leaderboard as shown on the page, one row per metric (rows of one regime and setting).

    Args:
        rows: :func:`core.validation.stats.build_leaderboard` rows (already ordered by r^2).
        unit: the outcome's unit, named in the LOO error column (``"ppl"``, ``"nats/token"``:
            :func:`core.validation.axes.outcome_unit`).

    Returns:
        DataFrame with string columns ``metric, cost per source (s), r² [95% CI], Spearman [95% CI],
        LOO error (<unit>), p, Δr² vs default [95% CI], sources × seeds, runs used / failed, note``.
    """
    import pandas as pd

    out = []
    for r in rows:
        default = r.get("default_metric", "t2v-head")
        out.append({
            "metric": r["metric"] + (" (default)" if r.get("is_default") else ""),
            "cost per source (s)": _num(r.get("cost_s"), 2),
            "r² [95% CI]": _with_ci(r.get("r2"), r.get("r2_ci")),
            "Spearman [95% CI]": _with_ci(r.get("spearman"), r.get("spearman_ci")),
            f"LOO error ({unit})": _num(r.get("loo_error"), 2),
            "p": _p(r.get("p_perm")),
            f"Δr² vs {default} [95% CI]": ("–" if r.get("is_default") else
                                           _with_ci(r.get("r2_diff_vs_default"), r.get("r2_diff_ci"), signed=True)),
            "Kendall [95% CI]": _with_ci(r.get("kendall"), r.get("kendall_ci")),
            "sources × seeds": _seeds(r),
            "runs used / failed": f"{r.get('n_runs_used', 0)} / {r.get('n_runs_failed', 0)}",
            "note": r.get("message") or ("wrong direction: higher alignment, higher perplexity"
                                         if (r.get("pearson") or 0) > 0 else ""),
        })
    return pd.DataFrame(out)


def leaderboard_frame(rows: Sequence[Mapping]) -> "pd.DataFrame":
    """The leaderboard rows as a flat numeric table (CSV export): every ``*_ci`` becomes
    ``*_ci_low`` / ``*_ci_high``; point lists are joined with ``;``."""
    import pandas as pd

    flat = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if k.endswith("_ci"):
                d[f"{k}_low"], d[f"{k}_high"] = (v[0], v[1]) if v else (None, None)
            elif isinstance(v, (list, tuple)):
                d[k] = ";".join(map(str, v))
            else:
                d[k] = v
        flat.append(d)
    return pd.DataFrame(flat)


def points_frame(points: Sequence[Mapping]) -> "pd.DataFrame":
    """Per-point table (CSV export): point, derived, ppl mean and seed CI, seeds, failed, and one
    column per metric value."""
    import pandas as pd

    out = []
    for p in points:
        d = {"point": p["point"], "derived_from_target": p["derived"], "fraction": p.get("fraction"),
             "ppl_mean": p["ppl_mean"], "ppl_ci_low": p["ppl_ci_low"], "ppl_ci_high": p["ppl_ci_high"],
             "n_seeds": p["n_seeds"], "n_failed": p["n_failed"], "runs_from": p.get("regime_of_runs")}
        d.update({f"metric:{m}": v for m, v in sorted(p["metrics"].items())})
        out.append(d)
    return pd.DataFrame(out)


def _err(points: Sequence[Mapping]) -> dict | None:
    hi = [(p["ppl_ci_high"] - p["ppl_mean"]) if p.get("ppl_ci_high") is not None else 0.0 for p in points]
    lo = [(p["ppl_mean"] - p["ppl_ci_low"]) if p.get("ppl_ci_low") is not None else 0.0 for p in points]
    return dict(type="data", array=hi, arrayminus=lo, symmetric=False, thickness=1.6, width=4)


def _hover(p: Mapping, metric: str, *, note: str = "") -> str:
    ci = (f" [{p['ppl_ci_low']:.2f}, {p['ppl_ci_high']:.2f}]" if p.get("ppl_ci_low") is not None else " (1 seed)")
    return (f"<b>{_esc(p['point'])}</b>{note}<br>{_esc(metric)}: {p['metrics'].get(metric, float('nan')):.4g}"
            f"<br>perplexity {p['ppl_mean']:.2f}{ci}<br>{p['n_seeds']} seed(s)"
            + (f", {p['n_failed']} failed" if p.get("n_failed") else ""))


def scatter_figure(rows: Sequence[Mapping], points: Sequence[Mapping], *, title: str = "", base_ppl: float | None = None,
                   cols: int = 3) -> "go.Figure":
    """Small multiples: post-fine-tune perplexity (shared y) against each metric, with fit lines.

    Args:
        rows: leaderboard rows of one regime and ``exclude_derived`` setting (one panel each, in
            their order); a row's ``points`` are the points it used, ``excluded`` those left out.
        points: :func:`core.validation.stats.point_records` of that regime.
        title: figure title. base_ppl: the base model's perplexity (dashed line), or None.
        cols: panels per row.

    Returns:
        A figure with one panel per metric: used points (target-derived ones in orange diamonds),
        excluded target-derived points as grey open markers, 95% seed-CI error bars, the least-squares
        line over the used points and the panel title ``metric · r² [CI]``.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = [r for r in rows]
    n = max(1, len(rows))
    cols = max(1, min(cols, n))
    nrows = int(math.ceil(n / cols))
    titles = [f"<b>{_esc(r['metric'])}</b> · r² {_with_ci(r.get('r2'), r.get('r2_ci'))}" if r.get("r2") is not None
              else f"<b>{_esc(r['metric'])}</b> · no fit" for r in rows]
    fig = make_subplots(rows=nrows, cols=cols, shared_yaxes="all", subplot_titles=titles or None,
                        horizontal_spacing=0.035, vertical_spacing=min(0.5 / max(nrows, 1), 0.14))
    by_name = {p["point"]: p for p in points}
    legend_done: set[str] = set()
    for k, r in enumerate(rows):
        row, col = k // cols + 1, k % cols + 1
        m = r["metric"]
        used = [by_name[n] for n in r.get("points", []) if n in by_name and m in by_name[n]["metrics"]]
        excl = [by_name[n] for n in r.get("excluded", []) if n in by_name and m in by_name[n]["metrics"]
                and by_name[n]["n_seeds"]]
        groups = (("source", [p for p in used if not p["derived"]], dict(color=ACCENT, symbol="circle", size=10)),
                  ("target-derived", [p for p in used if p["derived"]],
                   dict(color=DERIVED_COLOUR, symbol="diamond", size=12)),
                  ("excluded (target-derived)", excl,
                   dict(color=EXCLUDED_COLOUR, symbol="diamond-open", size=12, line=dict(width=2))))
        for label, pts, marker in groups:
            if not pts:
                continue
            fig.add_trace(go.Scatter(
                x=[p["metrics"][m] for p in pts], y=[p["ppl_mean"] for p in pts], mode="markers", name=label,
                legendgroup=label, showlegend=label not in legend_done, marker=marker,
                error_y={**_err(pts), "color": EXCLUDED_COLOUR if label.startswith("excluded") else "#444"},
                customdata=[_hover(p, m, note=" (excluded)" if label.startswith("excluded") else "") for p in pts],
                hovertemplate="%{customdata}<extra></extra>"), row=row, col=col)
            legend_done.add(label)
        if r.get("slope") is not None and used:
            xs = np.array([p["metrics"][m] for p in used])
            grid = np.linspace(xs.min(), xs.max(), 20)
            fig.add_trace(go.Scatter(x=grid, y=r["intercept"] + r["slope"] * grid, mode="lines", name="least-squares fit",
                                     legendgroup="fit", showlegend="fit" not in legend_done,
                                     line=dict(color=FIT_COLOUR, width=2.5), hoverinfo="skip"), row=row, col=col)
            legend_done.add("fit")
        fig.update_xaxes(title=dict(text=f"{_esc(m)} (higher = more aligned)", font=dict(size=SMALL_FONT)),
                         tickfont=dict(size=SMALL_FONT - 1), gridcolor="#e5e5e5", row=row, col=col)
    if base_ppl is not None:
        fig.add_hline(y=base_ppl, line=dict(color="#777", dash="dash", width=1.5), row="all", col="all")
    for i in range(nrows):
        fig.update_yaxes(title=dict(text="perplexity after fine-tune" if i == nrows // 2 else "",
                                    font=dict(size=SMALL_FONT)), row=i + 1, col=1)
    fig.update_yaxes(tickfont=dict(size=SMALL_FONT - 1), gridcolor="#e5e5e5")
    return _finish_grid(fig, title, nrows, panel_height=330)


def _finish_grid(fig: "go.Figure", title: str, nrows: int, *, panel_height: int) -> "go.Figure":
    """Common layout of a small-multiples grid: annotation font, height per row of panels, the legend
    above the grid on the right, tight margins."""
    fig.update_annotations(font=dict(size=SMALL_FONT))
    fig.update_layout(**base_layout(title, height=120 + panel_height * nrows))
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0 + 0.12 / nrows, x=1.0, xanchor="right",
                                  font=dict(size=SMALL_FONT)),
                      margin=dict(l=10, r=10, t=130 if title else 90, b=10))
    return fig


def dose_ppl_figure(dose: Mapping, *, base_ppl: float | None = None, title: str = "") -> "go.Figure":
    """Perplexity after fine-tuning against the share of the aligned source A, one line per pair.

    Args:
        dose: :func:`core.validation.stats.dose_response` output.
        base_ppl: the base model's perplexity (dashed line), or None.

    Returns:
        Lines with markers at each fraction (mean over seeds) and 95% seed-CI error bars; the legend
        shows each pair with its Spearman rho of perplexity vs fraction.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for k, pair in enumerate(dose.get("pairs") or []):
        pts = [p for p in pair["points"] if p["n_seeds"]]
        sp = pair.get("spearman_ppl") or {}
        rho = f" (Spearman {sp['rho']:+.2f})" if sp.get("rho") is not None else ""
        colour = PAIR_COLOURS[k % len(PAIR_COLOURS)]
        fig.add_trace(go.Scatter(
            x=[p["fraction"] for p in pts], y=[p["ppl_mean"] for p in pts], mode="lines+markers",
            name=f"{_esc(pair['pair'][0])} into {_esc(pair['pair'][1])}{rho}",
            line=dict(color=colour, width=3), marker=dict(size=10, color=colour),
            error_y={**_err(pts), "color": colour},
            customdata=[f"<b>{_esc(p['point'])}</b><br>share of {_esc(pair['pair'][0])}: {p['fraction']:g}"
                        f"<br>perplexity {p['ppl_mean']:.2f}"
                        + (f" [{p['ppl_ci_low']:.2f}, {p['ppl_ci_high']:.2f}]" if p.get("ppl_ci_low") is not None else "")
                        + f"<br>{p['n_seeds']} seed(s)" + (" (runs of the pure source)" if p.get("regime_of_runs") != "dose" else "")
                        for p in pts],
            hovertemplate="%{customdata}<extra></extra>"))
    if base_ppl is not None:
        fig.add_hline(y=base_ppl, line=dict(color="#777", dash="dash", width=1.5),
                      annotation_text="base model", annotation_position="top left",
                      annotation_font=dict(size=SMALL_FONT))
    fig.update_layout(**base_layout(title, height=540))
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0.0, font=dict(size=SMALL_FONT)),
                      margin=dict(l=10, r=10, t=120 if title else 60, b=10))
    fig.update_xaxes(title=dict(text="share of the aligned source A in the training tokens",
                                font=dict(size=SMALL_FONT + 2)), range=[-0.04, 1.04],
                     tickvals=sorted({p["fraction"] for pr in dose.get("pairs") or [] for p in pr["points"]}),
                     gridcolor="#e5e5e5")
    fig.update_yaxes(title=dict(text="perplexity after fine-tune", font=dict(size=SMALL_FONT + 2)), gridcolor="#e5e5e5")
    return fig


def dose_metric_figure(dose: Mapping, *, metrics: Sequence[str] | None = None, title: str = "",
                       cols: int = 3) -> "go.Figure":
    """Every metric against the share of the aligned source A, one panel per metric, one line per pair.

    Args:
        dose: :func:`core.validation.stats.dose_response` output.
        metrics: panels to draw (default: ``dose["metrics"]``).

    Returns:
        Small multiples (own y axis per metric, shared x); each point is the metric measured on the
        real mixed data (error bars: the metric's own 95% CI where it reports one); panel titles give
        the Spearman rho of metric vs fraction per pair.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = list(metrics if metrics is not None else dose.get("metrics") or [])
    pairs = dose.get("pairs") or []
    n = max(1, len(metrics))
    cols = max(1, min(cols, n))
    nrows = int(math.ceil(n / cols))
    titles = []
    for m in metrics:
        rhos = [pr["spearman_metric"].get(m, {}).get("rho") for pr in pairs]
        titles.append(f"<b>{_esc(m)}</b> · ρ " + " / ".join("–" if r is None else f"{r:+.2f}" for r in rhos))
    fig = make_subplots(rows=nrows, cols=cols, shared_xaxes="all", subplot_titles=titles or None,
                        horizontal_spacing=0.07, vertical_spacing=min(0.5 / max(nrows, 1), 0.14))
    for k, m in enumerate(metrics):
        row, col = k // cols + 1, k % cols + 1
        for j, pair in enumerate(pairs):
            pts = [p for p in pair["points"] if m in p["metrics"]]
            if not pts:
                continue
            colour = PAIR_COLOURS[j % len(PAIR_COLOURS)]
            cis = [p.get("metric_ci", {}).get(m) for p in pts]
            err = None
            if any(cis):
                err = dict(type="data", symmetric=False, color=colour, thickness=1.4, width=3,
                           array=[(c[1] - p["metrics"][m]) if c else 0.0 for c, p in zip(cis, pts)],
                           arrayminus=[(p["metrics"][m] - c[0]) if c else 0.0 for c, p in zip(cis, pts)])
            fig.add_trace(go.Scatter(
                x=[p["fraction"] for p in pts], y=[p["metrics"][m] for p in pts], mode="lines+markers",
                name=f"{_esc(pair['pair'][0])} into {_esc(pair['pair'][1])}", legendgroup=pair["label"],
                showlegend=k == 0, line=dict(color=colour, width=2.5), marker=dict(size=8, color=colour),
                error_y=err, hovertemplate=f"{_esc(m)} %{{y:.4g}}<br>share of A %{{x:g}}<extra></extra>"),
                row=row, col=col)
        fig.update_yaxes(tickfont=dict(size=SMALL_FONT - 1), gridcolor="#e5e5e5", row=row, col=col)
        fig.update_xaxes(tickfont=dict(size=SMALL_FONT - 1), gridcolor="#e5e5e5", range=[-0.04, 1.04], row=row, col=col,
                         title=dict(text="share of A" if row == nrows else "", font=dict(size=SMALL_FONT)))
    return _finish_grid(fig, title, nrows, panel_height=300)
