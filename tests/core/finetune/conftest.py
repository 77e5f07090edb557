"""Fixtures of the fine-tune tests: the tiny model and small settings so a run takes seconds (the tiny
registered corpora, ``corpora``, are in tests/conftest.py)."""
from __future__ import annotations

import pytest

from core.batches import BatchConfig
from core.finetune.config import FinetuneConfig
from core.pipeline import EmbedSettings


@pytest.fixture
def tiny_settings(tiny_model_dir):
    return EmbedSettings(model=tiny_model_dir, estimator="closed_form_head", device="cpu",
                         batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))


@pytest.fixture
def tiny_config(tiny_model_dir):
    def make(source="maths", **kw):
        d = dict(source=source, target="bench", model=tiny_model_dir, budget_tokens=256, epochs=2, seq_len=32,
                 batch_size=4, learning_rate=3e-3, device="cpu")
        d.update(kw)
        return FinetuneConfig(**d)
    return make


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Tiny models on a shared 2-core machine: one torch thread is many times faster (no OpenMP waits);
    worker processes started by the tests inherit it through ALIGNSCOPE_TORCH_THREADS."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("ALIGNSCOPE_TORCH_THREADS", "1")
    yield
    torch.set_num_threads(before)
