import numpy as np
import pytest

from core.coefficients import (alignment_coefficient, alignment_from_distances, cross_alignment,
                               diversity_coefficient, diversity_from_distances, rank_sources)
from core.distance import pairwise_distances


def _domain(rng, center, n, noise=0.3):
    return np.abs(center[None, :] * np.exp(noise * rng.standard_normal((n, center.size))))


def test_identical_batches_give_alignment_one_and_diversity_zero():
    e = np.tile(np.random.default_rng(0).random(64), (4, 1))
    assert alignment_coefficient(e, e).value == pytest.approx(1.0)
    assert diversity_coefficient(e).value == pytest.approx(0.0, abs=1e-12)


def test_disjoint_domains_are_less_aligned_than_same_domain():
    rng = np.random.default_rng(1)
    ca, cb = rng.random(200), rng.random(200)
    a1, a2, b = _domain(rng, ca, 5), _domain(rng, ca, 5), _domain(rng, cb, 5)
    same, other = alignment_coefficient(a1, a2), alignment_coefficient(a1, b)
    assert same.value > other.ci_high and other.value < same.ci_low


def test_values_match_definitions():
    rng = np.random.default_rng(2)
    a, b = rng.random((4, 30)), rng.random((3, 30))
    D = pairwise_distances(a, b)
    assert alignment_coefficient(a, b).value == pytest.approx(1 - D.mean())
    W = pairwise_distances(a, a)
    assert diversity_coefficient(a).value == pytest.approx(W[np.triu_indices(4, 1)].mean())
    c = alignment_coefficient(a, b)
    assert c.num_batches == (4, 3) and c.num_pairs == 12 and c.ci_low < c.value < c.ci_high


def test_too_few_batches_give_nan_ci_not_a_fake_interval():
    c = diversity_from_distances(np.array([[0, 0.3], [0.3, 0]]))
    assert c.value == pytest.approx(0.3) and np.isnan(c.ci_low)
    c = alignment_from_distances(np.array([[0.2, 0.4]]))
    assert c.value == pytest.approx(0.7) and np.isnan(c.ci_high)


@pytest.mark.parametrize("n", [5, 8])
def test_confidence_intervals_cover_the_true_value(n):
    """Coverage by simulation: batches drawn from two fixed distributions; the true coefficients are
    the expectations over batch pairs, computed with many batches. 95% intervals must cover >= 90%."""
    rng = np.random.default_rng(3)
    ca, cb = rng.random(40), rng.random(40)
    big_a, big_b = _domain(rng, ca, 400, 0.6), _domain(rng, 0.5 * ca + 0.5 * cb, 400, 0.6)
    true_align = 1 - pairwise_distances(big_a, big_b).mean()
    Wa = pairwise_distances(big_a, big_a)
    true_div = Wa[np.triu_indices(400, 1)].mean()
    hits_a = hits_d = 0
    reps = 300
    for _ in range(reps):
        a, b = _domain(rng, ca, n, 0.6), _domain(rng, 0.5 * ca + 0.5 * cb, n, 0.6)
        c = alignment_coefficient(a, b)
        hits_a += c.ci_low <= true_align <= c.ci_high
        d = diversity_coefficient(a)
        hits_d += d.ci_low <= true_div <= d.ci_high
    assert hits_a / reps >= 0.90, hits_a / reps
    assert hits_d / reps >= 0.90, hits_d / reps


def test_cross_alignment_reuses_one_matrix_and_ranks():
    rng = np.random.default_rng(4)
    ct, cx = rng.random(100), rng.random(100)
    emb = {"target": _domain(rng, ct, 4), "near": _domain(rng, ct, 4), "far": _domain(rng, cx, 4),
           "mid": np.concatenate([_domain(rng, ct, 2), _domain(rng, cx, 2)])}
    m = cross_alignment(emb)
    assert m.alignment[("near", "target")].value == pytest.approx(alignment_coefficient(emb["near"], emb["target"]).value)
    assert m.alignment[("near", "target")].value == pytest.approx(m.alignment[("target", "near")].value)
    assert m.diversity["far"].value == pytest.approx(diversity_coefficient(emb["far"]).value)
    ranking = rank_sources(m, "target")
    assert [r["source"] for r in ranking] == ["near", "mid", "far"]
    assert m.values().shape == (4, 4)
    with pytest.raises(ValueError):
        rank_sources(m, "nope")
