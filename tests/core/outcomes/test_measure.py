"""measure_outcomes and the on-disk cache of base_outcomes."""
from __future__ import annotations

import pytest

from core.outcomes.measure import base_outcomes, measure_outcomes, outcome_key, parse_names
from core.outcomes.problems import target_problems
from core.registry import RegistryError


def test_parse_names():
    assert parse_names("text-ppl, pair-nll,af-nll") == ["text-ppl", "af-nll"]
    with pytest.raises(RegistryError):
        parse_names("af-nll,zz")


def test_base_outcomes_are_cached_on_disk_and_match_a_direct_measurement(tiny_model_dir, isolated_cache, monkeypatch):
    from core.probe import load_probe

    probe = load_probe(tiny_model_dir, device="cpu")
    ids = [p.problem_id for p in target_problems("proofnet")[1][:4]]
    first = base_outcomes(probe, "proofnet", "text-ppl,af-nll", precision="auto", batch_size=2, problem_ids=ids)
    assert list(first) == ["text-ppl", "af-nll"] and not first["af-nll"].extra["cached"]
    assert len(list((isolated_cache / "outcomes").glob("*.json"))) == 2
    direct = measure_outcomes(probe.model, probe.tokenizer, "proofnet", ["af-nll"], problem_ids=ids, batch_size=3)
    assert direct["af-nll"].value == pytest.approx(first["af-nll"].value, rel=1e-6)

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    from core.outcomes import pair_nll, text_ppl

    monkeypatch.setattr(pair_nll.PairNLL, "_measure", boom)
    monkeypatch.setattr(text_ppl.TextPerplexity, "_measure", boom)
    again = base_outcomes(probe, "proofnet", ["ppl", "pair-nll"], precision="fp32", problem_ids=ids)
    assert again["af-nll"].extra["cached"] and again["af-nll"].value == first["af-nll"].value
    assert (again["text-ppl"].arrays["nll"] == first["text-ppl"].arrays["nll"]).all()
    with pytest.raises(AssertionError, match="recomputed"):               # another subsample: another key
        base_outcomes(probe, "proofnet", ["af-nll"], precision="fp32", problem_ids=ids[:2])


def test_outcome_key_parts():
    k = dict(model_fingerprint="m", tokenizer_fingerprint="t", outcome_fingerprint="o", content="c")
    assert outcome_key(**k) == outcome_key(**k, precision="fp32")
    assert outcome_key(**k) != outcome_key(**k, precision="bf16")
    assert outcome_key(**k) != outcome_key(**k, problem_ids=["a"])
