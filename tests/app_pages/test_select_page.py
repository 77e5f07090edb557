"""Select page (AppTest through app.py): inputs, the selection job, windows as plain text, export,
bad input in the widgets' words, and the comparison chart."""
import json

import pytest

from tests.app_pages.conftest import texts_of, wait_job, write_corpus

PAGE = "app_pages/8_Select.py"


@pytest.fixture
def sel_corpora(tmp_path, maths_texts, prose_texts):
    from core.corpora import CorpusSpec, register_corpus

    html = ["<script>alert(1)</script> **bold** <b>tag</b> " + t for t in prose_texts[:10]]
    for name, texts, domain in (("bench", maths_texts[:24], "target benchmark"), ("maths", maths_texts[40:80], "formal maths"),
                                ("prose", html + prose_texts[10:40], "general prose")):
        register_corpus(CorpusSpec(name=name, kind="files", path=str(write_corpus(tmp_path, name, texts)),
                                   field="text", domain=domain))


def _open(app, tiny_model_dir):
    at = app(PAGE, {"model": tiny_model_dir, "seq_len": "32", "batch_size": "4"}).run()
    assert not at.exception, texts_of(at.exception)
    return at


def test_select_export_and_plain_text(app, sel_corpora, tiny_model_dir, monkeypatch):
    at = _open(app, tiny_model_dir)
    at.selectbox(key="sel_target").set_value("bench").run()
    assert "bench" not in at.multiselect(key="sel_pool").options
    at.multiselect(key="sel_pool").set_value(["maths", "prose"]).run()
    at.selectbox(key="sel_method").set_value("unigram-cos").run()
    at.slider(key="sel_budget").set_value(512).run()
    at.number_input(key="sel_max_windows").set_value(80).run()
    at.button(key="sel_go").click().run()
    assert not at.exception, texts_of(at.exception)
    job_id = at.session_state["sel_job"]
    assert wait_job(job_id)["state"] == "done"
    at.run()
    assert not at.exception, texts_of(at.exception)
    codes = [c.value for c in at.code if "<" in c.value or "formal" in c.value or c.value]
    assert codes, "window texts are shown as code blocks"
    assert not any("<script>" in m for m in texts_of(at.markdown))            # never rendered as markdown/HTML
    labels = [t.value for t in at.text]
    assert any("score" in t and "token offset" in t for t in labels)
    metrics = {m.label: m.value for m in at.metric}
    assert 0 <= float(metrics["Predicted alignment with the target"]) <= 1
    assert any("Source composition" in str(c.proto) for c in at.get("plotly_chart"))
    # save + fine-tune: the selection becomes a corpus and a fine-tune job is queued
    import core.finetune.jobs as ftjobs

    queued = []
    monkeypatch.setattr(ftjobs, "submit_finetune",
                        lambda cfg, settings, **kw: queued.append(cfg) or ftjobs.Submission("finetune-fake", [], False))
    at.text_input(key="sel_name").set_value("page-sel").run()
    at.button(key="sel_finetune").click().run()
    assert not at.exception and not at.error, texts_of(at.error)
    assert queued and queued[0].source == "page-sel" and queued[0].target == "bench"
    from core.corpora import get_corpus

    assert len(get_corpus("page-sel").documents()) == len(at.session_state["sel_job"] and queued[0].source and
                                                          get_corpus("page-sel").documents())


def test_bad_budget_is_named_in_the_widgets_words(app, sel_corpora, tiny_model_dir):
    at = _open(app, tiny_model_dir)
    at.selectbox(key="sel_target").set_value("bench").run()
    at.multiselect(key="sel_pool").set_value(["maths"]).run()
    at.selectbox(key="sel_method").set_value("random").run()
    at.slider(key="sel_budget").set_value(65_536).run()
    at.number_input(key="sel_max_windows").set_value(16).run()
    at.button(key="sel_go").click().run()
    assert not at.exception, texts_of(at.exception)
    errors = " ".join(texts_of(at.error))
    assert "larger than the pool" in errors and "Budget (tokens)" in errors and "--budget" not in errors
    assert "'Pool windows (cap)'" in errors and "sel_job" not in at.session_state


def test_comparison_chart_once_results_exist(app, sel_corpora, tiny_model_dir, tmp_path, monkeypatch):
    import ui.select as ui_select

    res = {"version": 1, "config": {"budget": 4000, "seeds": [0, 1]},
           "runs": [{"method": m, "seed": s, "status": "done", "ppl_before": 20.0, "ppl_after": p,
                     "alignment": {"value": a}} for m, s, p, a in (("random", 0, 15.0, .5), ("random", 1, 15.5, .5),
                                                                    ("t2v-greedy", 0, 14.0, .7), ("t2v-greedy", 1, 14.2, .7))],
           "summary": []}
    from core.finetune.compare import summarise

    res["summary"] = summarise(res["runs"], ["random", "t2v-greedy"])
    path = tmp_path / "cmp.json"
    path.write_text(json.dumps(res))
    monkeypatch.setattr(ui_select, "COMPARE_RESULTS", path)
    at = _open(app, tiny_model_dir)
    assert any("selection_compare" not in str(c.proto) for c in at.get("plotly_chart"))
    assert at.dataframe and "t2v-greedy" in at.dataframe[0].value.to_string()
