"""The validation lab runner on the tiny model: planning, bad input, resuming after kill -9."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core.errors import AlignScopeError
from core.finetune import results
from core.validation.cli import parse_regime
from core.validation.lab import run_lab
from core.validation.plan import LabPlan, Regime, plan_runs, validate_plan

TINY = dict(seq_len=32, batch_size=4, learning_rate=3e-3)


@pytest.fixture
def lab_corpora(corpora):
    """The tiny registered corpora of tests/conftest.py: target ``bench``, three sources."""
    return ["maths", "prose", "wiki-ish"]


@pytest.fixture
def tiny_plan(tiny_model_dir, lab_corpora):
    return LabPlan(target="bench", sources=tuple(lab_corpora), regimes=(Regime("t", 128, seeds=(0, 1), **TINY),),
                   dose_pairs=(("maths", "prose"),), dose_fractions=(0.5,), dose_seeds=(0,), model=tiny_model_dir,
                   precision="fp32")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with tests/conftest.py's ``one_torch_thread``."""


def _settings(model):
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings

    return EmbedSettings(model=model, estimator="closed_form_head", device="cpu",
                         batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))


def test_plan_expands_seeds_sources_and_dose_points(tiny_plan):
    runs = plan_runs(tiny_plan, _settings(tiny_plan.model))
    assert [(r.regime, r.point, r.seed) for r in runs] == [
        ("t", "maths", 0), ("t", "prose", 0), ("t", "wiki-ish", 0),
        ("t", "maths", 1), ("t", "prose", 1), ("t", "wiki-ish", 1),
        ("dose", "maths+prose@0.5", 0)]
    assert len({r.run_id for r in runs}) == len(runs)            # every run is its own row
    dose = runs[-1]
    assert dose.mixture.weights == {"maths": 0.5, "prose": 0.5} and dose.config.mixture == dose.mixture.name
    assert runs[0].config.seed == 0 and runs[3].config.seed == 1 and runs[0].config.budget_tokens == 128


def test_bad_plans_are_refused_before_any_work(tiny_plan):
    from dataclasses import replace

    with pytest.raises(AlignScopeError, match="at least 3 sources"):
        validate_plan(replace(tiny_plan, sources=("maths", "prose")))
    with pytest.raises(AlignScopeError, match="evaluation split"):
        validate_plan(replace(tiny_plan, sources=("maths", "prose", "bench")))
    with pytest.raises(AlignScopeError, match="strictly between 0 and 1"):
        validate_plan(replace(tiny_plan, dose_fractions=(1.0,)))
    # a source smaller than the budget: refused up front with the largest feasible budget
    with pytest.raises(AlignScopeError, match=r"'prose' has 1,234 tokens.*at most 1,234 tokens"):
        validate_plan(replace(tiny_plan, regimes=(Regime("big", 5000, **TINY),)),
                      token_counts=lambda s: 1234 if s == "prose" else 10 ** 6)
    for bad in ("4k", "4k=abc", "x=0", "x=100:a", "=100"):
        with pytest.raises(AlignScopeError, match="--regime"):
            parse_regime(bad)
    assert parse_regime("long=16000:0:3") == Regime("long", 16000, epochs=3.0, seeds=(0,))


def test_the_docstring_to_code_plan_targets_humaneval_and_refuses_every_test_split():
    """The paper's second setting as a lab plan on the real corpora: HumanEval is the target, its pair
    outcome is measurable there, and neither HumanEval nor ProofNet's test split may be a source."""
    from core.validation.plan import LabPlan

    code = ("python-docstrings", "python-stdlib", "sympy")          # installed live (the tests' cache is empty)
    plan = LabPlan(target="humaneval", sources=code, regimes=(Regime("4k", 4000, seeds=(0,)),), dose_pairs=(),
                   outcomes=("af-nll",))
    validate_plan(plan)
    runs = plan_runs(plan, _settings(plan.model))
    assert [(r.point, r.config.target, r.config.outcomes) for r in runs] == [(s, "humaneval", ("af-nll",)) for s in code]
    from dataclasses import replace

    for bad in ("humaneval", "proofnet"):
        with pytest.raises(AlignScopeError, match="split"):
            validate_plan(replace(plan, sources=code + (bad,)))


def test_lab_runs_writes_results_and_skips_what_is_done(tiny_plan, tmp_path):
    out = tmp_path / "lab.json"
    lines: list[str] = []
    res = run_lab(tiny_plan, out=out, settings=_settings(tiny_plan.model), say=lines.append, metrics=False)
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    assert len(res["runs"]) == 7 and {r["status"] for r in res["runs"]} == {"done"}, [r["error"] for r in res["runs"]]
    assert res["base"]["perplexity"] > 0 and res["regimes"]["dose"]["fractions"] == [0.5]
    assert any("expected" in ln for ln in lines) and any("ETA" in ln for ln in lines)
    assert any("left in this run" in ln for ln in lines)          # progress inside a run too
    first = {r["run_id"]: results.get_run(r["run_id"])["finished"] for r in res["runs"]}
    again: list[str] = []
    run_lab(tiny_plan, out=out, settings=_settings(tiny_plan.model), say=again.append, metrics=False)
    assert "7 already done, 0 to run" in again[0]
    assert {r: results.get_run(r)["finished"] for r in first} == first     # nothing was re-run


