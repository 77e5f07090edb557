"""run_icl on the tiny model: per-problem NLL, the shared-prefix path, zero-shot, cache, fingerprint, guard."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import CorpusError
from core.icl.run import choose_problems, plan_icl, run_icl, score_prompts
from core.icl.result import IclError, IclResult
from core.outcomes.problems import target_problems


def _run(model, source, ids, **kw):
    kw = {"k": 2, "selector": "random", "seed": 0, "budget_tokens": 120, "device": "cpu", "problems": ids,
          "batch_size": 2, **kw}
    return run_icl("proofnet", source, model=model, **kw)


def test_prefix_path_gives_the_same_nll_as_the_unshared_path(tiny_model_dir, pair_source, short_ids):
    from core.outcomes.nll import completion_nll
    from core.probe import load_probe

    plan = plan_icl("proofnet", pair_source, k=2, selector="random", budget_tokens=120, model=tiny_model_dir,
                    device="cpu", problems=short_ids)
    assert len({p.prefix for p in plan.prompts}) == 1 and plan.prompts[0].prefix           # one shared draw
    model = load_probe(tiny_model_dir, device="cpu").model
    shared = score_prompts(model, plan.prompts, batch_size=3, share_prefix=True)
    alone = score_prompts(model, plan.prompts, batch_size=3, share_prefix=False)
    assert shared.prefix_groups == 1 and alone.prefix_groups == 0
    np.testing.assert_allclose(shared.scores.nll, alone.scores.nll, rtol=1e-5, atol=1e-5)
    assert shared.tokens_processed < alone.tokens_processed
    one = completion_nll(model, [(plan.prompts[1].prefix + plan.prompts[1].context, plan.prompts[1].completion)])
    assert shared.scores.nll[1] == pytest.approx(one.nll[0], rel=1e-5, abs=1e-5)


def test_run_records_per_problem_arrays_zero_shot_and_is_cached(tiny_model_dir, pair_source, short_ids, monkeypatch,
                                                                 isolated_cache):
    from core.outcomes.measure import base_outcomes
    from core.probe import load_probe

    res = _run(tiny_model_dir, pair_source, short_ids, selector="bm25")
    assert res.problem_ids == [p.problem_id for p in target_problems("proofnet")[1] if p.problem_id in short_ids]
    assert res.nll.dtype == np.float64 and res.tokens.dtype == np.int64 and res.n == 4
    assert res.af_nll == pytest.approx(res.nll.sum() / res.tokens.sum())
    assert res.perplexity == pytest.approx(np.exp(res.af_nll))
    assert all(1 <= len(d) <= 2 for d in res.demo_ids) and (res.demo_tokens <= 120).all()
    assert (res.fitted == [len(d) for d in res.demo_ids]).all()
    base = base_outcomes(load_probe(tiny_model_dir, device="cpu"), "proofnet", ("af-nll",), precision="fp32",
                         problem_ids=res.problem_ids)["af-nll"]
    np.testing.assert_allclose(res.zero_shot_nll, base.arrays["nll"], rtol=1e-12)
    assert res.zero_shot_af_nll == pytest.approx(base.value) and res.gain == pytest.approx(res.zero_shot_af_nll - res.af_nll)
    assert not np.allclose(res.nll, res.zero_shot_nll)                      # the demonstrations change the NLL
    assert res.precision == "fp32" and res.tokens_processed > 0 and not res.cached

    from core.icl import run as icl_run

    monkeypatch.setattr(icl_run, "score_prompts", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = _run(tiny_model_dir, pair_source, short_ids, selector="bm25")
    assert again.cached and again.fingerprint == res.fingerprint
    np.testing.assert_array_equal(again.nll, res.nll)
    assert again.demo_ids == res.demo_ids
    assert len(list((isolated_cache / "icl" / "results").glob("*.json"))) == 1


def test_fingerprint_names_what_determines_the_point(tiny_model_dir, pair_source, short_ids):
    from core.icl import run as icl_run

    keys = set()
    for kw in ({}, {"k": 3}, {"seed": 1}, {"selector": "unigram"}, {"budget_tokens": 110}, {"problems": short_ids[:3]},
               {"max_candidates": 5}, {"selector": "bm25", "selector_params": {"k1": 1.2}}):
        args = {"k": 2, "selector": "random", "seed": 0, "budget_tokens": 120, "problems": short_ids, **kw}
        c = icl_run._validate("proofnet", pair_source, selector_params=args.pop("selector_params", None),
                              model=tiny_model_dir, device="cpu", precision="auto", window_tokens=128,
                              max_candidates=args.pop("max_candidates", 256), **args)
        keys.add(c.key)
    assert len(keys) == 8
    from core.corpora.memory import InMemoryCorpus

    other = InMemoryCorpus("pairs", [d.text for d in pair_source.documents()][:-1])    # same name, other content
    c = icl_run._validate("proofnet", other, k=2, selector="random", selector_params=None, seed=0, budget_tokens=120,
                          model=tiny_model_dir, device="cpu", precision="auto", problems=short_ids, max_candidates=256,
                          window_tokens=128)
    assert c.key not in keys                                                # source content, not its name


def test_window_source_and_retrieval_selector_run(tiny_model_dir, prose_source, short_ids):
    res = _run(tiny_model_dir, prose_source, short_ids, selector="t2v", window_tokens=40, k=3)
    assert res.pool["kind"] == "window" and res.prefix_groups == 0
    assert all(len(set(d)) == len(d) for d in res.demo_ids) and (res.demo_tokens <= 120).all()
    assert all("@" in x for d in res.demo_ids for x in d)


def test_result_round_trips_and_converts_to_outcomes(tiny_model_dir, pair_source, short_ids):
    res = _run(tiny_model_dir, pair_source, short_ids)
    back = IclResult.from_dict(json.loads(json.dumps(res.to_dict())))
    np.testing.assert_array_equal(back.nll, res.nll)
    assert back.demo_ids == res.demo_ids and back.af_nll == res.af_nll
    icl, zero = res.to_outcome(), res.to_outcome("zero-shot")
    assert icl.value == pytest.approx(res.af_nll) and zero.value == pytest.approx(res.zero_shot_af_nll)
    d = icl.paired_difference(zero)
    assert d.difference == pytest.approx(-res.gain) and d.ci[0] <= d.difference <= d.ci[1]
    with pytest.raises(IclError):
        res.to_outcome("other")
    with pytest.raises(IclError, match="garbles"):
        IclResult.from_dict({"target": "proofnet"})


def test_the_test_split_is_refused_before_any_work(tiny_model_dir, short_ids, monkeypatch):
    from core.icl import demos

    monkeypatch.setattr(demos, "build_demo_pool", lambda *a, **k: (_ for _ in ()).throw(AssertionError("worked")))
    for name in ("proofnet", "proofnet-af"):
        with pytest.raises(CorpusError, match="held-out"):
            _run(tiny_model_dir, name, short_ids)


def test_problem_subsample_is_seeded_and_the_same_for_every_source():
    _, problems = target_problems("proofnet")
    a, sub = choose_problems(problems, 7)
    b, _ = choose_problems(problems, 7)
    assert sub and len(a) == 7 and [p.problem_id for p in a] == [p.problem_id for p in b]
    order = [p.problem_id for p in problems]
    assert sorted(order.index(p.problem_id) for p in a) == [order.index(p.problem_id) for p in a]
    assert choose_problems(problems, 10_000) == (problems, False) and choose_problems(problems, None)[1] is False
    for bad in (0, ["nope"], [problems[0].problem_id] * 2, []):
        with pytest.raises(IclError):
            choose_problems(problems, bad)


def test_prompt_longer_than_the_model_positions_is_refused(tiny_model_dir, prose_source, short_ids):
    with pytest.raises(IclError, match="positions"):                         # the tiny model has 256 positions
        _run(tiny_model_dir, prose_source, short_ids, budget_tokens=400, k=8, window_tokens=96)


def test_pool_seed_keeps_one_candidate_sample_across_seeds(tiny_model_dir, prose_texts, short_ids):
    from core.corpora.memory import InMemoryCorpus

    src = InMemoryCorpus("long", [" ".join(prose_texts[i:i + 6]) for i in range(0, 60, 6)])

    def pool(seed, pool_seed=None):
        plan = plan_icl("proofnet", src, k=2, selector="random", seed=seed, budget_tokens=80, model=tiny_model_dir,
                        device="cpu", problems=short_ids, max_candidates=6, window_tokens=40, pool_seed=pool_seed)
        return [d.demo_id for d in plan.pool.demos], plan.key

    (a, ka), (b, kb) = pool(0), pool(1)
    assert a != b and ka != kb                                       # the seed draws the candidate sample
    (c, kc), (d, kd) = pool(0, pool_seed=0), pool(1, pool_seed=0)
    assert c == d == a and kc == ka and kd != kc                     # fixed sample; the seed still enters the key
