"""Presenter mode (?present=1, AppTest): no controls, one chart per page from the cache, never a job;
the Home page shows the cached ranking (a title slide while embeddings are missing), the Select page the
selection comparison (else the latest saved selection, else what is missing); the navigation lists every
page file (so new pages appear)."""
import pytest

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
    assert not at.get("plotly_chart") and "once these are cached: tgt, cand-maths, cand-prose" in text


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


def _one_slide_chart(at) -> dict:
    import json

    assert not at.exception, texts_of(at.exception)
    _no_controls(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    from tests.core.test_charts_meeting import _fonts

    fig = json.loads(charts[0].proto.spec)
    sizes = []
    _fonts(fig, sizes)
    assert sizes and min(sizes) >= 18, sizes                     # readable on a projector
    assert "height" not in fig["layout"] and "width" not in fig["layout"]   # sized by the viewport
    return fig


def _compare_results(path) -> None:
    """A small real comparison results file (summary made by core.finetune.compare.summarise)."""
    import json

    from core.finetune.compare import summarise

    runs = [{"method": m, "seed": s, "status": "done", "ppl_before": 40.0, "ppl_after": base + 0.3 * s,
             "alignment": {"value": 0.5 + 0.01 * s}, "composition": {"cand-maths": 96, "cand-prose": 32},
             "selection_seconds": 0.1}
            for m, base in (("random", 31.0), ("t2v-greedy", 29.0), ("dsir", 30.0)) for s in (0, 1, 2)]
    path.write_text(json.dumps({"version": 1, "config": {"target": "tgt", "budget": 4000, "seeds": [0, 1, 2],
                                                         "pool": ["cand-maths", "cand-prose"], "model": "tiny"},
                                "runs": runs, "summary": summarise(runs, ["random", "t2v-greedy", "dsir"])}))


def _save_selection(name: str, composition: dict) -> None:
    from core.selection.export import save_selection
    from core.selection.select import SelectionResult

    windows = [{"corpus": c, "doc_id": f"{c}-0", "offset": 0, "tokens": t, "score": 1.0, "row": k, "text": "x"}
               for k, (c, t) in enumerate(composition.items())]
    save_selection(SelectionResult(method="dsir", target="tgt", budget=256, seed=0, pool={}, windows=windows,
                                   tokens=sum(composition.values()), composition=composition,
                                   alignment={"value": 0.71, "ci_low": 0.65, "ci_high": 0.77, "num_batches": 2},
                                   seconds=0.1), name)


def test_select_slide_shows_the_head_to_head_comparison(app, view_params, tmp_path, monkeypatch):
    from core.jobs import list_jobs
    from ui import select

    monkeypatch.setattr(select, "COMPARE_RESULTS", tmp_path / "selection_compare.json")
    _compare_results(select.COMPARE_RESULTS)
    at = app("app_pages/8_Select.py", {**view_params, "present": "1"}).run()
    fig = _one_slide_chart(at)
    means = next(t for t in fig["data"] if t.get("name") == "mean, 95% CI")
    assert means["y"] == ["t2v-greedy", "dsir", "random"] and means["x"][0] == pytest.approx(29.3)   # best first
    assert "Which selection method helps tgt most" in " ".join(texts_of(at.title))
    assert not list_jobs()


def test_select_slide_falls_back_to_the_latest_saved_selection(app, view_params, tmp_path, monkeypatch):
    import os

    from core.jobs import list_jobs
    from core.selection.export import selections_dir
    from ui import select

    monkeypatch.setattr(select, "COMPARE_RESULTS", tmp_path / "absent.json")
    _save_selection("sel-old", {"cand-prose": 64})
    _save_selection("sel-new", {"cand-maths": 192, "cand-prose": 64})
    old = selections_dir() / "sel-old.json"
    os.utime(old, (old.stat().st_mtime - 60, old.stat().st_mtime - 60))
    at = app("app_pages/8_Select.py", {**view_params, "present": "1"}).run()
    fig = _one_slide_chart(at)
    assert fig["data"][0]["y"] == ["cand-maths", "cand-prose"] and fig["data"][0]["x"] == [192, 64]
    assert "sel-new" in " ".join(texts_of(at.title))
    assert "absent.json" in " ".join(texts_of(at.caption))            # the footer says why no comparison
    assert not list_jobs()


def test_select_slide_says_what_is_missing(app, view_params, tmp_path, monkeypatch):
    from core.jobs import list_jobs
    from ui import select

    monkeypatch.setattr(select, "COMPARE_RESULTS", tmp_path / "absent.json")
    at = app("app_pages/8_Select.py", {**view_params, "present": "1"}).run()
    assert not at.exception, texts_of(at.exception)
    _no_controls(at)
    assert not at.get("plotly_chart")
    text = " ".join(texts_of(at.markdown))
    assert "python -m core select compare" in text and "never computes" in text
    assert not list_jobs()


def test_home_slide_shows_the_cached_ranking(app, view_params, settings):
    from core.jobs import list_jobs
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app(params={**view_params, "present": "1"}).run()
    fig = _one_slide_chart(at)
    assert {y for t in fig["data"] for y in t["y"]} == {"cand-maths", "cand-prose"}
    assert "most aligned with tgt" in " ".join(texts_of(at.title))
    assert not list_jobs()
