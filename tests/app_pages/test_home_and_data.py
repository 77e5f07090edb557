"""Home page and the cache readers behind the pages (ui.data)."""
from tests.app_pages.conftest import texts_of


def test_home_page_shows_the_view_and_links(app, view_params):
    at = app(params=view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert at.metric[0].value == "tgt"
    assert any("cand-maths" in c for c in texts_of(at.caption))
    assert at.query_params["target"] == "tgt"


def test_home_page_defaults(app):
    at = app().run()
    assert not at.exception
    assert at.query_params["target"] == "proofnet"


def test_status_mirrors_the_pipeline_cache(settings, small_corpora):
    """ui.data reads the cache with the same keys as core.pipeline (batches, embeddings, stats)."""
    from core.pipeline import corpus_stats, embed_corpus
    from ui.data import cached_token_counts, corpus_status

    s = corpus_status("tgt", settings)
    assert (s.cached, s.total, s.ready, s.error) == (0, 3, False, "")
    r = embed_corpus("tgt", settings, progress=False)
    s = corpus_status("tgt", settings)
    assert s.ready and s.cached == 3 and (s.embeddings == r.embeddings).all()
    assert cached_token_counts(["tgt"]) == {"tgt": None}
    assert cached_token_counts(["tgt"])["tgt"] is None
    corpus_stats("tgt")
    assert cached_token_counts(["tgt"])["tgt"] == corpus_stats("tgt")["tokens"]


def test_partial_cache_is_reported(settings, small_corpora):
    import pytest

    from core.pipeline import embed_corpus
    from ui.data import corpus_status

    calls = iter([False, True])                       # compute one batch, then stop
    with pytest.raises(InterruptedError):
        embed_corpus("cand-maths", settings, progress=False, should_stop=lambda: next(calls))
    s = corpus_status("cand-maths", settings)
    assert (s.cached, s.total, s.missing, s.ready) == (1, 3, 2, False)


def test_status_errors_are_messages(settings, small_corpora):
    from ui.data import corpus_status

    s = corpus_status("no-such-corpus", settings)
    assert s.error and "no-such-corpus" in s.error and not s.ready


def test_no_pages_folder_beside_app_py():
    """A ``pages/`` folder beside app.py puts Streamlit in its v1 multipage mode until some session
    opens Home: a fresh server's deep link (/Alignment) then ran the page without app.py ("app" in
    the navigation, no Home, no presenter routing). The pages live in app_pages/ (ui.navigation)."""
    from core.paths import REPO_ROOT
    from ui.navigation import PAGES_DIR, page_infos

    assert not (REPO_ROOT / "pages").exists()
    assert PAGES_DIR.name == "app_pages" and [p.title for p in page_infos()][:3] == ["Home", "Corpora", "Alignment"]
