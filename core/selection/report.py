"""Tables and figures of a selection comparison (:mod:`core.finetune.compare` results). No streamlit."""
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
    """Markdown table of :func:`compare_rows` (the table of docs/selection.md)."""
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


def method_perplexity_figure(res: Mapping, *, title: str = "") -> go.Figure:
    """One panel for a slide: each method's perplexity on the target's test split after fine-tuning
    (lower is better), best on top: the mean over seeds (diamond, its value as text) with its 95% t
    interval (:func:`core.finetune.compare.t_interval`) as a horizontal bar, each seed a small dot,
    the base model's perplexity as a dotted line. Hover adds the paired difference from random
    (same seed) and the selection's Task2Vec alignment. Methods without a finished run are left out.
    """
    from core.charts import BASE_FONT, _esc, base_layout

    summary = sorted((s for s in res.get("summary", []) if s.get("n") and s.get("ppl_after") is not None),
                     key=lambda s: s["ppl_after"])
    runs = [r for r in res.get("runs", []) if r.get("status") == "done" and r.get("ppl_after") is not None]
    names = [_esc(s["method"]) for s in summary]
    fig = go.Figure()
    seeds = [(r["ppl_after"], _esc(r["method"]), f"seed {r['seed']}") for r in runs if _esc(r["method"]) in names]
    fig.add_trace(go.Scatter(x=[x for x, _, _ in seeds], y=[y for _, y, _ in seeds], mode="markers", name="one seed",
                             marker=dict(size=9, color="#888", opacity=0.7), hovertext=[h for _, _, h in seeds],
                             hoverinfo="text+x"))
    hi = [(s["ppl_ci_high"] - s["ppl_after"]) if s.get("ppl_ci_high") is not None else 0 for s in summary]
    lo = [(s["ppl_after"] - s["ppl_ci_low"]) if s.get("ppl_ci_low") is not None else 0 for s in summary]
    hover = [f"<b>{_esc(s['method'])}</b>: {_f(s['ppl_after'], 2)}{_ci(s.get('ppl_ci_low'), s.get('ppl_ci_high'), 2)}"
             f"<br>vs random (paired): {_f(s.get('delta_vs_random'), 2)}{_ci(s.get('delta_ci_low'), s.get('delta_ci_high'), 2)}"
             f"<br>alignment {_f(s.get('alignment'), 3)} · {s['n']} seeds" for s in summary]
    fig.add_trace(go.Scatter(x=[s["ppl_after"] for s in summary], y=names, mode="markers+text", name="mean, 95% CI",
                             marker=dict(size=16, symbol="diamond", color="#1f4e79"),
                             error_x=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=2.5, width=8),
                             text=[f"{s['ppl_after']:.2f}" for s in summary], textposition="top center",
                             customdata=hover, hovertemplate="%{customdata}<extra></extra>"))
    base = next((r.get("ppl_before") for r in runs if r.get("ppl_before")), None)
    if base:
        fig.add_vline(x=base, line_dash="dot", line_color="#b5483b",
                      annotation_text=f"base model {base:.2f}", annotation_position="bottom left")
    cfg = res.get("config", {})
    fig.update_layout(**base_layout(title or f"Perplexity on {_esc(cfg.get('target', 'the target'))}'s test split after "
                                    f"fine-tuning on {cfg.get('budget', '?')} selected tokens", height=520))
    fig.update_layout(showlegend=False)
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(names)), title=None, ticklabelstandoff=8)
    xs = [v for s in summary for v in (s["ppl_after"], s.get("ppl_ci_low"), s.get("ppl_ci_high")) if v is not None]
    xs += [x for x, _, _ in seeds] + ([base] if base else [])
    pad = 0.06 * ((max(xs) - min(xs)) or 1.0) if xs else 0.0
    fig.update_xaxes(title=dict(text="perplexity (lower is better), mean of seeds with 95% t CI"), gridcolor="#ddd",
                     range=[min(xs) - pad, max(xs) + pad] if xs else None)
    return fig


def composition_figure(selection: Mapping, *, title: str = "") -> go.Figure:
    """Horizontal bars: the tokens a selection took from each pool corpus (largest on top), its
    share as text. ``selection`` is a :class:`core.selection.select.SelectionResult` dict (or a
    saved selection's summary, :func:`core.selection.export.load_selection`)."""
    from core.charts import _esc, base_layout

    comp = sorted(((c, int(t)) for c, t in (selection.get("composition") or {}).items()), key=lambda kv: -kv[1])
    total = sum(t for _, t in comp) or 1
    a = selection.get("alignment") or {}
    head = title or (f"{_esc(selection.get('method', '?'))} selection for {_esc(selection.get('target', '?'))}: "
                     f"{selection.get('tokens', total):,} tokens, alignment {_f(a.get('value'), 3)}"
                     f"{_ci(a.get('ci_low'), a.get('ci_high'), 3)}")
    fig = go.Figure(go.Bar(x=[t for _, t in comp], y=[_esc(c) for c, _ in comp], orientation="h",
                           marker=dict(color="#2e8b57"), text=[f"{100 * t / total:.0f}%" if 200 * t >= total else "<1%" for _, t in comp],
                           textposition="outside", cliponaxis=False,
                           hovertemplate="<b>%{y}</b>: %{x:,} tokens<extra></extra>"))
    fig.update_layout(**base_layout(head, height=max(360, 150 + 44 * len(comp))))
    fig.update_yaxes(categoryorder="array", categoryarray=[_esc(c) for c, _ in reversed(comp)], title=None,
                     ticklabelstandoff=8)
    fig.update_xaxes(title=dict(text="tokens selected from the corpus"), gridcolor="#ddd",
                     range=[0, 1.15 * max((t for _, t in comp), default=1)])
    return fig


def save_compare_figure(res: Mapping, path: str | Path) -> Path:
    """Write :func:`compare_figure` (``.png`` needs Chromium; ``.html`` always works).

    Raises:
        AlignScopeError: PNG export without Chromium (see :func:`core.charts.figure_image`).
    """
    from core.charts import save_figure

    return save_figure(compare_figure(res), path)
