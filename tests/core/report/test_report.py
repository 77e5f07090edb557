"""The one-click report: collected from the cache only, self-contained HTML with every figure,
a PDF through Chromium with the network refused, and the ``python -m core report`` command."""
import os
import re

import pytest

from tests.app_pages.conftest import SMALL, settings, small_corpora  # noqa: F401  (fixtures)


@pytest.fixture
def embedded(small_corpora, settings):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose", "cand-code"], settings, progress=False)
    return settings


def _runs(settings):
    from core.finetune import results

    for i, (src, a, ppl) in enumerate((("cand-maths", 0.8, 20.0), ("cand-prose", 0.5, 30.0), ("cand-code", 0.6, 26.0))):
        results.upsert_run(f"run{i}", label=src, source=src, target="tgt", status="done", alignment=a,
                           align_ci_low=a - 0.02, align_ci_high=a + 0.02, ppl_before=40.0, ppl_after=ppl,
                           group_key="g1", model="tiny", method="full", align_settings=settings.to_dict(),
                           hparams={"budget_tokens": 4000, "epochs": 1.0, "learning_rate": 1e-4, "seq_len": 32})


def test_collect_reads_the_cache_and_names_what_is_missing(small_corpora, settings):
    from core.jobs import list_jobs
    from core.report import collect

    data = collect("tgt", ["cand-maths", "cand-prose"], settings, lab=False)
    assert data.matrix is None and set(data.missing) == {"tgt", "cand-maths", "cand-prose"}
    assert any("not cached" in n for n in data.notes) and not list_jobs()


def test_html_is_self_contained_with_every_figure(embedded, monkeypatch):
    from core.mixture import Mixture, save_mixture
    from core.report import collect, render_html

    _runs(embedded)
    save_mixture(Mixture("m1", {"cand-maths": 0.7, "cand-prose": 0.3}, 4000, target="tgt"))
    data = collect("tgt", ["cand-maths", "cand-prose", "cand-code"], embedded)
    assert [r["source"] for r in data.ranking] and data.mixture["name"] == "m1"
    assert data.mixture["predicted"]["alignment"]["value"] > 0 and data.mixture["verified"] is None
    html = render_html(data)
    figures = re.findall(r"data-figure='([a-z_-]+)'", html)
    expected = {"heatmap", "ranking", "mixture", "avp", "before_after"} | ({"leaderboard"} if data.leaderboard else set())
    expected |= {f"design-{d.name}" for d in data.designs if d.figure is not None}     # the committed designs
    assert {d.name for d in data.designs} >= {"pretrain"} and all(f"<h2>{d.title}</h2>" in html for d in data.designs)
    assert set(figures) == expected
    assert not re.search(r"<script[^>]+src=", html) and "cdn.plot.ly" not in html.split("</script>", 1)[1]
    assert html.count("Plotly.newPlot") == len(figures)
    assert "Provenance" in html and data.provenance["commit"] in html and "tgt" in html
    assert "estimator closed_form_head" in html
    axes = {(a["condition"], a["outcome"]) for a in data.lab_axes}
    assert axes == {("finetune", "af-nll"), ("icl", "af-nll")}                # af-ppl ranks like af-nll
    assert "AF NLL (formal | informal) in context (few-shot):</b>" in html and "regime icl-k4" in html


def test_names_are_escaped(embedded):
    from core.report import collect, render_html

    data = collect("tgt", ["cand-maths"], embedded, lab=False)
    data.notes.append("<script>alert(1)</script>")
    html = render_html(data)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Debian chromium absent")
def test_pdf_prints_offline(embedded, tmp_path):
    from pypdf import PdfReader

    from core.report import collect, html_to_pdf, render_html

    html = tmp_path / "r.html"
    html.write_text(render_html(collect("tgt", ["cand-maths", "cand-prose"], embedded, lab=False)))
    pdf = html_to_pdf(html, tmp_path / "r.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
    assert "AlignScope report" in text and "Alignment heatmap" in text and "cand-maths" in text


def test_cli_writes_the_report_and_rejects_bad_input(embedded, tiny_model_dir, tmp_path, capsys):
    import json

    from core.cli import main

    out = tmp_path / "meeting.html"
    flags = ["--model", tiny_model_dir, "--batch-size", SMALL["batch_size"], "--seq-len", SMALL["seq_len"],
             "--num-batches", SMALL["num_batches"]]
    assert main(["report", "--target", "tgt", "--sources", "cand-maths,cand-prose", "--out", str(out), "--no-lab",
                 "--json", *flags]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["html"] == str(out) and out.stat().st_size > 1_000_000 and payload["ranking"]
    assert main(["report", "--target", "tgt", "--sources", "ghost", "--out", str(out), *flags]) == 2
    assert "ghost" in capsys.readouterr().err
    assert main(["report", "--target", "tgt", "--sources", "cand-maths", "--out", str(tmp_path / "r.txt"), *flags]) == 2
    assert "--out" in capsys.readouterr().err