def test_lab_resumes_after_kill_9(tiny_plan, tmp_path):
    """kill -9 of `validate run` after its first finished fine-tune: no finished run is lost or
    redone, the rerun completes every run, and no row stays `running`."""
    out = tmp_path / "lab.json"
    cmd = [sys.executable, "-m", "core", "validate", "run", "--target", "bench", "--sources", "maths,prose,wiki-ish",
           "--regime", "t=128:0,1", "--dose-pairs", "none", "--model", tiny_plan.model, "--precision", "fp32",
           "--no-metrics", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not results.list_runs(status="done", reconcile_first=False):
            assert proc.poll() is None, "the lab ended before it could be killed"
            time.sleep(0.2)
        done_before = {r["run_id"]: r["finished"] for r in results.list_runs(status="done", reconcile_first=False)}
        assert done_before, "no run finished in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    from core.cli import main

    assert main(cmd[3:]) == 0          # same command, in-process: continues where it stopped
    rows = results.list_runs(reconcile_first=False)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}
    assert {k: results.get_run(k)["finished"] for k in done_before} == done_before
    saved = json.loads(out.read_text())
    assert len(saved["runs"]) == 6 and all(r["ppl_after"] > 0 for r in saved["runs"])


def test_a_fresh_machine_continues_from_the_results_file(tiny_plan, tmp_path, monkeypatch):
    """The committed results file carries each finished run's row: on a fresh cache, --resume-from
    imports them and only the missing runs are fine-tuned."""
    from dataclasses import replace

    out = tmp_path / "lab.json"
    first = replace(tiny_plan, dose_pairs=())
    run_lab(first, out=out, settings=_settings(first.model), say=lambda m: None, metrics=False, limit=2)
    saved = json.loads(out.read_text())
    assert [r["status"] for r in saved["runs"]] == ["done", "done"]
    # another machine: the same corpora and model, an empty results database
    from core.paths import cache_dir

    monkeypatch.setattr(results, "db_path", lambda: cache_dir("results-elsewhere") / "finetune.sqlite")
    assert results.list_runs(reconcile_first=False) == []
    lines: list[str] = []
    res = run_lab(first, out=tmp_path / "again.json", settings=_settings(first.model), say=lines.append,
                  metrics=False, resume_from=out)
    assert lines[0] == f"imported 2 finished runs from {out}" and "2 already done, 4 to run" in lines[1]
    by_id = {r["run_id"]: r for r in res["runs"]}
    for r in saved["runs"]:
        assert by_id[r["run_id"]]["ppl_after"] == r["ppl_after"]
    assert len(res["runs"]) == 6 and {r["status"] for r in res["runs"]} == {"done"}


def test_corpora_derived_from_the_target_are_marked_in_the_registry(tmp_path, maths_texts, lab_corpora):
    """The mark lives on the corpus spec (demo pack and `corpora add --derived-from`), never changes a
    fingerprint, and the lab's results say which sources are derived from the target."""
    from core.cli import main
    from core.corpora import get_corpus
    from core.corpora.demo import DEMO_SOURCES
    from core.validation.lab import derived_from_target

    assert {n for n, s in DEMO_SOURCES.items() if s.spec().derived_from == "proofnet"} == {
        "proofnet-af", "proofnet-valid", "proofnet-informal"}
    path = tmp_path / "copy.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in maths_texts[:20]) + "\n")
    assert main(["corpora", "add", "bench-copy", "--path", str(path), "--field", "text", "--derived-from", "bench"]) == 0
    assert main(["corpora", "add", "plain-copy", "--path", str(path), "--field", "text"]) == 0
    assert derived_from_target("bench-copy", "bench")
    assert derived_from_target("plain-copy", "bench")      # not declared, but by content it copies bench's documents
    assert not derived_from_target("prose", "bench") and derived_from_target("bench", "bench")
    assert get_corpus("bench-copy").fingerprint() == get_corpus("plain-copy").fingerprint()


