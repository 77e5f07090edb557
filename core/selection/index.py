"""A faiss index over reduced per-window Task2Vec embeddings: candidate retrieval before exact re-ranking.

Reduced representation (``dims`` float32 + 1, 1,028 bytes per window at the default 256 dims):

1. ``u = log(e / sum(e) + FLOOR)`` minus its mean over coordinates. The Task2Vec distance of a
   window ``e`` to a target ``t`` is 0 when ``e`` is proportional to ``t`` and grows with how
   unequal the ratios ``e_i / t_i`` are (``h0 = e/(e+t)`` is constant exactly when ``e_i/t_i`` is);
   the spread of ``log e_i - log t_i`` around its mean is ``|u(e) - u(t)|`` after centring, so
   Euclidean nearness of ``u`` tracks the Task2Vec score. The window's scale drops out, as it does
   from the Task2Vec score of a window against a fixed target.
2. PCA of ``u`` to ``dims`` components fitted on the pool (``sklearn.decomposition.PCA``,
   randomized SVD, seeded). PCA rather than a Gaussian random projection: on the real pool it keeps
   more of the variance that separates windows at the same size (measured in ``bench/index.py``:
   recall of both against the exact ranking).
3. L2 search expressed as inner product, so the index is ``IndexFlatIP``: a window ``x`` is stored as
   ``[x, -|x|^2 / 2]`` and a query ``q`` as ``[q, 1]``; their product ``x.q - |x|^2/2 = (|q|^2 -
   |x - q|^2) / 2`` orders windows exactly as ``|x - q|`` does (the standard L2-to-MIPS reduction).

Index type: ``IndexFlatIP`` (exact over the reduced vectors) up to ``HNSW_ABOVE`` (1e5) windows, then
``IndexIVFFlat`` (L2 on the reduced vectors, nlist = sqrt(N) k-means cells trained on a sample of
40 nlist vectors, nprobe = max(8, nlist / 16)); ``IndexHNSWFlat`` (M = 32, efConstruction 80, efSearch 256,
L2) is the other option (``kind="hnsw"``). Both search the reduced vectors by L2, the same order as
step 3 (graph and cell search need a metric). Build and query costs and recall: ``bench/index.py``. Retrieval returns ``depth`` candidates;
:func:`search` re-ranks them by the exact Task2Vec score (S1 of :mod:`core.selection.score`).

Persistence: one ``.npz`` file per index under ``cache/selection/index/`` holding the serialised
faiss index, the PCA mean and components and the index's key (:func:`index_key`: pool fingerprint,
per-window embedding keys digest, dims, seed, kind), plus a sidecar ``.sha256``. An index whose key
differs from the query's (built with other settings) or whose checksum or archive does not verify
(corrupted) is rebuilt, never used; writes go through :func:`core.paths.atomic_write` under a file lock.
"""
from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING
from dataclasses import dataclass, field

import numpy as np

from core.errors import AlignScopeError, opt

if TYPE_CHECKING:
    import faiss

FLOOR = 1e-12
DEFAULT_DIMS = 256
HNSW_ABOVE = 100_000
INDEX_VERSION = 1


@dataclass
class WindowIndex:
    """A built (or loaded) index.

    Attributes:
        index: the faiss index (``flat``: rows ``[x, -|x|^2/2]``; ``ivf``, ``hnsw``: rows ``x``).  mean, components: the PCA (float32
        [F], [dims, F]).  key: :func:`index_key`.  kind: ``flat`` | ``ivf`` | ``hnsw``.  rebuilt: why it was
        built now (``""`` when loaded from the cache: ``"new"``, ``"other settings"``, ``"corrupted"``).
    """

    index: object
    mean: np.ndarray
    components: np.ndarray
    key: str
    kind: str
    rebuilt: str = ""
    build_seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def bytes_per_window(self) -> int:
        """Bytes of one stored vector (dims + 1 float32)."""
        return 4 * (self.components.shape[0] + 1)

    def reduce(self, embeddings: np.ndarray) -> np.ndarray:
        """Reduced vectors float32 [N, dims] of embeddings [N, D] (steps 1-2 of the module docstring)."""
        return ((log_features(embeddings) - self.mean) @ self.components.T).astype(np.float32)

    def query(self, targets: np.ndarray, depth: int) -> np.ndarray:
        """Row ids (int64 [<= depth]) of the windows nearest to the mean of the target embeddings [m, D]."""
        q = self.reduce(np.asarray(targets, dtype=np.float64).mean(0, keepdims=True))
        if self.kind == "flat":
            q = np.hstack([q, np.ones((1, 1), dtype=np.float32)])
        _, ids = self.index.search(np.ascontiguousarray(q), int(min(depth, self.index.ntotal)))
        return ids[0][ids[0] >= 0].astype(np.int64)


