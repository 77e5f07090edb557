"""Exports of figures and tables: PNG, SVG, PDF, HTML and CSV bytes or files.

One idea: turn a figure or a table into something to download or save. Static exports use
kaleido 1.x, which drives a Chrome/Chromium; :func:`ensure_browser` points it at Debian's
``/usr/bin/chromium`` when ``$BROWSER_PATH`` is not set.
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def ensure_browser() -> str | None:
    """Point kaleido at a local Chromium (``$BROWSER_PATH``) when none is configured; returns the path."""
    current = os.environ.get("BROWSER_PATH")
    if current and os.path.exists(current):
        return current
    for path in _CHROMIUM:
        if os.path.exists(path):
            os.environ["BROWSER_PATH"] = path
            return path
    found = shutil.which("chromium") or shutil.which("google-chrome")
    if found:
        os.environ["BROWSER_PATH"] = found
    return found


def static_export_available() -> bool:
    """True when kaleido and a Chrome/Chromium are present (PNG/SVG export possible)."""
    import importlib.util

    if importlib.util.find_spec("kaleido") is None:
        return False
    return ensure_browser() is not None


def figure_image(fig: go.Figure, fmt: str = "png", *, width: int | None = None, height: int | None = None,
                 scale: float = 2.0) -> bytes:
    """PNG, SVG or PDF bytes of ``fig`` (kaleido + Chromium, ~2-3 s per call); the size is
    ``width`` x ``height`` pixels, else the figure's layout size, else 1400 x 800.

    Raises:
        AlignScopeError: unknown format, no browser for kaleido (install Debian's chromium), or the
            export failed.
    """
    from core.errors import AlignScopeError

    fmt = fmt.lower()
    if fmt not in ("png", "svg", "pdf"):
        raise AlignScopeError(f"Unknown figure format {fmt!r}.", fix="use png, svg, pdf or html.")
    if ensure_browser() is None:
        raise AlignScopeError("No Chrome/Chromium found for PNG/SVG export.",
                              fix="apt-get install -y chromium (or set BROWSER_PATH); the HTML export and the "
                                  "chart toolbar's camera work without it.")
    width = width or int(fig.layout.width or 1400)
    height = height or int(fig.layout.height or 800)
    try:
        return fig.to_image(format=fmt, width=width, height=height, scale=scale if fmt == "png" else 1)
    except Exception as exc:  # kaleido raises various errors when no browser can be started
        raise AlignScopeError(f"Static {fmt.upper()} export failed: {exc}",
                              fix="install Chromium (apt-get install -y chromium) or set BROWSER_PATH; "
                                  "the HTML export works without it.") from exc


def figure_html(fig: go.Figure, *, include_plotlyjs: bool | str = True) -> str:
    """Standalone interactive HTML (plotly.js embedded by default, so it opens offline)."""
    return fig.to_html(include_plotlyjs=include_plotlyjs, full_html=True,
                       config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}})


def save_figure(fig: go.Figure, path: str | Path, *, plotlyjs: str | bool = True, width: int | None = None,
                height: int | None = None) -> Path:
    """Write the figure to ``path``; the format follows the extension (.png, .svg, .pdf, .html;
    ``plotlyjs`` as in :func:`figure_html`). Written atomically; returns the path.

    Raises:
        AlignScopeError: as :func:`figure_image`.
    """
    from core.paths import atomic_write

    path = Path(path)
    if path.suffix.lower() == ".html":
        return atomic_write(path, figure_html(fig, include_plotlyjs=plotlyjs))
    return atomic_write(path, figure_image(fig, path.suffix.lstrip("."), width=width, height=height))


def frame_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes of a DataFrame (index kept only when it is named)."""
    buf = io.StringIO()
    df.to_csv(buf, index=df.index.name is not None, float_format="%.6g")
    return buf.getvalue().encode("utf-8")


def rows_csv(rows: Iterable[Mapping]) -> bytes:
    """UTF-8 CSV bytes of a list of dicts."""
    import pandas as pd

    return frame_csv(pd.DataFrame(list(rows)))
