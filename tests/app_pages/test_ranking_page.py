"""Ranking page (AppTest): bars with CIs, table with diversity and tokens."""
from tests.app_pages.conftest import texts_of

PAGE = "app_pages/3_Ranking.py"


def test_ranking_from_cache(app, view_params, settings):
    from core.pipeline import corpus_stats, embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    corpus_stats("cand-maths")                                   # token count cached for one corpus
    at = app(PAGE, view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.error
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and "error_x" in charts[0].proto.spec
    df = at.dataframe[0].value
    assert list(df["source"]) and set(df["source"]) == {"cand-maths", "cand-prose"}
    assert list(df["rank"]) == [1, 2] and df["alignment"].is_monotonic_decreasing
    assert {"ci_low", "ci_high", "diversity", "tokens"} <= set(df.columns)
    assert df.set_index("source").loc["cand-maths", "tokens"] > 0
    assert df["ci_low"].le(df["alignment"]).all() and df["ci_high"].ge(df["alignment"]).all()
    assert set(df["predicted"]) == {""}          # the committed lab is for proofnet, not this target: no prediction


def test_ranking_needs_target_embeddings(app, view_params, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["cand-maths", "cand-prose"], settings, progress=False)
    at = app(PAGE, view_params).run()
    assert not at.exception
    assert not at.get("plotly_chart")
    assert any("1 corpora need embeddings" in i and "tgt" in i for i in texts_of(at.info))


def test_no_candidates(app, view_params):
    at = app(PAGE, {**view_params, "candidates": ""}).run()
    assert not at.exception
    assert any("at least one candidate" in i for i in texts_of(at.info))
