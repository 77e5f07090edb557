"""Seeded text samples and the bootstrap / jackknife confidence intervals."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import CorpusError
from core.metrics.sampling import (bootstrap_ci, index_weights, iter_chunks, jackknife_ci, sample_chunks,
                                   split_chunks, sum_statistic)
from tests.conftest import MemoryCorpus


def test_split_chunks_bounds_and_words():
    text = " ".join(f"word{i}" for i in range(500))
    parts = split_chunks(text, 100)
    assert "".join(parts) == text
    assert all(len(p) <= 100 for p in parts)
    assert all(p.endswith(" ") for p in parts[:-1])          # cut after a space: no word split
    assert split_chunks("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_chunks("   ", 10) == []


def test_round_robin_one_chunk_per_document_first_and_seeded():
    giant = "giant " * 5000
    docs = [giant] + [f"small document {i}" for i in range(9)]
    c = MemoryCorpus("c", docs)
    first = [d for d, _ in list(iter_chunks(c, seed=0, chunk_chars=200))[:10]]
    assert sorted(first) == list(range(10))                     # the giant file gives one chunk per round
    s = sample_chunks(c, seed=0, chunk_chars=200, max_chunks=12)
    assert s.doc_index.count(0) == 3 and s.documents == 10 and not s.exhausted
    assert sample_chunks(c, seed=0, chunk_chars=200, max_chunks=12).texts == s.texts       # deterministic
    assert sample_chunks(c, seed=1, chunk_chars=200, max_chunks=12).texts != s.texts


def test_sample_limits():
    c = MemoryCorpus("c", ["abc def " * 50, "ghi " * 10])
    s = sample_chunks(c, seed=0, chunk_chars=64, max_chars=100)
    assert s.characters == 100 and sum(map(len, s.texts)) == 100
    whole = sample_chunks(c, seed=0, chunk_chars=64, max_chunks=10_000)
    assert whole.exhausted and whole.characters == 400 + 40 and whole.documents == 2
    with pytest.raises(CorpusError, match="has only 2 text chunk"):
        sample_chunks(MemoryCorpus("tiny", ["a", "b"]), seed=0, chunk_chars=64, min_chunks=3)
    with pytest.raises(CorpusError, match="no documents"):
        sample_chunks(MemoryCorpus("empty", []), seed=0, chunk_chars=64)


def test_index_weights():
    w = index_weights(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    np.testing.assert_array_equal(w, [[2, 0, 1], [0, 1, 2]])
    assert index_weights(np.array([1, 1]), 3).tolist() == [0, 2, 0]


def test_jackknife_matches_the_coefficients_jackknife():
    from core.coefficients import alignment_from_distances

    rng = np.random.default_rng(0)
    sim = rng.uniform(0.2, 0.9, size=(6, 5))
    ref = alignment_from_distances(1.0 - sim)           # 1 - mean(1 - sim) = mean(sim), jackknife t interval

    def pair_mean(a, b):
        wa, wb = index_weights(a, 6), index_weights(b, 5)
        return np.sum((wa @ sim) * wb, axis=-1) / (wa.sum(-1) * wb.sum(-1))

    lo, hi, method = jackknife_ci(pair_mean, (6, 5))
    assert ref.value == pytest.approx(sim.mean())
    assert (lo, hi) == pytest.approx((ref.ci_low, ref.ci_high), rel=1e-9)
    assert "jackknife" in method


def test_bootstrap_ci_covers_a_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    for rep in range(60):
        xs = rng.normal(1.0, 1.0, size=(30, 1))
        xt = rng.normal(2.0, 1.0, size=(25, 1))
        def diff(a, b, xs=xs, xt=xt):
            wa, wb = index_weights(a, 30), index_weights(b, 25)
            return (wb @ xt[:, 0]) / wb.sum(-1) - (wa @ xs[:, 0]) / wa.sum(-1)

        lo, hi, method = bootstrap_ci(diff, (30, 25), seed=rep, n_resamples=400)
        hits += lo <= 1.0 <= hi
    assert "BCa" in method
    assert hits >= 51                       # >= 85% of 60 at nominal 95% (binomial slack)


def test_bootstrap_falls_back_to_the_jackknife_when_bca_is_undefined():
    x = np.random.default_rng(2).uniform(size=(20, 8))
    cos = sum_statistic(lambda p, q: np.sum(p * q, -1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1)),
                        x, x)
    lo, hi, method = bootstrap_ci(cos, (20, 20), n_resamples=200)
    assert "jackknife" in method and lo <= 1.0 <= hi
    assert bootstrap_ci(cos, (1, 20))[0] is None
