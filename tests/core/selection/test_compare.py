import json

import pytest

from core.finetune.compare import CompareConfig, load_results, run_compare, summarise, t_interval
from core.selection.report import compare_figure, compare_table


def test_compare_selects_finetunes_and_resumes(sel_corpora, sharp_model_dir, tmp_path):
    cfg = CompareConfig(target="bench", pool=("prose", "maths"), max_windows=40, budget=160,
                        methods=("random", "unigram-cos", "t2v-topk"), seeds=(0,), seq_len=32, batch_size=2, epochs=1,
                        model=sharp_model_dir, align_batches=2)
    out = tmp_path / "cmp.json"
    lines = []
    res = run_compare(cfg, out=out, say=lines.append)
    runs = res["runs"]
    assert [r["status"] for r in runs] == ["done"] * 3, [r.get("error") for r in runs]
    for r in runs:
        assert r["ppl_after"] > 0 and r["tokens"] <= 160 and r["alignment"]["value"] is not None
        assert sum(r["composition"].values()) == r["tokens"]
    assert json.loads(out.read_text())["summary"][0]["method"] == "random"
    again = run_compare(cfg, out=out, say=lines.append)                # resumable: nothing is run twice
    assert [r["run_id"] for r in again["runs"]] == [r["run_id"] for r in runs]
    assert sum("selecting" in m for m in lines) == 3
    table = compare_table(load_results(out))
    assert "| random |" in table and "t2v-topk" in table
    assert len(compare_figure(res).data) >= 3
    one = run_compare(_only(cfg, "unigram-cos", "t2v-topk"), out=out, say=lines.append)   # a subset keeps the others
    assert sorted(r["method"] for r in one["runs"]) == sorted(r["method"] for r in runs)
    assert [s["method"] for s in load_results(out)["summary"]] == [s["method"] for s in res["summary"]]


def _only(cfg, *methods):
    from dataclasses import replace

    return replace(cfg, methods=methods)


def test_summary_statistics():
    rows = [{"method": m, "seed": s, "status": "done", "ppl_after": p, "alignment": {"value": a},
             "composition": {"x": 10}, "selection_seconds": 1.0}
            for m, s, p, a in [("random", 0, 10.0, .5), ("random", 1, 11.0, .5), ("t2v", 0, 9.0, .7), ("t2v", 1, 9.5, .7)]]
    s = {r["method"]: r for r in summarise(rows, ["random", "t2v"])}
    assert s["t2v"]["delta_vs_random"] == pytest.approx(-1.25)
    lo, hi = t_interval([9.0, 9.5])
    assert lo < 9.25 < hi and s["t2v"]["ppl_ci_low"] == pytest.approx(lo)
    assert s["random"]["delta_vs_random"] is None
