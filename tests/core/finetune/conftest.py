"""Fixtures of the fine-tune tests: the tiny model and small settings so a run takes seconds (the tiny
registered corpora, ``corpora``, are in tests/conftest.py)."""
from __future__ import annotations

import pytest

from core.finetune.config import FinetuneConfig


@pytest.fixture
def tiny_config(tiny_model_dir):
    def make(source="maths", **kw):
        d = dict(source=source, target="bench", model=tiny_model_dir, budget_tokens=256, epochs=2, seq_len=32,
                 batch_size=4, learning_rate=3e-3, device="cpu")
        d.update(kw)
        return FinetuneConfig(**d)
    return make


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with tests/conftest.py's ``one_torch_thread``."""


@pytest.fixture
def fast_bf16(monkeypatch):
    """Pin what ``auto`` resolves to on the CPU (``ALIGNSCOPE_FAST_BF16``), memo cleared."""
    from core.precision import fast_bf16 as memo

    def set_(value: bool):
        monkeypatch.setenv("ALIGNSCOPE_FAST_BF16", "1" if value else "0")
        memo.cache_clear()
    yield set_
    memo.cache_clear()


@pytest.fixture
def qa_bench(corpora, tmp_path):
    """``make(n)``: register ``qa-bench``, a target benchmark of ``n x n`` "Q: what is a plus b?\nA: a+b"
    pairs with its pair format (so pair outcomes such as ``af-nll`` apply); returns the documents.
    The pair format is unregistered afterwards."""
    from core.outcomes.problems import PAIR_FORMATS, PairFormat
    from tests.conftest import register_texts

    made = []

    def make(n: int) -> list[str]:
        fmt = PairFormat(name="qa", condition_template="Q: {condition}\nA:", completion_template=" {completion}",
                         stop=("\n",))
        docs = [f"Q: what is {a} plus {b}?\nA: {a + b}" for a in range(n) for b in range(n)]
        register_texts(tmp_path, "qa-bench", docs, "target benchmark")
        PAIR_FORMATS.register("qa-bench", fmt)
        made.append(1)
        return docs
    yield make
    if made:
        PAIR_FORMATS.unregister("qa-bench")
