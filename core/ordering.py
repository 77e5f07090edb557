"""Seriation of a square alignment matrix: the order in which the heatmap lists its corpora.

One idea: turn an [N, N] alignment matrix into a row/column order (average-linkage clustering on
``1 - alignment`` with optimal leaf ordering, alphabetical, or as given, the target first). It is
maths, not drawing, so it sits next to :mod:`core.coefficients`; :mod:`core.charts` draws with it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def cluster_order(names: Sequence[str], values: np.ndarray) -> list[str]:
    """Names reordered by average-linkage hierarchical clustering on ``1 - alignment``.

    Args:
        names: N corpus names.
        values: [N, N] alignment matrix (the diagonal is ignored; NaN is treated as no alignment).

    Returns:
        The names in dendrogram leaf order (optimal leaf ordering), so similar corpora sit together.
        With fewer than 3 names the order is unchanged.
    """
    names = list(names)
    n = len(names)
    if n < 3:
        return names
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    v = np.asarray(values, dtype=np.float64)
    d = 1.0 - np.nan_to_num((v + v.T) / 2.0, nan=0.0)
    np.fill_diagonal(d, 0.0)
    d = np.clip(d, 0.0, None)
    condensed = squareform(d, checks=False)
    z = linkage(condensed, method="average")
    if np.ptp(condensed) > 0:
        z = optimal_leaf_ordering(z, condensed)
    return [names[i] for i in leaves_list(z)]


def order_names(names: Sequence[str], values: np.ndarray, order: str, *, target: str | None = None) -> list[str]:
    """``order`` is ``clustered`` (:func:`cluster_order`), ``alphabetical`` or ``selection`` (as given).

    The target, when given, is always put first (clustering orders the rest).
    """
    names = list(names)
    if order == "clustered":
        out = cluster_order(names, values)
    elif order == "alphabetical":
        out = sorted(names)
    else:
        out = names
    if target in out:
        out = [target] + [n for n in out if n != target]
    return out

