"""The dashboard's look: fonts, colours, the shared plotly layout and the restyling of foreign figures.

One idea: every figure is built for a projector (large fonts >= 16 px, one accent colour, the
diversity diagonal in a neutral colour). :func:`base_layout` is the layout all builders share, and
:func:`dashboard_style` gives a figure built elsewhere (e.g. by :mod:`core.finetune.plots`) the same
look. No streamlit here.
"""
from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

FONT_FAMILY = "Inter, 'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif"
BASE_FONT = 18
ACCENT = "#1f4e79"
DIAGONAL_COLOUR = "#e9e4d8"
ALIGN_SCALE = "Blues"
#: Colours of corpus domains (core.corpora.DOMAINS) in the ranking chart.
DOMAIN_COLOURS = {
    "target benchmark": "#7f7f7f",
    "formal maths": "#1f4e79",
    "informal maths": "#4f8cc9",
    "code": "#2e8b57",
    "technical prose": "#c77c1e",
    "general prose": "#b5483b",
    "custom": "#7a5195",
}


def _esc(name: str) -> str:
    return html.escape(str(name), quote=False)


def _fmt(v, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _ci(lo, hi, digits: int = 3) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "95% CI n/a (too few batches)"
    return f"95% CI [{lo:.{digits}f}, {hi:.{digits}f}]"


def base_layout(title: str = "", *, height: int | None = None) -> dict:
    """Layout shared by all figures: white background, large fonts, tight margins."""
    layout = dict(template="plotly_white", font=dict(family=FONT_FAMILY, size=BASE_FONT, color="#222"),
                  title=dict(text=title, font=dict(size=BASE_FONT + 4), x=0.0, xanchor="left"),
                  hoverlabel=dict(font=dict(size=BASE_FONT - 2, family=FONT_FAMILY)),
                  margin=dict(l=10, r=10, t=70 if title else 20, b=10))
    if height:
        layout["height"] = height
    return layout



def dashboard_style(fig: "go.Figure", *, subtitle: str = "", pad: float = 0.08) -> "go.Figure":
    """Give a figure built elsewhere (e.g. :func:`core.finetune.plots.alignment_figure`) the look of
    the dashboard's own charts: :func:`base_layout` fonts (>= 16 px) and margins, a grey second title
    line (``subtitle``, e.g. the estimator and probe that produced the alignments), tick fonts of
    ``BASE_FONT - 2``, and axis ranges padded by ``pad`` of the data range (error bars and text
    labels included) so no point or label is clipped. Returns the same figure, restyled."""
    title = fig.layout.title.text or ""
    title = title.replace("<sup>", f"<span style='font-size:{BASE_FONT - 3}px;color:#555'>").replace("</sup>", "</span>")
    if subtitle:
        title += f"<br><span style='font-size:{BASE_FONT - 3}px;color:#555'>{_esc(subtitle)}</span>"
    height = fig.layout.height
    fig.update_layout(**base_layout(title, height=height))
    fig.update_layout(margin=dict(l=10, r=30, t=50 + 32 * (title.count("<br>") + 1), b=10),
                      legend=dict(font=dict(size=BASE_FONT - 2), orientation="h", y=-0.2))
    fig.update_xaxes(tickfont=dict(size=BASE_FONT - 2), title_font=dict(size=BASE_FONT), gridcolor="#ddd")
    fig.update_yaxes(tickfont=dict(size=BASE_FONT - 2), title_font=dict(size=BASE_FONT), gridcolor="#ddd")
    for axis in ("x", "y"):
        vals: list[float] = []
        for tr in fig.data:
            if getattr(tr, "fill", None) == "toself":
                continue
            raw = getattr(tr, axis, None)
            if raw is None:
                continue
            arr = [float(v) for v in raw if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]
            err = getattr(tr, f"error_{axis}", None)
            if arr and err is not None and err.array is not None:
                hi = list(err.array)
                lo = list(err.arrayminus) if err.arrayminus is not None else hi
                arr = arr + [v + (h or 0) for v, h in zip(arr, hi)] + [v - (m or 0) for v, m in zip(arr, lo)]
            vals += arr
        for shape in fig.layout.shapes or ():            # e.g. the base model's dashed line (add_hline)
            if getattr(shape, f"{axis}ref", None) == axis:
                vals += [float(v) for v in (getattr(shape, f"{axis}0"), getattr(shape, f"{axis}1"))
                         if isinstance(v, (int, float)) and math.isfinite(v)]
        if len(vals) >= 1:
            lo_v, hi_v = min(vals), max(vals)
            span = (hi_v - lo_v) or max(abs(hi_v), 1e-3) * 0.1
            (fig.update_xaxes if axis == "x" else fig.update_yaxes)(
                range=[lo_v - pad * span * (1.6 if axis == "x" else 1.0), hi_v + pad * span * (1.6 if axis == "x" else 1.4)])
    for tr in fig.data:
        if tr.type == "scatter":
            tr.cliponaxis = False
            if tr.mode and "text" in tr.mode:
                tr.textfont = dict(size=BASE_FONT - 3)
            if tr.marker is not None and tr.mode and "markers" in tr.mode:
                tr.marker.size = max(tr.marker.size or 0, 12)
    return fig

