"""Download buttons: every chart as PNG, SVG and interactive HTML, every table as CSV.

PNG/SVG are rendered by kaleido (Chromium) only when the button is clicked (deferred callables),
so they never slow the page down.
"""
from __future__ import annotations

import streamlit as st

from core import charts

PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": "hover",
                 "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2}}


def show_figure(fig, *, key: str, stretch: bool = True, select: bool = False):
    """Draw a figure exactly as exported (no Streamlit theme), full width or at its own width.

    With ``select``, a click on a point (heatmap cell, bar) reruns the page and the selection event
    is returned (``st.plotly_chart(on_select="rerun", selection_mode="points")``), else None."""
    if select:
        return st.plotly_chart(fig, theme=None, width="stretch" if stretch else "content", config=PLOTLY_CONFIG,
                               key=key, on_select="rerun", selection_mode="points")
    st.plotly_chart(fig, theme=None, width="stretch" if stretch else "content", config=PLOTLY_CONFIG, key=key)
    return None


def _image(fig, fmt: str, size: tuple[int, int] | None):
    def make() -> bytes:
        return charts.figure_image(fig, fmt, width=size[0] if size else None, height=size[1] if size else None)
    return make


def figure_downloads(fig, basename: str, *, key: str, where=None, size: tuple[int, int] | None = None) -> None:
    """PNG, SVG and HTML download buttons for ``fig`` in one row (``size``: exported pixels)."""
    where = where or st
    cols = where.columns(4)
    static = charts.static_export_available()
    help_static = None if static else "PNG/SVG export needs Chromium (apt-get install chromium); use HTML"
    cols[0].download_button("⬇ PNG", _image(fig, "png", size), file_name=f"{basename}.png", mime="image/png",
                            key=f"{key}_png", disabled=not static, help=help_static, on_click="ignore",
                            width="stretch")
    cols[1].download_button("⬇ SVG", _image(fig, "svg", size), file_name=f"{basename}.svg", mime="image/svg+xml",
                            key=f"{key}_svg", disabled=not static, help=help_static, on_click="ignore",
                            width="stretch")
    cols[2].download_button("⬇ HTML (interactive)", lambda: charts.figure_html(fig), file_name=f"{basename}.html",
                            mime="text/html", key=f"{key}_html", on_click="ignore", width="stretch")


def table_download(df, basename: str, *, key: str, label: str = "⬇ CSV", where=None) -> None:
    """A CSV download button for a DataFrame."""
    (where or st).download_button(label, charts.frame_csv(df), file_name=f"{basename}.csv", mime="text/csv",
                                  key=f"{key}_csv", on_click="ignore")
