"""Tables and figures of a selection comparison (:mod:`core.selection.compare` results). No streamlit."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import plotly.graph_objects as go


def _f(v, d: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{d}f}"


def _ci(lo, hi, d: int = 3) -> str:
    return "" if lo is None or hi is None else f" [{lo:.{d}f}, {hi:.{d}f}]"


def compare_rows(res: Mapping) -> list[dict]:
    """One display row per method (strings), from a results dict's ``summary``."""
    rows = []
    for s in res.get("summary", []):
        comp = s.get("composition") or {}
        top = ", ".join(f"{c} {100 * v:.0f}%" for c, v in list(comp.items())[:3])
        al_ci = s.get("alignment_ci") or (None, None)
        rows.append({"method": s["method"], "runs": s["n"],
                     "perplexity (95% CI)": _f(s["ppl_after"], 2) + _ci(s["ppl_ci_low"], s["ppl_ci_high"], 2),
                     "vs random (paired, 95% CI)": _f(s["delta_vs_random"], 2) + _ci(s["delta_ci_low"], s["delta_ci_high"], 2),
                     "alignment": _f(s["alignment"], 4) + _ci(al_ci[0], al_ci[1], 4),
                     "selection s": _f(s["selection_seconds"], 1), "top sources": top})
    return rows


def compare_table(res: Mapping) -> str:
    """Markdown table of :func:`compare_rows` (the README's table)."""
    rows = compare_rows(res)
    if not rows:
        return "no comparison results yet"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    base = [r.get("ppl_before") for r in res.get("runs", []) if r.get("ppl_before")]
    if base:
        lines.append(f"\nBase model perplexity on the target's test split: {base[0]:.2f}.")
    return "\n".join(lines)


def compare_figure(res: Mapping, *, title: str = "") -> go.Figure:
    """Two panels: fine-tuned perplexity per method (each seed a dot, mean with 95% t CI), and the
    selection's Task2Vec alignment against the fine-tuned perplexity (one point per run)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Perplexity on the target's test split after fine-tuning",
                                                        "Selection alignment vs perplexity"))
    summary = [s for s in res.get("summary", []) if s.get("n")]
    runs = [r for r in res.get("runs", []) if r.get("status") == "done" and r.get("ppl_after") is not None]
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for k, s in enumerate(summary):
        c = colors[k % len(colors)]
        mine = [r for r in runs if r["method"] == s["method"]]
        fig.add_trace(go.Scatter(x=[s["method"]] * len(mine), y=[r["ppl_after"] for r in mine], mode="markers",
                                 marker=dict(color=c, size=7, opacity=0.5), name=s["method"], legendgroup=s["method"],
                                 showlegend=False, hovertext=[f"seed {r['seed']}" for r in mine]), row=1, col=1)
        err = None
        if s.get("ppl_ci_low") is not None:
            err = dict(type="data", symmetric=False, array=[s["ppl_ci_high"] - s["ppl_after"]],
                       arrayminus=[s["ppl_after"] - s["ppl_ci_low"]])
        fig.add_trace(go.Scatter(x=[s["method"]], y=[s["ppl_after"]], error_y=err, mode="markers",
                                 marker=dict(color=c, size=13, symbol="diamond"), name=s["method"],
                                 legendgroup=s["method"]), row=1, col=1)
        al = [r for r in mine if (r.get("alignment") or {}).get("value") is not None]
        fig.add_trace(go.Scatter(x=[r["alignment"]["value"] for r in al], y=[r["ppl_after"] for r in al], mode="markers",
                                 marker=dict(color=c, size=9), name=s["method"], legendgroup=s["method"], showlegend=False,
                                 hovertext=[f"{r['method']} seed {r['seed']}" for r in al]), row=1, col=2)
    base = next((r.get("ppl_before") for r in runs if r.get("ppl_before")), None)
    if base:
        fig.add_hline(y=base, line_dash="dot", annotation_text=f"base model {base:.2f}", row=1, col=1)
    fig.update_yaxes(title_text="perplexity (lower is better)", row=1, col=1)
    fig.update_xaxes(title_text="Task2Vec alignment of the selection with the target", row=1, col=2)
    cfg = res.get("config", {})
    fig.update_layout(title=title or f"Selection methods, {cfg.get('budget', '?')} tokens from the same pool, "
                      f"{len(cfg.get('seeds', []))} seeds each", width=1300, height=560, template="plotly_white")
    return fig


def save_compare_figure(res: Mapping, path: str | Path) -> Path:
    """Write :func:`compare_figure` (``.png`` needs Chromium; ``.html`` always works).

    Raises:
        AlignScopeError: PNG export without Chromium (see :func:`core.charts.figure_image`).
    """
    from core.charts import save_figure

    return save_figure(compare_figure(res), path)
