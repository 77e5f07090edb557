import numpy as np
import pytest

from core.distance import pairwise_distances, task2vec_distance


def test_symmetric_in_range_and_zero_on_identical():
    rng = np.random.default_rng(0)
    a, b = rng.random(500), rng.random(500)
    d = task2vec_distance(a, b)
    assert d == pytest.approx(task2vec_distance(b, a))
    assert 0.0 < d < 1.0
    assert task2vec_distance(a, a) == pytest.approx(0.0, abs=1e-12)


def test_invariant_to_common_rescaling_but_not_to_relative_change():
    rng = np.random.default_rng(1)
    a, b = rng.random(300), rng.random(300)
    assert task2vec_distance(3 * a, 3 * b) == pytest.approx(task2vec_distance(a, b))
    assert task2vec_distance(a, 2 * a) == pytest.approx(0.0, abs=1e-12)   # h0, h1 constant vectors
    c = a.copy(); c[:150] *= 10
    assert task2vec_distance(a, c) > 0.05


def test_disjoint_supports_are_maximally_distant():
    a = np.array([1.0, 1.0, 0.0, 0.0]); b = np.array([0.0, 0.0, 1.0, 1.0])
    assert task2vec_distance(a, b) == pytest.approx(1.0)


def test_eps_reproduces_reference_behaviour_on_tiny_entries():
    rng = np.random.default_rng(2)
    a, b = rng.random(100) * 1e-9, rng.random(100) * 1e-9
    # the reference's +1e-8 makes the distance depend on the FIM's scale; eps=0 does not
    assert abs(task2vec_distance(a, b, eps=1e-8) - task2vec_distance(a * 1e9, b * 1e9, eps=1e-8)) > 0.05
    assert task2vec_distance(a, b) == pytest.approx(task2vec_distance(a * 1e9, b * 1e9))


def test_pairwise_matches_scalar_and_rejects_bad_input():
    rng = np.random.default_rng(3)
    A, B = rng.random((3, 50)), rng.random((4, 50))
    D = pairwise_distances(A, B)
    assert D.shape == (3, 4)
    assert D[2, 1] == pytest.approx(task2vec_distance(A[2], B[1]))
    with pytest.raises(ValueError):
        pairwise_distances(A, rng.random((2, 49)))
    with pytest.raises(ValueError):
        pairwise_distances(-A, B)
