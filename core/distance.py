"""Distance between Task2Vec embeddings.

Task2Vec's symmetric, normalised cosine distance (Achille et al., arXiv 1902.03545, Sec. 3.1, "Symmetric
Task2Vec distance"; the ``cosine`` of ``task_similarity.py``):

    d(e0, e1) = d_cos( e0 / (e0 + e1), e1 / (e0 + e1) )                                     (1)

element-wise division, ``d_cos(a, b) = 1 - a.b / (|a| |b|)``. For non-negative embeddings d lies in
[0, 1]; it is symmetric, 0 for identical embeddings and invariant to rescaling both embeddings by the
same factor. The reference adds 1e-8 to the denominator; on LM FIMs that constant exceeds most entries
(issue 6 measured 64%), silently dropping them, so here coordinates where ``e0 + e1 == 0`` are left out
instead (``eps=1e-8`` reproduces the reference).
"""
from __future__ import annotations

import numpy as np


def task2vec_distance(e0: np.ndarray, e1: np.ndarray, *, eps: float = 0.0) -> float:
    """Symmetric normalised cosine distance, eq. (1).

    Args:
        e0, e1: non-negative float arrays [D] (Task2Vec embeddings of the same layout).
        eps: added to ``e0 + e1`` (0: coordinates where both are zero are skipped).

    Returns:
        float in [0, 1].

    Raises:
        ValueError: shapes differ, or an embedding has a negative or non-finite entry.
    """
    return float(pairwise_distances(np.asarray(e0)[None], np.asarray(e1)[None], eps=eps)[0, 0])


def pairwise_distances(a: np.ndarray, b: np.ndarray, *, eps: float = 0.0) -> np.ndarray:
    """All distances eq. (1) between the rows of ``a`` [n, D] and ``b`` [m, D]: float64 [n, m]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be [n, D] and [m, D] with the same D, got {a.shape} and {b.shape}")
    for x in (a, b):
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ValueError("Task2Vec embeddings must be finite and non-negative")
    out = np.empty((a.shape[0], b.shape[0]))
    for i in range(a.shape[0]):
        s = a[i][None, :] + b + eps                     # [m, D]
        with np.errstate(invalid="ignore", divide="ignore"):
            h0 = np.where(s > 0, a[i][None, :] / s, 0.0)
            h1 = np.where(s > 0, b / s, 0.0)
        num = (h0 * h1).sum(1)
        den = np.linalg.norm(h0, axis=1) * np.linalg.norm(h1, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(den > 0, num / den, 0.0)
        out[i] = np.clip(1.0 - cos, 0.0, 1.0)
    return out
