"""A sidebar change that invalidates embeddings (AppTest) says so first and offers to keep the
current view; estimates come from this machine's measured throughput (core.throughput), as a range."""
import pytest

from tests.app_pages.conftest import texts_of


@pytest.fixture
def embedded(settings, small_corpora):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)


def test_estimator_change_asks_and_keep_keeps_the_view(app, view_params, embedded):
    at = app("app_pages/3_Ranking.py", view_params)
    at.session_state["sb_settings"] = True                           # the settings box is open
    at.run()
    assert at.get("plotly_chart")
    at.sidebar.selectbox(key="sb_estimator").set_value("reference").run()
    assert not at.exception, texts_of(at.exception)
    warning = " ".join(texts_of(at.sidebar.warning))
    assert "estimator → reference" in warning and "3 of 3 corpora have none" in warning and "to compute" in warning
    assert "estimator" not in at.query_params and at.get("plotly_chart")      # the ranking is still shown
    at.sidebar.button(key="sb_keep").click().run()
    assert not at.sidebar.warning and at.sidebar.selectbox(key="sb_estimator").value == "closed_form_head"
    at.sidebar.selectbox(key="sb_estimator").set_value("reference").run()
    at.sidebar.button(key="sb_apply").click().run()
    assert at.query_params["estimator"] == "reference" and not at.sidebar.warning


def test_change_to_cached_settings_applies_at_once(app, view_params, embedded, settings):
    from dataclasses import replace

    from core.batches import BatchConfig
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], replace(settings, batch=BatchConfig(4, 32, 3, seed=1)),
                  progress=False)
    at = app("app_pages/2_Alignment.py", view_params)
    at.session_state["sb_settings"] = True
    at.run()
    at.sidebar.number_input(key="sb_seed").set_value(1).run()
    assert not at.exception, texts_of(at.exception)
    assert at.query_params["seed"] == "1" and not at.sidebar.warning


def test_throughput_history_gives_a_range(settings):
    from core import throughput

    est = throughput.estimate(settings, 10)
    assert est.measured == 0 and "no measurement" in est.basis and est.low_s < est.high_s
    throughput.record(settings, batches=4, seconds=2.0, precision="fp32")
    throughput.record(settings, batches=4, seconds=4.0, precision="fp32")
    est = throughput.estimate(settings, 8)
    tokens_per_batch = settings.batch.batch_size * settings.batch.seq_len
    assert est.measured == 2 and "measured on this machine" in est.basis
    assert est.low_s == pytest.approx(0.5 * 8 * 0.75) and est.high_s == pytest.approx(1.0 * 8 * 1.25)
    assert est.text().startswith("about ") and tokens_per_batch > 0
    for _ in range(throughput.KEEP + 3):
        throughput.record(settings, batches=1, seconds=1.0, precision="fp32")
    assert len(throughput.history()[throughput.key_of(settings, "fp32")]) == throughput.KEEP


def test_an_embedding_job_records_its_throughput(settings, small_corpora):
    from core import throughput
    from core.jobs import submit
    from tests.app_pages.conftest import wait_job

    job = submit("embed", {"corpora": ["cand-code"], "settings": settings.to_dict()})
    assert wait_job(job.job_id)["state"] == "done"
    rows = [r for k, rs in throughput.history().items() if k.startswith(settings.model) for r in rs]
    assert len(rows) == 1 and rows[0]["batches"] == 3 and rows[0]["seconds"] > 0
    assert throughput.estimate(settings, 3).measured == 1
