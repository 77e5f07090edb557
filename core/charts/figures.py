"""The dashboard's plotly figures: heatmap, ranking, corpora table, before/after, leaderboard, histogram, map.

One idea: each builder is a pure function of its data that returns a ``go.Figure`` (or, for the
heatmap, the DataFrame behind it) in the look of :mod:`core.charts.style`. The values are written in
the cells, and the diversity coefficient on the heatmap diagonal is drawn in a separate neutral
colour so it is never read as an alignment. No streamlit here.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from core.charts.style import (ACCENT, ALIGN_SCALE, BASE_FONT, DIAGONAL_COLOUR, DOMAIN_COLOURS, _ci, _esc, _fmt,
                               base_layout)
from core.ordering import order_names

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from core.coefficients import AlignmentMatrix


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


def _heatmap_cells(matrix: AlignmentMatrix, names: Sequence[str]):
    """The heatmap's cell arrays in ``names`` order: alignment values (NaN on the diagonal), the
    diagonal mask, the two text grids and the hover grid."""
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
    return align, diag, a_text, d_text, hover


def _heatmap_layout(fig: "go.Figure", names: Sequence[str], *, target: str | None, title: str | None,
                    subtitle: str) -> None:
    """Title, size (cells scale with the number of corpora), axes and the diagonal's legend note."""
    n = len(names)
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
    fig.update_traces(marker_size=max(12, cell - 8), selector=dict(name="cells"))
    fig.update_xaxes(side="bottom", tickangle=-35, tickfont=dict(size=BASE_FONT - (0 if n <= 10 else 3)),
                     showgrid=False, title=None)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=BASE_FONT - (0 if n <= 10 else 3)), showgrid=False,
                     title=None)
    fig.add_annotation(text="diagonal:<br>diversity<br>coefficient", xref="paper", yref="paper", x=1.02, y=1.0,
                       xanchor="left", yanchor="top", showarrow=False, align="left",
                       font=dict(size=BASE_FONT - 3, color="#5a4a2a"), bgcolor=DIAGONAL_COLOUR, borderpad=3)


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
    align, diag, a_text, d_text, hover = _heatmap_cells(matrix, names)
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
    # Invisible square markers on the cells: plotly heatmaps are not selectable, markers are, so a
    # click on a cell reaches st.plotly_chart(on_select=...) as the point (x = column, y = row).
    cells = [(labels[j], labels[i], hover[i][j]) for i in range(n) for j in range(n)]
    fig.add_trace(go.Scatter(
        x=[c[0] for c in cells], y=[c[1] for c in cells], mode="markers", name="cells", showlegend=False,
        marker=dict(symbol="square", size=20, color="rgba(0,0,0,0)"), customdata=[c[2] for c in cells],
        hovertemplate="%{customdata}<extra></extra>", selected=dict(marker=dict(color="rgba(0,0,0,0)")),
        unselected=dict(marker=dict(opacity=1.0))))
    _heatmap_layout(fig, names, target=target, title=title, subtitle=subtitle)
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
    _mark_tie_groups(fig, rows, names)
    return fig


def _mark_tie_groups(fig: "go.Figure", rows: Sequence[Mapping], names: Sequence[str]) -> None:
    """Outline each group of tied sources (``row["group"]``, :func:`core.coefficients.tie_groups`)
    with a dashed box and the label "not significantly different" (paired jackknife, 5%)."""
    members: dict[int, list[int]] = {}
    for k, r in enumerate(rows):
        if r.get("group") is not None:
            members.setdefault(int(r["group"]), []).append(k)
    n = len(names)
    for g, ks in members.items():
        if len(ks) < 2:
            continue
        top, bottom = n - 1 - min(ks), n - 1 - max(ks)        # category positions (the best is at the top)
        fig.add_shape(type="rect", xref="paper", yref="y", x0=0.0, x1=1.0, y0=bottom - 0.46, y1=top + 0.46,
                      line=dict(color="#888", width=1.5, dash="dash"), fillcolor="rgba(0,0,0,0)", layer="below")
        fig.add_annotation(xref="paper", yref="y", x=1.0, y=top + 0.46, xanchor="right", yanchor="bottom",
                           text=f"ranks {min(ks) + 1}–{max(ks) + 1}: not significantly different",
                           showarrow=False, font=dict(size=BASE_FONT - 4, color="#555"))




