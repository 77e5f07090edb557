"""Presenter mode (?present=1, AppTest): no controls, one chart per page from the cache, never a job;
the Home page is a title slide; the navigation lists every page file (so new pages appear)."""
from tests.app_pages.conftest import texts_of


def _no_controls(at) -> None:
    for kind in ("selectbox", "multiselect", "slider", "number_input", "text_input", "checkbox", "toggle",
                 "segmented_control", "radio"):
        assert not at.get(kind), f"presenter mode shows a {kind}"
    assert [b.label for b in at.button] == ["Esc: exit"]


def test_alignment_slide_from_cache(app, view_params, settings):
    from core.jobs import list_jobs
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app("app_pages/2_Alignment.py", {**view_params, "present": "1"}).run()
    assert not at.exception, texts_of(at.exception)
    _no_controls(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = charts[0].proto.spec
    assert '"paper_bgcolor":"#000000"' in spec.replace(" ", "") and '"height"' not in spec.split('"layout"')[1][:40]
    assert at.query_params["present"] == ["1"] or at.query_params["present"] == "1"
    assert not list_jobs()


def test_missing_embeddings_are_named_not_computed(app, view_params):
    from core.jobs import list_jobs

    at = app("app_pages/3_Ranking.py", {**view_params, "present": "1"}).run()
    assert not at.exception, texts_of(at.exception)
    _no_controls(at)
    assert not at.get("plotly_chart")
    text = " ".join(texts_of(at.markdown))
    assert "Not cached yet" in text and "tgt" in text and "never computes" in text
    assert not list_jobs()                                    # nothing was submitted


def test_ranking_slide_and_exit(app, view_params, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app("app_pages/3_Ranking.py", {**view_params, "present": "1"}).run()
    assert len(at.get("plotly_chart")) == 1
    at.button[0].click().run()                                # Esc: back to the normal page
    assert not at.exception, texts_of(at.exception)
    assert "present" not in at.query_params
    assert at.dataframe and at.get("plotly_chart")            # the normal Ranking page with its table


def test_home_title_slide(app, view_params):
    at = app(params={**view_params, "present": "1"}).run()
    assert not at.exception, texts_of(at.exception)
    _no_controls(at)
    text = " ".join(texts_of(at.markdown))
    assert "tgt" in text and "cand-maths" in text


def test_sidebar_toggle_turns_presenter_on(app, view_params):
    at = app(params=view_params).run()
    at.toggle(key="sb_present").set_value(True).run()
    assert not at.exception, texts_of(at.exception)
    assert at.query_params["present"] in ("1", ["1"])
    _no_controls(at)


def test_navigation_lists_every_page_file(tmp_path):
    from ui.navigation import neighbours, page_infos

    for name in ("1_Corpora.py", "2_Alignment.py", "10_Later.py", "8_Select.py", "_helper.py"):
        (tmp_path / name).write_text("")
    infos = page_infos(tmp_path)
    assert [p.url_path for p in infos] == ["", "Corpora", "Alignment", "Select", "Later"]
    assert infos[0].title == "Home"
    prev, nxt = neighbours("Alignment", infos)
    assert (prev.url_path, nxt.url_path) == ("Corpora", "Select")
    assert neighbours("", infos)[0] is None and neighbours("Later", infos)[1] is None


def test_real_pages_keep_their_deep_links():
    from ui.navigation import page_infos

    urls = [p.url_path for p in page_infos()]
    for url in ("Corpora", "Alignment", "Ranking", "Mix", "Fine-tune", "Alignment_vs_perplexity",
                "Which_metric_predicts"):
        assert url in urls
