"""``python -m core design``: bad input exits 2 with one line; plan --json; report of a results file."""
from __future__ import annotations

import json

import pytest

from core.cli import main


def _tiny(model):
    return ["--target", "bench", "--model", model, "--no-icl", "--outcomes", "text-ppl", "--metrics", "gzip",
            "--budget", "128", "--seq-len", "32", "--batch-size", "4", "--seeds", "0"]


@pytest.mark.parametrize("argv, says", [
    (["design", "plan", "kinds", "--source", "proofnet", "--no-icl"], "evaluation split"),
    (["design", "plan", "kinds", "--source", "prose", "--target", "bench", "--no-icl", "--outcomes", "text-ppl"], "not a pair-format corpus"),
    (["design", "plan", "kinds", "--source", "maths", "--target", "bench", "--no-icl", "--outcomes", "text-ppl",
      "--seeds", "a,b"], "--seeds"),
    (["design", "plan", "kinds", "--source", "maths", "--target", "bench", "--no-icl", "--outcomes", "text-ppl",
      "--kinds", "paired,odd"], "Kinds"),
    (["design", "plan", "kinds", "--source", "maths", "--target", "bench", "--no-icl", "--outcomes", "nope"], "nope"),
    (["design", "plan", "kinds", "--source", "nope-corpus", "--no-icl"], "Unknown corpus"),
    (["design", "plan", "kinds", "--source", "maths", "--target", "bench", "--outcomes", "text-ppl"], "pair format"),
    (["design", "plan", "budget", "--sources", "maths", "--target", "bench", "--outcomes", "text-ppl"],
     "at least 2"),
    (["design", "plan", "budget", "--sources", "maths,prose", "--target", "bench", "--budgets", "1000,x",
      "--outcomes", "text-ppl"], "--budgets"),
    (["design", "plan", "budget", "--sources", "maths,prose", "--target", "bench", "--reference", "news",
      "--outcomes", "text-ppl"], "Reference"),
    (["design", "report", "kinds", "--results", "/nonexistent/x.json"], "Cannot read"),
    (["design", "report", "kinds"], "--results"),
])
def test_bad_input_exits_2_with_one_line(corpora, argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and says in err and "\n" not in err


def test_usage_errors_exit_2(capsys):
    for argv in (["design", "plan", "kinds", "--source", "maths", "--budget", "-5"], ["design", "plan", "nothing"],
                 ["design", "run", "kinds"]):
        assert main(argv) == 2          # argparse's usage errors are exit codes of main, as every bad input
    assert main(["design"]) == 2 and main(["design", "plan"]) == 2


def test_plan_json_and_report(corpora, tiny_model_dir, tmp_path, capsys):
    assert main(["design", "plan", "kinds", "--source", "maths", *_tiny(tiny_model_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["point"] for f in out["finetunes"]] == ["paired", "unpaired", "formal-only", "informal-only"]
    assert out["to_run"] == 4 and out["expected_seconds"]["total"] > 0 and out["derived"]["pairs"] == 60
    wrong = tmp_path / "b.json"
    wrong.write_text(json.dumps({"design": "budget", "runs": []}))
    assert main(["design", "report", "kinds", "--results", str(wrong)]) == 2
    assert "holds a budget design" in capsys.readouterr().err
