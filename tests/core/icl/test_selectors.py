"""Demonstration selectors: k distinct demonstrations within the budget, determinism, planted needles,
and that the retrieval sees only the problems' informal statements."""
from __future__ import annotations

import numpy as np
import pytest

from core.corpora.memory import InMemoryCorpus
from core.icl.demos import DemoConfig, build_demo_pool
from core.icl.selectors import (DEMO_SELECTORS, RankEnv, SelectorError, get_selector, list_selectors,
                                rank_by_score, select_demonstrations)
from core.outcomes.problems import target_problems
from core.registry import RegistryError

ALL = ["random", "t2v", "sbert", "bm25", "unigram"]


@pytest.fixture(scope="module")
def target():
    return target_problems("proofnet")


@pytest.fixture
def env(tiny_model_dir):
    return RankEnv(model=tiny_model_dir, device="cpu", precision="fp32")


def test_registry_lists_every_selector_without_loading_models():
    assert set(DEMO_SELECTORS.names()) == set(ALL)
    rows = {r["name"]: r for r in list_selectors()}
    assert rows["random"]["shared"] and not rows["t2v"]["shared"] and "kate" in rows["sbert"]["aliases"]


@pytest.mark.parametrize("name", ALL)
def test_k_distinct_demonstrations_within_the_budget_deterministic_for_one_seed(name, pair_source, tokenizer, target,
                                                                               env):
    fmt, problems = target
    pool = build_demo_pool(pair_source, tokenizer, fmt, problems)
    queries = [p.condition for p in problems[:5]]
    budget = int(np.sort(pool.cost)[:3].sum()) + 5                      # room for about three of the shortest
    sel = get_selector(name)
    a = select_demonstrations(sel, pool, queries, k=3, budget_tokens=budget, seed=0, env=env)
    b = select_demonstrations(get_selector(name), pool, queries, k=3, budget_tokens=budget, seed=0, env=env)
    assert [c.rows for c in a] == [c.rows for c in b]
    for c in a:
        assert 1 <= c.fitted <= 3 and len(set(c.rows)) == c.fitted
        assert c.tokens == int(pool.cost[list(c.rows)].sum()) <= budget
    if name == "random":
        assert len({c.rows for c in a}) == 1                                    # one draw shared by every problem
        other = select_demonstrations(sel, pool, queries, k=3, budget_tokens=budget, seed=1, env=env)
        assert other[0].rows != a[0].rows


def _needle_pool(problem, prose_texts, tokenizer, fmt, problems, *, kind):
    """A source whose candidates are prose, plus one nearly identical to the problem's informal statement."""
    needle = problem.condition.replace("Prove", "Show").replace("prove", "show") + " Moreover."
    if kind == "window":
        texts = [t[:300] for t in prose_texts[:30]] + [needle]
    else:
        texts = [f"informal statement {t[:200]} formal statement theorem t{i} : true :=" for i, t in enumerate(prose_texts[:30])]
        texts.append(f"informal statement {needle} formal statement theorem needle : true :=")
    src = InMemoryCorpus("haystack", texts)
    pool = build_demo_pool(src, tokenizer, fmt, problems, config=DemoConfig(window_tokens=96))
    row = next(i for i, d in enumerate(pool.demos) if d.doc_id == f"haystack:{len(texts) - 1}")
    return pool, row


@pytest.mark.parametrize("kind", ["window", "pair"])
def test_t2v_retrieves_a_planted_needle(kind, prose_texts, tokenizer, target, env):
    fmt, problems = target
    problem = next(p for p in problems if len(p.condition) > 120)
    pool, needle = _needle_pool(problem, prose_texts, tokenizer, fmt, problems, kind=kind)
    assert pool.kind == kind
    ranks = get_selector("t2v").rank(pool, [problem.condition], depth=5, seed=0, env=env)
    assert ranks[0][0] == needle


@pytest.mark.parametrize("name", ["sbert", "bm25", "unigram"])
def test_text_retrievers_find_the_needle_too(name, prose_texts, tokenizer, target, env):
    fmt, problems = target
    problem = next(p for p in problems if len(p.condition) > 120)
    pool, needle = _needle_pool(problem, prose_texts, tokenizer, fmt, problems, kind="window")
    assert get_selector(name).rank(pool, [problem.condition], depth=3, seed=0, env=env)[0][0] == needle


def test_retrieval_sees_only_informal_statements(pair_source, tokenizer, target, env, monkeypatch, short_ids):
    """Every selector's ranking gets the conditions and nothing of the reference completions; changing
    the completions changes no choice."""
    from core.icl import run as icl_run
    from core.icl.selectors.base import DemoSelector
    from core.outcomes import problems as problems_mod
    from core.outcomes.problems import PairProblem

    fmt, problems = target
    seen = []
    real = DemoSelector.rank

    def spy(self, pool, queries, **kw):
        seen.append(list(queries))
        return real(self, pool, queries, **kw)

    monkeypatch.setattr(DemoSelector, "rank", spy)
    chosen = {}
    for name in ALL:
        plan = icl_run.plan_icl("proofnet", pair_source, k=2, selector=name, budget_tokens=120, model=env.model,
                                device="cpu", problems=short_ids)
        chosen[name] = [p.rows for p in plan.prompts]
    completions = [p.completion for p in problems if p.problem_id in short_ids]
    conditions = [p.condition for p in problems if p.problem_id in short_ids]
    assert seen and all(q in conditions for qs in seen for q in qs)
    assert not any(c in q for qs in seen for q in qs for c in completions)

    altered = [PairProblem(p.problem_id, p.condition, "theorem changed : false :=") for p in problems]
    monkeypatch.setattr(problems_mod, "target_problems", lambda target: (fmt, altered))
    for name in ALL:
        plan = icl_run.plan_icl("proofnet", pair_source, k=2, selector=name, budget_tokens=120, model=env.model,
                                device="cpu", problems=short_ids)
        assert [p.rows for p in plan.prompts] == chosen[name], name


def test_rank_by_score_breaks_ties_by_seed_not_corpus_order():
    s = np.zeros((1, 50))
    s[0, 7] = 1.0
    a, b = rank_by_score(s, 10, 0)[0], rank_by_score(s, 10, 1)[0]
    assert a[0] == b[0] == 7 and list(a[1:]) != list(b[1:]) and list(a[1:]) != list(range(9))


def test_bad_selector_input(pair_source, tokenizer, target, env):
    fmt, problems = target
    pool = build_demo_pool(pair_source, tokenizer, fmt, problems)
    with pytest.raises(RegistryError, match="zz"):
        get_selector("zz")
    with pytest.raises(SelectorError, match="k1"):
        get_selector("bm25", k1=-1.0)
    with pytest.raises(SelectorError, match="nope"):
        get_selector("random", nope=1)
    with pytest.raises(SelectorError, match="k must be"):
        select_demonstrations(get_selector("random"), pool, ["x"], k=0, budget_tokens=512, seed=0, env=env)
    with pytest.raises(SelectorError, match="too small for one demonstration"):
        select_demonstrations(get_selector("random"), pool, ["x"], k=2, budget_tokens=int(pool.cost.min()) - 1,
                              seed=0, env=env)
