"""Integration (issue 10): bf16 against fp32 on the real probe network (SmolLM2-135M) and real batches.

Kept small (a few 8 x 64-token batches) so it runs in about a minute on 2 CPU cores, whichever
precision ``auto`` picks on this machine: both precisions are always computed explicitly."""
import numpy as np
import pytest

from core.batches import BatchConfig, sample_batches
from core.distance import task2vec_distance
from core.estimators import get_estimator
from core.pipeline import EmbedSettings, align, embed_corpus
from core.probe import load_probe
from tests.integration.test_real_corpora import need, real_corpora  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe():
    return load_probe("smollm2-135m", device="cpu")


def test_closed_form_head_bf16_is_within_1e3_task2vec_distance_of_fp32(probe):
    est = get_estimator("closed_form_head")
    for name in ("coq-stdlib", "wikipedia"):
        b = sample_batches(need(name), probe.tokenizer, BatchConfig(batch_size=8, seq_len=128, num_batches=1))[0]
        e32, e16 = est.embed(probe, b, precision="fp32"), est.embed(probe, b, precision="bf16")
        d = task2vec_distance(e32, e16)
        assert 0 < d < 1e-3, (name, d)


def test_bf16_and_fp32_embeddings_are_cached_apart_and_alignments_agree():
    for n in ("proofnet", "coq-stdlib", "wikipedia"):
        need(n)
    batch = BatchConfig(batch_size=8, seq_len=64, num_batches=3)
    s32 = EmbedSettings(estimator="closed_form_head", device="cpu", batch=batch, precision="fp32")
    s16 = EmbedSettings(estimator="closed_form_head", device="cpu", batch=batch, precision="bf16")
    a32 = align("proofnet", ["coq-stdlib", "wikipedia"], s32, progress=False)
    first = embed_corpus("coq-stdlib", s16, progress=False)
    assert first.computed == 3 and first.cached == 0          # fp32 entries are never served for bf16
    again = embed_corpus("coq-stdlib", s16, progress=False)
    assert again.computed == 0 and again.cached == 3
    assert not np.array_equal(first.embeddings, embed_corpus("coq-stdlib", s32, progress=False).embeddings)
    a16 = align("proofnet", ["coq-stdlib", "wikipedia"], s16, progress=False)
    by32 = {r["source"]: r["alignment"] for r in a32["ranking"]}
    by16 = {r["source"]: r["alignment"] for r in a16["ranking"]}
    assert [r["source"] for r in a32["ranking"]] == [r["source"] for r in a16["ranking"]]
    for s in by32:
        assert abs(by32[s] - by16[s]) < 0.002, (s, by32[s], by16[s])


def test_bf16_perplexity_is_within_1_percent_of_fp32(probe):
    from core.finetune.perplexity import corpus_windows, perplexity

    windows, _ = corpus_windows(need("proofnet"), probe.tokenizer, 128)
    model = probe.model
    p32 = perplexity(model, windows[:24], batch_size=8, precision="fp32")
    p16 = perplexity(model, windows[:24], batch_size=8, precision="bf16")
    assert p16.tokens == p32.tokens and p16.perplexity != p32.perplexity
    assert p16.perplexity == pytest.approx(p32.perplexity, rel=0.01)
