"""A deck's slides and hand-out (core.deck_slides, core.deck_export, python -m core deck): each view
drawn from the caches as its page shows it, a view naming a corpus or setting that no longer exists
shows that one problem line while the other slides render, the CLI's list/show/add/remove/export."""
import json
import os
import re

import pytest

from core import deck
from core.cli import main
from tests.app_pages.conftest import SMALL, settings, small_corpora  # noqa: F401  (fixtures)
from tests.core.validation.conftest import SMALL_RESULTS


@pytest.fixture
def embedded(small_corpora, settings, tiny_model_dir, monkeypatch):
    from core.pipeline import embed_corpora

    monkeypatch.setenv("ALIGNSCOPE_VALIDATION_RESULTS", str(SMALL_RESULTS))
    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    return {"target": "tgt", "candidates": "cand-maths,cand-prose", "model": tiny_model_dir, **SMALL}


def _three_views(params: dict) -> None:
    deck.add_view("talk", "Alignment", params)
    deck.add_view("talk", "Ranking", {**params, "candidates": "cand-maths,gone-corpus"})    # no longer exists
    deck.add_view("talk", "Alignment_vs_perplexity", {"target": "proofnet"})


def test_slides_follow_each_page_and_a_broken_view_is_one_line(embedded):
    from core.deck_slides import build_slides, view_problems
    from core.jobs import list_jobs

    _three_views(embedded)
    deck.add_view("talk", "Which_metric_predicts", {"lab_tab": "Scatter per metric", "metric": "gzip"})
    deck.add_view("talk", "Fine-tune", {"target": "proofnet"})
    deck.add_view("talk", "Ranking", {**embedded, "estimator": "nope", "num_batches": "999"})
    deck.add_view("talk", "Alignment_vs_perplexity", {"target": "proofnet", "avp_group": "lab:gone"})
    views = deck.load_deck("talk").views
    slides = build_slides(views)
    heat, broken, avp, scatter, ft, bad_settings, gone_group = slides
    assert heat.figure is not None and heat.figure.data[0].type == "heatmap" and not heat.problem
    assert {re.sub("</?b>", "", x) for x in heat.figure.data[0].x} == {"tgt", "cand-maths", "cand-prose"}
    assert broken.figure is None and "gone-corpus no longer exists" in broken.problem and "\n" not in broken.problem
    names = [t.name for t in avp.figure.data]
    assert "committed lab: mean over seeds" in names and "committed lab, 4k regime, 6 sources" in avp.caption
    assert "gzip" in scatter.figure.layout.title.text and scatter.title == "Does gzip predict fine-tuning?"
    assert len(ft.figure.data) == 2 and "committed lab" in ft.caption            # lab fallback: before -> after
    assert "estimator 'nope' no longer exists" in bad_settings.problem and "num_batches=999" in bad_settings.problem
    assert "'lab:gone' no longer exists" in gone_group.problem
    assert view_problems(views[0]) == []
    assert not list_jobs()                                                       # nothing computed


def test_missing_embeddings_are_a_problem_not_a_computation(small_corpora, tiny_model_dir):
    from core.deck_slides import build_slide
    from core.jobs import list_jobs

    v = deck.add_view("t", "Ranking", {"target": "tgt", "candidates": "cand-maths", "model": tiny_model_dir,
                                       **SMALL}).views[0]
    s = build_slide(v)
    assert s.figure is None and "not cached" in s.problem and "tgt" in s.problem
    assert not list_jobs()


def test_export_renders_every_view_on_its_own_page(embedded, tmp_path):
    from core.deck_export import export_deck

    _three_views(embedded)
    res = export_deck("talk", tmp_path / "talk.html")
    assert res["slides"] == 3 and list(res["problems"]) == [2] and res["pdf"] is None
    html = (tmp_path / "talk.html").read_text()
    assert html.count("<section class='slide'") == 3
    assert re.findall(r"data-figure='([^']+)'", html) == ["slide-1", "slide-3"]
    assert html.count("class='problem'") == 1 and "gone-corpus no longer exists" in html
    assert not re.search(r"<script[^>]+src=", html) and "cdn.plot.ly" not in html.split("</script>", 1)[1]
    assert html.count("Plotly.newPlot") == 2                                     # plotly.js inlined once


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Debian chromium absent")
def test_cli_add_show_remove_export_pdf(embedded, tmp_path, capsys):
    from pypdf import PdfReader

    url = "/Alignment?" + "&".join(f"{k}={v}" for k, v in embedded.items())
    assert main(["deck", "add", "talk", "--url", url, "--title", "the heatmap"]) == 0
    assert main(["deck", "add", "talk", "--url", "/Ranking?target=tgt&candidates=gone-corpus"]) == 0
    assert main(["deck", "add", "talk", "--url", "/Alignment_vs_perplexity?target=proofnet"]) == 0
    capsys.readouterr()
    assert main(["deck", "show", "talk", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["page"] for s in shown["slides"]] == ["Alignment", "Ranking", "Alignment vs perplexity"]
    assert shown["slides"][0]["title"] == "the heatmap" and shown["slides"][0]["problems"] == []
    assert "gone-corpus" in shown["slides"][1]["problems"][0]
    assert main(["deck", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["slides"] == 3
    out = tmp_path / "talk.html"
    assert main(["deck", "export", "talk", "--out", str(out), "--pdf", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    pdf = PdfReader(res["pdf"])
    assert len(pdf.pages) >= 3
    text = " ".join(p.extract_text() for p in pdf.pages)
    assert "the heatmap" in text and "gone-corpus no longer exists" in text
    assert main(["deck", "remove", "talk", "2"]) == 0
    assert [v.page for v in deck.load_deck("talk").views] == ["Alignment", "Alignment_vs_perplexity"]


def test_cli_bad_input_exits_2_with_one_line(capsys):
    for argv, words in ((["deck", "add", "../up", "--url", "/"], "not valid"),
                        (["deck", "add", "talk"], "needs the view's --url"),
                        (["deck", "show", "nope"], "no deck named"),
                        (["deck", "remove", "nope", "1"], "no deck named"),
                        (["deck", "add", "talk", "--url", "/Nowhere"], "not a page")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
    deck.add_url("talk", "/Ranking?target=proofnet")
    assert main(["deck", "remove", "talk", "x"]) == 2
    assert "not an integer" in capsys.readouterr().err
