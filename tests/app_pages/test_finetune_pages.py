"""Fine-tune and Alignment-vs-perplexity pages (AppTest through app.py)."""
import json

import numpy as np
import pytest

from core.finetune import results
from core.finetune.fit import ols
from tests.app_pages.conftest import texts_of, write_corpus

FT = "app_pages/5_Fine-tune.py"
AVP = "app_pages/6_Alignment_vs_perplexity.py"


@pytest.fixture
def bench(tmp_path, maths_texts, prose_texts):
    from core.corpora import CorpusSpec, register_corpus

    for name, texts, domain in (("bench", maths_texts[:20], "target benchmark"), ("maths", maths_texts[40:80], "formal maths"),
                                ("prose", prose_texts[:30], "general prose")):
        register_corpus(CorpusSpec(name=name, kind="files", path=str(write_corpus(tmp_path, name, texts)),
                                   field="text", domain=domain))


def _row(run_id, label, alignment, ppl, fam, *, status="done", group="g1"):
    results.upsert_run(run_id, label=label, source=label, target="bench", model="tiny", method="full",
                       group_key=group, status=status, alignment=alignment, align_ci_low=alignment - 0.01,
                       align_ci_high=alignment + 0.01, ppl_before=50.0, ppl_after=ppl, familiarity=fam,
                       tokens_trained=4000, hparams={"budget_tokens": 4000, "epochs": 2, "learning_rate": 1e-4,
                                                     "seq_len": 128})


def test_finetune_page_queues_the_experiment_with_identical_settings(app, bench, tiny_model_dir, monkeypatch):
    import core.finetune.jobs as ftjobs

    calls = []

    def fake_submit(target, sources, base, settings, **kw):
        calls.append((target, sources, base, settings))
        return ftjobs.Submission("experiment-fake", [], False)

    monkeypatch.setattr(ftjobs, "submit_experiment", fake_submit)
    at = app(FT, {"model": tiny_model_dir}).run()
    assert not at.exception, texts_of(at.exception)
    target = at.selectbox(key="ft_target")
    assert "bench" in target.options and target.value == "proofnet"       # ProofNet first when installed
    target.set_value("bench").run()
    sources = at.multiselect(key="ft_exp_sources")
    assert "bench" not in sources.options and {"maths", "prose"} <= set(sources.options)
    assert "proofnet" not in sources.options and "proofnet-af" not in sources.options
    sources.set_value(["maths", "prose"]).run()
    at.button(key="ft_exp_go").click().run()
    assert not at.exception, texts_of(at.exception)
    (tgt, srcs, base, settings), = calls
    assert tgt == "bench" and srcs == ["maths", "prose"]
    assert base["budget_tokens"] == 4000 and base["model"] == tiny_model_dir and base["method"] == "full"
    assert settings.model == tiny_model_dir
    assert any("experiment-fake" in m for m in texts_of(at.markdown) + texts_of(at.warning))


def test_finetune_page_shows_bad_input_errors_and_the_runs(app, bench, monkeypatch):
    import core.finetune.jobs as ftjobs
    from core.errors import AlignScopeError

    def refuse(config, settings, **kw):
        raise AlignScopeError(f"Training source {config.source!r} is broken.", fix="pick another.")

    monkeypatch.setattr(ftjobs, "submit_finetune", refuse)
    _row("r1", "maths", 0.8, 20.0, 30.0)
    at = app(FT, {"ft_tab": "Single run"}).run()                     # the tab, chosen by URL
    at.selectbox(key="ft_target").set_value("bench").run()
    at.button(key="ft_go").click().run()
    assert not at.exception, texts_of(at.exception)
    assert any("is broken" in e and "Fix: pick another" in e for e in texts_of(at.error))
    df = at.dataframe[0].value
    assert list(df["label"]) == ["maths"] and df["ppl_after"].iloc[0] == 20.0


def test_plot_page_without_runs(app, monkeypatch):
    import core.validation.report as report

    monkeypatch.setattr(report, "results_path", lambda: None)           # no committed lab either
    at = app(AVP).run()
    assert not at.exception, texts_of(at.exception)
    assert any("No fine-tune runs yet" in i for i in texts_of(at.info))


def test_plot_page_shows_fit_r2_and_exports(app, bench):
    _row("other", "z", 0.3, 99.0, 9.0, group="g2")                   # another group, older
    pts = [("a", 0.20, 40.0, 80.0), ("b", 0.45, 33.0, 60.0), ("c", 0.70, 25.5, 45.0), ("d", 0.90, 21.0, 30.0)]
    for k, (label, x, y, f) in enumerate(pts):
        _row(f"r{k}", label, x, y, f)
    _row("r9", "e", 0.5, None, 50.0, status="failed")               # not plotted
    at = app(AVP).run()
    assert not at.exception, texts_of(at.exception)
    box = at.selectbox(key="avp_group")
    assert len(box.options) == 4                                     # 2 live groups + the committed lab's 2 regimes
    assert box.value == "g1"                                         # the latest live group is shown first
    fit = ols([p[1] for p in pts], [p[2] for p in pts])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["r²"] == f"{fit.r2:.3f}" and metrics["slope"] == f"{fit.slope:.3g}"
    assert metrics["slope 95% CI"] == f"[{fit.slope_ci[0]:.3g}, {fit.slope_ci[1]:.3g}]"
    assert metrics["base-model perplexity"] == "50.000"
    charts = at.get("plotly_chart")
    assert [c.key for c in charts] == ["avp_fig"]                    # lazy tabs: only the chosen one ran
    spec = json.loads(charts[0].proto.spec)
    names = [t.get("name") for t in spec["data"]]
    assert "95% confidence band" in names and any(n and n.startswith("OLS fit") for n in names)
    points = next(t for t in spec["data"] if t.get("name") == "fine-tuned runs")
    assert sorted(points["text"]) == ["a", "b", "c", "d"]             # one labelled point per finished run
    assert any(s.get("line", {}).get("dash") == "dash" for s in spec["layout"].get("shapes", []))
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"⬇ PNG", "⬇ SVG", "⬇ HTML (interactive)"} <= set(labels)
    at = app(AVP, {"avp_tab": "Table"}).run()                        # the table tab, from the URL
    assert not at.get("plotly_chart") and "⬇ CSV" in [b.proto.label for b in at.get("download_button")]
    np.testing.assert_allclose(sorted(at.dataframe[0].value["ppl_after"].dropna()), sorted(p[2] for p in pts))
    at = app(AVP, {"avp_tab": "Familiarity vs perplexity"}).run()
    assert [c.key for c in at.get("plotly_chart")] == ["avp_fam_fig"]
