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
    assert len(at.get("plotly_chart")) == 1 and not at.text                # the heatmap (map tab not chosen)
    assert any("Click a cell" in c for c in texts_of(at.caption))
    assert not any(c.startswith("Method:") for c in texts_of(at.caption))   # the map is not laid out


def test_map_tab_from_url_draws_the_map_and_says_pca_for_few_batches(app, view_params, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app("app_pages/2_Alignment.py", {**view_params, "align_tab": "Embedding map"}).run()
    assert not at.exception, texts_of(at.exception)
    assert len(at.get("plotly_chart")) == 2                                     # heatmap + embedding map
    assert any(c.startswith("Method: PCA (classical MDS) of the Task2Vec distances: 9 batches are too few for UMAP")
               for c in texts_of(at.caption))                                  # 3 corpora x 3 batches


def _map_app(target: str = "c0"):
    """AppTest of the Alignment page's embedding map section over 4 corpora x 5 batches (20 points)."""
    from streamlit.testing.v1 import AppTest

    def page(target):
        import numpy as np

        from core.coefficients import cross_alignment
        from ui.drill import _map, embedding_map_section

        _map.clear()
        rng = np.random.default_rng(0)
        centres = np.abs(rng.normal(size=(4, 12))) * 3
        m = cross_alignment({f"c{i}": np.abs(centres[i] + 0.05 * rng.normal(size=(5, 12))) for i in range(4)})
        embedding_map_section(m, target=target, subtitle="tiny probe")

    return AppTest.from_function(page, args=(target,), default_timeout=90)


def test_embedding_map_section_uses_umap_and_says_so():
    import json

    at = _map_app().run()
    assert not at.exception, texts_of(at.exception)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "UMAP of the Task2Vec distances" in fig["layout"]["title"]["text"]
    assert [t["name"] for t in fig["data"]] == ["c0 (target)", "c1", "c2", "c3"]
    assert fig["data"][0]["marker"]["symbol"] == "star" and fig["data"][0]["customdata"][4] == ["c0", 4]
    assert "batch %{customdata[1]}" in fig["data"][2]["hovertemplate"]
    assert any(c.startswith("Method: UMAP (umap-learn, 15 nearest batches, seed 0)") for c in texts_of(at.caption))


def test_embedding_map_section_without_umap_says_pca(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "umap", None)
    at = _map_app().run()
    assert not at.exception, texts_of(at.exception)
    assert "PCA (classical MDS)" in at.get("plotly_chart")[0].proto.spec
    assert any("Method: PCA (classical MDS) of the Task2Vec distances: umap-learn is not installed" in c
               for c in texts_of(at.caption))


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
