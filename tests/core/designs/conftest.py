"""Fixtures of the design tests: the tiny model's settings and one torch thread (the registered tiny
corpora ``bench``, ``maths``, ``prose``, ``wiki-ish`` are the ``corpora`` fixture of tests/conftest.py;
``maths`` holds ProofNet *valid* pairs, so it is a pair-format corpus)."""
from __future__ import annotations

import pytest

from core.batches import BatchConfig
from core.pipeline import EmbedSettings
from core.validation.lab import Regime

#: A regime the tiny model trains in seconds.
TINY = dict(seq_len=32, batch_size=4, learning_rate=3e-3)


@pytest.fixture
def tiny_settings(tiny_model_dir):
    return EmbedSettings(model=tiny_model_dir, estimator="closed_form_head", device="cpu",
                         batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))


@pytest.fixture
def tiny_regime():
    def make(budget=128, seeds=(0,)):
        return Regime("t", budget, seeds=tuple(seeds), **TINY)
    return make


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Tiny models on a shared 2-core machine: one torch thread is many times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("ALIGNSCOPE_TORCH_THREADS", "1")
    yield
    torch.set_num_threads(before)
