"""Designs on the tiny model: equal budgets, plan/resume (a second run computes nothing), the ICL
condition, the summary's paired difference, budget curves end to end."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core.designs.plan import BudgetDesign, IclSettings, KindsDesign, expected_seconds, plan_design
from core.designs.run import run_design
from core.errors import AlignScopeError


@pytest.fixture
def kinds_design(corpora, tiny_model_dir, tiny_regime):
    return KindsDesign(source="maths", target="bench", regime=tiny_regime(128), outcomes=("text-ppl",), icl=None,
                       metrics=("gzip",), model=tiny_model_dir, precision="fp32")


def _no_more(monkeypatch):
    """Make any fine-tune or in-context computation fail the test."""
    import core.finetune.runner as runner
    import core.icl.run as icl

    def boom(*a, **k):
        raise AssertionError("computed again")

    monkeypatch.setattr(runner, "run_finetune", boom)
    monkeypatch.setattr(icl, "run_icl", boom)


def test_kinds_runs_at_equal_budgets_and_resumes_computing_nothing(kinds_design, tiny_settings, tmp_path, monkeypatch):
    from core.designs.report import kinds_summary, kinds_figure, summary_lines

    out = tmp_path / "kinds.json"
    lines: list[str] = []
    res = run_design(kinds_design, out=out, settings=tiny_settings, say=lines.append)
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    assert [r["point"] for r in res["runs"]] == ["paired", "unpaired", "formal-only", "informal-only"]
    assert {r["status"] for r in res["runs"]} == {"done"}, [r["error"] for r in res["runs"]]
    assert {r["tokens_trained"] for r in res["runs"]} == {128}                # equal token budgets
    assert all(r["per_problem"]["text-ppl"]["n"] == 24 for r in res["runs"])  # per-problem arrays captured
    assert all(res["sources"][c]["derived_from_target"] is False for c in res["sources"])
    assert {m["point"] for m in res["metrics"]} == {"paired", "unpaired", "formal-only", "informal-only"}
    assert "expected" in lines[0] and "4 to run" in lines[0]
    s = kinds_summary(res)
    d = s["paired_minus_unpaired"]["finetune/text-ppl"]
    assert d["ci_from"] == "problems" and d["ci"][0] <= d["difference"] <= d["ci"][1] and d["n"] == 24
    assert s["variants"]["paired"]["finetune"]["text-ppl"]["ci_from"] == "problems"
    assert "alignment/gzip" in s["paired_minus_unpaired"] and summary_lines(s)
    kinds_figure(s)
    # the second run computes nothing (and says so)
    _no_more(monkeypatch)
    again: list[str] = []
    res2 = run_design(kinds_design, out=out, settings=tiny_settings, say=again.append)
    assert "(4 done, 0 to run)" in again[0]
    assert [r["record"]["finished"] for r in res2["runs"]] == [r["record"]["finished"] for r in res["runs"]]
    plan = plan_design(kinds_design, tiny_settings)
    assert expected_seconds(plan, todo_finetunes=[], todo_icl=[], metrics=False)["total"] == 0


def test_limit_stops_and_the_rest_resumes(kinds_design, tiny_settings, tmp_path):
    out = tmp_path / "k.json"
    design = replace(kinds_design, kinds=("paired", "unpaired"))
    res = run_design(design, out=out, settings=tiny_settings, say=lambda m: None, limit=1)
    assert len(res["runs"]) == 1 and res["metrics"] == []
    lines: list[str] = []
    res = run_design(design, out=out, settings=tiny_settings, say=lines.append)
    assert "(1 done, 1 to run)" in lines[0] and len(res["runs"]) == 2


def test_icl_condition_of_every_kind_is_reused_on_resume(corpora, tiny_model_dir, tiny_regime, tiny_settings, tmp_path,
                                                         monkeypatch):
    from core.outcomes.problems import target_problems
    from core.designs.report import kinds_summary

    tok_len = __import__("transformers").AutoTokenizer.from_pretrained(tiny_model_dir)
    fmt, problems = target_problems("proofnet")
    short = tuple(p.problem_id for p in problems
                  if len(tok_len(fmt.context_text(p) + fmt.completion_text(p))["input_ids"]) <= 80)[:3]
    design = KindsDesign(source="maths", target="proofnet", regime=tiny_regime(128), finetune=False,
                         icl=IclSettings(k=2, budget_tokens=96, problems=short), metrics=(), model=tiny_model_dir,
                         precision="fp32", outcomes=())
    out = tmp_path / "icl.json"
    res = run_design(design, out=out, settings=tiny_settings, say=lambda m: None)
    assert [e["point"] for e in res["icl"]] == ["paired", "unpaired", "formal-only", "informal-only"]
    assert {e["status"] for e in res["icl"]} == {"done"}, [e["error"] for e in res["icl"]]
    pools = {e["point"]: e["result"]["pool"]["kind"] for e in res["icl"]}
    assert pools == {"paired": "pair", "unpaired": "pair", "formal-only": "window", "informal-only": "window"}
    s = kinds_summary(res)
    assert s["variants"]["paired"]["icl"]["af-nll"]["n"] == 3 and "icl/af-nll" in s["paired_minus_unpaired"]
    _no_more(monkeypatch)
    res2 = run_design(design, out=out, settings=tiny_settings, say=lambda m: None)
    assert [e["result"]["af_nll"] for e in res2["icl"]] == [e["result"]["af_nll"] for e in res["icl"]]


def test_kinds_plan_refuses_bad_designs(kinds_design, tiny_settings):
    with pytest.raises(AlignScopeError, match="fewer than the budget"):
        plan_design(replace(kinds_design, regime=replace(kinds_design.regime, budget_tokens=10 ** 6)), tiny_settings)
    with pytest.raises(AlignScopeError, match="Kinds"):
        plan_design(replace(kinds_design, kinds=("paired", "nope")), tiny_settings)
    with pytest.raises(AlignScopeError, match="neither"):
        plan_design(replace(kinds_design, finetune=False), tiny_settings)
    with pytest.raises(AlignScopeError, match="pair format"):        # bench has no pair format: no in-context problems
        plan_design(replace(kinds_design, icl=IclSettings()), tiny_settings)
    with pytest.raises(AlignScopeError, match="seed"):
        plan_design(replace(kinds_design, regime=replace(kinds_design.regime, seeds=())), tiny_settings)


def test_budget_plan_never_exceeds_a_source_and_curves_answer(corpora, tiny_model_dir, tiny_regime, tiny_settings,
                                                              tmp_path):
    from core.designs.report import budget_figure, budget_summary

    sizes = {"maths": 5000, "prose": 150, "wiki-ish": 5000}
    d = BudgetDesign(sources=("maths", "prose", "wiki-ish"), target="bench", budgets=(64, 128, 256),
                     regime=tiny_regime(seeds=(0, 1)), outcomes=("text-ppl",), metrics=(), model=tiny_model_dir,
                     precision="fp32")
    plan = plan_design(d, tiny_settings, token_counts=sizes.get)
    assert plan.skipped == [{"source": "prose", "budget": 256, "tokens": 150}]
    assert [(r.point, r.config.budget_tokens, r.seed) for r in plan.finetunes][:4] == [
        ("maths", 64, 0), ("prose", 64, 0), ("wiki-ish", 64, 0), ("maths", 128, 0)]
    assert all(r.config.budget_tokens <= sizes[r.point] for r in plan.finetunes)
    for bad, msg in ((replace(d, sources=("maths",)), "at least 2"), (replace(d, reference="news"), "Reference"),
                     (replace(d, budgets=(16,)), "Budgets"), (replace(d, sources=("maths", "bench")), "evaluation split")):
        with pytest.raises(AlignScopeError, match=msg):
            plan_design(bad, tiny_settings, token_counts=sizes.get)
    with pytest.raises(AlignScopeError, match="fewer than the smallest budget"):
        plan_design(replace(d, budgets=(200, 256)), tiny_settings, token_counts=sizes.get)
    small = replace(d, sources=("maths", "wiki-ish"), budgets=(64, 128), regime=tiny_regime(seeds=(0,)), reference="maths",
                    reference_tokens=96)
    res = run_design(small, out=tmp_path / "b.json", settings=tiny_settings, say=lambda m: None)
    assert len(res["runs"]) == 4 and {r["status"] for r in res["runs"]} == {"done"}
    s = budget_summary(res, n_boot=200)
    m = s["matches"]["text-ppl"][0]
    assert m["reference"] == "maths" and m["other"] == "wiki-ish" and m["problem_bootstrap"] and m["note"]
    assert [r["tokens"] for r in s["sources"]["maths"]["curves"]["text-ppl"]] == [64.0, 128.0]
    budget_figure(s)
