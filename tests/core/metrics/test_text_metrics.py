"""Model-free metrics on tiny synthetic corpora: gzip, unigram-cos, unigram-js, dsir."""
from __future__ import annotations

import numpy as np
import pytest

from core.metrics import get_metric

SMALL = {"n_resamples": 200}


@pytest.fixture
def unigram_params(tiny_model_dir):
    return {"model": tiny_model_dir, "budget_tokens": 600, "chunk_chars": 128, **SMALL}


def test_ncd_formula():
    from core.metrics.gzip import compressed_size, ncd

    x = b"the quick brown fox jumps over the lazy dog " * 20
    y = bytes(np.random.default_rng(0).integers(0, 256, size=800, dtype=np.uint8))
    assert ncd(x, x) < 0.1 < 0.9 < ncd(x, y)
    assert ncd(x, y) == ncd(y, x)                                  # symmetrised C(xy)
    cx, cy = compressed_size(x), compressed_size(y)
    cxy = (compressed_size(x + y) + compressed_size(y + x)) / 2
    assert ncd(x, y) == pytest.approx((cxy - min(cx, cy)) / max(cx, cy))


def test_gzip_identical_beats_disjoint_and_is_symmetric(corpus_a, corpus_a_copy, corpus_b):
    m = get_metric("gzip", chunks=10, chunk_chars=256, **SMALL)
    same = m.score(corpus_a, corpus_a_copy)
    other = m.score(corpus_a, corpus_b)
    assert same.value > other.ci_high and other.value < same.ci_low
    back = m.score(corpus_b, corpus_a)
    assert back.value == pytest.approx(other.value, abs=1e-12)
    assert same.ci_low <= same.value <= same.ci_high and other.ci_low <= other.value <= other.ci_high
    assert other.n == 10 and other.details["pairs"] == 100


@pytest.mark.parametrize("name", ["unigram-cos", "unigram-js"])
def test_unigram_identical_is_one_disjoint_less_symmetric(name, unigram_params, corpus_a, corpus_a_copy, corpus_b):
    m = get_metric(name, **unigram_params)
    same = m.score(corpus_a, corpus_a_copy)
    other = m.score(corpus_a, corpus_b)
    back = m.score(corpus_b, corpus_a)
    assert same.value == pytest.approx(1.0, abs=1e-9)
    assert same.ci_low <= same.value <= same.ci_high
    assert other.value < 0.8 and other.ci_high < same.value
    assert back.value == pytest.approx(other.value, abs=1e-12)
    assert other.details["source_sample"]["tokens"] == other.details["target_sample"]["tokens"] == 600


def test_unigram_values_match_scipy(unigram_params, corpus_a, corpus_b):
    from scipy.spatial.distance import cosine as cos_dist
    from scipy.spatial.distance import jensenshannon

    from core.metrics.unigram import count_matrices, token_sample
    from core.probe import load_probe

    tok = load_probe(unigram_params["model"]).tokenizer
    s = token_sample(corpus_a, tok, budget_tokens=600, seed=0, chunk_chars=128)
    t = token_sample(corpus_b, tok, budget_tokens=600, seed=0, chunk_chars=128)
    assert s.tokens == t.tokens == 600
    xs, xt, _ = count_matrices(s.chunks, t.chunks)
    p, q = xs.sum(0), xt.sum(0)
    assert get_metric("unigram-cos", **unigram_params).score(corpus_a, corpus_b).value == pytest.approx(1 - cos_dist(p, q))
    js = get_metric("unigram-js", **unigram_params).score(corpus_a, corpus_b).value
    assert js == pytest.approx(1 - jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def test_dsir_identical_is_zero_disjoint_negative(corpus_a, corpus_a_copy, corpus_b):
    m = get_metric("dsir", chunk_chars=256)
    same = m.score(corpus_a, corpus_a_copy)
    other = m.score(corpus_a, corpus_b)
    assert same.value == pytest.approx(0.0, abs=1e-12)
    assert other.value < -5 and other.ci_high < same.ci_low
    assert "jackknife" in other.details["ci_method"]


def test_dsir_value_is_minus_kl_of_dsir_features(corpus_a, corpus_b, letters_texts):
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    from core.metrics.dsir import neg_kl
    from core.metrics.sampling import sample_chunks

    mixed = corpus_a.__class__("mixed", letters_texts[:12] + [d.text for d in corpus_b.documents()[:12]])
    v = get_metric("dsir", chunk_chars=256).score(mixed, corpus_a)
    counts = []
    for c in (mixed, corpus_a):
        s = sample_chunks(c, seed=0, chunk_chars=256, max_chars=262144)
        counts.append(sum(get_ngram_counts(t, n=2, num_buckets=10000) for t in s.texts).astype(float))
    ps, pt = counts[0] / counts[0].sum(), counts[1] / counts[1].sum()
    log_diff = np.log(pt + 1e-8) - np.log(ps + 1e-8)            # DSIR's fit_importance_estimator smoothing
    assert v.value == pytest.approx(-float(np.sum(pt * log_diff)))
    assert neg_kl(counts[0], counts[1]) == pytest.approx(v.value)
    assert -8 < v.value < 0                                      # half of the source covers the target


def test_text_metrics_accept_mixtures(corpus_a, corpus_b, letters_texts, other_texts, unigram_params):
    """A dose-response mixture (in-memory texts) lies between the pure sources."""
    from tests.conftest import MemoryCorpus

    mixed = MemoryCorpus("a+b@0.5", letters_texts[::2] + other_texts[::2])
    for name, params in (("unigram-cos", unigram_params), ("gzip", {"chunks": 12, "chunk_chars": 256, **SMALL})):
        m = get_metric(name, **params)
        v = [m.score(s, corpus_a).value for s in (corpus_b, mixed, MemoryCorpus("a", letters_texts[1::2]))]
        assert v[0] < v[1] < v[2], (name, v)
