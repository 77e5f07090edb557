"""Presenter mode: a high-contrast, viewport-sized copy of any figure for the projector.

One idea: :func:`presenter_figure` walks a figure's JSON and gives it a black background, white
text, bright colours and every font at least :data:`PRESENT_MIN_FONT` px. The input is not modified.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.charts.style import BASE_FONT

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: Smallest font (px) of any text in a presenter-mode figure.
PRESENT_MIN_FONT = 20
PRESENT_BG = "#000000"
PRESENT_FG = "#ffffff"
#: Colours of the normal figures -> their high-contrast counterparts on a black background.
PRESENT_COLOURS = {
    "#1f4e79": "#5aa9ff", "#4f8cc9": "#a9d1ff", "#2e8b57": "#3ddc84", "#c77c1e": "#ffb347", "#b5483b": "#ff6b6b",
    "#7a5195": "#c39bff", "#7f7f7f": "#d0d0d0", "#555": "#dddddd", "#555555": "#dddddd", "#222": "#ffffff",
    "#1a1a1a": "#ffffff", "#1f77b4": "#5aa9ff", "#d62728": "#ff5c5c", "#888": "#bbbbbb", "#ddd": "#444444",
    "#5a4a2a": "#000000", "white": "#000000",
}
_FONT_KEYS = ("font", "textfont", "tickfont", "titlefont", "insidetextfont", "outsidetextfont")


def _present_walk(obj, min_font: int):
    import re

    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = _present_walk(v, min_font)
            if k in _FONT_KEYS and isinstance(v, dict):
                v = {**v, "size": max(min_font, v.get("size") or 0)}
                if v.get("color") in (None, "#222", "#555", "#5a4a2a") and k != "textfont":
                    v["color"] = PRESENT_FG
            out[k] = v
        return out
    if isinstance(obj, list):
        return [_present_walk(v, min_font) for v in obj]
    if isinstance(obj, str):
        if obj.lower() in PRESENT_COLOURS:
            return PRESENT_COLOURS[obj.lower()]
        if "font-size" in obj or "<sup>" in obj or "color:" in obj:
            obj = re.sub(r"font-size:\s*(\d+)px", lambda m: f"font-size:{max(min_font, int(m.group(1)))}px", obj)
            obj = re.sub(r"color:\s*#[0-9a-fA-F]{3,6}", "color:#dddddd", obj)
            obj = obj.replace("<sup>", f"<span style='font-size:{min_font}px'>").replace("</sup>", "</span>")
        return obj
    return obj


def presenter_figure(fig: "go.Figure", *, min_font: int = PRESENT_MIN_FONT) -> "go.Figure":
    """A high-contrast copy of ``fig`` for presenter mode: black background, white text, bright
    colours, every font at least ``min_font`` px (titles, ticks, cell values, legends, annotations,
    inline ``font-size`` spans), no fixed width/height (the page sizes it to the viewport) and no
    clipped markers or labels. The input figure is not modified.
    """
    import plotly.graph_objects as go

    d = _present_walk(fig.to_plotly_json(), min_font)
    layout = d.setdefault("layout", {})
    layout.pop("width", None)
    layout.pop("height", None)
    layout["autosize"] = True
    layout["template"] = "plotly_dark"
    layout["paper_bgcolor"] = PRESENT_BG
    layout["plot_bgcolor"] = PRESENT_BG
    layout["font"] = {**layout.get("font", {}), "color": PRESENT_FG, "size": max(min_font + 2, BASE_FONT)}
    title = layout.get("title") or {}
    text = (title.get("text") or "").strip() if isinstance(title, dict) else ""
    if text:
        title["font"] = {**title.get("font", {}), "size": max(min_font + 4, (title.get("font") or {}).get("size") or 0),
                         "color": PRESENT_FG}
    lines = text.count("<br>") + 1 if text else 0
    margin = layout.get("margin") or {}
    layout["margin"] = {**margin, "t": 16 + lines * (min_font + 14), "b": max(10, margin.get("b") or 0),
                        "l": max(10, margin.get("l") or 0), "r": max(20, margin.get("r") or 0)}
    for k, v in layout.items():
        if (k.startswith("xaxis") or k.startswith("yaxis")) and isinstance(v, dict):
            v.setdefault("gridcolor", "#444444")
            v["linecolor"] = "#bbbbbb"
            v["zerolinecolor"] = "#666666"
    for tr in d.get("data", []):
        if tr.get("type") == "table":
            for part, fill in (("header", "#333333"), ("cells", "#111111")):
                tr.setdefault(part, {})
                tr[part]["fill"] = {"color": fill}
                tr[part]["line"] = {"color": "#666666"}
                tr[part]["font"] = {**tr[part].get("font", {}), "color": PRESENT_FG}
                tr[part]["height"] = min_font * 2
        if tr.get("type") == "heatmap" and tr.get("name") == "alignment":
            tr["colorscale"] = "Viridis"
        if tr.get("type") in ("scatter", "bar"):
            tr["cliponaxis"] = False
        err = tr.get("error_x")
        if isinstance(err, dict) and err.get("color") in (None, "#ffffff"):
            err["color"] = PRESENT_FG
    return go.Figure(d)

