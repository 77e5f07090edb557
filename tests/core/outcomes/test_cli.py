"""python -m core outcomes: listing, and bad input exits 2 with one line."""
from __future__ import annotations

import json

import pytest

from core.cli import main


def _code(argv) -> int:
    """Exit code of the CLI: returned (bad values) or raised by argparse (bad flags)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_list_json(capsys):
    assert main(["outcomes", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {"text-ppl", "af-nll", "af-gen"}


@pytest.mark.parametrize("argv, word", [
    (["outcomes", "measure", "--target", "nope"], "nope"),
    (["outcomes", "measure", "--outcomes", "zz"], "zz"),
    (["outcomes", "measure", "--outcomes", ","], "No outcome"),
    (["outcomes", "measure", "--target", "python-stdlib"], "python-stdlib"),
])
def test_bad_input_exits_2(argv, word, capsys):
    assert _code(argv) == 2
    err = capsys.readouterr().err
    assert word in err and len(err.strip().splitlines()) == 1


def test_bad_limit_exits_2(capsys):
    assert _code(["outcomes", "measure", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_measure_small_subsample_json(tiny_model_dir, capsys):
    assert main(["outcomes", "measure", "--model", tiny_model_dir, "--device", "cpu", "--outcomes", "af-nll",
                 "--limit", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["problem_ids"]) == 3 and out["precision"] == "fp32"
    assert out["outcomes"]["af-nll"]["problem_ids"] == out["problem_ids"]
