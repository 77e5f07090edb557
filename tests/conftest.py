"""Shared fixtures: tiny random probe networks (tied and untied) with the embedded tokenizer,
small in-memory corpora and an isolated cache folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.corpora.memory import InMemoryCorpus as MemoryCorpus  # noqa: E402  (re-exported for tests)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache root, sharing the converted embedded model via a symlink."""
    from core import paths

    real_models = paths.REPO_ROOT / "cache" / "models"
    root = tmp_path_factory.mktemp("cache")
    if real_models.is_dir():
        (root / "models").symlink_to(real_models, target_is_directory=True)
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(root))
    yield root


#: The test files whose outcome depends on what ``--precision auto`` resolves to on this CPU (the
#: precision, estimators, engines, fine-tune runner and cache keys). They carry the
#: ``precision_sensitive`` marker and see ``$ALIGNSCOPE_FAST_BF16`` as the environment gives it:
#: ``.ci/run`` runs them once with ``=0`` and once with ``=1``, so a machine of either kind catches what
#: the other would. Every other test runs with ``ALIGNSCOPE_FAST_BF16=0`` (auto = fp32, the reference).
PRECISION_SENSITIVE = ("tests/core/test_precision.py", "tests/core/test_estimators.py", "tests/core/test_fingerprint.py",
                       "tests/core/engine/", "tests/core/finetune/test_runner.py",
                       "tests/integration/test_precision_real.py")


def pytest_collection_modifyitems(config, items):
    from core import paths

    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(paths.REPO_ROOT).as_posix()
        if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in PRECISION_SENSITIVE):
            item.add_marker(pytest.mark.precision_sensitive)


def _clear_precision_memo() -> None:
    """Forget what ``auto`` resolved to in this process (every memoised function of core.precision)."""
    from core import precision

    for value in vars(precision).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture(autouse=True)
def pinned_precision(request, monkeypatch):
    """``ALIGNSCOPE_FAST_BF16=0`` for every test that is not ``precision_sensitive`` (those keep the
    environment's value, or the machine's measurement when it is unset), with the memo cleared around it."""
    if request.node.get_closest_marker("precision_sensitive") is None:
        monkeypatch.setenv("ALIGNSCOPE_FAST_BF16", "0")
    _clear_precision_memo()
    yield
    _clear_precision_memo()


def _make_tiny(folder, *, tied: bool, arch: str = "llama"):
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from core.probe import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir(progress=False)))
    torch.manual_seed(0)
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                          tie_word_embeddings=tied, pad_token_id=tok.pad_token_id or 2)
        model = LlamaForCausalLM(cfg)
    else:
        cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=256,
                         tie_word_embeddings=tied)
        model = GPT2LMHeadModel(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer Llama (d=32) with tied embeddings and the SmolLM2 tokenizer, saved to a folder."""
    return _make_tiny(tmp_path_factory.mktemp("tiny_tied"), tied=True)


@pytest.fixture(scope="session")
def tiny_untied_dir(tmp_path_factory):
    """A 2-layer GPT-2-style model (d=32) with an untied LM head."""
    return _make_tiny(tmp_path_factory.mktemp("tiny_untied"), tied=False, arch="gpt2")


@pytest.fixture
def one_torch_thread(monkeypatch):
    """Tiny models on a shared 2-core machine: one torch thread is many times faster (no OpenMP waits);
    worker processes the test starts (fine-tune workers, Ray workers) inherit it through
    ALIGNSCOPE_TORCH_THREADS. Folders whose every test wants it use it autouse (their conftest)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("ALIGNSCOPE_TORCH_THREADS", "1")
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_settings(tiny_model_dir):
    """Embedding settings of the tiny probe network: closed-form head, CPU, 2 batches of 4 x 32 tokens."""
    from core.batches import BatchConfig
    from core.settings import EmbedSettings

    return EmbedSettings(model=tiny_model_dir, estimator="closed_form_head", device="cpu",
                         batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))


def proofnet_valid_texts() -> list[str]:
    """ProofNet *valid* in the pair format (``informal statement ... formal statement ...``), 185 texts
    (also the benches' maths corpus: bench/viewers.py, bench/fault_injection.py)."""
    import json

    from core.paths import shared_data_dir

    path = shared_data_dir() / "proofnet" / "valid.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [f"informal statement {r['nl_statement']} formal statement {r['formal_statement']}" for r in rows]


def village_prose(n: int = 80) -> list[str]:
    """``n`` texts of plain English prose of 80 words each, seeded (made here, no download): a domain
    far from formal maths."""
    import random

    rng = random.Random(0)
    words = ("the village market opened early and farmers brought apples bread cheese and flowers while "
             "children played near the river under a warm summer sky and old friends shared stories").split()
    return [" ".join(rng.choice(words) for _ in range(80)).capitalize() + "." for _ in range(n)]


@pytest.fixture(scope="session")
def maths_texts():
    return proofnet_valid_texts()


@pytest.fixture(scope="session")
def prose_texts():
    """Plain English prose, a different domain from formal maths (:func:`village_prose`)."""
    return village_prose(80)


def register_texts(tmp_path, name, texts, domain, *, overwrite=False):
    """Register ``texts`` as a JSONL corpus ``name`` (field ``text``) in the isolated registry."""
    from core.corpora import CorpusSpec, register_corpus

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    return register_corpus(CorpusSpec(name=name, kind="files", path=str(path), field="text", domain=domain),
                           overwrite=overwrite)


@pytest.fixture
def corpora(tmp_path, maths_texts, prose_texts, isolated_cache):
    """``bench`` (target benchmark), ``maths``, ``prose`` and ``wiki-ish`` (sources) in the isolated
    registry; returns ``["bench", "maths", "prose"]``."""
    register_texts(tmp_path, "bench", maths_texts[:24], "target benchmark")
    register_texts(tmp_path, "maths", maths_texts[40:100], "formal maths")
    register_texts(tmp_path, "prose", prose_texts[:40], "general prose")
    register_texts(tmp_path, "wiki-ish", prose_texts[40:70], "general prose")
    return ["bench", "maths", "prose"]