def log_features(embeddings: np.ndarray) -> np.ndarray:
    """Centred log of the normalised embedding (step 1): float32 [N, D]."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(e.sum(1, keepdims=True), 1e-300)
    u = np.log(e + FLOOR)
    return (u - u.mean(1, keepdims=True)).astype(np.float32)


def index_key(*, pool_fingerprint: str, embedding_keys: list[str], dims: int, seed: int, kind: str) -> str:
    """The identity of an index (:func:`core.fingerprint.fingerprint` of its inputs and settings)."""
    from core.fingerprint import fingerprint

    digest = hashlib.sha256("\n".join(embedding_keys).encode()).hexdigest()
    return fingerprint({"v": INDEX_VERSION, "pool": pool_fingerprint, "embeddings": digest, "dims": dims,
                        "seed": seed, "kind": kind})


def index_kind(n: int) -> str:
    """``flat`` up to :data:`HNSW_ABOVE` windows, ``ivf`` above (cheaper to build than ``hnsw`` on a
    small CPU machine; both are measured in ``bench/index.py``)."""
    return "flat" if n <= HNSW_ABOVE else "ivf"


def fit_reduction(embeddings: np.ndarray, *, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of :func:`log_features` (randomized SVD): ``(mean float32 [D], components float32 [k, D])``
    with ``k = min(dims, N - 1, D)``."""
    from sklearn.decomposition import PCA

    u = log_features(embeddings)
    k = int(max(1, min(dims, u.shape[0] - 1, u.shape[1])))
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(u)
    return pca.mean_.astype(np.float32), pca.components_.astype(np.float32)


