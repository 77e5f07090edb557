"""Paired delete-one-batch jackknife of alignment differences and the ranking's tie groups."""
import numpy as np
import pytest

from core.coefficients import cross_alignment, paired_alignment_difference, rank_sources, tie_groups


def _matrix(rng, shifts, n=6, d=24):
    base = np.abs(rng.normal(size=d)) + 0.5
    return cross_alignment({name: np.abs(base + s * rng.normal(size=d) + rng.normal(scale=0.3, size=(n, d)))
                            for name, s in shifts.items()})


def test_equal_sources_are_rarely_separated():
    """Two sources from the same distribution: the two-sided 5% test rejects at about its level."""
    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(200):
        rng_sim = np.random.default_rng(rng.integers(1 << 31))
        base = np.abs(rng_sim.normal(size=24)) + 0.5
        emb = {n: np.abs(base + rng_sim.normal(scale=0.3, size=(6, 24))) for n in ("t", "a", "b")}
        m = cross_alignment(emb)
        rejections += paired_alignment_difference(m, "a", "b", "t")["significant"]
    assert rejections / 200 <= 0.12


def test_jackknife_se_matches_the_spread_of_the_difference():
    rng = np.random.default_rng(1)
    deltas, ses = [], []
    base = np.abs(rng.normal(size=24)) + 0.5
    shift = 0.4 * rng.normal(size=24)
    for _ in range(150):
        emb = {"t": np.abs(base + rng.normal(scale=0.3, size=(8, 24))),
               "a": np.abs(base + rng.normal(scale=0.3, size=(8, 24))),
               "b": np.abs(base + shift + rng.normal(scale=0.3, size=(8, 24)))}
        r = paired_alignment_difference(cross_alignment(emb), "a", "b", "t")
        deltas.append(r["delta"])
        ses.append(r["se"])
    ratio = np.mean(ses) / np.std(deltas)
    assert 0.7 < ratio < 1.6, ratio                      # the jackknife is conservative, never far too small


def test_clear_differences_split_groups_and_ties_share_one():
    rng = np.random.default_rng(2)
    m = _matrix(rng, {"t": 0.0, "near1": 0.0, "near2": 0.0, "far": 3.0})
    ranking = rank_sources(m, "t")
    groups = tie_groups(m, "t", ranking)
    by = dict(zip([r["source"] for r in ranking], groups))
    assert by["near1"] == by["near2"] and by["far"] != by["near1"]
    assert groups == sorted(groups) and groups[0] == 1


def test_difference_sign_and_errors():
    rng = np.random.default_rng(3)
    m = _matrix(rng, {"t": 0.0, "a": 0.0, "b": 3.0})
    r = paired_alignment_difference(m, "a", "b", "t")
    assert r["delta"] == pytest.approx(m.alignment[("a", "t")].value - m.alignment[("b", "t")].value)
    assert r["ci_low"] <= r["delta"] <= r["ci_high"] and r["df"] == 5
    with pytest.raises(ValueError):
        paired_alignment_difference(m, "a", "a", "t")
    with pytest.raises(ValueError):
        paired_alignment_difference(m, "a", "ghost", "t")


def test_ranking_rows_carry_rank_ranges():
    from core.views import ranking_rows

    ranking = [{"rank": k, "source": s, "alignment": a} for k, (s, a) in enumerate([("x", .9), ("y", .89), ("z", .5)], 1)]
    rows = ranking_rows(ranking, groups=[1, 1, 2])
    assert [r["ranks"] for r in rows] == ["1–2", "1–2", "3"] and [r["group"] for r in rows] == [1, 1, 2]
    assert [r["ranks"] for r in ranking_rows(ranking)] == ["1", "2", "3"]
