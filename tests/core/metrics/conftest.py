"""Tiny synthetic corpora for the alignment-metric tests: two with disjoint vocabularies."""
from __future__ import annotations

import random

import pytest

from tests.conftest import MemoryCorpus


def _texts(alphabet: str, seed: int, *, docs: int = 24, words: int = 60) -> list[str]:
    rng = random.Random(seed)
    vocab = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(3, 7))) for _ in range(40)})
    return [" ".join(rng.choice(vocab) for _ in range(words)) + "." for _ in range(docs)]


@pytest.fixture(scope="session")
def letters_texts():
    """Documents of words over the letters a-m only."""
    return _texts("abcdefghijklm", 1)


@pytest.fixture(scope="session")
def other_texts():
    """Documents of words over n-z and digits: no word (and almost no token) in common with letters_texts."""
    return _texts("nopqrstuvwxyz0123456789", 2)


@pytest.fixture
def corpus_a(letters_texts):
    return MemoryCorpus("letters", letters_texts)


@pytest.fixture
def corpus_a_copy(letters_texts):
    return MemoryCorpus("letters-copy", list(letters_texts))


@pytest.fixture
def corpus_b(other_texts):
    return MemoryCorpus("other", other_texts)
