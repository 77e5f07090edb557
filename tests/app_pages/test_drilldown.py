"""Drill-down (AppTest): a chosen pair (from a click, kept in the URL as ?pair=) shows the batch-pair
distances, the closest and farthest batches and their windows as plain text."""
import numpy as np

from tests.app_pages.conftest import texts_of


def test_pair_from_url_shows_distances_and_windows(app, view_params, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app("app_pages/3_Ranking.py", {**view_params, "pair": "cand-prose,tgt"}).run()
    assert not at.exception, texts_of(at.exception)
    assert len(at.get("plotly_chart")) == 2                           # ranking + distance histogram
    texts = [t.value for t in at.text]
    assert len(texts) >= 2 and all(isinstance(t, str) and t for t in texts)
    heads = " ".join(texts_of(at.markdown))
    assert "closest to tgt" in heads and "farthest from tgt" in heads and "cand-prose" in heads


def test_no_pair_no_panel(app, view_params, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app("app_pages/2_Alignment.py", view_params).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2 and not at.text                # heatmap + embedding map (tab)
    assert any("Click a cell" in c for c in texts_of(at.caption))
    assert any(c.startswith("Method: classical MDS") or c.startswith("Method: UMAP") for c in texts_of(at.caption))


def test_pair_drilldown_matches_the_coefficients():
    from core.coefficients import cross_alignment
    from core.views import pair_drilldown

    rng = np.random.default_rng(0)
    m = cross_alignment({n: np.abs(rng.normal(size=(k, 8))) for n, k in (("a", 4), ("b", 3))})
    d = pair_drilldown(m, "a", "b", top=2)
    assert d["distances"].shape == (12,) and d["coefficient"] == m.alignment[("a", "b")].value
    assert d["batch_mean"][d["closest"][0]] == d["batch_mean"].min()
    assert d["batch_mean"][d["farthest"][0]] == d["batch_mean"].max()
    div = pair_drilldown(m, "b", "b")
    assert div["kind"] == "diversity" and div["distances"].shape == (6,)
    assert abs(div["coefficient"] - m.diversity["b"].value) < 1e-12


def test_event_parsing():
    from ui.drill import pair_from_event

    cell = {"selection": {"points": [{"x": "<b>tgt</b>", "y": "cand-&lt;x&gt;"}]}}
    assert pair_from_event(cell) == ("cand-<x>", "tgt")
    assert pair_from_event({"selection": {"points": [{"y": "cand-maths", "x": 0.7}]}}, target="tgt") == ("cand-maths", "tgt")
    assert pair_from_event({"selection": {"points": []}}) is None and pair_from_event(None) is None
