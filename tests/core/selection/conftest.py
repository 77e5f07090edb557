"""Fixtures of the selection tests: a registered target benchmark, a prose source, a needle source
(a few windows in the target's style), and Task2Vec settings on the tiny probe network."""
from __future__ import annotations

import pytest

from tests.conftest import register_texts


@pytest.fixture(scope="session")
def sharp_model_dir(tmp_path_factory):
    """The tiny tied Llama with its embedding matrix scaled by 20: a random tiny model's softmax is
    nearly uniform, so every window has almost the same head FIM (alignments all ~0.999); sharper
    logits make the FIM depend on the tokens, as a trained probe's does."""
    import torch
    from transformers import AutoModelForCausalLM

    from tests.conftest import _make_tiny

    folder = _make_tiny(tmp_path_factory.mktemp("tiny_sharp"), tied=True)
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(20.0)
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def settings(sharp_model_dir):
    from core.batches import BatchConfig
    from core.settings import EmbedSettings

    return EmbedSettings(model=sharp_model_dir, batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2), device="cpu")


@pytest.fixture
def sel_corpora(tmp_path, maths_texts, prose_texts, isolated_cache):
    """``bench`` (target benchmark, 24 ProofNet-valid problems), ``prose`` (40 documents), ``needles``
    (3 of the target's own documents: windows that copy the target's style), ``maths`` (other problems)."""
    register_texts(tmp_path, "bench", maths_texts[:24], "target benchmark")
    register_texts(tmp_path, "prose", prose_texts[:40], "general prose")
    register_texts(tmp_path, "needles", maths_texts[:3], "formal maths")
    register_texts(tmp_path, "maths", maths_texts[100:140], "formal maths")
    return {"target": "bench", "pool": ("prose", "needles")}


@pytest.fixture
def pool_config(sel_corpora):
    from core.selection.pool import PoolConfig

    return PoolConfig(corpora=("prose", "needles"), target="bench", max_windows=60, seq_len=32, min_tokens=8)
