"""Validation report: results-file checks (named file and field), the report dict the CLI prints,
the verdict line and where the dashboard finds the results."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import AlignScopeError
from core.validation import report, stats
from core.validation.axes import axis_view
from tests.core.validation.conftest import make_results

FAST = dict(n_boot=400, n_permutations=999)
CONTRACT_KEYS = {"metric", "regime", "n_sources", "n_seeds", "n_runs_used", "n_runs_failed", "r2", "r2_ci", "pearson",
                 "spearman", "spearman_ci", "kendall", "kendall_ci", "p_perm", "loo_error", "r2_diff_vs_default",
                 "r2_diff_ci", "cost_s", "exclude_derived"}


def test_load_results_accepts_the_recorded_set(small_results_path):
    res = report.load_results(small_results_path)
    assert res["version"] == 1 and len(res["runs"]) == 42


def test_missing_file_names_path_and_command(tmp_path):
    with pytest.raises(report.ResultsError) as e:
        report.load_results(tmp_path / "nope.json")
    assert "nope.json" in str(e.value) and "python -m core validate run" in str(e.value)


def test_not_json(tmp_path):
    p = tmp_path / "v.json"
    p.write_text("{not json")
    with pytest.raises(report.ResultsError, match="v.json is not readable JSON"):
        report.load_results(p)


def _write(tmp_path, data):
    p = tmp_path / "v.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("runs"), "field runs is missing"),
    (lambda d: d.pop("sources"), "field sources is missing"),
    (lambda d: d.update(version=7), "field version is 7"),
    (lambda d: d["runs"][0].pop("seed"), "field runs[0].seed is missing"),
    (lambda d: d["runs"][0].pop("ppl_after"), "runs[0] (run_id 4k-proofnet-valid-s0).ppl_after is missing"),
    (lambda d: d["runs"][1].update(status="exploded"), "runs[1] (run_id 4k-proofnet-valid-s1).status is 'exploded'"),
    (lambda d: d["sources"].pop("news"), 'field sources["news"] is missing (named by runs['),
    (lambda d: d["sources"]["news"].pop("derived_from_target"), 'sources["news"].derived_from_target is missing'),
    (lambda d: d["metrics"][2].pop("value"), "field metrics[2].value is missing"),
    (lambda d: next(r for r in d["runs"] if r["regime"] == "dose").pop("pair"), ".pair must be [A, B]"),
    (lambda d: next(r for r in d["runs"] if r["regime"] == "dose").update(fraction=2), ".fraction must be a number"),
])
def test_malformed_file_names_file_and_field(tmp_path, small_results, mutate, field):
    mutate(small_results)
    p = _write(tmp_path, small_results)
    with pytest.raises(report.ResultsError) as e:
        report.load_results(p)
    msg = str(e.value)
    assert field in msg and str(p) in msg and "python -m core validate run" in msg


def test_report_dict(small_results):
    out = report.report(small_results, **FAST)
    json.dumps(out, allow_nan=False)                          # strict JSON for `--json`
    rows = out["leaderboard"]
    assert all(CONTRACT_KEYS <= set(r) for r in rows)
    assert {(r["regime"], r["exclude_derived"]) for r in rows} == {
        (g, e) for g in ("4k", "long", "dose") for e in (False, True)}
    assert len(rows) == 3 * 3 * 2
    r4 = [r for r in rows if r["regime"] == "4k" and not r["exclude_derived"]]
    assert all(r["n_runs_failed"] == 2 and r["n_runs_used"] == 16 and r["n_sources"] == 6 for r in r4)
    assert all(r["n_seeds_min"] == 2 and r["n_seeds_max"] == 3 for r in r4)
    long = [r for r in rows if r["regime"] == "long" and not r["exclude_derived"]]
    assert all(r["n_seeds"] == 1 and r["n_runs_used"] == 6 for r in long)
    assert [p["point"] for p in out["points"]["4k"]] == sorted(small_results["sources"])
    assert len(out["dose"]["pairs"]) == 2
    assert out["summary"]["n_runs"] == 42 and out["summary"]["n_runs_failed"] == 2
    assert out["verdict"].startswith("On 16 runs (6 sources × 2-3 seeds, regime 4k)")


def test_report_is_reproducible(small_results):
    a = report.report(small_results, **FAST)
    b = report.report(small_results, **FAST)
    assert a["leaderboard"] == b["leaderboard"]


def test_report_unknown_regime(small_results):
    with pytest.raises(report.AlignScopeError, match="Regime 'huge' has no runs.*4k, long, dose"):
        report.report(small_results, regimes=["huge"], **FAST)


def _pts(values: dict[str, list[float]], ppl: list[float]):
    """points s0..: ppl[i] +- 0.1 over 3 seeds; metric values from ``values``."""
    return {f"s{i}": {"ppl": [p - 0.1, p, p + 0.1], "x": {m: v[i] for m, v in values.items()}}
            for i, p in enumerate(ppl)}


def test_verdict_names_best_metric_and_default():
    ppl = [32.0, 30.0, 29.0, 27.5, 25.0, 24.0]
    good = [0.1, 0.3, 0.4, 0.55, 0.8, 0.9]
    meh = [0.2, 0.5, 0.3, 0.6, 0.7, 0.65]
    rows = stats.build_leaderboard(make_results(_pts({"t2v-head": meh, "unigram-cos": good}, ppl)),
                                   exclude_derived=False, **FAST)
    v = report.verdict(rows)
    best = next(r for r in rows if r["metric"] == "unigram-cos")
    assert v.startswith("On 18 runs (6 sources × 3 seeds, regime 4k), unigram-cos predicts held-out perplexity after fine-tuning best "
                        f"(r² {best['r2']:.2f} [{best['r2_ci'][0]:.2f}, {best['r2_ci'][1]:.2f}])")
    assert "the default t2v-head has r² " in v and "difference +" in v


def test_a_pair_outcome_reads_in_its_target_benchmark_s_words():
    """af-nll is the completion's NLL given the condition: on ProofNet the formal statement given the
    informal one, on HumanEval the solution given the docstring prompt; the verdict says which."""
    from core.validation.axes import axis_label

    assert axis_label("finetune", "af-nll") == "AF NLL (formal | informal) after fine-tuning"
    assert axis_label("finetune", "af-nll", target="proofnet") == "AF NLL (formal | informal) after fine-tuning"
    assert axis_label("finetune", "af-nll", target="humaneval") == "code NLL (solution | docstring prompt) after fine-tuning"
    assert axis_label(None, None, target="humaneval") == "held-out perplexity after fine-tuning"
    ppl = [32.0, 30.0, 29.0, 27.5, 25.0, 24.0]
    rows = stats.build_leaderboard(make_results(_pts({"t2v-head": [0.1, 0.3, 0.4, 0.55, 0.8, 0.9]}, ppl)),
                                   exclude_derived=False, **FAST)
    assert "predicts code NLL (solution | docstring prompt) after fine-tuning best" in report.verdict(
        rows, outcome="af-nll", target="humaneval")


def test_verdict_when_default_is_best_and_wrong_sign_is_ignored():
    ppl = [32.0, 30.0, 29.0, 27.5, 25.0, 24.0]
    good = [0.1, 0.3, 0.4, 0.55, 0.8, 0.9]
    wrong = [-v for v in good]                                 # perfect r^2 but higher = worse
    rows = stats.build_leaderboard(make_results(_pts({"t2v-head": good, "familiarity": wrong,
                                                      "gzip": [0.2, 0.5, 0.3, 0.6, 0.7, 0.65]}, ppl)),
                                   exclude_derived=False, **FAST)
    v = report.verdict(rows)
    assert "the default t2v-head predicts held-out perplexity after fine-tuning best" in v and "familiarity" not in v
    assert "the next, gzip" in v


def test_verdict_without_fit():
    rows = stats.build_leaderboard(make_results(_pts({"t2v-head": [0.1, 0.2]}, [30.0, 29.0])),
                                   exclude_derived=False, **FAST)
    assert report.verdict(rows).startswith("No verdict yet")
    assert "No verdict" in report.verdict(rows, regime="4k")


def test_verdict_mentions_best_without_derived_when_it_differs():
    ppl = [32.0, 31.0, 30.5, 30.0, 29.8, 22.0]
    a = [0.1, 0.12, 0.5, 0.3, 0.45, 0.95]      # driven by the derived point
    b = [0.1, 0.3, 0.4, 0.6, 0.7, 0.75]        # tracks the others
    res = make_results(_pts({"t2v-head": a, "unigram-cos": b}, ppl), derived={"s5": True})
    rows = (stats.build_leaderboard(res, exclude_derived=False, **FAST)
            + stats.build_leaderboard(res, exclude_derived=True, **FAST))
    v = report.verdict(rows)
    assert "t2v-head predicts held-out perplexity after fine-tuning best" in v
    assert "Without target-derived sources (5 sources), unigram-cos is best" in v


def test_verdict_for_file_matches_report(small_results_path):
    full = report.report(report.load_results(small_results_path))
    assert report.verdict_for_file(small_results_path) == full["verdict"]


def test_results_path(monkeypatch, tmp_path):
    monkeypatch.delenv(report.RESULTS_ENV, raising=False)
    committed = tmp_path / "docs" / "validation.json"
    monkeypatch.setattr(report, "RESULTS_FILE", committed)
    assert report.results_path() is None                          # isolated cache: no lab output either
    lab = report.lab_output_file()
    lab.parent.mkdir(parents=True)
    lab.write_text("{}")
    assert report.results_path() == lab                           # the lab's default output
    committed.parent.mkdir()
    committed.write_text("{}")
    assert report.results_path() == committed                     # the committed result wins
    monkeypatch.setenv(report.RESULTS_ENV, str(tmp_path / "mine.json"))
    assert report.results_path() == tmp_path / "mine.json"       # even when missing: reported, not replaced


def test_format_report(small_results):
    text = report.format_report(report.report(small_results, **FAST))
    lines = text.splitlines()
    assert lines[0].startswith("On 16 runs")
    assert sum(line.startswith("== regime ") for line in lines) == 6
    assert "== regime 4k, without target-derived sources ==" in lines
    assert any(line.startswith("proofnet-valid+wikipedia: perplexity -1.00") for line in lines)
    assert "t2v-head (default)" in text and "r² [95% CI]" in text


def test_dose_verdict_speaks_of_points(small_results):
    rows = stats.build_leaderboard(small_results, exclude_derived=True, regimes=["dose"], **FAST)
    v = report.verdict(rows, regime="dose", exclude_derived=True)
    assert v.startswith("On 17 runs (6 points × 2-3 seeds, regime dose, target-derived sources excluded), ")


def test_report_rows_have_no_nan(small_results):
    for row in report.report(small_results, **FAST)["leaderboard"]:
        for k, v in row.items():
            assert not (isinstance(v, float) and np.isnan(v)), k


def test_figures_and_tables(small_results):
    from core.validation import figures

    rep = report.report(small_results, **FAST)
    rows = [r for r in rep["leaderboard"] if r["regime"] == "4k" and r["exclude_derived"]]
    fig = figures.scatter_figure(rows, rep["points"]["4k"], title="t", base_ppl=33.9)
    names = [t.name for t in fig.data]
    assert names.count("least-squares fit") == 3
    excluded = [t for t in fig.data if t.name == "excluded (target-derived)"]
    assert len(excluded) == 3 and all(len(t.x) == 1 for t in excluded)       # proofnet-valid, drawn apart
    used = [t for t in fig.data if t.name == "source"]
    assert sum(len(t.x) for t in used) == 3 * 5
    # a metric without a fit gets a panel without a line, not an error
    nofit = dict(rows[0], r2=None, slope=None, intercept=None, message="too few")
    fig2 = figures.scatter_figure([nofit], rep["points"]["4k"])
    assert [t.name for t in fig2.data if t.mode == "lines"] == [] and "no fit" in fig2.layout.annotations[0].text
    table = figures.leaderboard_table([nofit])
    assert table.loc[0, "r² [95% CI]"] == "–" and table.loc[0, "note"] == "too few"
    flat = figures.leaderboard_frame(rows)
    assert {"r2_ci_low", "r2_ci_high", "spearman_ci_low"} <= set(flat.columns)
    assert (flat["r2_ci_low"] <= flat["r2"]).all()
    dose_fig = figures.dose_ppl_figure(rep["dose"], base_ppl=33.9)
    assert len(dose_fig.data) == 2 and list(dose_fig.data[0].x) == [0.0, 0.25, 0.5, 0.75, 1.0]
    mfig = figures.dose_metric_figure(rep["dose"])
    assert len(mfig.data) == 3 * 2


def test_verdict_names_the_condition_and_outcome_it_speaks_about():
    ppl = [3.62, 3.60, 3.58, 3.55, 3.50, 3.48]
    good = [0.1, 0.3, 0.4, 0.55, 0.8, 0.9]
    rows = stats.build_leaderboard(make_results(_pts({"t2v-head": good}, ppl)), exclude_derived=False, **FAST)
    v = report.verdict(rows, condition="icl", outcome="af-nll")
    assert "predicts AF NLL (formal | informal) in context (few-shot) best" in v and "perplexity" not in v
    flat = stats.build_leaderboard(make_results(_pts({"t2v-head": [-x for x in good]}, ppl)),
                                   exclude_derived=False, **FAST)
    assert "no metric correlates negatively with AF NLL (formal | informal) after fine-tuning" in \
        report.verdict(flat, outcome="af-nll")


def test_the_committed_in_context_lab_verdict_names_its_axis():
    v = report.verdict_for_file(report.ICL_RESULTS_FILE, condition="icl", outcome="af-nll", n_boot=200)
    assert "AF NLL (formal | informal) in context (few-shot)" in v and "regime icl-k4" in v
    rep = report.report(axis_view(report.load_results(report.ICL_RESULTS_FILE), "icl", "af-nll"),
                        regimes=["icl-k4"], n_boot=100, n_permutations=99)
    assert "in context (few-shot)" in rep["verdict"]
    with pytest.raises(AlignScopeError, match="no icl run with outcome text-ppl"):
        report.verdict_for_file(report.ICL_RESULTS_FILE, condition="icl", outcome="text-ppl")


def test_lab_axes_reads_every_committed_lab_in_axis_order():
    axes = [(a["condition"], a["outcome"]) for a in report.lab_axes()]
    assert axes[0] == ("finetune", "text-ppl")
    assert ("finetune", "af-nll") in axes and ("icl", "af-nll") in axes
    assert axes.index(("finetune", "af-nll")) < axes.index(("icl", "af-nll"))


def test_an_nll_axis_names_its_unit_in_the_tables():
    from core.validation.cli import format_markdown

    rep = report.report(axis_view(report.load_results(report.ICL_RESULTS_FILE), "icl", "af-nll"),
                        regimes=["icl-k4"], n_boot=100, n_permutations=99)
    assert rep["summary"]["axes"] == {"condition": "icl", "outcome": "af-nll"}
    assert "LOO error (nats/token)" in report.format_report(rep) and "LOO error (nats/token)" in format_markdown(rep)
    plain = report.report(report.load_results(report.RESULTS_FILE), regimes=["4k"], n_boot=100, n_permutations=99)
    assert plain["summary"]["axes"] == {} and "LOO error (ppl)" in format_markdown(plain)
