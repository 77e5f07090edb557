"""The embedding map (issue 14, item 6): UMAP of the Task2Vec distances when umap-learn is installed
and there are enough batches, else PCA (classical MDS), always saying which and why; the figure
colours by corpus, highlights the target and hovers the corpus and batch."""
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from core import charts, views
from core.coefficients import cross_alignment
from core.views import embedding_map


def _clustered(k: int = 4, per: int = 5, dim: int = 12, seed: int = 0):
    """Real cross-alignment of ``k`` corpora whose Task2Vec-like embeddings form separate clusters."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(k, dim))) * 3
    return cross_alignment({f"c{i}": np.abs(centres[i] + 0.05 * rng.normal(size=(per, dim))) for i in range(k)})


def _within_vs_between(e) -> tuple[float, float]:
    xy = np.column_stack([e["x"], e["y"]])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    same = np.equal.outer(e["corpus"], e["corpus"])
    off = ~np.eye(len(xy), dtype=bool)
    return float(d[same & off].mean()), float(d[~same].mean())


def test_pca_keeps_planar_distances_and_says_its_method():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(9, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    m = SimpleNamespace(names=["t", "a", "b"], offsets=[0, 3, 6, 9], distances=d)
    for method in ("pca", "mds"):                       # mds: the old name, same layout
        e = embedding_map(m, method=method)
        xy = np.column_stack([e["x"], e["y"]])
        assert np.allclose(np.linalg.norm(xy[:, None] - xy[None], axis=-1), d, atol=1e-8)
        assert e["corpus"] == ["t"] * 3 + ["a"] * 3 + ["b"] * 3 and e["batch"] == [0, 1, 2] * 3
        assert e["method"] == "pca" and e["note"] == "PCA (classical MDS) of the Task2Vec distances"
        assert e["explained"] == pytest.approx(1.0)
    fig = charts.embedding_map_figure(e, target="t")
    assert "PCA (classical MDS) of the Task2Vec distances (2 axes keep 100% of the variance)" in fig.layout.title.text
    xy, share = views._pca_layout(d, full_spectrum_max=5)      # large maps: top two eigenpairs only (Lanczos)
    assert np.allclose(np.linalg.norm(xy[:, None] - xy[None], axis=-1), d, atol=1e-6) and share is None
    with pytest.raises(ValueError, match="use auto, umap or pca"):
        embedding_map(m, method="tsne")


def test_auto_uses_umap_when_installed_and_says_so():
    m = _clustered()
    e = embedding_map(m)
    assert e["method"] == "umap" and e["explained"] is None
    assert e["note"] == "UMAP (umap-learn, 15 nearest batches, seed 0) of the Task2Vec distances"
    assert e["x"].shape == (20,) and np.isfinite(e["x"]).all() and np.isfinite(e["y"]).all()
    within, between = _within_vs_between(e)
    assert within < between / 3                               # the corpora stay apart
    again = embedding_map(m)
    assert np.array_equal(again["x"], e["x"]) and np.array_equal(again["y"], e["y"])   # seeded: reproducible
    fig = charts.embedding_map_figure(e, target="c0")
    assert fig.layout.title.text.startswith("Batch embeddings in 2-D · UMAP of the Task2Vec distances")


def test_falls_back_to_pca_when_umap_is_missing_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)          # `import umap` now raises ImportError
    m = _clustered()
    e = embedding_map(m)
    assert e["method"] == "pca" and e["note"].endswith(": umap-learn is not installed")
    within, between = _within_vs_between(e)
    assert within < between
    with pytest.raises(ValueError, match="umap-learn is not installed"):
        embedding_map(m, method="umap")


def test_auto_picks_pca_for_too_few_or_too_many_batches_or_a_failed_umap(monkeypatch):
    few = embedding_map(_clustered(k=3, per=3))
    assert few["method"] == "pca" and few["note"].endswith(": 9 batches are too few for UMAP's 15-batch neighbourhoods")
    many = embedding_map(_clustered(), umap_max_points=10)
    assert many["method"] == "pca" and "20 batches: UMAP would be too slow here (limit 10)" in many["note"]

    def boom(*a, **k):
        raise RuntimeError("numba could not compile")

    monkeypatch.setattr("core.embedding_map._import_umap", lambda: SimpleNamespace())
    monkeypatch.setattr("core.embedding_map._umap_layout", boom)
    failed = embedding_map(_clustered())
    assert failed["method"] == "pca" and failed["note"].endswith("UMAP failed (RuntimeError: numba could not compile)")
    with pytest.raises(RuntimeError):
        embedding_map(_clustered(), method="umap")           # asked for by name: the error is not hidden


def test_figure_hovers_corpus_and_batch_and_highlights_the_target():
    e = embedding_map(_clustered(k=3, per=3), method="pca")
    e["corpus"] = ["<t>"] * 3 + e["corpus"][3:]
    fig = charts.embedding_map_figure(e, target="<t>")
    target, other = fig.data[0], fig.data[1]
    assert target.name == "&lt;t&gt; (target)" and target.marker.symbol == "star" and target.marker.size > other.marker.size
    assert [list(c) for c in target.customdata] == [["&lt;t&gt;", 0], ["&lt;t&gt;", 1], ["&lt;t&gt;", 2]]
    assert "%{customdata[0]}" in other.hovertemplate and "batch %{customdata[1]}" in other.hovertemplate
    assert other.marker.symbol == "circle" and [t.name for t in fig.data] == ["&lt;t&gt; (target)", "c1", "c2"]
