"""Plotly figures of the Mix page (no streamlit): token contributions and measured vs predicted."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from core.charts import ACCENT, base_layout

PREDICTED_COLOUR = "#9db9d6"


def _ok(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def contribution_figure(weights: dict[str, float], budget: int, *, alignment: dict[str, float] | None = None,
                        title: str = "Token contribution per source") -> go.Figure:
    """Horizontal bars: tokens each source contributes (``share * budget``), share and single-source
    alignment in the labels."""
    names = list(weights)[::-1]
    tokens = [weights[n] * budget for n in names]
    text = [f"{weights[n]:.0%} · {weights[n] * budget:,.0f} tok"
            + (f" · align {alignment[n]:.3f}" if alignment and _ok(alignment.get(n)) else "") for n in names]
    fig = go.Figure(go.Bar(x=tokens, y=names, orientation="h", marker_color=ACCENT, text=text,
                           textposition="auto", hovertemplate="%{y}: %{x:,.0f} tokens<extra></extra>"))
    fig.update_layout(**base_layout(title, height=max(220, 70 + 48 * len(names))))
    fig.update_xaxes(title_text="tokens", rangemode="tozero")
    return fig


def verify_figure(result: dict, *, title: str = "Predicted vs measured on real mixed batches") -> go.Figure:
    """Grouped points with 95% CI error bars: predicted and measured alignment and diversity."""
    fig = go.Figure()
    for label, key, colour in (("predicted", "predicted", PREDICTED_COLOUR), ("measured", "measured", ACCENT)):
        xs, ys, lo, hi = [], [], [], []
        for what in ("alignment", "diversity"):
            c = (result.get(key) or {}).get(what)
            if not c:
                continue
            xs.append(what)
            ys.append(c["value"])
            lo.append(c["value"] - c["ci_low"] if _ok(c.get("ci_low")) else 0)
            hi.append(c["ci_high"] - c["value"] if _ok(c.get("ci_high")) else 0)
        fig.add_trace(go.Bar(name=label, x=xs, y=ys, marker_color=colour,
                             error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=2),
                             hovertemplate="%{x} " + label + ": %{y:.4f}<extra></extra>"))
    fig.update_layout(**base_layout(title, height=380), barmode="group")
    fig.update_yaxes(range=[0, 1], title_text="coefficient (95% CI)")
    return fig
