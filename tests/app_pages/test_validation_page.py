"""Which metric predicts? (AppTest) with the small recorded lab result: leaderboard, regime and
target-derived toggle in the URL, scatters, dose-response, exports, no/malformed results file;
and the verdict line on the Ranking page."""
from __future__ import annotations

import json

import pytest

from core.paths import REPO_ROOT
from core.validation import report
from core.validation.axes import axis_label
from tests.app_pages.conftest import texts_of

PAGE = "app_pages/7_Which_metric_predicts.py"
SMALL = REPO_ROOT / "tests" / "data" / "validation_small.json"


@pytest.fixture
def small_file(monkeypatch):
    monkeypatch.setenv(report.RESULTS_ENV, str(SMALL))
    return SMALL


def _table(at):
    return at.dataframe[0].value


def test_leaderboard_scatter_and_dose(app, small_file):
    at = app(PAGE).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.error
    df = _table(at)
    assert list(df.columns[:6]) == ["metric", "cost per source (s)", "r² [95% CI]", "Spearman [95% CI]",
                                    "LOO error (ppl)", "p"]
    assert set(df["metric"]) == {"t2v-head (default)", "unigram-cos", "gzip"}
    assert all(s.startswith("6 × 2-3") for s in df["sources × seeds"])       # 4k: one seed failed, one killed
    assert all(s == "16 / 2" for s in df["runs used / failed"])
    assert df["r² [95% CI]"].str.match(r"^0\.\d\d \[0\.\d\d, [01]\.\d\d\]$").all()
    md = texts_of(at.markdown)
    assert any(t.startswith("**On 16 runs (6 sources × 2-3 seeds, regime 4k)") and "predicts held-out perplexity after fine-tuning best" in t
               for t in md)
    charts = at.get("plotly_chart")
    assert len(charts) == 1                                     # scatter small multiples (lazy tabs: only this one)
    scatter = json.loads(charts[0].proto.spec)
    y_axes = [k for k in scatter["layout"] if k.startswith("yaxis")]
    assert len(y_axes) == 3 and all(scatter["layout"][k].get("matches") == "y" for k in y_axes if k != "yaxis")
    assert any(t.get("error_y", {}).get("array") for t in scatter["data"])
    assert sum(t["name"] == "least-squares fit" for t in scatter["data"]) == 3
    assert at.query_params["regime"] == "4k" and at.query_params["derived"] == "include"
    labels = [d.proto.label for d in at.get("download_button")]
    at = app(PAGE, {"lab_tab": "Dose-response"}).run()          # the dose tab, from the URL
    assert not at.exception, texts_of(at.exception)
    charts = at.get("plotly_chart")
    assert len(charts) == 2                                     # dose ppl, dose metrics
    dose = json.loads(charts[0].proto.spec)
    assert len([t for t in dose["data"] if t.get("mode") == "lines+markers"]) == 2
    assert all(len(t["x"]) == 5 for t in dose["data"] if t.get("mode") == "lines+markers")
    labels += [d.proto.label for d in at.get("download_button")]
    assert labels.count("⬇ CSV") == 3 and labels.count("⬇ HTML (interactive)") == 3


def test_regime_and_derived_from_url_and_back(app, small_file):
    at = app(PAGE, {"regime": "long", "derived": "exclude"}).run()
    assert not at.exception, texts_of(at.exception)
    assert at.toggle[0].value is True
    df = _table(at)
    assert all(s == "5 × 1" for s in df["sources × seeds"])              # proofnet-valid left out, 1 seed
    assert any("target-derived sources excluded" in t for t in texts_of(at.markdown))
    at.toggle[0].set_value(False).run()
    assert at.query_params["derived"] == "include" and at.query_params["regime"] == "long"
    assert all(s == "6 × 1" for s in _table(at)["sources × seeds"])
    seg = at.get("button_group")[0]
    seg.set_value("dose").run()
    assert not at.exception, texts_of(at.exception)
    assert at.query_params["regime"] == "dose"
    assert all(s.startswith("10 × 2-3") for s in _table(at)["sources × seeds"])


