"""The committed lab in the live pages and decks of saved views (AppTest, no browser).

- ui.avp.page (the Alignment vs perplexity page's body): with no run in the results database, the
  committed lab's 4k regime, labelled from the file's fields; a live run is its own group, shown first;
- the Fine-tune and Alignment vs perplexity slides fall back to the lab the same way;
- "Add this view to a deck" in the shared sidebar stores the page and its full URL state;
- presenter mode with ``deck=NAME`` steps through the deck's views (footer links to the neighbouring
  slides' pages and views), a broken view shows its problem in one line, Esc leaves to the slide's view.
"""
import json
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from core import deck
from tests.app_pages.conftest import texts_of

LAB_LABEL = "committed lab, 4k regime, 15 sources × 3 seeds, 2026-11-26, probe smollm2-135m"
AVP_BODY = "from ui import avp\navp.page()\n"


@pytest.fixture
def avp_app(tmp_path):
    script = tmp_path / "avp_page.py"
    script.write_text(AVP_BODY)

    def make(params: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(script), default_timeout=90)
        if params:
            at.query_params.update(params)
        return at.run()

    return make


def _traces(chart) -> dict:
    return {t.get("name"): t for t in json.loads(chart.proto.spec)["data"]}


def test_the_committed_lab_on_a_fresh_cache(avp_app):
    at = avp_app()
    assert not at.exception, texts_of(at.exception)
    group = at.selectbox(key="avp_group")
    assert group.value == "lab:4k" and len(group.options) == 2                 # no live run: only the lab
    assert group.options[0].startswith("proofnet · " + LAB_LABEL) and "long regime" in group.options[1]
    assert any(LAB_LABEL in i for i in texts_of(at.info))
    traces = _traces(at.get("plotly_chart")[0])
    lab, derived = traces["committed lab: mean over seeds"], traces["derived from the target benchmark"]
    assert len(lab["text"]) + len(derived["text"]) == 15                    # one labelled point per source
    assert sorted(derived["text"]) == ["proofnet-informal", "proofnet-valid"]
    assert lab["error_y"]["array"] and lab["error_x"]["array"]               # seed range and alignment CI
    assert any("min–max over seeds" in c for c in texts_of(at.caption))
    at = avp_app({"avp_tab": "Table"})
    df = at.dataframe[0].value
    assert len(df) == 15 and {"ppl min over seeds", "ppl max over seeds", "derived from target"} <= set(df.columns)
    at = avp_app({"avp_group": "lab:long", "avp_tab": "Familiarity vs perplexity"})
    assert [c.key for c in at.get("plotly_chart")] == ["avp_fam_fig"]


def test_a_live_run_is_its_own_group_shown_first(avp_app):
    from core.finetune import results

    results.upsert_run("r1", label="maths", source="maths", target="proofnet", model="tiny", method="full",
                       group_key="g1", status="done", alignment=0.5, align_ci_low=0.45, align_ci_high=0.55,
                       ppl_before=40.0, ppl_after=30.0, hparams={"budget_tokens": 4000, "epochs": 2})
    at = avp_app()
    assert not at.exception, texts_of(at.exception)
    group = at.selectbox(key="avp_group")
    assert group.value == "g1" and len(group.options) == 3 and "committed lab, 4k regime" in group.options[1]
    traces = _traces(at.get("plotly_chart")[0])
    assert traces["fine-tuned runs"]["text"] == ["maths"] and "committed lab: mean over seeds" not in traces


def test_finetune_and_avp_slides_fall_back_to_the_lab(app):
    at = app("app_pages/5_Fine-tune.py", {"present": "1"}).run()
    assert not at.exception, texts_of(at.exception)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"][1]["y"]) == 15                                   # before -> after, every source
    assert any("committed lab, 4k regime" in c for c in texts_of(at.caption))
    at = app("app_pages/6_Alignment_vs_perplexity.py", {"present": "1", "avp_group": "lab:long"}).run()
    assert not at.exception, texts_of(at.exception)
    assert "committed lab: mean over seeds" in _traces(at.get("plotly_chart")[0])
    assert any("long regime" in c for c in texts_of(at.caption))


