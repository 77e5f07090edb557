"""Fixtures of the mixture tests: small file corpora registered in the test's isolated cache."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def corpora(tmp_path, maths_texts, prose_texts):
    """Registered corpora ``tgt`` (maths), ``mx-maths`` (maths), ``mx-prose`` (prose), ``mx-code`` (code),
    ``mx-tiny`` (3 short documents)."""
    from core.corpora import CorpusSpec, register_corpus

    code = [f"def f{i}(x):\n    return x * {i} + {i % 7}\n" * 3 for i in range(40)]
    specs = {"tgt": maths_texts[:40], "mx-maths": maths_texts[40:100], "mx-prose": prose_texts[:60], "mx-code": code,
             "mx-tiny": ["one two three", "four five", "six"]}
    for name, texts in specs.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
        register_corpus(CorpusSpec(name=name, kind="files", path=str(path), field="text"))
    return specs


@pytest.fixture
def small_settings(tiny_model_dir):
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings

    return EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32, num_batches=3))


@pytest.fixture
def tokenizer(tiny_model_dir):
    from core.probe import load_probe

    return load_probe(tiny_model_dir, device="cpu").tokenizer