def test_no_results_file_says_how_to_produce_one(app, monkeypatch, tmp_path):
    monkeypatch.delenv(report.RESULTS_ENV, raising=False)
    monkeypatch.setattr(report, "RESULTS_FILE", tmp_path / "absent.json")
    monkeypatch.setattr(report, "ICL_RESULTS_FILE", tmp_path / "absent-icl.json")
    monkeypatch.setattr(report, "AF_RESULTS_FILE", tmp_path / "absent-af.json")
    monkeypatch.setattr(report, "CODE_RESULTS_FILE", tmp_path / "absent-code.json")
    at = app(PAGE).run()
    assert not at.exception, texts_of(at.exception)
    assert any("No validation results yet" in t for t in texts_of(at.info))
    assert any("python -m core validate run" in c.value for c in at.code)
    assert not at.get("plotly_chart") and not at.dataframe


def test_malformed_results_file_names_the_field(app, monkeypatch, tmp_path):
    data = json.loads(SMALL.read_text())
    del data["runs"][0]["seed"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    monkeypatch.setenv(report.RESULTS_ENV, str(bad))
    at = app(PAGE).run()
    assert not at.exception
    errs = texts_of(at.error)
    assert any("runs[0].seed is missing" in e and "bad.json" in e for e in errs), errs


def test_missing_env_file(app, monkeypatch, tmp_path):
    monkeypatch.setenv(report.RESULTS_ENV, str(tmp_path / "typo.json"))
    at = app(PAGE).run()
    assert any("typo.json" in e and report.RESULTS_ENV in e for e in texts_of(at.error))


def test_ranking_and_alignment_pages_show_the_verdict(app, view_params, settings, small_file):
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    want = report.verdict_for_file(SMALL)
    icl = report.verdict_for_file(report.ICL_RESULTS_FILE, condition="icl", outcome="af-nll")
    icl_label = axis_label("icl", "af-nll")
    for page in ("app_pages/3_Ranking.py", "app_pages/2_Alignment.py"):
        at = app(page, view_params).run()
        assert not at.exception, texts_of(at.exception)
        assert at.get("plotly_chart"), page
        captions = texts_of(at.caption)
        assert f"Which metric predicts fine-tuning? {want}" in captions, (page, captions)
        assert f"Which metric predicts {icl_label}? {icl}" in captions, (page, captions)
        assert not any("AF perplexity" in c for c in captions)           # af-ppl ranks like af-nll


def test_no_verdict_line_without_results(app, view_params, settings, monkeypatch, tmp_path):
    from core.pipeline import embed_corpora

    monkeypatch.delenv(report.RESULTS_ENV, raising=False)
    monkeypatch.setattr(report, "RESULTS_FILE", tmp_path / "absent.json")
    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    at = app("app_pages/3_Ranking.py", view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert not any("Which metric predicts" in t for t in texts_of(at.caption))


def test_results_without_metric_values_show_the_finished_runs(app, monkeypatch, tmp_path):
    data = json.loads(SMALL.read_text())
    data["metrics"] = []                                        # the lab measures metrics at the end
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data))
    monkeypatch.setenv(report.RESULTS_ENV, str(partial))
    at = app(PAGE).run()
    assert not at.exception, texts_of(at.exception)
    assert any("no metric values yet" in t for t in texts_of(at.info))
    assert len(at.dataframe) == 3                               # points of 4k, long, dose
    assert list(at.dataframe[0].value["point"]) == sorted(data["sources"])
    assert not at.get("plotly_chart")


def test_the_in_context_axis_shows_its_own_leaderboard(app, small_file):
    axes = report.lab_axes()
    pairs = [(a["condition"], a["outcome"]) for a in axes]
    assert pairs[0] == ("finetune", "text-ppl") and pairs.index(("finetune", "af-nll")) < pairs.index(("icl", "af-nll"))
    at = app(PAGE, {"axis": "icl/af-nll"}).run()
    assert not at.exception, texts_of(at.exception)
    assert not at.error
    assert "in context" in at.title[0].value and at.query_params["axis"] == "icl/af-nll"
    assert any("validation_icl_cpu.json" in c for c in texts_of(at.caption))
    df = _table(at)
    assert "t2v-head (default)" in set(df["metric"]) and all(s.startswith("16 × 3") for s in df["sources × seeds"])
    assert "LOO error (nats/token)" in df.columns and "LOO error (ppl)" not in df.columns
    bold = [t for t in texts_of(at.markdown) if t.startswith("**On ")]
    assert bold and all("AF NLL (formal | informal) in context (few-shot)" in t for t in bold), bold


