"""Demonstration pools: pair or window candidates, sampling, filters, the test-split guard, the cache."""
from __future__ import annotations

import pytest

from core.corpora.memory import InMemoryCorpus
from core.errors import CorpusError
from core.icl.demos import DemoConfig, build_demo_pool, check_demo_source, is_paired
from core.outcomes.problems import target_problems


@pytest.fixture(scope="module")
def target():
    return target_problems("proofnet")


def test_a_pair_format_source_gives_pair_demonstrations_keyed_by_their_informal_statement(pair_source, tokenizer,
                                                                                          target):
    fmt, problems = target
    assert is_paired(pair_source.documents(), fmt)
    pool = build_demo_pool(pair_source, tokenizer, fmt, problems)
    assert pool.kind == "pair" and len(pool) == len(pair_source.documents())
    for d, doc in zip(pool.demos, pair_source.documents()):
        nl, fl = fmt.parse(doc.text)
        assert d.text == doc.text and d.key == nl.strip() and fl not in d.key
        assert list(d.ids) == tokenizer(d.text, add_special_tokens=False)["input_ids"]
        assert d.doc_id == doc.doc_id and d.offset == 0
    assert list(pool.separator_ids) == tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    assert (pool.cost == pool.tokens + len(pool.separator_ids)).all()


def test_a_prose_source_gives_seeded_capped_windows_with_provenance(prose_texts, tokenizer, target):
    fmt, problems = target
    long_docs = InMemoryCorpus("long", [" ".join(prose_texts[i:i + 6]) for i in range(0, 60, 6)])
    cfg = DemoConfig(max_candidates=12, window_tokens=40, seed=0)
    pool = build_demo_pool(long_docs, tokenizer, fmt, problems, config=cfg)
    assert pool.kind == "window" and len(pool) == 12
    assert (pool.cost <= 40).all() and (pool.tokens >= cfg.min_tokens).all()
    texts = {d.doc_id: d.text for d in long_docs.documents()}
    for d in pool.demos:
        doc_ids = tokenizer(texts[d.doc_id], add_special_tokens=False)["input_ids"]
        assert list(d.ids) == doc_ids[d.offset:d.offset + len(d.ids)]          # provenance: doc_id and token offset
        assert d.key == d.text == tokenizer.decode(list(d.ids)) and d.demo_id == f"{d.doc_id}@{d.offset}"
    again = build_demo_pool(long_docs, tokenizer, fmt, problems, config=cfg, use_cache=False)
    assert [d.demo_id for d in again.demos] == [d.demo_id for d in pool.demos]
    other = build_demo_pool(long_docs, tokenizer, fmt, problems, config=DemoConfig(max_candidates=12, window_tokens=40,
                                                                                   seed=1))
    assert [d.demo_id for d in other.demos] != [d.demo_id for d in pool.demos]


def test_pairs_are_capped_by_a_seeded_sample(pair_source, tokenizer, target):
    fmt, problems = target
    a = build_demo_pool(pair_source, tokenizer, fmt, problems, config=DemoConfig(max_candidates=5, seed=0))
    b = build_demo_pool(pair_source, tokenizer, fmt, problems, config=DemoConfig(max_candidates=5, seed=3))
    assert len(a) == len(b) == 5 and a.dropped["not sampled"] == len(pair_source.documents()) - 5
    assert [d.demo_id for d in a.demos] != [d.demo_id for d in b.demos]


def test_duplicates_and_candidates_holding_a_test_answer_are_dropped(short_pairs, tokenizer, target):
    fmt, problems = target
    leak = fmt.context_text(problems[0]) + fmt.completion_text(problems[0])       # a test problem with its answer
    src = InMemoryCorpus("mixed", short_pairs[:5] + [short_pairs[0], leak])
    pool = build_demo_pool(src, tokenizer, fmt, problems)
    assert len(pool) == 5
    assert pool.dropped == {"duplicate": 1, "overlaps a target problem": 1}
    assert all(problems[0].completion not in d.text for d in pool.demos)


def test_pool_is_cached_in_the_store(pair_source, tokenizer, target, isolated_cache, monkeypatch):
    fmt, problems = target
    first = build_demo_pool(pair_source, tokenizer, fmt, problems)
    from core.icl import demos

    monkeypatch.setattr(demos, "_compute_pool", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    again = build_demo_pool(pair_source, tokenizer, fmt, problems)
    assert [(d.demo_id, d.text, d.key, d.ids) for d in again.demos] == [(d.demo_id, d.text, d.key, d.ids)
                                                                          for d in first.demos]
    assert again.fingerprint == first.fingerprint and again.kind == "pair"


@pytest.mark.parametrize("name", ["proofnet", "proofnet-af"])
def test_the_test_split_is_refused_by_name(name):
    with pytest.raises(CorpusError, match="held-out"):
        check_demo_source(name, "proofnet")


def test_a_copy_of_the_test_split_is_refused_by_content(target):
    fmt, problems = target
    copy = InMemoryCorpus("innocent-name", [fmt.context_text(p) + fmt.completion_text(p) for p in problems])
    with pytest.raises(CorpusError, match="innocent-name"):
        check_demo_source(copy, "proofnet")


def test_a_registered_benchmark_corpus_is_refused(tmp_path, maths_texts):
    from tests.conftest import register_texts

    register_texts(tmp_path, "my-bench", maths_texts[:5], "target benchmark")
    with pytest.raises(CorpusError, match="my-bench"):
        check_demo_source("my-bench", "proofnet")


def test_the_valid_split_is_accepted(pair_source):
    check_demo_source(pair_source, "proofnet")
    check_demo_source("proofnet-valid", "proofnet")


def test_bad_config_is_refused():
    with pytest.raises(CorpusError, match="max_candidates"):
        DemoConfig(max_candidates=0)
    with pytest.raises(CorpusError, match="window_tokens"):
        DemoConfig(window_tokens=2)