def build_faiss(vectors: np.ndarray, kind: str) -> faiss.Index:
    """The faiss index of reduced vectors float32 [N, k]: ``flat`` is ``IndexFlatIP`` over ``[x,
    -|x|^2/2]`` (step 3); ``ivf`` (``IndexIVFFlat``) and ``hnsw`` (``IndexHNSWFlat``, M = 32) use the
    L2 metric on ``x`` itself (cell and graph search need a metric; the inner product of the
    augmented vectors is not one). Parameters in the module docstring."""
    import faiss

    if kind == "flat":
        x = np.ascontiguousarray(np.hstack([vectors, -0.5 * (vectors ** 2).sum(1, keepdims=True)]), dtype=np.float32)
        index = faiss.IndexFlatIP(x.shape[1])
    elif kind == "ivf":           # inverted lists over k-means cells (L2), nlist ~ sqrt(N), nprobe ~ nlist / 16
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        nlist = int(max(1, min(len(x) // 39, np.sqrt(len(x)))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(x.shape[1]), x.shape[1], nlist)
        sample = x[np.random.default_rng(0).choice(len(x), min(len(x), 40 * nlist), replace=False)]
        index.train(sample)
        index.nprobe = min(nlist, max(8, nlist // 16))
    elif kind == "hnsw":          # HNSW navigates a metric space: plain L2 on the reduced vectors
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexHNSWFlat(x.shape[1], 32)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 256
    else:
        raise AlignScopeError(f"Unknown index kind {kind!r}.", fix="use flat, ivf or hnsw.")
    index.add(x)
    return index


def _path(key: str):
    from core.paths import cache_dir

    return cache_dir("selection", "index") / f"{key[:32]}.npz"


def _load(key: str) -> tuple[WindowIndex | None, str]:
    """``(index, "")`` when a valid file holds ``key``; else ``(None, reason)``."""
    import faiss

    path = _path(key)
    side = path.with_suffix(".sha256")
    if not path.exists():
        return None, "new"
    blob = path.read_bytes()
    if not side.exists() or side.read_text().strip() != hashlib.sha256(blob).hexdigest():
        return None, "corrupted"
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None, "other settings"
            index = faiss.deserialize_index(np.ascontiguousarray(z["index"]))
            return WindowIndex(index, z["mean"], z["components"], key, str(z["kind"])), ""
    except Exception:   # an unreadable archive or index: rebuild it
        return None, "corrupted"


def _save(w: WindowIndex) -> None:
    import faiss

    from core.paths import atomic_write

    buf = io.BytesIO()
    np.savez(buf, index=faiss.serialize_index(w.index), mean=w.mean, components=w.components,
             key=np.array(w.key), kind=np.array(w.kind))
    blob = buf.getvalue()
    path = _path(w.key)
    atomic_write(path, blob)
    atomic_write(path.with_suffix(".sha256"), hashlib.sha256(blob).hexdigest())


def load_or_build(embeddings: np.ndarray, *, pool_fingerprint: str, embedding_keys: list[str],
                  dims: int = DEFAULT_DIMS, seed: int = 0, kind: str | None = None) -> WindowIndex:
    """The index of a pool's per-window embeddings: loaded when a valid one with the same key exists,
    else built and saved (``rebuilt`` says why: ``new``, ``other settings``, ``corrupted``).

    Args:
        embeddings: float32 [N, D] per-window Task2Vec embeddings.
        pool_fingerprint, embedding_keys: identity of the pool and of its embeddings (enter the key).
        dims: PCA components (at most 511 keeps a window under 2 KB).  seed: PCA's randomized SVD seed.
        kind: ``flat`` | ``ivf`` | ``hnsw`` (default by size, :func:`index_kind`).

    Raises:
        AlignScopeError: ``dims`` outside [1, 511], fewer than 2 windows, or unknown kind.
    """
    import time

    from core.paths import file_lock

    if not isinstance(dims, int) or not 1 <= dims <= 511:
        raise AlignScopeError(f"Index dimensions {dims!r} out of range.", fix="use 1 to 511 (511 + 1 float32 = 2 KB).")
    if embeddings.shape[0] < 2:
        raise AlignScopeError("An index needs at least 2 windows.", fix=f"use a larger pool ({opt('max_windows')}).")
    kind = kind or index_kind(embeddings.shape[0])
    key = index_key(pool_fingerprint=pool_fingerprint, embedding_keys=embedding_keys, dims=dims, seed=seed, kind=kind)
    path = _path(key)
    with file_lock(path.with_suffix(".lock")):
        found, reason = _load(key)
        if found is not None:
            return found
        t = time.perf_counter()
        mean, comps = fit_reduction(embeddings, dims=dims, seed=seed)
        w = WindowIndex(None, mean, comps, key, kind, rebuilt=reason)
        w.index = build_faiss(w.reduce(embeddings), kind)
        w.build_seconds = time.perf_counter() - t
        _save(w)
        return w


def search(w: WindowIndex, embeddings: np.ndarray, targets: np.ndarray, *, depth: int,
           allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from the index re-ranked by the exact Task2Vec score (S1).

    Args:
        w: the index.  embeddings: float32 [N, D] (the indexed rows).  targets: float32 [m, D].
        depth: candidates retrieved (widened until ``depth`` of them are in ``allowed``).
        allowed: bool [N] mask of rows that may be returned (default all).

    Returns:
        ``(rows int64 [k], scores float64 [k])`` sorted by decreasing exact score.
    """
    from core.selection.score import window_scores

    n = embeddings.shape[0]
    allowed = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    want = int(min(depth, allowed.sum()))
    fetch = want
    while True:
        ids = w.query(targets, fetch)
        ids = ids[allowed[ids]]
        if ids.size >= want or fetch >= n:
            break
        fetch = min(n, fetch * 2)
    ids = ids[:want]
    scores = window_scores(embeddings[ids], targets)
    order = np.argsort(-scores, kind="stable")
    return ids[order], scores[order]