def test_runs_with_a_non_finite_outcome_are_named_on_the_page(app, monkeypatch, tmp_path):
    data = json.loads(SMALL.read_text())
    done = [r for r in data["runs"] if r.get("status") == "done"]
    done[0]["ppl_after"], done[1]["ppl_after"] = float("nan"), float("inf")
    bad = tmp_path / "nan.json"
    bad.write_text(json.dumps(data))
    monkeypatch.setenv(report.RESULTS_ENV, str(bad))
    at = app(PAGE).run()
    assert not at.exception, texts_of(at.exception)
    warn = [w for w in texts_of(at.warning) if "non-finite outcome" in w]
    assert len(warn) == 1 and warn[0].startswith("2 run(s) marked done"), texts_of(at.warning)
    assert f"{done[0]['regime']}/{done[0]['point']} seed {done[0]['seed']} (nan)" in warn[0]


def test_a_lab_on_another_target_is_its_own_axis(app, small_file, monkeypatch, tmp_path):
    """The docstring -> code lab (target humaneval) is an axis of its own beside ProofNet's, keyed
    ``humaneval:finetune/text-ppl`` in the URL and titled with its target; the ProofNet axes keep
    their keys. Its verdict shows on a page whose target is humaneval, not on ProofNet's."""
    from ui import validation as v

    data = json.loads(SMALL.read_text())
    data["target"] = "humaneval"
    code = tmp_path / "code.json"
    code.write_text(json.dumps(data))
    monkeypatch.setattr(report, "CODE_RESULTS_FILE", code)
    axes = report.lab_axes()
    assert {"target": "humaneval", "condition": "finetune", "outcome": "text-ppl", "path": code} in axes
    assert axes[0]["target"] == "proofnet" and axes[-1]["target"] == "humaneval"
    keys = [v.axis_key(a) for a in axes]
    assert "finetune/text-ppl" in keys and "icl/af-nll" in keys and keys[-1] == "humaneval:finetune/text-ppl"
    at = app(PAGE, {"axis": "humaneval:finetune/text-ppl"}).run()
    assert not at.exception, texts_of(at.exception)
    assert "target humaneval" in at.title[0].value
    assert at.query_params["axis"] == "humaneval:finetune/text-ppl"
    want = report.verdict_for_file(code, condition="finetune", outcome="text-ppl")
    assert any(want in t for t in texts_of(at.markdown))


def test_the_other_designs_tab_shows_the_design_named_in_the_url(app, small_file):
    from core.report.designs import DESIGN_FILES, results_dir

    at = app(PAGE, {"lab_tab": "Other designs", "design": "pretrain"}).run()
    assert not at.exception, texts_of(at.exception)
    assert at.radio[0].value == "pretrain" and at.query_params["design"] == "pretrain"
    charts = at.get("plotly_chart")
    assert len(charts) == 1                                               # only the chosen design's chart
    assert "t2v-head" in json.loads(charts[0].proto.spec)["layout"]["title"]["text"]
    assert any("paper r^2 = 0.8" in c.value for c in at.code)
    committed = [t for n, t, f in DESIGN_FILES if (results_dir() / f).is_file()]    # the radio shows titles
    assert at.radio[0].options == committed and "Pre-training grid: alignment vs cross-entropy" in committed


def test_without_committed_designs_the_tab_gives_the_commands(app, small_file, monkeypatch, tmp_path):
    from core.report import designs

    monkeypatch.setattr(designs, "results_dir", lambda: tmp_path)
    at = app(PAGE, {"lab_tab": "Other designs"}).run()
    assert not at.exception, texts_of(at.exception)
    assert any("No design has committed results yet" in t for t in texts_of(at.info))
    assert any("python -m core pretrain grid run" in c.value for c in at.code)
