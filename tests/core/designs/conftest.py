"""Fixtures of the design tests: the tiny model's settings and one torch thread (the registered tiny
corpora ``bench``, ``maths``, ``prose``, ``wiki-ish`` are the ``corpora`` fixture of tests/conftest.py;
``maths`` holds ProofNet *valid* pairs, so it is a pair-format corpus)."""
from __future__ import annotations

import pytest

from core.validation.plan import Regime

#: A regime the tiny model trains in seconds.
TINY = dict(seq_len=32, batch_size=4, learning_rate=3e-3)


@pytest.fixture
def tiny_regime():
    def make(budget=128, seeds=(0,)):
        return Regime("t", budget, seeds=tuple(seeds), **TINY)
    return make


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with tests/conftest.py's ``one_torch_thread``."""
