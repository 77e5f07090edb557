"""Diversity and alignment coefficients with honest 95% confidence intervals.

Definitions (d = Task2Vec distance, :mod:`core.distance`; f(B) = Task2Vec embedding of batch B):

- Diversity coefficient of a corpus D (Lee, Miranda et al., "Beyond Scale", arXiv 2306.13840, Def. 2):
  ``div(D) = E_{B1, B2 ~ D, B1 != B2} [ d(f(B1), f(B2)) ]``, estimated by the mean over the
  ``n(n-1)/2`` pairs of distinct batches.
- Alignment coefficient of corpora A and B (Chawla, Miranda et al., "Quantifying the Importance of
  Data Alignment in Downstream Model Performance", eq. 1):
  ``align(A, B) = 1 - E_{B1 ~ A, B2 ~ B} [ d(f(B1), f(B2)) ]``, estimated over all ``n_A x n_B`` pairs.

Confidence intervals. The pairwise distances share batches (each batch enters ``n-1`` or ``n_B``
pairs), so they are not independent and a t-interval over pairs would be far too narrow. Both
estimators are U-statistics in the batches; their variance is estimated with the delete-one-batch
jackknife (Efron & Stein 1981), over each corpus separately for two-sample alignment
(``var = var_A + var_B``), and the interval is ``value +- t_{0.975, df} * se`` with
``df = min(n) - 1``. ``tests/core/test_coefficients.py`` checks coverage by simulation. With fewer
than 2 batches per corpus (3 for diversity) the interval is undefined and reported as NaN.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

from core.distance import pairwise_distances

CI_METHOD = "delete-one-batch jackknife, t interval"


@dataclass(frozen=True)
class Coefficient:
    """A coefficient with its 95% confidence interval.

    Attributes:
        value: point estimate (dimensionless; distances and coefficients lie in [0, 1]).
        ci_low, ci_high: 95% CI bounds (NaN when too few batches).
        se: jackknife standard error.
        num_batches: batches of each corpus involved (1 entry for diversity, 2 for alignment).
        num_pairs: batch pairs averaged.
        method: how the CI was computed.
    """

    value: float
    ci_low: float
    ci_high: float
    se: float
    num_batches: tuple[int, ...]
    num_pairs: int
    method: str = CI_METHOD

    def to_dict(self) -> dict:
        """JSON-able dict; NaN values become None."""
        d = asdict(self)
        d["num_batches"] = list(self.num_batches)
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def _t_interval(value: float, var: float, df: int) -> tuple[float, float, float]:
    if df < 1 or not np.isfinite(var):
        return float("nan"), float("nan"), float("nan")
    se = float(np.sqrt(max(var, 0.0)))
    half = float(stats.t.ppf(0.975, df)) * se
    return se, float(np.clip(value - half, 0.0, 1.0)), float(np.clip(value + half, 0.0, 1.0))


def _jackknife_var(leave_one_out: np.ndarray) -> float:
    n = len(leave_one_out)
    return float((n - 1) / n * np.sum((leave_one_out - leave_one_out.mean()) ** 2))


def diversity_from_distances(dist: np.ndarray) -> Coefficient:
    """Diversity coefficient from the symmetric matrix of within-corpus batch distances.

    Args:
        dist: float array [n, n] of d(f(B_i), f(B_j)); the diagonal is ignored.

    Raises:
        ValueError: fewer than 2 batches or a non-square matrix.
    """
    dist = np.asarray(dist, dtype=np.float64)
    n = dist.shape[0]
    if dist.ndim != 2 or dist.shape[1] != n or n < 2:
        raise ValueError(f"diversity needs a square [n, n] distance matrix with n >= 2 batches, got {dist.shape}")
    iu = np.triu_indices(n, 1)
    value = float(dist[iu].mean())
    var, df = float("nan"), 0
    if n >= 3:
        total = dist[iu].sum()
        row = dist.sum(1) - np.diag(dist)                         # sum of pairs involving batch i
        m = (n - 1) * (n - 2) / 2
        var, df = _jackknife_var((total - row) / m), n - 1
    se, lo, hi = _t_interval(value, var, df)
    return Coefficient(value, lo, hi, se, (n,), len(iu[0]))


def alignment_from_distances(dist: np.ndarray) -> Coefficient:
    """Alignment coefficient ``1 - mean(dist)`` from the [n_A, n_B] cross distances, with its CI.

    Raises:
        ValueError: an empty matrix.
    """
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or dist.size == 0:
        raise ValueError(f"alignment needs an [n_A, n_B] distance matrix, got {dist.shape}")
    na, nb = dist.shape
    value = 1.0 - float(dist.mean())
    var, df = float("nan"), 0
    if na >= 2 and nb >= 2:
        rows, cols = dist.sum(1), dist.sum(0)
        total = dist.sum()
        loo_a = 1.0 - (total - rows) / ((na - 1) * nb)
        loo_b = 1.0 - (total - cols) / (na * (nb - 1))
        var, df = _jackknife_var(loo_a) + _jackknife_var(loo_b), min(na, nb) - 1
    se, lo, hi = _t_interval(value, var, df)
    return Coefficient(value, lo, hi, se, (na, nb), na * nb)


def diversity_coefficient(embeddings: np.ndarray, *, eps: float = 0.0) -> Coefficient:
    """Diversity coefficient of one corpus from its batch embeddings float [n, D] (n >= 2)."""
    return diversity_from_distances(pairwise_distances(embeddings, embeddings, eps=eps))


def alignment_coefficient(embeddings_a: np.ndarray, embeddings_b: np.ndarray, *, eps: float = 0.0) -> Coefficient:
    """Alignment coefficient of two corpora from batch embeddings [n_A, D] and [n_B, D] (eq. 1, Chawla et al.)."""
    return alignment_from_distances(pairwise_distances(embeddings_a, embeddings_b, eps=eps))


@dataclass
class AlignmentMatrix:
    """Cross-alignment of N corpora computed from one distance matrix over all their batches.

    Attributes:
        names: corpus names, length N.
        alignment: dict ``(a, b) -> Coefficient`` for a != b (symmetric).
        diversity: dict ``name -> Coefficient`` (shown on the diagonal by the dashboard).
        distances: float64 [sum n_i, sum n_i] batch distance matrix; ``offsets[i]:offsets[i+1]`` rows
            belong to ``names[i]``.
    """

    names: list[str]
    alignment: dict
    diversity: dict
    distances: np.ndarray
    offsets: list[int] = field(default_factory=list)

    def values(self) -> np.ndarray:
        """float64 [N, N]: alignment off the diagonal, diversity coefficient on it."""
        n = len(self.names)
        out = np.empty((n, n))
        for i, a in enumerate(self.names):
            for j, b in enumerate(self.names):
                out[i, j] = self.diversity[a].value if i == j else self.alignment[(a, b)].value
        return out

    def to_records(self) -> list[dict]:
        """One row per ordered pair: source, target, kind, value, ci_low, ci_high, batches."""
        rows = []
        for i, a in enumerate(self.names):
            for b in self.names:
                c = self.diversity[a] if a == b else self.alignment[(a, b)]
                rows.append({"source": a, "target": b, "kind": "diversity" if a == b else "alignment",
                             **c.to_dict()})
        return rows


def cross_alignment(embeddings: dict[str, np.ndarray], *, eps: float = 0.0,
                    block: Callable[[str, str], np.ndarray] | None = None) -> AlignmentMatrix:
    """Alignment of every pair and diversity of every corpus, from per-corpus batch embeddings.

    Args:
        embeddings: ``name -> float [n_i, D]`` (same D for all); n_i >= 2 for diversity.
        eps: see :func:`core.distance.pairwise_distances`.
        block: optional ``block(a, b) -> float64 [n_a, n_b]`` giving the distances between two
            corpora's batches (e.g. :func:`core.pipeline.cached_distances`, which keeps them in the
            store); it must compute eq. (1) of :mod:`core.distance` with ``eps=0``.

    Returns:
        :class:`AlignmentMatrix`; each pair's distances are read from one [sum n_i]^2 matrix, so no
        embedding is ever recomputed per pair.

    Raises:
        ValueError: ``block`` given together with a non-zero ``eps``.
    """
    names = list(embeddings)
    offsets = np.cumsum([0] + [len(embeddings[n]) for n in names]).tolist()
    if block is not None:
        if eps:
            raise ValueError("cross_alignment: a distance block function computes eps=0 distances")
        dist = np.block([[block(a, b) for b in names] for a in names]) if names else np.zeros((0, 0))
    else:
        stacked = np.concatenate([np.asarray(embeddings[n]) for n in names])
        dist = pairwise_distances(stacked, stacked, eps=eps)
        dist = (dist + dist.T) / 2.0                                      # exact symmetry
    align, div = {}, {}
    for i, a in enumerate(names):
        sa = slice(offsets[i], offsets[i + 1])
        div[a] = diversity_from_distances(dist[sa, sa]) if offsets[i + 1] - offsets[i] >= 2 else \
            Coefficient(float("nan"), float("nan"), float("nan"), float("nan"), (1,), 0)
        for j, b in enumerate(names):
            if i != j:
                align[(a, b)] = alignment_from_distances(dist[sa, slice(offsets[j], offsets[j + 1])])
    return AlignmentMatrix(names, align, div, dist, offsets)


def rank_sources(matrix: AlignmentMatrix, target: str) -> list[dict]:
    """Sources ranked by alignment to ``target`` (best first).

    Returns:
        rows ``{"rank", "source", "alignment", "ci_low", "ci_high", "diversity", "num_batches"}``.

    Raises:
        ValueError: ``target`` is not in the matrix.
    """
    if target not in matrix.names:
        raise ValueError(f"target {target!r} is not among {matrix.names}")
    rows = []
    for s in matrix.names:
        if s == target:
            continue
        c = matrix.alignment[(s, target)]
        rows.append({"source": s, "alignment": c.value, "ci_low": c.to_dict()["ci_low"],
                     "ci_high": c.to_dict()["ci_high"], "diversity": matrix.diversity[s].to_dict()["value"],
                     "num_batches": list(c.num_batches)})
    rows.sort(key=lambda r: -r["alignment"])
    for k, r in enumerate(rows, 1):
        r["rank"] = k
    return rows


def paired_alignment_difference(matrix: AlignmentMatrix, a: str, b: str, target: str) -> dict:
    """Difference of two sources' alignment with the same target, with a paired jackknife test.

    ``delta = align(a, target) - align(b, target)`` (eq. 1 of Chawla, Miranda et al. for each term).
    Both terms share the target's batches, so the difference is a paired statistic: its variance is
    the delete-one-batch jackknife (Efron & Stein 1981) over the batches of ``a``, of ``b`` and of
    the target, the target's leave-one-out values being computed for both terms at once
    (``var = var_a + var_b + var_target``). The test is two-sided,
    ``t = delta / se`` with ``df = min(n_a, n_b, n_target) - 1``.

    Args:
        matrix: :class:`AlignmentMatrix` holding ``a``, ``b`` and ``target`` (its batch distances
            are reused; nothing is recomputed).
        a, b: two sources (distinct from each other and from ``target``).

    Returns:
        ``{"delta", "se", "ci_low", "ci_high", "t", "df", "p_value", "significant"}`` (floats; NaN
        and ``significant=False`` when a corpus has fewer than 2 batches).

    Raises:
        ValueError: a name not in the matrix, or ``a``, ``b``, ``target`` not distinct.
    """
    for n in (a, b, target):
        if n not in matrix.names:
            raise ValueError(f"{n!r} is not among {matrix.names}")
    if len({a, b, target}) != 3:
        raise ValueError(f"paired difference needs three distinct corpora, got {a!r}, {b!r}, {target!r}")

    def rows(name: str) -> slice:
        i = matrix.names.index(name)
        return slice(matrix.offsets[i], matrix.offsets[i + 1])

    da = np.asarray(matrix.distances[rows(a), rows(target)], dtype=np.float64)   # [n_a, n_t]
    db = np.asarray(matrix.distances[rows(b), rows(target)], dtype=np.float64)   # [n_b, n_t]
    na, nb, nt = da.shape[0], db.shape[0], da.shape[1]
    delta = float(db.mean() - da.mean())                    # (1 - mean da) - (1 - mean db)
    nan = float("nan")
    if min(na, nb, nt) < 2:
        return {"delta": delta, "se": nan, "ci_low": nan, "ci_high": nan, "t": nan, "df": 0, "p_value": nan,
                "significant": False}
    loo_a = (da.sum() - da.sum(1)) / ((na - 1) * nt)        # mean distance of a without batch i
    loo_b = (db.sum() - db.sum(1)) / ((nb - 1) * nt)
    loo_t = (db.sum() - db.sum(0)) / (nb * (nt - 1)) - (da.sum() - da.sum(0)) / (na * (nt - 1))
    var = _jackknife_var(loo_a) + _jackknife_var(loo_b) + _jackknife_var(loo_t)
    df = min(na, nb, nt) - 1
    se = float(np.sqrt(max(var, 0.0)))
    half = float(stats.t.ppf(0.975, df)) * se
    t = delta / se if se > 0 else (float("inf") if delta else 0.0)
    p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else 0.0
    return {"delta": delta, "se": se, "ci_low": delta - half, "ci_high": delta + half, "t": float(t), "df": df,
            "p_value": p, "significant": bool(p < 0.05)}


def tie_groups(matrix: AlignmentMatrix, target: str, ranking: list[dict]) -> list[int]:
    """Group numbers (1, 2, ...) of ranked sources whose alignments are not significantly different.

    Walks the ranking best first: a source joins the current group while its alignment is not
    significantly below the group's first (best) member by :func:`paired_alignment_difference`
    (two-sided, 5%); otherwise it opens the next group. Members of one group share a rank range.

    Args:
        ranking: :func:`rank_sources` rows (best first).

    Returns:
        one group number per row, non-decreasing.
    """
    groups: list[int] = []
    leader = None
    for r in ranking:
        if leader is None:
            leader, g = r["source"], 1
        elif paired_alignment_difference(matrix, leader, r["source"], target)["significant"]:
            leader, g = r["source"], g + 1
        groups.append(g)
    return groups
