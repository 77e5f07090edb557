"""af-gen: surface scores on hand strings, the stop rule, the length cap, generation on the tiny model."""
from __future__ import annotations

import pytest

from core.outcomes.base import OutcomeError, get_outcome
from core.outcomes.pair_gen import cut_at_stop, length_cap, normalise, score_generations
from core.outcomes.problems import target_problems


def test_scores_on_hand_strings():
    ref = "theorem foo\n(x : ℝ) :\n  x = x :="
    s = score_generations(["theorem foo (x : ℝ) : x = x :=", "lemma bar : false :=", ""], [ref, ref, ref])
    assert s.exact.tolist() == [1.0, 0.0, 0.0]                            # whitespace-normalised exact match
    assert s.chrf[0] == pytest.approx(100.0) and s.bleu[0] == pytest.approx(100.0)
    assert 0 < s.chrf[1] < 100 and s.chrf[2] == 0.0
    assert 0 < s.corpus_chrf < 100
    with pytest.raises(OutcomeError):
        score_generations(["a"], [])


def test_stop_rule_and_cap():
    assert cut_at_stop(" theorem x : p := by simp\nmore", (":=",)) == " theorem x : p :="
    assert cut_at_stop(" theorem x : p := by", (":=",), keep_stop=False) == " theorem x : p "
    assert cut_at_stop("no stop here", (":=",)) == "no stop here"
    assert cut_at_stop("a\nb := c", (":=", "\n")) == "a\n"
    assert normalise("  a \n\t b  ") == "a b"
    assert length_cap(10, factor=1.5, extra=8) == 23 and length_cap(11, factor=1.5, extra=8) == 25


def test_af_gen_on_tiny_model_generates_within_the_cap(tiny):
    model, tok = tiny
    fmt, problems = target_problems("proofnet")
    ids = [p.problem_id for p in problems[:3]]
    res = get_outcome("af-gen", cap_factor=0.2, cap_extra=2).measure(model, tok, "proofnet", problem_ids=ids,
                                                                     batch_size=2)
    assert res.problem_ids == ids and res.direction == "higher" and res.extra["type_checked"] is False
    for p in problems[:3]:
        out = res.extra["generations"][p.problem_id]
        cap = length_cap(len(tok(fmt.completion_text(p), add_special_tokens=False)["input_ids"]), factor=0.2, extra=2)
        assert len(tok(out, add_special_tokens=False)["input_ids"]) <= cap + 1   # re-tokenising may merge differently
        assert ":=" not in out[:-2]                                        # cut at the first stop string
    assert res.value == pytest.approx(res.arrays["chrf"].mean())
    assert set(res.arrays["exact"].tolist()) <= {0.0, 1.0}