def corpora_figure(rows: Sequence[Mapping], *, title: str = "Target and candidate corpora") -> "go.Figure":
    """A table figure of corpora: ``rows`` of :func:`core.views.corpus_rows` (role, corpus, domain,
    documents, tokens, license); tokens shown as ``1.23 M``."""
    import plotly.graph_objects as go

    from core.views import human_count

    cols = ["role", "corpus", "domain", "documents", "tokens", "license"]
    cells = [[("" if r.get(c) is None else human_count(r[c]) if c in ("documents", "tokens") else _esc(r[c]))
              for r in rows] for c in cols]
    fig = go.Figure(go.Table(
        header=dict(values=[f"<b>{c}</b>" for c in cols], font=dict(size=BASE_FONT), align="left",
                    fill_color="#e9eef5", height=36),
        cells=dict(values=cells, font=dict(size=BASE_FONT), align="left", height=34,
                   fill_color=[["#f7f9fc" if k % 2 else "#ffffff" for k in range(len(rows))]])))
    fig.update_layout(**base_layout(title, height=120 + 36 * (len(rows) + 1)))
    return fig


def before_after_figure(runs: Sequence[Mapping], *, target: str = "") -> "go.Figure":
    """Perplexity on the target's held-out split before -> after fine-tuning, one row per finished
    run (``label, ppl_before, ppl_after, alignment``), best (lowest after) on top; arrows from the
    base model's perplexity to the fine-tuned one."""
    import plotly.graph_objects as go

    runs = [r for r in runs if r.get("ppl_after") is not None and r.get("ppl_before") is not None]
    runs = sorted(runs, key=lambda r: r["ppl_after"])
    labels = [_esc(r["label"]) for r in runs]
    fig = go.Figure()
    for r, y in zip(runs, labels):
        fig.add_annotation(x=r["ppl_after"], y=y, ax=r["ppl_before"], ay=y, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=2, arrowcolor=ACCENT, text="")
    fig.add_trace(go.Scatter(x=[r["ppl_before"] for r in runs], y=labels, mode="markers", name="before (base model)",
                             marker=dict(size=12, color="#7f7f7f", symbol="line-ns-open", line=dict(width=3)),
                             hovertemplate="%{y}: before %{x:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[r["ppl_after"] for r in runs], y=labels, mode="markers+text", name="after fine-tuning",
        marker=dict(size=14, color=ACCENT), textposition="middle left",
        text=[f"{r['ppl_after']:.2f}" + (f" · align {r['alignment']:.3f}" if r.get("alignment") is not None else "")
              for r in runs], textfont=dict(size=BASE_FONT - 2),
        hovertemplate="%{y}: after %{x:.3f}<extra></extra>", cliponaxis=False))
    head = f"Perplexity on {_esc(target)} before → after fine-tuning" if target else "Perplexity before → after"
    fig.update_layout(**base_layout(head, height=max(360, 160 + 52 * len(runs))))
    xs = [v for r in runs for v in (r["ppl_before"], r["ppl_after"])]
    if xs:
        span = (max(xs) - min(xs)) or 1.0
        fig.update_xaxes(range=[min(xs) - 0.45 * span, max(xs) + 0.08 * span])
    fig.update_xaxes(title=dict(text="perplexity on the held-out split (lower is better)"),
                     tickfont=dict(size=BASE_FONT - 2), gridcolor="#ddd")
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=BASE_FONT), title=None)
    fig.update_layout(legend=dict(orientation="h", y=-0.18, font=dict(size=BASE_FONT - 2)))
    return fig


def leaderboard_figure(rows: Sequence[Mapping], *, title: str = "Which metric predicts fine-tuning?") -> "go.Figure":
    """Validation-lab leaderboard as bars: r² of each metric with post-fine-tune perplexity, 95% CI
    (``rows`` of :func:`core.validation.stats.build_leaderboard`: ``metric, r2, r2_ci, is_default``),
    best on top; the default metric in the accent colour."""
    import plotly.graph_objects as go

    rows = [r for r in rows if r.get("r2") is not None]
    rows = sorted(rows, key=lambda r: -r["r2"])
    names = [_esc(r["metric"]) + (" (default)" if r.get("is_default") else "") for r in rows]
    r2 = [r["r2"] for r in rows]
    ci = [r.get("r2_ci") or [v, v] for r, v in zip(rows, r2)]
    fig = go.Figure(go.Bar(
        x=r2, y=names, orientation="h", marker=dict(color=[ACCENT if r.get("is_default") else "#7f7f7f" for r in rows]),
        error_x=dict(type="data", symmetric=False, array=[max(0.0, c[1] - v) for c, v in zip(ci, r2)],
                     arrayminus=[max(0.0, v - c[0]) for c, v in zip(ci, r2)], color="#222", thickness=2),
        text=[f"{v:.2f}" for v in r2], textposition="inside", insidetextanchor="start",
        textfont=dict(size=BASE_FONT - 1, color="white"), hovertemplate="%{y}: r² %{x:.3f}<extra></extra>"))
    fig.update_layout(**base_layout(title, height=max(360, 150 + 48 * len(rows))))
    fig.update_xaxes(range=[0, 1], title=dict(text="r² with perplexity after fine-tuning (95% CI)"),
                     tickfont=dict(size=BASE_FONT - 2), gridcolor="#ddd")
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=BASE_FONT), title=None)
    return fig


