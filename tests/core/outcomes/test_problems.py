"""Pair-format problems of a target benchmark: ProofNet test, the template, tokenisation, errors."""
from __future__ import annotations

import pytest

from core.errors import CorpusError
from core.outcomes.problems import (PAIR_FORMATS, PROOFNET_LEAN3, PairFormat, PairProblem, encode_problem,
                                    pair_format, problems_fingerprint, target_problems)
from tests.conftest import register_texts


def test_proofnet_test_split_problems_follow_the_corpus_pair_template():
    from core.corpora import get_corpus

    fmt, problems = target_problems("proofnet")
    docs = get_corpus("proofnet").documents()
    assert fmt is PROOFNET_LEAN3 and len(problems) == len(docs) >= 185
    for p, d in zip(problems, docs):
        assert p.problem_id == d.doc_id and d.doc_id.startswith("test/")
        assert fmt.context_text(p) + fmt.completion_text(p) == d.text       # exactly the corpus document
    first = problems[0]
    assert first.condition.startswith("If $r$ is rational") and first.completion.startswith("theorem exercise_1_1b")
    assert first.completion.endswith(":=")
    assert target_problems("proofnet-af")[1] == problems                   # same held-out split


def test_encode_problem_splits_context_and_completion_like_the_joint_text(tiny):
    _, tok = tiny
    fmt, problems = target_problems("proofnet")
    for p in problems[:20]:
        context, completion = encode_problem(tok, fmt, p)
        joint = tok(fmt.context_text(p) + fmt.completion_text(p), add_special_tokens=False)["input_ids"]
        assert context + completion == joint
        assert tok.decode(completion) == " " + p.completion


def test_parse_refuses_ambiguous_or_foreign_text():
    assert PROOFNET_LEAN3.parse("informal statement a formal statement b") == ("a", "b")
    assert PROOFNET_LEAN3.parse("informal statement a formal statement b formal statement c") is None
    assert PROOFNET_LEAN3.parse("something else") is None
    with pytest.raises(CorpusError, match="exactly one"):
        PairFormat(name="x", condition_template="no field", completion_template=" {completion}")


def test_fingerprint_covers_template_and_stop_rule():
    base = PROOFNET_LEAN3.fingerprint()
    assert len(base) == 64
    assert PairFormat(**{**PROOFNET_LEAN3.__dict__, "description": "other"}).fingerprint() == base
    assert PairFormat(**{**PROOFNET_LEAN3.__dict__, "stop": ()}).fingerprint() != base
    assert PairFormat(**{**PROOFNET_LEAN3.__dict__, "completion_template": "\n{completion}"}).fingerprint() != base
    p = [PairProblem("a", "x", "y")]
    assert problems_fingerprint(PROOFNET_LEAN3, p) != problems_fingerprint(PROOFNET_LEAN3, [PairProblem("a", "x", "z")])


def test_unknown_target_and_target_without_pair_format_are_refused(tmp_path):
    with pytest.raises(CorpusError, match="nope"):
        target_problems("nope")
    register_texts(tmp_path, "bench-x", ["some text here", "more text"], "target benchmark")
    with pytest.raises(CorpusError, match="no pair format.*register_pair_format"):
        target_problems("bench-x")


def test_a_second_benchmark_registers_its_own_format(tmp_path):
    fmt = PairFormat(name="qa", condition_template="Q: {condition}\nA:", completion_template=" {completion}",
                     stop=("\n",))
    register_texts(tmp_path, "qa-bench", ["Q: 1+1?\nA: 2", "Q: 2+2?\nA: 4"], "target benchmark")
    PAIR_FORMATS.register("qa-bench", fmt)
    try:
        got_fmt, problems = target_problems("qa-bench")
        assert got_fmt is fmt and pair_format("qa-bench") is fmt
        assert [(p.condition, p.completion) for p in problems] == [("1+1?", "2"), ("2+2?", "4")]
    finally:
        PAIR_FORMATS.unregister("qa-bench")
