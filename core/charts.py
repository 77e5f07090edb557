"""Plotly figures of the dashboard and their exports (PNG, SVG, HTML, CSV). No streamlit here.

Figures are built for a projector: large fonts (>= 16 px), one accent colour, values written in the
cells, and the diversity coefficient on the heatmap diagonal drawn in a separate neutral colour so it
is never read as an alignment. Every builder is a pure function of its data.

Static exports use kaleido 1.x, which drives a Chrome/Chromium; :func:`ensure_browser` points it at
Debian's ``/usr/bin/chromium`` when ``$BROWSER_PATH`` is not set.
"""
from __future__ import annotations

import html
import io
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from core.coefficients import AlignmentMatrix

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
_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


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


# ----------------------------------------------------------------------------------------------
# Ordering
# ----------------------------------------------------------------------------------------------
def cluster_order(names: Sequence[str], values: np.ndarray) -> list[str]:
    """Names reordered by average-linkage hierarchical clustering on ``1 - alignment``.

    Args:
        names: N corpus names.
        values: [N, N] alignment matrix (the diagonal is ignored; NaN is treated as no alignment).

    Returns:
        The names in dendrogram leaf order (optimal leaf ordering), so similar corpora sit together.
        With fewer than 3 names the order is unchanged.
    """
    names = list(names)
    n = len(names)
    if n < 3:
        return names
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    v = np.asarray(values, dtype=np.float64)
    d = 1.0 - np.nan_to_num((v + v.T) / 2.0, nan=0.0)
    np.fill_diagonal(d, 0.0)
    d = np.clip(d, 0.0, None)
    condensed = squareform(d, checks=False)
    z = linkage(condensed, method="average")
    if np.ptp(condensed) > 0:
        z = optimal_leaf_ordering(z, condensed)
    return [names[i] for i in leaves_list(z)]


def order_names(names: Sequence[str], values: np.ndarray, order: str, *, target: str | None = None) -> list[str]:
    """``order`` is ``clustered`` (:func:`cluster_order`), ``alphabetical`` or ``selection`` (as given).

    The target, when given, is always put first (clustering orders the rest).
    """
    names = list(names)
    if order == "clustered":
        out = cluster_order(names, values)
    elif order == "alphabetical":
        out = sorted(names)
    else:
        out = names
    if target in out:
        out = [target] + [n for n in out if n != target]
    return out


# ----------------------------------------------------------------------------------------------
# Heatmap
# ----------------------------------------------------------------------------------------------
def matrix_frame(matrix: AlignmentMatrix, names: Sequence[str] | None = None) -> pd.DataFrame:
    """The square table of the heatmap (pandas DataFrame): alignment off the diagonal, diversity on it."""
    import pandas as pd

    names = list(names or matrix.names)
    idx = {n: i for i, n in enumerate(matrix.names)}
    vals = matrix.values()
    sub = vals[np.ix_([idx[n] for n in names], [idx[n] for n in names])]
    df = pd.DataFrame(sub, index=names, columns=names)
    df.index.name = "corpus"
    return df


