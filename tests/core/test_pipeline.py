import numpy as np
import pytest

from core.batches import BatchConfig
from core.estimators import get_estimator
from core.pipeline import EmbedSettings, align, embed_corpus
from core.store import EmbeddingStore
from tests.conftest import MemoryCorpus


@pytest.fixture
def settings(tiny_model_dir):
    return EmbedSettings(model=tiny_model_dir, estimator="closed_form_head", device="cpu",
                         batch=BatchConfig(batch_size=4, seq_len=32, num_batches=3))


def test_second_run_computes_nothing(settings, maths_texts, monkeypatch):
    c = MemoryCorpus("maths", maths_texts)
    first = embed_corpus(c, settings, progress=False)
    assert (first.computed, first.cached) == (3, 0)
    assert first.embeddings.shape[0] == 3 and first.embeddings.dtype == np.float32

    est_cls = type(get_estimator("closed_form_head"))
    monkeypatch.setattr(est_cls, "embed", lambda *a, **k: pytest.fail("recomputed a cached batch"))
    second = embed_corpus(c, settings, progress=False)
    assert (second.computed, second.cached) == (0, 3)
    np.testing.assert_array_equal(first.embeddings, second.embeddings)


def test_changing_a_hyperparameter_recomputes(settings, maths_texts):
    c = MemoryCorpus("maths", maths_texts)
    embed_corpus(c, settings, progress=False)
    knob = EmbedSettings(**{**settings.__dict__, "estimator_params": (("vocab_chunk", 4096),)})
    assert embed_corpus(c, knob, progress=False).computed == 0      # an execution knob reuses the cache
    other = EmbedSettings(**{**settings.__dict__, "estimator_params": (("autocast", "bf16"),)})
    assert embed_corpus(c, other, progress=False).computed == 3
    bigger = EmbedSettings(**{**settings.__dict__, "batch": BatchConfig(batch_size=4, seq_len=32, num_batches=4)})
    r = embed_corpus(c, bigger, progress=False)
    assert (r.computed, r.cached) == (1, 3)          # the first three batches are the same batches


def test_identical_corpora_align_perfectly_and_domains_separate(settings, maths_texts, prose_texts):
    half = len(maths_texts) // 2
    target = MemoryCorpus("target", maths_texts[:half])
    same = MemoryCorpus("same", maths_texts[:half])
    maths = MemoryCorpus("maths", maths_texts[half:])
    prose = MemoryCorpus("prose", prose_texts)
    from core.coefficients import cross_alignment
    from core.pipeline import embed_corpus as emb

    e = {c.name: emb(c, settings, progress=False).embeddings for c in (target, same, maths, prose)}
    m = cross_alignment(e)
    # identical batches are at distance 0, so batch-matched alignment of identical corpora is exactly 1
    o = dict(zip(m.names, m.offsets))
    block = m.distances[o["target"]:o["target"] + 3, o["same"]:o["same"] + 3]
    assert np.allclose(np.diag(block), 0.0, atol=1e-9)
    assert m.alignment[("same", "target")].value == pytest.approx(1 - m.diversity["target"].value * 2 / 3)
    assert m.alignment[("maths", "target")].value > m.alignment[("prose", "target")].ci_high


def test_stop_request_keeps_finished_batches(settings, maths_texts):
    c = MemoryCorpus("maths", maths_texts)
    calls = iter([False, True])
    with pytest.raises(InterruptedError):
        embed_corpus(c, settings, progress=False, should_stop=lambda: next(calls))
    r = embed_corpus(c, settings, progress=False)
    assert (r.computed, r.cached) == (2, 1)


def test_progress_callback_reports_done_and_total(settings, maths_texts):
    seen = []
    embed_corpus(MemoryCorpus("maths", maths_texts), settings, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


def test_corrupted_cache_entry_is_recomputed(settings, maths_texts):
    c = MemoryCorpus("maths", maths_texts)
    embed_corpus(c, settings, progress=False)
    store = EmbeddingStore()
    for key in list(store.cache.iterkeys()):
        if key.startswith("emb:"):
            store.cache.set(key, b"A2V1garbage")
            break
    r = embed_corpus(c, settings, progress=False, store=store)
    assert (r.computed, r.cached) == (1, 2)


def test_align_validates_sources(settings):
    from core.errors import AlignScopeError

    with pytest.raises(AlignScopeError, match="No source"):
        align("proofnet", [], settings)
    with pytest.raises(AlignScopeError, match="also listed as a source"):
        align("proofnet", ["proofnet"], settings)


def test_cached_embeddings_reads_without_computing_and_keys_carry_the_precision(settings, maths_texts, monkeypatch):
    from dataclasses import replace

    from core.pipeline import cached_embeddings

    c = MemoryCorpus("maths", maths_texts)
    fp32 = replace(settings, precision="fp32")
    look = cached_embeddings(c, fp32, draw=False)
    assert (look.found, look.missing, look.batches) == ({}, [0, 1, 2], [])   # never drawn: nothing drawn now
    est_cls = type(get_estimator("closed_form_head"))
    r = embed_corpus(c, fp32, progress=False)
    assert r.precision == "fp32"
    monkeypatch.setattr(est_cls, "embed", lambda *a, **k: pytest.fail("cached_embeddings computed a batch"))
    found, missing = cached_embeddings(c, fp32)
    assert missing == [] and sorted(found) == [0, 1, 2]
    np.testing.assert_array_equal(cached_embeddings(c, fp32).embeddings(), r.embeddings)
    bf16 = cached_embeddings(c, replace(settings, precision="bf16"))
    assert bf16.missing == [0, 1, 2] and bf16.precision == "bf16"          # another precision, other keys
    assert set(bf16.keys).isdisjoint(cached_embeddings(c, fp32).keys)