def test_metrics_are_measured_on_every_point_including_the_real_mixed_data(tiny_plan, monkeypatch):
    """Every metric on every point; a dose point is its materialised mixture cut into seq_len pieces;
    a metric failing on one point keeps its values on the others; rows merge across calls."""
    import core.validation.lab as lab
    from core.validation.lab import measure_metrics, point_corpora
    from core.validation.plan import plan_runs

    runs = plan_runs(tiny_plan, _settings(tiny_plan.model))
    corpora = point_corpora(tiny_plan, runs)
    mixed = corpora["maths+prose@0.5"]
    assert set(corpora) == {"maths", "prose", "wiki-ish", "maths+prose@0.5"}
    assert len(mixed.documents()) >= 4 and all(d.text.strip() for d in mixed.documents())
    rows = measure_metrics(tiny_plan, runs, names=["unigram-cos"], say=lambda m: None)
    assert {r["point"] for r in rows} == set(corpora) and all(0 <= r["value"] <= 1 for r in rows)

    from core.metrics import score_all as real

    def flaky(names, source, target, **kw):
        if getattr(source, "name", source) == "prose":
            from core.errors import AlignScopeError

            return {"gzip": AlignScopeError("boom")}
        return real(names, source, target, **kw)

    monkeypatch.setattr("core.metrics.score_all", flaky)
    lines: list[str] = []
    got = measure_metrics(tiny_plan, runs, names=["gzip"], say=lines.append, points=["maths", "prose", "wiki-ish"])
    assert {r["point"] for r in got} == {"maths", "wiki-ish"} and any("unavailable on prose" in ln for ln in lines)
    saved = json.loads(lab._metrics_path(tiny_plan).read_text())
    assert {(r["metric"], r["point"]) for r in saved["rows"]} >= {("unigram-cos", "prose"), ("gzip", "maths")}
    with pytest.raises(AlignScopeError, match="Unknown lab point"):
        measure_metrics(tiny_plan, runs, names=["gzip"], points=["nope"])


def test_report_cli_renders_markdown_tables_from_a_results_file(capsys):
    """`validate report --markdown` rebuilds the leaderboard from a results file, no fine-tuning."""
    from pathlib import Path

    from core.cli import main

    small = Path(__file__).resolve().parents[2] / "data" / "validation_small.json"
    assert main(["validate", "report", "--results", str(small), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| metric | cost/source (s) | r² [95% CI] |" in out and "(default)" in out
    assert main(["validate", "report", "--results", str(small), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["leaderboard"]
    assert {"metric", "regime", "n_sources", "n_seeds", "r2", "r2_ci", "spearman", "spearman_ci", "loo_error"} <= set(rows[0])
    assert main(["validate", "report", "--results", str(small.with_name("missing.json"))]) == 2


def test_a_lab_with_outcomes_puts_af_nll_on_the_finetune_axis(tmp_path, tiny_model_dir, lab_corpora):
    import dataclasses

    from core.outcomes.problems import PAIR_FORMATS, PairFormat
    from core.validation.axes import axes_of, axis_view
    from tests.conftest import register_texts

    register_texts(tmp_path, "qa-bench", [f"Q: what is {a} times {b}?\nA: {a * b}" for a in range(4) for b in range(3)],
                   "target benchmark")
    PAIR_FORMATS.register("qa-bench", PairFormat(name="qa", condition_template="Q: {condition}\nA:",
                                                 completion_template=" {completion}", stop=("\n",)))
    try:
        plan = LabPlan(target="qa-bench", sources=tuple(lab_corpora), regimes=(Regime("t", 128, seeds=(0,), **TINY),),
                       dose_pairs=(), model=tiny_model_dir, precision="fp32", outcomes=("af-nll",))
        assert LabPlan.from_dict(plan.to_dict()) == plan
        assert "outcomes" not in dataclasses.replace(plan, outcomes=()).to_dict()
        with pytest.raises(AlignScopeError, match="pair format"):
            validate_plan(dataclasses.replace(plan, target="bench"))
        res = run_lab(plan, out=tmp_path / "lab.json", settings=_settings(tiny_model_dir), say=lambda *_: None,
                      metrics=False)
        assert [r["outcomes"]["af-nll"]["n"] for r in res["runs"]] == [12, 12, 12]
        assert ("finetune", "af-nll") in axes_of(res) and ("finetune", "text-ppl") in axes_of(res)
        view = axis_view(res, "finetune", "af-nll")
        assert [r["ppl_after"] for r in view["runs"]] == [r["outcomes"]["af-nll"]["value"] for r in res["runs"]]
    finally:
        PAIR_FORMATS.unregister("qa-bench")


def test_report_cli_reports_one_condition_and_outcome_of_the_committed_af_lab(capsys):
    """``validate report --outcome af-nll`` on the committed fine-tune lab with the AF outcome: every
    point's outcome is the run's af-nll (nats/token), not its text perplexity; an outcome the file does
    not hold exits 2 naming the ones it does."""
    from core.cli import main
    from core.validation.report import load_results

    path = "docs/results/validation_af_cpu.json"
    runs: dict[str, list[dict]] = {}
    for r in load_results(path)["runs"]:
        if r.get("status") == "done" and r["regime"] == "4k":
            runs.setdefault(r["source"], []).append(r)
    assert main(["validate", "report", "--results", path, "--outcome", "af-nll", "--regime", "4k", "--json"]) == 0
    points = json.loads(capsys.readouterr().out)["points"]["4k"]
    assert len(points) == len(runs) == 15
    for p in points:
        seeds = runs[p["source"]]  # a point's outcome is the mean over its seeds' runs
        assert p["n_seeds"] == len(seeds)
        assert p["ppl_mean"] == pytest.approx(np.mean([r["outcomes"]["af-nll"]["value"] for r in seeds]))
        assert p["ppl_mean"] != pytest.approx(np.mean([r["ppl_after"] for r in seeds]))
    assert main(["validate", "report", "--results", path, "--outcome", "af-gen-chrf"]) == 2
    assert "not a lab outcome" in capsys.readouterr().err
