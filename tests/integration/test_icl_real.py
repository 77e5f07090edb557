"""Integration (issue 22): the in-context condition on the real embedded probe network (SmolLM2-135M).

``icl run`` on two sources, 6 ProofNet test problems (seeded subsample), k = 4, the default 512-token
budget, fp32: demonstrations from ProofNet's valid split (pairs in the same format) make the reference
formal statements far likelier than prose windows from Wikipedia, and likelier than zero-shot. About
30 s on 2 CPU cores (the random selector shares one prefix cache per run)."""
import json

import pytest

from core.cli import main
from tests.integration.test_real_corpora import need, real_corpora  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.integration


def _run(source, capsys):
    assert main(["icl", "run", "--target", "proofnet", "--source", source, "--k", "4", "--selector", "random",
                 "--seed", "0", "--problems", "6", "--device", "cpu", "--precision", "fp32", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_icl_run_orders_a_proofnet_derived_source_above_wikipedia(capsys):
    for n in ("proofnet", "proofnet-valid", "wikipedia"):
        need(n)
    valid, wiki = _run("proofnet-valid", capsys), _run("wikipedia", capsys)
    assert [r["problem_id"] for r in valid["problems"]] == [r["problem_id"] for r in wiki["problems"]]
    assert valid["pool"]["kind"] == "pair" and wiki["pool"]["kind"] == "window"
    assert valid["af_nll"] < wiki["af_nll"], (valid["af_nll"], wiki["af_nll"])
    assert valid["zero_shot_af_nll"] == wiki["zero_shot_af_nll"]
    assert valid["gain"] > 0 and valid["vs_zero_shot"]["ci"][1] < 0        # the valid pairs help, CI below 0
    for r in (valid, wiki):
        assert all(p["demo_tokens"] <= 512 and 1 <= p["fitted"] <= 4 for p in r["problems"])
