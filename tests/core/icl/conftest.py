"""Fixtures of the in-context tests: short ProofNet problems (so prompts fit the tiny model's 256
positions), a paired and a prose in-memory source, and the tiny tied model as a probe."""
from __future__ import annotations

import pytest

from core.corpora.memory import InMemoryCorpus


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _length(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"])


@pytest.fixture(scope="session")
def short_ids(tokenizer):
    """Ids of the first 4 ProofNet test problems whose context + completion take at most 80 tokens."""
    from core.outcomes.problems import target_problems

    fmt, problems = target_problems("proofnet")
    short = [p.problem_id for p in problems
             if _length(tokenizer, fmt.context_text(p)) + _length(tokenizer, fmt.completion_text(p)) <= 80]
    assert len(short) >= 4
    return short[:4]


@pytest.fixture(scope="session")
def short_pairs(maths_texts, tokenizer):
    """ProofNet *valid* pair documents of at most 60 tokens (so several fit a small budget)."""
    out = [t for t in maths_texts if _length(tokenizer, t) <= 60]
    assert len(out) >= 8
    return out


@pytest.fixture
def pair_source(short_pairs):
    return InMemoryCorpus("pairs", short_pairs)


@pytest.fixture
def prose_source(prose_texts):
    return InMemoryCorpus("prose", prose_texts[:30])
