"""Alignment page (AppTest): heatmap from cached embeddings, background job, errors."""
import numpy as np
import pytest

from tests.app_pages.conftest import texts_of, wait_job

PAGE = "app_pages/2_Alignment.py"


def _precompute(names, settings):
    from core.pipeline import embed_corpora

    embed_corpora(names, settings, progress=False)


def test_heatmap_from_cache_without_loading_the_model(app, view_params, settings):
    import core.probe

    _precompute(["tgt", "cand-maths", "cand-prose"], settings)
    core.probe._LOADED.clear()                       # as in a fresh server process
    at = app(PAGE, view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.error, texts_of(at.error)
    charts = at.get("plotly_chart")
    assert [c.key for c in charts] == ["heatmap"]           # the map's tab is not chosen: its content never ran
    spec = charts[0].proto.spec
    for name in ("tgt", "cand-maths", "cand-prose"):
        assert name in spec
    assert "diversity" in spec and "95% CI" in spec
    assert all(not p.loaded for p in core.probe._LOADED.values())   # weights never loaded
    assert "Compute missing embeddings" not in [b.label for b in at.button]
    # the same data as a table, and the settings that produced it
    frames = at.table                                           # the matrix: a static table
    assert frames and set(frames[0].value.columns) == {"tgt", "cand-maths", "cand-prose"}
    assert any("3 batches × 4 seqs × 32 tokens" in c for c in texts_of(at.caption))
    # order option: alphabetical reorders the table, the target stays first
    at.segmented_control(key="w_order").set_value("alphabetical").run()
    assert list(at.table[0].value.columns) == ["tgt", "cand-maths", "cand-prose"]
    assert at.query_params.get("order") == "alphabetical"


def test_the_chosen_tab_is_in_the_url_and_only_it_runs(app, view_params, settings):
    _precompute(["tgt", "cand-maths", "cand-prose"], settings)
    at = app(PAGE, {**view_params, "align_tab": "Embedding map"}).run()      # a shared link naming a tab
    assert not at.exception, texts_of(at.exception)
    assert [c.key for c in at.get("plotly_chart")] == ["heatmap", "emb_map"]
    assert not at.table and not at.dataframe                       # the Matrix tab did not run
    at = app(PAGE, {**view_params, "align_tab": "Pairs with 95% CI"}).run()
    assert [c.key for c in at.get("plotly_chart")] == ["heatmap"]
    assert set(at.dataframe[0].value.columns) >= {"value", "ci_low", "ci_high"}


def test_missing_embeddings_run_as_a_job_seen_by_a_second_tab(app, view_params, settings):
    from core.jobs import get_job

    at = app(PAGE, view_params).run()
    assert not at.exception
    assert any("3 corpora need embeddings" in i for i in texts_of(at.info))
    assert not at.get("plotly_chart")
    next(b for b in at.button if b.label == "Compute missing embeddings").click().run()
    job_id = at.query_params.get("job")
    assert job_id and job_id.startswith("embed-") and get_job(job_id) is not None
    assert get_job(job_id).spec["params"]["corpora"] == ["tgt", "cand-maths", "cand-prose"]
    # a second tab opened with the same link (without the job id) finds the running job
    other = app(PAGE, view_params).run()
    if get_job(job_id).status()["state"] in ("queued", "running"):
        assert any(job_id in m for m in texts_of(other.markdown))
        assert "Compute missing embeddings" not in [b.label for b in other.button]
    assert wait_job(job_id)["state"] == "done"
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    assert "job" not in at.query_params          # finished: no longer watched


def test_failed_job_shows_error_and_keeps_completed_embeddings(app, tiny_model_dir, small_corpora, tmp_path, settings):
    from core.corpora import CorpusSpec, register_corpus
    from core.jobs import submit
    from tests.app_pages.conftest import SMALL, write_corpus

    register_corpus(CorpusSpec(name="tiny3", kind="files", path=str(write_corpus(tmp_path, "tiny3", ["a b", "c d", "e f"])),
                               field="text"))
    _precompute(["tgt"], settings)
    params = {"target": "tgt", "candidates": "cand-maths,tiny3", "model": tiny_model_dir, **SMALL}
    at = app(PAGE, params).run()
    assert any("2 corpora need embeddings" in i for i in texts_of(at.info))
    # the job the button would start (same id), run in this process: it crashes on tiny3
    job = submit("embed", {"corpora": ["cand-maths", "tiny3"], "settings": settings.to_dict()}, wait=True)
    assert job.status()["state"] == "failed"
    at = app(PAGE, {**params, "job": job.job_id}).run()
    assert not at.exception, texts_of(at.exception)
    assert any("fewer than one batch" in e for e in texts_of(at.error))
    # the corpus embedded before the crash stays cached and is shown; tiny3 can be retried
    assert len(at.get("plotly_chart")) == 1
    assert any("1 corpora need embeddings" in i and "tiny3" in i for i in texts_of(at.info))


@pytest.mark.parametrize("model", ["/nonexistent/model/folder", "nobody/no-such-model-xyz"])
def test_bad_model_shows_error(app, view_params, model):
    at = app(PAGE, {**view_params, "model": model}).run()
    assert not at.exception, texts_of(at.exception)
    assert at.error and all("not" in e or "Could not" in e for e in texts_of(at.error))


def test_unknown_corpus_in_link_is_dropped(app, view_params, settings):
    _precompute(["tgt", "cand-maths"], settings)
    at = app(PAGE, {**view_params, "candidates": "cand-maths,ghost"})
    at.session_state["w_picker"] = True                              # the user opens the corpus selection
    at.run()
    assert not at.exception
    assert at.multiselect(key="w_candidates").value == ["cand-maths"]
    assert len(at.get("plotly_chart")) == 1


def test_matrix_cache_matches_cross_alignment(settings, small_corpora):
    from core.coefficients import cross_alignment
    from core.pipeline import cached_distances, embed_corpora

    emb = {n: e.embeddings for n, e in embed_corpora(small_corpora, settings, progress=False).items()}
    ref = cross_alignment(emb)
    for _ in range(2):                                  # computed, then read from the store
        got = cross_alignment(emb, block=cached_distances(emb))
        np.testing.assert_allclose(got.values(), ref.values(), atol=1e-12)
        for k, c in ref.alignment.items():
            assert got.alignment[k].ci_low == pytest.approx(c.ci_low, abs=1e-12)
