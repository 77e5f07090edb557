"""The committed lab as plot groups (core.validation.committed): one point per source, mean over the
successful seeds with min-max bars, the lab's t2v-head alignment with its CI, target-derived points
marked, labelled from the file's own fields, read once per file version, never merged with live runs."""
import json

import numpy as np
import pytest

from core.errors import AlignScopeError
from core.validation import committed
from core.validation.report import ResultsError
from tests.core.validation.conftest import SMALL_RESULTS, make_results


@pytest.fixture(autouse=True)
def _fresh():
    committed.clear_cache()
    yield
    committed.clear_cache()


def test_points_of_the_small_lab():
    data = json.loads(SMALL_RESULTS.read_text())
    groups = committed.lab_groups("proofnet", path=SMALL_RESULTS)
    assert [g.key for g in groups] == ["lab:4k", "lab:long"]            # source regimes only, 4k first
    g = groups[0]
    assert g.label == "committed lab, 4k regime, 6 sources × 3 seeds, 2026-11-26, probe smollm2-135m"
    rows = {r["label"]: r for r in g.rows}
    assert set(rows) == set(data["sources"])
    runs = [r for r in data["runs"] if r["regime"] == "4k" and r["point"] == "humaneval" and r["status"] == "done"]
    ppl = [r["ppl_after"] for r in runs]
    he = rows["humaneval"]                                               # seed 2 failed: 2 seeds used
    assert he["n_seeds"] == 2 and he["n_failed"] == 1
    assert he["ppl_after"] == pytest.approx(np.mean(ppl))
    assert (he["ppl_low"], he["ppl_high"]) == (min(ppl), max(ppl))
    m = next(x for x in data["metrics"] if x["metric"] == "t2v-head" and x["point"] == "humaneval")
    assert (he["alignment"], he["align_ci_low"], he["align_ci_high"]) == (m["value"], m["ci_low"], m["ci_high"])
    assert he["ppl_before"] == data["base"]["perplexity"] and he["status"] == "done"
    assert rows["proofnet-valid"]["derived"] is True and rows["news"]["derived"] is False
    assert all(r["group_key"] == "lab:4k" and r["lab"] for r in g.rows)
    assert groups[1].label.startswith("committed lab, long regime, 6 sources × 1 seed, ")


def test_another_metric_target_mismatch_and_bad_metric():
    g = committed.lab_groups("proofnet", metric="gzip", path=SMALL_RESULTS)[0]
    data = json.loads(SMALL_RESULTS.read_text())
    want = {x["point"]: x["value"] for x in data["metrics"] if x["metric"] == "gzip"}
    assert {r["label"]: r["alignment"] for r in g.rows} == {k: v for k, v in want.items() if "@" not in k}
    assert all(r["align_ci_low"] is None for r in g.rows)              # gzip has no CI in this file
    assert committed.lab_groups("minif2f", path=SMALL_RESULTS) == []
    with pytest.raises(AlignScopeError, match="nope"):
        committed.lab_groups("proofnet", metric="nope", path=SMALL_RESULTS)


def test_familiarity_and_skipped_sources(tmp_path):
    res = make_results({"a": {"ppl": [20.0, 22.0], "x": {"t2v-head": 0.8, "familiarity": -3.0}},
                        "b": {"ppl": [30.0, 31.0], "x": {"t2v-head": 0.4}},
                        "c": {"ppl": [None, None], "x": {"t2v-head": 0.5}},        # every seed failed
                        "d": {"ppl": [25.0], "x": {"gzip": 0.1}}})                  # no t2v-head value
    path = tmp_path / "lab.json"
    path.write_text(json.dumps(res))
    g, = committed.lab_groups(None, path=path)
    rows = {r["label"]: r for r in g.rows}
    assert set(rows) == {"a", "b"}
    assert rows["a"]["familiarity"] == pytest.approx(np.exp(3.0)) and rows["b"]["familiarity"] is None
    assert dict(g.skipped) == {"c": "no successful seed (2 failed, 0 pending)", "d": "no t2v-head value in the file"}


def test_read_once_per_file_version(tmp_path):
    path = tmp_path / "lab.json"
    path.write_text(json.dumps(make_results({"a": {"ppl": [20.0], "x": {"t2v-head": 0.8}}})))
    first = committed.load_committed(path)[0]
    assert committed.load_committed(path)[0] is first                  # memoised
    path.write_text(json.dumps(make_results({"a": {"ppl": [20.0], "x": {"t2v-head": 0.8}},
                                             "b": {"ppl": [30.0], "x": {"t2v-head": 0.3}}})))
    assert set(committed.load_committed(path)[0]["sources"]) == {"a", "b"}    # a new version is read
    with pytest.raises(ResultsError, match="does not exist"):
        committed.load_committed(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1}')
    with pytest.raises(ResultsError, match="target"):
        committed.lab_groups(path=bad)


def test_plot_groups_default_to_the_lab_only_without_live_runs(monkeypatch):
    from core.finetune import results

    monkeypatch.setenv("ALIGNSCOPE_VALIDATION_RESULTS", str(SMALL_RESULTS))
    groups, note = committed.plot_groups("proofnet")
    assert note == "" and [g.key for g in groups] == ["lab:4k", "lab:long"]
    assert groups[0].title.startswith("proofnet · committed lab, 4k regime")
    results.upsert_run("r1", label="maths", source="maths", target="bench", model="tiny", method="full",
                       group_key="g1", status="done", alignment=0.5, ppl_before=40.0, ppl_after=30.0,
                       hparams={"budget_tokens": 4000})
    groups, _ = committed.plot_groups("proofnet")
    assert [g.key for g in groups] == ["g1", "lab:4k", "lab:long"]     # live first, as without a lab
    live, lab = groups[0], groups[1]
    assert live.lab is None and [r["run_id"] for r in live.rows()] == ["r1"]
    assert all(r["group_key"] == "lab:4k" for r in lab.rows())         # never merged with the live run
    assert committed.find_group(groups, "lab:long") is groups[2] and committed.find_group(groups, "x") is None
    monkeypatch.setenv("ALIGNSCOPE_VALIDATION_RESULTS", "/nonexistent/lab.json")
    groups, note = committed.plot_groups("proofnet")
    assert [g.key for g in groups] == ["g1"] and "does not exist" in note


def test_lab_points_in_the_alignment_figure():
    from core.finetune import plots

    g = committed.lab_groups("proofnet", path=SMALL_RESULTS)[0]
    rows = list(g.rows)
    fig = plots.alignment_figure_styled(rows, target="proofnet", provenance=g.label,
                                        points_name="committed lab: mean over seeds")
    traces = {t.name: t for t in fig.data}
    pts, der = traces["committed lab: mean over seeds"], traces["derived from the target benchmark"]
    assert list(der.text) == ["proofnet-valid"] and len(pts.text) == 5
    by = {r["label"]: r for r in rows}
    for k, label in enumerate(pts.text):                               # min-max bars around the mean
        assert pts.error_y.array[k] == pytest.approx(by[label]["ppl_high"] - by[label]["ppl_after"])
        assert pts.error_y.arrayminus[k] == pytest.approx(by[label]["ppl_after"] - by[label]["ppl_low"])
    assert g.label in fig.layout.title.text
    assert "n = 6" in fig.layout.title.text                            # one fit over all six sources
