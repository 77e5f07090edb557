"""Outcome registry, results (value, bootstrap CI, lossless dicts) and paired differences."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.outcomes.base import (OUTCOMES, OutcomeError, OutcomeResult, Statistic, get_outcome, list_outcomes)
from core.registry import RegistryError


def _result(nll, tokens, ids=None, outcome="af-nll"):
    ids = ids or [f"p{i}" for i in range(len(nll))]
    return OutcomeResult.build(outcome=outcome, target="proofnet", fingerprint="f", problem_ids=ids,
                               arrays={"nll": np.asarray(nll, dtype=np.float64), "tokens": np.asarray(tokens, dtype=np.int64)},
                               statistic=Statistic("ratio", "nll", "tokens"), direction="lower", unit="nats/token")


def test_registry_names_aliases_and_listing():
    assert OUTCOMES.names() == ["af-gen", "af-nll", "text-ppl"]
    assert type(get_outcome("pair-nll")).__name__ == "PairNLL" and OUTCOMES.canonical("pair-nll") == "af-nll"
    assert OUTCOMES.canonical("ppl") == "text-ppl"
    rows = {r["name"]: r for r in list_outcomes()}
    assert rows["af-nll"]["direction"] == "lower" and rows["af-gen"]["direction"] == "higher"
    with pytest.raises(RegistryError, match="af-nll"):
        get_outcome("nope")
    with pytest.raises(OutcomeError, match="seq_len"):
        get_outcome("text-ppl", seq_len=1)
    with pytest.raises(OutcomeError, match="no parameter"):
        get_outcome("af-nll", bogus=3)


def test_fingerprint_includes_config_and_pair_format():
    a, b = get_outcome("text-ppl"), get_outcome("text-ppl", seq_len=64)
    assert a.fingerprint("proofnet") != b.fingerprint("proofnet")
    assert get_outcome("af-nll").fingerprint("proofnet") != get_outcome("af-gen").fingerprint("proofnet")
    assert get_outcome("af-gen").fingerprint("proofnet") != get_outcome("af-gen", cap_extra=4).fingerprint("proofnet")


def test_ratio_value_is_token_weighted_and_ci_contains_it():
    rng = np.random.default_rng(1)
    tokens = rng.integers(5, 60, size=40)
    nll = tokens * rng.uniform(1.0, 3.0, size=40)
    r = _result(nll, tokens)
    assert r.value == pytest.approx(nll.sum() / tokens.sum())
    assert r.value != pytest.approx(np.mean(nll / tokens), rel=1e-6)     # not a mean of per-problem ratios
    assert r.ci[0] < r.value < r.ci[1]
    assert r.ci == _result(nll, tokens).ci                                # seeded
    exp = OutcomeResult.build(outcome="text-ppl", target="proofnet", fingerprint="f", problem_ids=r.problem_ids,
                              arrays=r.arrays, statistic=Statistic("ratio", "nll", "tokens", "exp"), direction="lower",
                              unit="perplexity")
    assert exp.value == pytest.approx(np.exp(r.value)) and exp.ci[0] < exp.value < exp.ci[1]


def test_to_dict_is_json_safe_and_lossless():
    rng = np.random.default_rng(2)
    r = _result(rng.uniform(0, 50, 7), rng.integers(1, 30, 7))
    back = OutcomeResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.problem_ids == r.problem_ids and back.value == r.value and back.ci == r.ci
    for k in r.arrays:
        assert back.arrays[k].dtype == r.arrays[k].dtype and np.array_equal(back.arrays[k], r.arrays[k])
    with pytest.raises(OutcomeError):
        OutcomeResult.from_dict({"outcome": "x"})


def test_paired_difference_with_itself_is_zero_and_pairs_by_problem():
    rng = np.random.default_rng(3)
    tokens = rng.integers(5, 60, size=30)
    nll = tokens * rng.uniform(1.0, 3.0, size=30)
    a = _result(nll, tokens)
    d = a.paired_difference(a)
    assert d.difference == 0 and d.ci == (0.0, 0.0) and d.n == 30
    better = _result(nll * 0.9, tokens)                                    # every problem 10% lower
    d = better.paired_difference(a)
    assert d.difference == pytest.approx(-0.1 * a.value) and d.ci[1] < 0  # paired: the CI excludes 0
    # problems are matched by id, not by position, and only the common ones count
    shuffled = _result(nll[::-1][:20], tokens[::-1][:20], ids=[f"p{i}" for i in range(29, 9, -1)])
    d = shuffled.paired_difference(a)
    assert d.n == 20 and d.difference == pytest.approx(0, abs=1e-12)


def test_paired_difference_refuses_other_outcome_or_no_common_problem():
    a = _result([1.0, 2.0], [1, 2])
    with pytest.raises(OutcomeError, match="Cannot pair"):
        a.paired_difference(_result([1.0, 2.0], [1, 2], outcome="text-ppl"))
    with pytest.raises(OutcomeError, match="share no problem"):
        a.paired_difference(_result([1.0], [1], ids=["zz"]))
    with pytest.raises(OutcomeError, match="one entry per"):
        _result([1.0, 2.0], [1])
