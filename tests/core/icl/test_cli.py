"""python -m core icl: bad input exits 2 with one line, run --json, export writes valid JSONL."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from tests.conftest import register_texts


def _code(argv) -> int:
    """Exit code of the CLI: returned (bad values) or raised by argparse (bad flags)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.fixture
def source(tmp_path, short_pairs):
    register_texts(tmp_path, "pairs-src", short_pairs, "formal maths")
    return "pairs-src"


def _point(model, source, *extra):
    return ["--target", "proofnet", "--source", source, "--k", "2", "--selector", "random", "--budget", "120",
            "--model", model, "--device", "cpu", *extra]


def test_selectors_json(capsys):
    assert main(["icl", "selectors", "--json"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} == {"random", "t2v", "sbert", "bm25", "unigram"}


@pytest.mark.parametrize("change, word", [
    ({"--source": "nope"}, "nope"),
    ({"--source": "proofnet"}, "held-out"),
    ({"--source": "proofnet-af"}, "held-out"),
    ({"--selector": "zz"}, "zz"),
    ({"--k": "0"}, "--k"),
    ({"--budget": "5"}, "too small for one demonstration"),
    ({"--problems": "0"}, "--problems"),
    ({"--selector-param": "k1"}, "KEY=VALUE"),
])
def test_bad_input_exits_2_with_one_line(change, word, source, tiny_model_dir, capsys):
    argv = _point(tiny_model_dir, source)
    for flag, value in change.items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert _code(["icl", "run", *argv]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error")]
    assert len(err) == 1 and word in err[0]


def test_unwritable_out_exits_2_before_any_work(source, tiny_model_dir, tmp_path, capsys, monkeypatch):
    from core.icl import run as icl_run

    monkeypatch.setattr(icl_run, "plan_icl", lambda *a, **k: (_ for _ in ()).throw(AssertionError("worked")))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker / "prompts.jsonl", tmp_path):                        # parent is a file; a folder
        assert _code(["icl", "export", *_point(tiny_model_dir, source), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out" in err[0]


@pytest.fixture
def mini_target(tmp_path, short_ids):
    """``mini-bench``: a target benchmark of the short ProofNet test problems (so prompts fit the tiny
    model), with ProofNet's pair format registered for it while the test runs."""
    from core.outcomes.problems import PAIR_FORMATS, PROOFNET_LEAN3, register_pair_format, target_problems

    fmt, problems = target_problems("proofnet")
    texts = [fmt.context_text(p) + fmt.completion_text(p) for p in problems if p.problem_id in short_ids]
    register_texts(tmp_path, "mini-bench", texts, "target benchmark")
    register_pair_format("mini-bench", PROOFNET_LEAN3)
    yield "mini-bench"
    PAIR_FORMATS.unregister("mini-bench")


def test_export_writes_valid_jsonl(source, mini_target, tiny_model_dir, tmp_path, short_pairs, capsys):
    from core.outcomes.problems import target_problems

    out = tmp_path / "prompts.jsonl"
    argv = _point(tiny_model_dir, source, "--selector", "sbert")
    argv[argv.index("--target") + 1] = mini_target
    assert main(["icl", "export", *argv, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    fmt, problems = target_problems(mini_target)
    assert summary["rows"] == len(rows) == len(problems) == 4
    by_id = {p.problem_id: p for p in problems}
    for r in rows:
        p = by_id[r["problem_id"]]
        assert r["prompt"].endswith(fmt.context_text(p)) and r["reference"] == fmt.completion_text(p)
        assert p.completion not in r["prompt"] and 1 <= r["fitted"] == len(r["demonstrations"]) <= 2
        assert r["demo_tokens"] <= 120 and r["selector"] == "sbert" and r["source"] == "pairs-src"
        assert r["prompt"].count("informal statement") == r["fitted"] + 1
        for d in r["demonstrations"]:                       # provenance: "<file>:<line>" of the registered JSONL
            assert short_pairs[int(d["doc_id"].rsplit(":", 1)[1]) - 1] in r["prompt"]
        assert r["reference_ids"] and len(r["prompt_ids"]) >= r["demo_tokens"]


def test_run_json(source, mini_target, tiny_model_dir, capsys):
    point = _point(tiny_model_dir, source, "--selector", "unigram", "--problems", "3")
    point[point.index("--target") + 1] = mini_target
    argv = ["icl", "run", *point, "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and out["selector"] == "unigram" and len(out["problems"]) == 3
    assert out["af_nll"] == pytest.approx(sum(r["nll"] for r in out["problems"]) / sum(r["tokens"] for r in out["problems"]))
    assert out["vs_zero_shot"]["difference"] == pytest.approx(out["af_nll"] - out["zero_shot_af_nll"])
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["cached"]
