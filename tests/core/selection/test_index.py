import shutil

import numpy as np
import pytest

from core.selection.index import _path, build_faiss, index_key, load_or_build, log_features, search


def _synthetic(n=300, d=512, seed=0):
    """Non-negative FIM-like vectors: a shared profile times per-window log-normal factors."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(0, 2, d)
    return (base * rng.lognormal(0, 0.7, (n, d))).astype(np.float32), (base * rng.lognormal(0, 0.7, (3, d))).astype(np.float32)


def _key(**kw):
    return {"pool_fingerprint": "p", "embedding_keys": [str(i) for i in range(300)], **kw}


def test_flat_index_agrees_with_brute_force():
    e, t = _synthetic()
    w = load_or_build(e, dims=32, **_key())
    x = w.reduce(e)
    q = w.reduce(t.astype(np.float64).mean(0, keepdims=True))
    brute = np.argsort(((x - q) ** 2).sum(1), kind="stable")[:50]
    got = w.query(t, 50)
    assert len(set(got.tolist()) & set(brute.tolist())) >= 49        # ties may swap one
    assert w.bytes_per_window == 4 * 33 <= 2048


def test_search_with_full_depth_is_the_exact_ranking():
    from core.selection.score import window_scores

    e, t = _synthetic()
    w = load_or_build(e, dims=32, **_key())
    rows, scores = search(w, e, t, depth=len(e))
    exact = window_scores(e, t)
    assert np.array_equal(np.sort(rows), np.arange(len(e)))
    np.testing.assert_allclose(scores, np.sort(exact)[::-1])
    allowed = np.zeros(len(e), dtype=bool)
    allowed[::3] = True
    rows, _ = search(w, e, t, depth=40, allowed=allowed)
    assert len(rows) == 40 and allowed[rows].all()


def test_reduced_distance_tracks_the_task2vec_score():
    """The reduced representation orders windows like the exact score (Spearman > 0.5 on synthetic
    FIM-like vectors), so a deep enough retrieval re-ranked exactly recovers the exact top 10."""
    from scipy.stats import spearmanr

    from core.selection.score import window_scores

    e, t = _synthetic()
    w = load_or_build(e, dims=64, **_key())
    x, q = w.reduce(e), w.reduce(t.astype(np.float64).mean(0, keepdims=True))
    exact = window_scores(e, t)
    assert spearmanr(-((x - q) ** 2).sum(1), exact).statistic > 0.5
    top = set(np.argsort(-exact)[:10].tolist())
    rows, _ = search(w, e, t, depth=150)
    assert len(top & set(rows[:10].tolist())) >= 9


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_the_flat_neighbours(kind):
    e, t = _synthetic(n=400)
    w = load_or_build(e, dims=32, kind=kind, **_key(embedding_keys=[str(i) for i in range(400)]))
    x = w.reduce(e)
    flat = build_faiss(x, "flat")
    q = np.hstack([w.reduce(t.astype(np.float64).mean(0, keepdims=True)), np.ones((1, 1), np.float32)])
    _, ids = flat.search(q, 20)
    assert w.kind == kind
    assert len(set(ids[0].tolist()) & set(w.query(t, 20).tolist())) >= 18


def test_loaded_when_valid_rebuilt_when_other_settings_or_corrupted():
    e, t = _synthetic()
    first = load_or_build(e, dims=16, **_key())
    assert first.rebuilt == "new"
    again = load_or_build(e, dims=16, **_key())
    assert again.rebuilt == "" and np.array_equal(again.query(t, 10), first.query(t, 10))
    # a file at this key's place that was built with other settings (dims 8): detected, rebuilt
    other = load_or_build(e, dims=8, **_key())
    path = _path(first.key)
    shutil.copy(_path(other.key), path)
    shutil.copy(_path(other.key).with_suffix(".sha256"), path.with_suffix(".sha256"))
    fixed = load_or_build(e, dims=16, **_key())
    assert fixed.rebuilt == "other settings" and fixed.components.shape[0] == 16
    # flipped bytes: the checksum does not verify, rebuilt
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    assert load_or_build(e, dims=16, **_key()).rebuilt == "corrupted"
    # truncated file with a matching checksum (written by a crashed tool): the archive does not load
    import hashlib

    path.write_bytes(b"PK\x03\x04 truncated")
    path.with_suffix(".sha256").write_text(hashlib.sha256(b"PK\x03\x04 truncated").hexdigest())
    assert load_or_build(e, dims=16, **_key()).rebuilt == "corrupted"
    assert load_or_build(e, dims=16, **_key()).rebuilt == ""


def test_key_and_bad_dims():
    from core.errors import AlignScopeError

    assert index_key(pool_fingerprint="a", embedding_keys=["x"], dims=8, seed=0, kind="flat") != \
        index_key(pool_fingerprint="a", embedding_keys=["x"], dims=9, seed=0, kind="flat")
    e, _ = _synthetic(n=10)
    with pytest.raises(AlignScopeError, match="2 KB"):
        load_or_build(e, dims=600, **_key())
    assert np.allclose(log_features(e).mean(1), 0, atol=1e-4)