def distance_histogram_figure(drill: Mapping, *, source: str, target: str) -> "go.Figure":
    """Histogram of the batch-pair Task2Vec distances behind one coefficient (``drill`` from
    :func:`core.views.pair_drilldown`), with the mean marked; the title names the coefficient."""
    import plotly.graph_objects as go

    d = np.asarray(drill["distances"], dtype=float)
    what = (f"diversity of {_esc(source)} = mean distance {drill['coefficient']:.3f}" if drill["kind"] == "diversity"
            else f"alignment of {_esc(source)} with {_esc(target)} = 1 − mean distance = {drill['coefficient']:.3f}")
    fig = go.Figure(go.Histogram(x=d, nbinsx=max(5, min(30, d.size // 2 or 5)), marker_color=ACCENT,
                                 hovertemplate="distance %{x}<br>%{y} batch pairs<extra></extra>"))
    fig.add_vline(x=drill["mean"], line_dash="dash", line_color="#b5483b", line_width=2,
                  annotation_text=f"mean {drill['mean']:.3f}", annotation_position="top right",
                  annotation_font=dict(size=BASE_FONT - 2, color="#b5483b"))
    fig.update_layout(**base_layout(f"{d.size} batch pairs · {what}", height=380))
    fig.update_xaxes(title=dict(text="Task2Vec distance between a batch pair"), tickfont=dict(size=BASE_FONT - 2),
                     gridcolor="#ddd")
    fig.update_yaxes(title=dict(text="batch pairs"), tickfont=dict(size=BASE_FONT - 2), gridcolor="#ddd")
    return fig


def embedding_map_figure(emap: Mapping, *, target: str | None = None, domains: Mapping[str, str] | None = None,
                         subtitle: str = "") -> "go.Figure":
    """Scatter of the batch embeddings in 2-D (``emap`` from :func:`core.views.embedding_map`),
    one colour per corpus, the target's batches as large black-ringed stars; hover names the corpus
    and batch. The title says which method made the map (UMAP, or PCA: classical MDS)."""
    import plotly.graph_objects as go

    palette = ["#1f4e79", "#2e8b57", "#c77c1e", "#b5483b", "#7a5195", "#4f8cc9", "#8c6d31", "#d45087",
               "#3d7a7a", "#6b6b6b", "#a05195", "#2f4b7c"]
    fig = go.Figure()
    names = list(dict.fromkeys(emap["corpus"]))
    for k, name in enumerate(names):
        idx = [i for i, c in enumerate(emap["corpus"]) if c == name]
        is_target = name == target
        fig.add_trace(go.Scatter(
            x=[emap["x"][i] for i in idx], y=[emap["y"][i] for i in idx], mode="markers",
            name=_esc(name) + (" (target)" if is_target else ""),
            marker=dict(size=18 if is_target else 11, symbol="star" if is_target else "circle",
                        color="#111" if is_target else palette[k % len(palette)],
                        line=dict(width=2 if is_target else 0.5, color="#ffd400" if is_target else "white")),
            customdata=[[_esc(name), emap["batch"][i]] for i in idx], cliponaxis=False,
            hovertemplate="<b>%{customdata[0]}</b><br>batch %{customdata[1]}<extra></extra>"))
    how = ("UMAP" if emap["method"] == "umap" else "PCA (classical MDS)") + " of the Task2Vec distances"
    if emap.get("explained") is not None:
        how += f" (2 axes keep {emap['explained']:.0%} of the variance)"
    title = f"Batch embeddings in 2-D · {how}" + (
        f"<br><span style='font-size:{BASE_FONT - 3}px;color:#555'>{_esc(subtitle)}</span>" if subtitle else "")
    fig.update_layout(**base_layout(title, height=560))
    fig.update_layout(legend=dict(font=dict(size=BASE_FONT - 2)), margin=dict(l=10, r=10, t=110 if subtitle else 80, b=10))
    fig.update_xaxes(showticklabels=False, title=None, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, gridcolor="#eee", zeroline=False, scaleanchor="x")
    return fig
