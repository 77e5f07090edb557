"""The embedding map: every batch embedding of an alignment matrix as a point in 2-D.

One idea: lay out the Task2Vec distances between batches (``AlignmentMatrix.distances``) in two
dimensions, with UMAP when umap-learn is installed and the batch count suits it, else PCA
(classical MDS), and say which method drew the map and why. A computation, no drawing
(:func:`core.charts.embedding_map_figure` draws it) and no streamlit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from core.coefficients import AlignmentMatrix

#: Fewest batches the embedding map lays out with UMAP (its default 15-batch neighbourhood + the batch).
UMAP_MIN_POINTS = 16
#: Most batches the embedding map lays out with UMAP; above, PCA (bench/embedding_map.json, 2 shared CPU
#: cores: UMAP 1.3 s at 1000 batches, 2.8-6 s at 2000, 5-8 s at 3000-4000; PCA at most 1 s).
UMAP_MAX_POINTS = 1500


def embedding_map(matrix: AlignmentMatrix, *, method: str = "auto", n_neighbors: int = 15,
                  umap_min_points: int = UMAP_MIN_POINTS, umap_max_points: int = UMAP_MAX_POINTS, seed: int = 0) -> dict:
    """2-D coordinates of every batch embedding of ``matrix``, from the same Task2Vec distances the
    coefficients use (``matrix.distances``, float [N, N], N = batches of all corpora).

    Methods:
        ``umap``: UMAP (McInnes, Healy & Melville 2018, arXiv:1802.03426) from umap-learn on the
        precomputed distances. The ``n_neighbors`` nearest batches of each batch are found here
        (an exact sort of the distance rows, the same neighbours umap-learn's exact small-data path
        finds) and passed as ``precomputed_knn``: the layout is identical and the first call of a
        process skips about 11 s of numba compilation (bench/embedding_map.py). Seeded
        (``random_state=seed``), so a map is reproducible (umap-learn then runs single-threaded).
        ``pca``: classical (Torgerson) multidimensional scaling, i.e. PCA of the double-centred
        squared distance matrix ``B = -1/2 J D² J`` (Torgerson 1952; Gower 1966): coordinates
        ``V_k sqrt(λ_k)`` of its two largest eigenpairs, which keep the distances as well as any
        linear 2-D map can. ``mds`` is an alias.
        ``auto``: UMAP when umap-learn imports and ``umap_min_points <= N <= umap_max_points``,
        else PCA, with the reason in ``note``. Below ``umap_min_points`` batches (16: UMAP's
        15-batch neighbourhood and the batch) every batch neighbours nearly every other, so UMAP has no local structure to keep and PCA shows the
        distances more faithfully; above ``umap_max_points`` UMAP takes several seconds on 2 CPU
        cores while PCA stays under one (bench/embedding_map.json). A UMAP failure in ``auto``
        falls back to PCA and says so.

    Returns:
        ``{"x": float64 [N], "y": float64 [N], "corpus": [N names], "batch": [N ints, the batch's
        index within its corpus], "method": "umap" | "pca", "note": which method and why,
        "explained": share of the positive eigenvalues of ``B`` the two PCA axes keep (None for
        umap, and above 1000 batches, where only the top two eigenpairs are computed),
        "seconds": wall time of the layout (s)}``.

    Raises:
        ValueError: an unknown method; ``umap`` asked for but umap-learn not installed, or fewer
            than 4 batches. With ``method="umap"`` an error inside umap-learn or numba is raised as is.
    """
    import time

    import numpy as np

    if method not in ("auto", "umap", "pca", "mds"):
        raise ValueError(f"unknown embedding map method {method!r}: use auto, umap or pca")
    t0 = time.perf_counter()
    d = np.asarray(matrix.distances, dtype=np.float64)
    d = np.clip((d + d.T) / 2, 0, None)
    np.fill_diagonal(d, 0.0)
    n = len(d)
    sizes = [matrix.offsets[i + 1] - matrix.offsets[i] for i in range(len(matrix.names))]
    corpus = [name for name, k in zip(matrix.names, sizes) for _ in range(k)]
    batch = [b for k in sizes for b in range(k)]
    out = {"corpus": corpus, "batch": batch}
    reason = ""
    if method in ("auto", "umap"):
        umap = _import_umap()
        if umap is None:
            if method == "umap":
                raise ValueError("umap-learn is not installed: pip install -r requirements.txt, or use method='pca'")
            reason = "umap-learn is not installed"
        elif method == "umap" and n < 4:
            raise ValueError(f"UMAP needs at least 4 batches, the matrix has {n}: use method='pca'")
        elif method == "auto" and n < max(4, umap_min_points):
            reason = f"{n} batches are too few for UMAP's {n_neighbors}-batch neighbourhoods"
        elif method == "auto" and n > umap_max_points:
            reason = f"{n} batches: UMAP would be too slow here (limit {umap_max_points})"
        else:
            try:
                xy, k = _umap_layout(umap, d, n_neighbors=n_neighbors, seed=seed)
            except Exception as exc:   # numba/llvm failures are not ValueErrors; auto falls back and says why
                if method == "umap":
                    raise
                reason = f"UMAP failed ({type(exc).__name__}: {exc})"
            else:
                return {**out, "x": xy[:, 0], "y": xy[:, 1], "method": "umap", "explained": None,
                        "note": f"UMAP (umap-learn, {k} nearest batches, seed {seed}) of the Task2Vec distances",
                        "seconds": time.perf_counter() - t0}
    xy, explained = _pca_layout(d)
    return {**out, "x": xy[:, 0], "y": xy[:, 1], "method": "pca",
            "note": "PCA (classical MDS) of the Task2Vec distances" + (f": {reason}" if reason else ""),
            "explained": explained, "seconds": time.perf_counter() - t0}


def _pca_layout(d: np.ndarray, *, full_spectrum_max: int = 1000) -> tuple[np.ndarray, float | None]:
    """Classical MDS of the symmetric distance matrix ``d`` (float64 [N, N]): the two largest
    eigenpairs of ``B = -1/2 J D² J`` (double centring done with row/column means, O(N²)). Up to
    ``full_spectrum_max`` batches the whole spectrum is computed and the share of the positive
    eigenvalues the two axes keep is returned; above, only the top two (Lanczos,
    ``scipy.sparse.linalg.eigsh``: 0.16 s instead of 4.5 s at 3000 batches) and the share is None.
    Returns ``(float64 [N, 2], share or None)``."""
    import numpy as np

    n = len(d)
    d2 = d ** 2
    b = -0.5 * (d2 - d2.mean(axis=0, keepdims=True) - d2.mean(axis=1, keepdims=True) + d2.mean())
    b = (b + b.T) / 2
    if n <= full_spectrum_max:
        vals, vecs = np.linalg.eigh(b)
        total = float(np.clip(vals, 0, None).sum())
    else:
        from scipy.sparse.linalg import eigsh

        vals, vecs = eigsh(b, k=2, which="LA")
        total = None
    order = np.argsort(vals)[::-1][:2]
    pos = np.clip(vals[order], 0, None)
    xy = vecs[:, order] * np.sqrt(pos)
    if xy.shape[1] < 2:
        xy = np.column_stack([xy, np.zeros(n)])
    return xy, (float(pos.sum() / total) if total else None)


def _import_umap():
    """umap-learn's module, or None when it (or numba under it) does not import."""
    try:
        import umap
    except ImportError:
        return None
    return umap


def _umap_layout(umap, d: np.ndarray, *, n_neighbors: int, seed: int) -> tuple[np.ndarray, int]:
    """UMAP of the symmetric distance matrix ``d`` (float64 [N, N], zero diagonal) with its exact
    ``k``-nearest-neighbour graph passed in; returns ``(float64 [N, 2], k)``."""
    import warnings

    import numpy as np

    n = len(d)
    k = max(2, min(n_neighbors, n - 1))
    ranked = d.copy()
    np.fill_diagonal(ranked, -1.0)                       # each batch is its own first neighbour (umap's convention)
    idx = np.argsort(ranked, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, idx, axis=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"umap\.")   # precomputed metric / n_jobs notes
        xy = umap.UMAP(n_components=2, metric="precomputed", n_neighbors=k, random_state=seed,
                       precomputed_knn=(idx, dist)).fit_transform(d)
    return np.asarray(xy, dtype=np.float64), k