def _add_from_sidebar(at, name: str) -> AppTest:
    at.session_state["sb_deck"] = True                                        # open the lazy box
    at.run()
    at.text_input(key="deck_name").set_value(name)
    at.button(key="deck_add").click().run()
    assert not at.exception, texts_of(at.exception)
    return at


def test_add_this_view_to_a_deck_from_any_page(app, view_params):
    at = app("app_pages/3_Ranking.py", {**view_params, "present": "0"}).run()
    _add_from_sidebar(at, "talk")
    assert any("slide 1 of deck talk" in c for c in texts_of(at.caption))
    at = app(params=view_params).run()                                        # Home
    _add_from_sidebar(at, "talk")
    at = app("app_pages/7_Which_metric_predicts.py", {**view_params, "lab_tab": "Dose-response"}).run()
    _add_from_sidebar(at, "talk")
    d = deck.load_deck("talk")
    assert [v.page for v in d.views] == ["Ranking", "", "Which_metric_predicts"]
    first = d.views[0].params
    assert first["target"] == "tgt" and first["candidates"] == "cand-maths,cand-prose"
    assert first["model"] == view_params["model"] and first["estimator"] == "closed_form_head"   # defaults pinned
    assert "present" not in first and d.views[2].params["lab_tab"] == "Dose-response"
    at = _add_from_sidebar(app("app_pages/3_Ranking.py", view_params).run(), "../bad")
    assert any("not valid" in e for e in texts_of(at.error))


def _links(at) -> dict:
    out = {}
    for link in at.get("page_link"):
        out[link.proto.label] = {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
    return out


def test_presenter_steps_through_a_deck(app, view_params, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    deck.add_view("talk", "Alignment", view_params)
    deck.add_view("talk", "Ranking", {**view_params, "candidates": "cand-maths,gone-corpus"})
    deck.add_view("talk", "Alignment_vs_perplexity", {"target": "proofnet"})
    at = app("app_pages/2_Alignment.py", {**view_params, "present": "1", "deck": "talk", "slide": "1"}).run()
    assert not at.exception, texts_of(at.exception)
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["type"] == "heatmap"
    links = _links(at)
    assert list(links) == ["Ranking 2/3 →"]
    assert links["Ranking 2/3 →"] == {**{k: str(v) for k, v in deck.load_deck("talk").views[1].params.items()},
                                      "present": "1", "deck": "talk", "slide": "2"}
    assert any("1/3 · deck talk · slide 1/3" in c for c in texts_of(at.caption))

    at = app("app_pages/3_Ranking.py", {**view_params, "present": "1", "deck": "talk", "slide": "2"}).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.get("plotly_chart")
    assert any("Slide 2: corpus gone-corpus no longer exists" in m for m in texts_of(at.markdown))
    assert set(_links(at)) == {"← 1/3 Alignment", "Alignment vs perplexity 3/3 →"}

    at = app("app_pages/6_Alignment_vs_perplexity.py", {"target": "proofnet", "present": "1", "deck": "talk",
                                                         "slide": "3"}).run()
    assert "committed lab: mean over seeds" in _traces(at.get("plotly_chart")[0])
    assert list(_links(at)) == ["← 2/3 Ranking"]
    at.button[0].click().run()                                                # Esc: the slide's own view
    assert not at.exception, texts_of(at.exception)
    assert "present" not in at.query_params and "deck" not in at.query_params and "slide" not in at.query_params
    assert at.session_state["view"].target == "proofnet" and not at.session_state["view"].present


def test_a_deck_opened_from_home_goes_to_its_first_slide_and_bad_decks_say_so(app, view_params):
    deck.add_view("talk", "Alignment_vs_perplexity", {"target": "proofnet"})
    at = app(params={"present": "1", "deck": "talk"}).run()
    assert not at.exception, texts_of(at.exception)
    assert "committed lab: mean over seeds" in _traces(at.get("plotly_chart")[0])
    at = app(params={"present": "1", "deck": "nope"}).run()
    assert not at.exception, texts_of(at.exception)
    assert any("no deck named 'nope'" in m for m in texts_of(at.markdown))
    at = app("app_pages/3_Ranking.py", {"present": "1", "deck": "../etc"}).run()
    assert any("not valid" in m for m in texts_of(at.markdown))
