"""Remote execution of the lab's fine-tunes: a payload of token ids run elsewhere gives the same
outcomes as the local launcher."""
from __future__ import annotations

import json

import pytest

from core.validation.lab import run_lab
from core.validation.remote import export_payload, import_outcomes, main, weights_sha256

from tests.core.validation.test_lab import _one_thread, _settings, lab_corpora, tiny_plan  # noqa: F401


def test_a_payload_run_elsewhere_reproduces_the_local_launcher(tiny_plan, tmp_path, monkeypatch):  # noqa: F811
    from dataclasses import replace

    plan = replace(tiny_plan, regimes=(replace(tiny_plan.regimes[0], seeds=(0,)),))
    local = run_lab(plan, out=tmp_path / "local.json", settings=_settings(plan.model), say=lambda m: None,
                    metrics=False)
    summary = export_payload(plan, tmp_path / "payload.json", settings=_settings(plan.model))
    assert summary["runs"] == 4 and summary["eval_windows"]["32"] > 0
    assert main(["run", str(tmp_path / "payload.json"), "--model", plan.model, "--out", str(tmp_path / "out.json"),
                 "--device", "cpu", "--eval-batch-size", "3"]) == 0
    got = json.loads((tmp_path / "out.json").read_text())
    from transformers import AutoModelForCausalLM

    assert got["weights_sha256"] == weights_sha256(AutoModelForCausalLM.from_pretrained(plan.model))
    res = import_outcomes(plan, tmp_path / "out.json", tmp_path / "remote.json", local_results=local,
                          settings=_settings(plan.model))
    mine = {r["run_id"]: r for r in local["runs"]}
    assert len(res["runs"]) == 4 and res["device"] == "cpu"
    for r in res["runs"]:                      # same data, same code, same machine: same perplexity
        assert r["ppl_after"] == pytest.approx(mine[r["run_id"]]["ppl_after"], rel=1e-4)
        assert r["ppl_before"] == pytest.approx(mine[r["run_id"]]["ppl_before"], rel=1e-5)
    # the imported file carries the rows: a lab resumed from it on an empty database runs nothing
    from core.finetune import results
    from core.paths import cache_dir

    with monkeypatch.context() as m:
        m.setattr(results, "db_path", lambda: cache_dir("results-elsewhere") / "finetune.sqlite")
        lines: list[str] = []
        again = run_lab(plan, out=tmp_path / "resumed.json", settings=_settings(plan.model), say=lines.append,
                        metrics=False, resume_from=tmp_path / "remote.json")
        assert lines[0].startswith("imported 4 finished runs") and "0 to run" in lines[1]
        assert {r["run_id"] for r in again["runs"]} == set(mine) and results.list_runs(reconcile_first=False)
    # resumable: a second call finds every run done and changes nothing
    before = (tmp_path / "out.json").read_text()
    assert main(["run", str(tmp_path / "payload.json"), "--model", plan.model, "--out", str(tmp_path / "out.json"),
                 "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["runs"] == json.loads(before)["runs"]
