"""Figures for a meeting: presenter-mode restyling (fonts >= 20 px, black background, no fixed size),
the dashboard style of the alignment-vs-perplexity figure (nothing clipped, estimator named), tie
groups on the ranking, and the corpora / before-after / leaderboard figures."""
import numpy as np
import pytest

from core import charts
from core.coefficients import cross_alignment, rank_sources, tie_groups
from core.views import ranking_rows


def _fonts(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in charts._FONT_KEYS and isinstance(v, dict) and v.get("size") is not None:
                out.append(v["size"])
            _fonts(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _fonts(v, out)
    return out


def _matrix(n=12):
    rng = np.random.default_rng(0)
    return cross_alignment({f"corpus-{i}": np.abs(rng.normal(size=(4, 16))) + i * 0.05 for i in range(n)})


def test_presenter_figure_fonts_and_size():
    m = _matrix()
    fig = charts.heatmap_figure(m, target="corpus-0", subtitle="probe x · estimator y")
    assert min(_fonts(fig.to_plotly_json(), [])) < 18                # 12 corpora: small cell text normally
    p = charts.presenter_figure(fig)
    d = p.to_plotly_json()
    assert min(_fonts(d, [])) >= charts.PRESENT_MIN_FONT
    assert "width" not in d["layout"] and "height" not in d["layout"] and d["layout"]["autosize"]
    assert d["layout"]["paper_bgcolor"] == "#000000" and d["layout"]["font"]["color"] == "#ffffff"
    assert "font-size:15px" not in d["layout"]["title"]["text"]
    assert fig.layout.height and fig.layout.paper_bgcolor != "#000000"      # the input is untouched


def test_ranking_marks_tie_groups():
    m = _matrix(5)
    ranking = rank_sources(m, "corpus-0")
    rows = ranking_rows(ranking, groups=[1, 1, 2, 2])
    fig = charts.ranking_figure(rows, target="corpus-0")
    notes = [a.text for a in fig.layout.annotations]
    assert notes == ["ranks 1–2: not significantly different", "ranks 3–4: not significantly different"]
    assert len(fig.layout.shapes) == 2
    real = ranking_rows(ranking, groups=tie_groups(m, "corpus-0", ranking))
    assert len(charts.ranking_figure(real, target="corpus-0").layout.shapes) == sum(
        1 for g in {r["group"] for r in real} if sum(r["group"] == g for r in real) > 1)


def _runs():
    return [{"status": "done", "label": f"src{i}", "alignment": 0.6 + 0.05 * i, "align_ci_low": 0.58 + 0.05 * i,
             "align_ci_high": 0.62 + 0.05 * i, "ppl_after": 30.0 - 3 * i, "ppl_before": 40.0, "familiarity": 3.0,
             "tokens_trained": 4000, "run_id": f"r{i}",
             "align_settings": {"estimator": "closed_form_head", "model": "smollm2-135m"}} for i in range(5)]


def test_alignment_vs_perplexity_in_dashboard_style():
    from core.finetune.plots import alignment_figure_styled

    fig = alignment_figure_styled(_runs(), target="proofnet")
    assert "estimator closed_form_head" in fig.layout.title.text and "<sup>" not in fig.layout.title.text
    assert fig.layout.font.size == charts.BASE_FONT
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    assert x0 < 0.58 and x1 > 0.82                                    # error bars inside
    assert y0 < 18.0 and y1 > 40.0                                    # points and the base-model line inside
    assert all(t.cliponaxis is False for t in fig.data if t.type == "scatter")


def test_before_after_and_leaderboard_figures():
    fig = charts.before_after_figure(_runs(), target="proofnet")
    assert len(fig.layout.annotations) == 5 and "before → after" in fig.layout.title.text
    rows = [{"metric": "a", "r2": 0.8, "r2_ci": [0.5, 0.9], "is_default": True},
            {"metric": "b", "r2": 0.3, "r2_ci": [0.1, 0.6]}, {"metric": "c", "r2": None}]
    lb = charts.leaderboard_figure(rows)
    assert list(lb.data[0].y) == ["a (default)", "b"]
    corp = charts.corpora_figure([{"role": "target", "corpus": "<t>", "domain": "d", "documents": 10, "tokens": 12345,
                                   "license": "MIT"}])
    assert list(corp.data[0].cells.values[1]) == ["&lt;t&gt;"] and list(corp.data[0].cells.values[4]) == ["12.3 k"]
