"""Task2Vec scores of windows and alignment of selections, from per-window embeddings (no forward pass).

Window score (the alignment coefficient of Chawla et al., "Quantifying the Importance of Data
Alignment in Downstream Model Performance", eq. 1, with one window on the source side):

    score(w) = 1 - (1/m) sum_b d(e_w, t_b)                                                      (S1)

with ``d`` the symmetric normalised Task2Vec distance (:mod:`core.distance`, Achille et al. arXiv
1902.03545 Sec. 3.1) and ``t_1..t_m`` the target benchmark's batch embeddings.

Selection embedding: for the closed-form head estimator a set of windows R has the exact embedding

    e(R) = sum_{w in R} n_w e_w / sum_{w in R} n_w                                              (S2)

(n_w real tokens; ``docs/mixture_prediction.md`` M1). Its alignment ``1 - mean_b d(e(R), t_b)`` is
what set-level greedy maximises (:func:`set_alignment`). The alignment reported with a CI
(:func:`selection_alignment`) cuts the selection into batches of ``batch_size`` windows (a seeded
permutation), embeds each batch by (S2), and applies eq. 1 with the jackknife CI of
:func:`core.coefficients.alignment_coefficient`, the statistic the fine-tune runner records for a
source.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from core.coefficients import Coefficient, alignment_coefficient


def distances_to(embeddings: np.ndarray, targets: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """Task2Vec distances (:func:`core.distance.pairwise_distances`, eps = 0) of every row of
    ``embeddings`` [N, D] to every row of ``targets`` [m, D], computed in float32 chunks of ``chunk``
    rows to bound memory (about ``4 * chunk * D`` bytes per temporary).

    Returns:
        float64 [N, m] in [0, 1].

    Raises:
        ValueError: shapes differ.
    """
    e = np.asarray(embeddings, dtype=np.float32)
    t = np.asarray(targets, dtype=np.float32)
    if e.ndim != 2 or t.ndim != 2 or e.shape[1] != t.shape[1]:
        raise ValueError(f"embeddings must be [N, D] and [m, D] with the same D, got {e.shape} and {t.shape}")
    out = np.empty((e.shape[0], t.shape[0]))
    for j in range(t.shape[0]):
        tj = t[j][None, :]
        for s in range(0, e.shape[0], chunk):
            a = e[s:s + chunk]
            tot = a + tj
            with np.errstate(invalid="ignore", divide="ignore"):
                inv = np.where(tot > 0, 1.0 / tot, 0.0).astype(np.float32)
            h0 = a * inv
            h1 = tj * inv
            num = np.einsum("ij,ij->i", h0, h1, dtype=np.float64)
            den = np.sqrt(np.einsum("ij,ij->i", h0, h0, dtype=np.float64) * np.einsum("ij,ij->i", h1, h1, dtype=np.float64))
            with np.errstate(invalid="ignore", divide="ignore"):
                cos = np.where(den > 0, num / den, 0.0)
            out[s:s + chunk, j] = np.clip(1.0 - cos, 0.0, 1.0)
    return out


def window_scores(embeddings: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(S1) for every window: float64 [N] in [0, 1], higher = more aligned with the target."""
    return 1.0 - distances_to(embeddings, targets).mean(1)


def set_embedding(embeddings: np.ndarray, tokens: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """(S2): token-weighted mean of the rows' embeddings, float64 [D].

    Raises:
        ValueError: no row, or the rows hold no token.
    """
    rows = np.asarray(list(rows), dtype=np.int64)
    w = np.asarray(tokens, dtype=np.float64)[rows]
    if rows.size == 0 or w.sum() <= 0:
        raise ValueError("a selection needs at least one window with tokens")
    return (embeddings[rows].astype(np.float64) * w[:, None]).sum(0) / w.sum()


def set_alignment(embeddings: np.ndarray, tokens: np.ndarray, rows: Sequence[int], targets: np.ndarray) -> float:
    """Alignment of the selection's embedding (S2) with the target: ``1 - mean_b d(e(R), t_b)``."""
    return float(1.0 - distances_to(set_embedding(embeddings, tokens, rows)[None], targets).mean())


def selection_alignment(embeddings: np.ndarray, tokens: np.ndarray, rows: Sequence[int], targets: np.ndarray, *,
                        batch_size: int = 16, seed: int = 0) -> Coefficient:
    """Alignment coefficient with its 95% jackknife CI of the selection's batches (module docstring).

    Args:
        embeddings: float32 [N, D] per-window embeddings.  tokens: int [N] real tokens per window.
        rows: the selected windows.  targets: float32 [m, D] target batch embeddings.
        batch_size: windows per batch (the Task2Vec batch size of the settings).
        seed: the permutation that forms the batches.

    Returns:
        :class:`core.coefficients.Coefficient` (CI None when there is a single batch and m < 2).

    Raises:
        ValueError: empty selection.
    """
    rows = np.asarray(list(rows), dtype=np.int64)
    if rows.size == 0:
        raise ValueError("a selection needs at least one window")
    perm = rows[np.random.default_rng([seed, 4242]).permutation(rows.size)]
    groups = [perm[k:k + batch_size] for k in range(0, perm.size, batch_size)]
    if len(groups) > 1 and groups[-1].size < max(1, batch_size // 2):     # a tiny last batch: merge it
        groups[-2] = np.concatenate([groups[-2], groups.pop()])
    batches = np.stack([set_embedding(embeddings, tokens, g) for g in groups])
    return alignment_coefficient(batches, np.asarray(targets, dtype=np.float64))
