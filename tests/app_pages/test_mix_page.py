"""Mix page (AppTest): sliders drive the live prediction; suggest, save, export, verify; bad input."""
import pytest

from tests.app_pages.conftest import texts_of, wait_job

PAGE = "app_pages/4_Mix.py"


def _metric(at, label_start):
    return next(m for m in at.metric if m.label.startswith(label_start))


@pytest.fixture
def embedded(settings, small_corpora):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)


def test_sliders_drive_the_prediction(app, view_params, embedded, settings):
    from core.coefficients import alignment_coefficient
    from core.pipeline import embed_corpus

    at = app(PAGE, view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.error, texts_of(at.error)
    assert {s.key for s in at.slider} >= {"mix_w_cand-maths", "mix_w_cand-prose"}
    even = float(_metric(at, "Predicted alignment").value)
    assert at.get("plotly_chart")
    assert any("ms (server)" in c for c in texts_of(at.caption))
    # prose to zero: the mixture is cand-maths alone, so the prediction is its own alignment
    at.slider(key="mix_w_cand-prose").set_value(0.0).run()
    alone = alignment_coefficient(embed_corpus("cand-maths", settings, progress=False).embeddings,
                                  embed_corpus("tgt", settings, progress=False).embeddings).value
    assert float(_metric(at, "Predicted alignment").value) == pytest.approx(alone, abs=1e-4)
    assert float(_metric(at, "Predicted alignment").value) != pytest.approx(even, abs=1e-6)
    assert at.session_state["mix_last_ms"] < 2000
    # all zero: a clear message, nothing crashes
    at.slider(key="mix_w_cand-maths").set_value(0.0).run()
    assert not at.exception
    assert any("All weights are zero" in e for e in texts_of(at.error))


def test_suggest_puts_weights_on_sliders_and_save_export(app, view_params, embedded):
    from core.mixture import list_mixtures, load_mixture, read_jsonl

    at = app(PAGE, view_params).run()
    at.button(key="mix_suggest").click().run()
    assert not at.exception, texts_of(at.exception)
    wm, wp = at.slider(key="mix_w_cand-maths").value, at.slider(key="mix_w_cand-prose").value
    assert wm > wp                                   # maths is the better-aligned source for a maths target
    assert any("Best mix" in s for s in texts_of(at.success))
    at.text_input(key="mix_name").set_value("page-mix").run()
    at.number_input(key="mix_budget").set_value(2000).run()
    at.button(key="mix_save").click().run()
    assert "page-mix" in list_mixtures()
    m = load_mixture("page-mix")
    assert m.target == "tgt" and m.budget_tokens == 2000 and m.weights["cand-maths"] == pytest.approx(wm / (wm + wp), abs=1e-6)
    at.slider(key="mix_w_cand-maths").set_value(0.1).run()           # move away, then load the saved mix back
    at.selectbox(key="mix_saved_pick").set_value("page-mix")
    at.button(key="mix_load").click().run()
    assert at.slider(key="mix_w_cand-maths").value == pytest.approx(round(m.weights["cand-maths"], 3))
    at.button(key="mix_export").click().run()
    assert not at.exception and not at.error, texts_of(at.error)
    done = at.session_state["mix_exported"]
    rows = read_jsonl(done["path"])
    assert len(rows) == done["rows"] > 0 and {r["source"] for r in rows} <= {"cand-maths", "cand-prose"}


def test_export_with_too_small_a_source_is_a_clear_error(app, view_params, embedded):
    at = app(PAGE, view_params).run()
    at.number_input(key="mix_budget").set_value(10 ** 8).run()
    at.button(key="mix_export").click().run()
    assert not at.exception
    assert any("fewer than its share" in e for e in texts_of(at.error))


def test_missing_embeddings_are_named_and_offered(app, view_params, settings, small_corpora):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt"], settings, progress=False)
    at = app(PAGE, view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.slider or not any(s.key.startswith("mix_w_") for s in at.slider)
    text = " ".join(texts_of(at.warning) + texts_of(at.info))
    assert "cand-maths" in text and "cand-prose" in text
    assert any(b.label == "Compute missing embeddings" for b in at.button)


def test_verify_job_shows_measured_vs_predicted(app, view_params, embedded):
    at = app(PAGE, view_params).run()
    at.button(key="mix_verify_btn").click().run()
    job_id = at.session_state["mix_verify_job"]
    assert wait_job(job_id)["state"] == "done"
    at.run()
    assert not at.exception, texts_of(at.exception)
    df = at.dataframe[0].value
    assert list(df["coefficient"]) == ["alignment", "diversity"]
    assert {"predicted", "measured", "meas. CI low", "CIs overlap"} <= set(df.columns)