def matrix_records_frame(matrix: AlignmentMatrix, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Long table, one row per ordered pair with value and 95% CI (diversity rows for a == b)."""
    import pandas as pd

    names = list(names or matrix.names)
    pos = {n: i for i, n in enumerate(names)}
    recs = [r for r in matrix.to_records() if r["source"] in pos and r["target"] in pos]
    recs.sort(key=lambda r: (pos[r["source"]], pos[r["target"]]))
    df = pd.DataFrame(recs)
    if "num_batches" in df:
        df["num_batches"] = df["num_batches"].map(lambda v: "x".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    cols = [c for c in ("source", "target", "kind", "value", "ci_low", "ci_high", "se", "num_batches", "num_pairs",
                        "method") if c in df]
    return df[cols]


def heatmap_figure(matrix: AlignmentMatrix, *, order: str = "clustered", target: str | None = None,
                   title: str | None = None, subtitle: str = "") -> "go.Figure":
    """Cross-alignment heatmap: alignment coefficients off the diagonal, diversity on it.

    Args:
        matrix: :class:`core.coefficients.AlignmentMatrix`.
        order: ``clustered`` | ``alphabetical`` | ``selection``.
        target: the target benchmark (first row/column, bold label).
        title: figure title (default: "Cross-alignment of N corpora · target T").
        subtitle: a second, smaller title line (e.g. the settings that produced it).

    Returns:
        A plotly Figure with two heatmap traces: ``alignment`` (blue scale with a colour bar, NaN on
        the diagonal) and ``diversity`` (diagonal only, neutral colour, values labelled "div").
    """
    import plotly.graph_objects as go

    raw = matrix.values()
    names = order_names(matrix.names, raw, order, target=target)
    n = len(names)
    align = np.full((n, n), np.nan)
    diag = np.full((n, n), np.nan)
    a_text = [[""] * n for _ in range(n)]
    d_text = [[""] * n for _ in range(n)]
    hover = [[""] * n for _ in range(n)]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                c = matrix.diversity[a]
                diag[i, j] = 1.0
                d_text[i][j] = f"div<br>{_fmt(c.value, 2)}"
                hover[i][j] = (f"<b>{_esc(a)}</b><br>diversity coefficient {_fmt(c.value)}<br>"
                               f"{_ci(c.ci_low, c.ci_high)}<br>{c.num_pairs} batch pairs")
            else:
                c = matrix.alignment[(a, b)]
                align[i, j] = c.value
                a_text[i][j] = _fmt(c.value, 2)
                hover[i][j] = (f"<b>{_esc(a)}</b> vs <b>{_esc(b)}</b><br>alignment {_fmt(c.value)}<br>"
                               f"{_ci(c.ci_low, c.ci_high)}<br>batches {'x'.join(map(str, c.num_batches))}")
    off = align[np.isfinite(align)]
    zmin, zmax = (float(off.min()), float(off.max())) if off.size else (0.0, 1.0)
    if zmax - zmin < 1e-3:
        zmin, zmax = zmin - 0.01, zmax + 0.01
    labels = [f"<b>{_esc(x)}</b>" if x == target else _esc(x) for x in names]
    cell_font = 18 if n <= 6 else 16 if n <= 10 else 13 if n <= 14 else 11
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=align, x=labels, y=labels, name="alignment", zmin=zmin, zmax=zmax, colorscale=ALIGN_SCALE,
        text=a_text, texttemplate="%{text}", textfont=dict(size=cell_font), customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2, hoverongaps=False,
        colorbar=dict(title=dict(text="alignment", side="right", font=dict(size=BASE_FONT)),
                      tickfont=dict(size=BASE_FONT - 2), thickness=18, len=0.75, y=0.0, yanchor="bottom",
                      x=1.02, xanchor="left", tickformat=".2f")))
    fig.add_trace(go.Heatmap(
        z=diag, x=labels, y=labels, name="diversity", zmin=0, zmax=1,
        colorscale=[[0, DIAGONAL_COLOUR], [1, DIAGONAL_COLOUR]], showscale=False, text=d_text,
        texttemplate="%{text}", textfont=dict(size=cell_font - 2, color="#5a4a2a"), customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2, hoverongaps=False))
    head = title or (f"Cross-alignment of {n} corpora · target <b>{_esc(target)}</b>" if target in names
                     else f"Cross-alignment of {n} corpora")
    full_title = head + (f"<br><span style='font-size:{BASE_FONT - 3}px;color:#555'>{_esc(subtitle)}</span>"
                         if subtitle else "")
    cell = 74 if n <= 6 else 62 if n <= 10 else 48 if n <= 14 else 38
    label_px = int(11 * max(len(x) for x in names)) + 40
    top = 110 if subtitle else 80
    height = top + cell * n + label_px
    width = max(900, label_px + cell * n + 190)
    fig.update_layout(**base_layout(full_title, height=height))
    fig.update_layout(width=width, margin=dict(l=10, r=10, t=top, b=10))
    fig.update_xaxes(side="bottom", tickangle=-35, tickfont=dict(size=BASE_FONT - (0 if n <= 10 else 3)),
                     showgrid=False, title=None)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=BASE_FONT - (0 if n <= 10 else 3)), showgrid=False,
                     title=None)
    fig.add_annotation(text="diagonal:<br>diversity<br>coefficient", xref="paper", yref="paper", x=1.02, y=1.0,
                       xanchor="left", yanchor="top", showarrow=False, align="left",
                       font=dict(size=BASE_FONT - 3, color="#5a4a2a"), bgcolor=DIAGONAL_COLOUR, borderpad=3)
    return fig


# ----------------------------------------------------------------------------------------------
# Ranking
# ----------------------------------------------------------------------------------------------
def ranking_figure(rows: Sequence[Mapping], *, target: str, title: str | None = None, subtitle: str = "",
                   domains: Mapping[str, str] | None = None) -> "go.Figure":
    """Horizontal bars: candidates ranked by alignment with ``target`` (best on top), 95% CI error bars.

    Args:
        rows: :func:`core.views.ranking_rows` / :func:`core.coefficients.rank_sources` dicts with
            ``source, alignment, ci_low, ci_high`` (optional ``diversity, tokens, domain``).
        target: the target benchmark's name (in the title).
        domains: corpus -> domain, to colour bars by domain (with a legend).
    """
    import plotly.graph_objects as go

    rows = sorted(rows, key=lambda r: -(r["alignment"] if r["alignment"] is not None else -1))
    domains = dict(domains or {})
    for r in rows:
        if r.get("domain"):
            domains.setdefault(r["source"], r["domain"])
    fig = go.Figure()
    groups: dict[str, list[Mapping]] = {}
    for r in rows:
        groups.setdefault(domains.get(r["source"], "") or "other", []).append(r)
    names = [_esc(r["source"]) for r in rows]
    for dom, rs in groups.items():
        vals = [r["alignment"] for r in rs]
        hi = [(r["ci_high"] - r["alignment"]) if r.get("ci_high") is not None else 0 for r in rs]
        lo = [(r["alignment"] - r["ci_low"]) if r.get("ci_low") is not None else 0 for r in rs]
        hover = [(f"<b>{_esc(r['source'])}</b> ({_esc(dom)})<br>alignment with {_esc(target)}: {_fmt(r['alignment'])}"
                  f"<br>{_ci(r.get('ci_low'), r.get('ci_high'))}<br>diversity {_fmt(r.get('diversity'))}"
                  + (f"<br>tokens {r['tokens']:,}" if r.get("tokens") else "")) for r in rs]
        fig.add_trace(go.Bar(
            x=vals, y=[_esc(r["source"]) for r in rs], orientation="h", name=dom,
            marker=dict(color=DOMAIN_COLOURS.get(dom, "#555")),
            error_x=dict(type="data", array=hi, arrayminus=lo, symmetric=False, thickness=2.2, width=6,
                         color="#222"),
            text=[_fmt(v) for v in vals], textposition="inside", insidetextanchor="start",
            textfont=dict(size=BASE_FONT - 1, color="white"), customdata=hover,
            hovertemplate="%{customdata}<extra></extra>"))
    finite = [v for r in rows for v in (r["alignment"], r.get("ci_low"), r.get("ci_high"))
              if v is not None and math.isfinite(v)]
    hi_x = max(finite) if finite else 1.0
    head = title or f"Candidates ranked by alignment with {_esc(target)}"
    full_title = head + (f"<br><span style='font-size:{BASE_FONT - 3}px;color:#555'>{_esc(subtitle)}</span>"
                         if subtitle else "")
    fig.update_layout(**base_layout(full_title, height=max(360, 150 + 52 * len(rows)) + (30 if subtitle else 0)))
    fig.update_layout(barmode="overlay", bargap=0.25, showlegend=len(groups) > 1,
                      legend=dict(title=dict(text="domain"), font=dict(size=BASE_FONT - 2), traceorder="normal"),
                      margin=dict(l=10, r=30, t=110 if subtitle else 80, b=10))
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(names)), tickfont=dict(size=BASE_FONT),
                     title=None, ticklabelstandoff=8)
    fig.update_xaxes(range=[0.0, min(1.0, hi_x * 1.04 + 0.01)], title=dict(text="alignment coefficient (95% CI)"),
                     tickformat=".2f", tickfont=dict(size=BASE_FONT - 2), gridcolor="#ddd")
    return fig


# ----------------------------------------------------------------------------------------------
# Exports
# ----------------------------------------------------------------------------------------------
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
