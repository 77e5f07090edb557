"""core.charts: heatmap/ranking figures, cluster order, exports."""
import numpy as np
import pytest

from core import charts
from core.coefficients import cross_alignment, rank_sources
from core.views import ranking_rows


@pytest.fixture(scope="module")
def matrix():
    rng = np.random.default_rng(0)
    base = {"maths": rng.random(64), "lean": rng.random(64), "prose": rng.random(64), "news": rng.random(64)}
    base["lean"] = base["maths"] * 0.9 + 0.1 * base["lean"]
    base["news"] = base["prose"] * 0.8 + 0.2 * base["news"]
    emb = {n: np.abs(v[None, :] + 0.05 * rng.random((4, 64))) for n, v in base.items()}
    return cross_alignment(emb)


def test_cluster_order_groups_similar_corpora(matrix):
    order = charts.cluster_order(matrix.names, matrix.values())
    assert sorted(order) == sorted(matrix.names)
    pos = {n: i for i, n in enumerate(order)}
    assert abs(pos["maths"] - pos["lean"]) == 1 and abs(pos["prose"] - pos["news"]) == 1
    assert charts.order_names(matrix.names, matrix.values(), "alphabetical", target="prose")[0] == "prose"
    assert charts.order_names(matrix.names, matrix.values(), "selection") == matrix.names
    assert charts.cluster_order(["a", "b"], np.eye(2)) == ["a", "b"]


def test_heatmap_separates_diversity_and_shows_ci(matrix):
    fig = charts.heatmap_figure(matrix, order="clustered", target="maths", subtitle="probe tiny")
    align, div, cells = fig.data                       # cells: invisible selectable markers (drill-down)
    assert cells.type == "scatter" and len(cells.x) == len(align.x) ** 2
    assert align.name == "alignment" and div.name == "diversity" and div.showscale is False
    z = np.array(align.z, dtype=float)
    assert np.isnan(np.diag(z)).all() and np.isfinite(z[~np.eye(len(z), dtype=bool)]).all()
    assert np.isfinite(np.diag(np.array(div.z, dtype=float))).all()
    assert "<b>maths</b>" == align.x[0]                      # target first, bold
    hover = np.array(align.customdata).ravel().tolist()
    assert any("95% CI [" in h for h in hover) and any("diversity coefficient" in h for h in hover)
    assert fig.layout.font.size >= 16 and "probe tiny" in fig.layout.title.text


def test_heatmap_escapes_names():
    emb = {"<b>x": np.ones((3, 4)) + np.arange(12).reshape(3, 4), "y": np.ones((3, 4))}
    fig = charts.heatmap_figure(cross_alignment(emb), order="selection")
    assert "&lt;b&gt;x" in fig.data[0].x


def test_ranking_figure_and_tables(matrix):
    rows = ranking_rows(rank_sources(matrix, "maths"), tokens={"lean": 1000}, domains={"lean": "formal maths"})
    fig = charts.ranking_figure(rows, target="maths")
    ys = [y for t in fig.data for y in t.y]
    assert set(ys) == {"lean", "prose", "news"}
    assert list(fig.layout.yaxis.categoryarray)[-1] == "lean"   # best on top
    bar = next(t for t in fig.data if "lean" in t.y)
    assert bar.error_x.array is not None and bar.orientation == "h"
    sq = charts.matrix_frame(matrix, ["news", "maths", "lean", "prose"])
    assert list(sq.columns) == ["news", "maths", "lean", "prose"]
    assert sq.loc["maths", "maths"] == pytest.approx(matrix.diversity["maths"].value)
    pairs = charts.matrix_records_frame(matrix)
    assert len(pairs) == 16 and {"ci_low", "ci_high", "kind"} <= set(pairs.columns)
    csv = charts.frame_csv(sq).decode()
    assert csv.splitlines()[0] == "corpus,news,maths,lean,prose"
    assert charts.rows_csv(rows).decode().startswith("rank,ranks,group,source")


def test_html_export(matrix):
    html = charts.figure_html(charts.heatmap_figure(matrix))
    assert "<html>" in html[:200] and "Plotly.newPlot" in html and "displaylogo" in html


@pytest.mark.skipif(not charts.static_export_available(), reason="no Chromium for kaleido")
def test_png_and_svg_export(matrix):
    fig = charts.heatmap_figure(matrix)
    png = charts.figure_image(fig, "png", scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = charts.figure_image(fig, "svg")
    assert b"<svg" in svg[:400]
