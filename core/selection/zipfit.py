"""``zip-fit``: ZIP-FIT compression alignment (Obbad et al., "ZIP-FIT: Embedding-Free Data Selection via
Compression-Based Alignment", 2024) over the pool's windows.

Score of a window x: the mean over target examples y of ``1 - NCD(x, y)`` with the normalised
compression distance ``NCD(x, y) = (C(xy) - min(C(x), C(y))) / max(C(x), C(y))`` and ``C`` the gzip
size. The computation is the PyPI package ``zip-fit`` 1.0.9's own (``ZIPFIT.compress``,
``ZIPFIT.normalized_compression_distance``, ``ZIPFIT.similarity``) called in this process: its
``run`` reads JSONL files and forks ``cpu_count()`` workers, which a dashboard job on a shared
machine must not do. One setting differs from the package default: gzip level 9 instead of 0 (level
0 stores without compressing, so ``C(xy) = C(x) + C(y) - header`` and NCD no longer measures
shared structure; the paper uses gzip compression). Windows are taken in decreasing score order
(ZIP-FIT's top-k).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from core.selection.base import Ranked, SelectionContext, SelectionMethod

#: gzip level used (see the module docstring).
GZIP_LEVEL = 9
#: Target examples compared with each window (a seeded subset when the target has more).
MAX_TARGET_EXAMPLES = 200


def zipfit_scores(texts: list[str], target_texts: list[str], *, level: int = GZIP_LEVEL,
                  should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Mean ``1 - NCD`` of each text against the target texts (module docstring): float64 [len(texts)].

    Raises:
        AlignScopeError: the ``zip-fit`` package (or a compressor it imports) is missing.
    """
    try:
        from zip_fit import ZIPFIT
    except ImportError as exc:
        from core.errors import AlignScopeError

        raise AlignScopeError(f"ZIP-FIT selection needs the zip-fit package ({exc}).",
                              fix="pip install zip-fit==1.0.9 zstandard brotli") from None
    z = ZIPFIT(source_dataset=None, target_dataset=None, k=1, compression_algorithm="gzip", compress_level=level)
    tc = [z.compress(t) for t in target_texts]
    out = np.empty(len(texts))
    for i, x in enumerate(texts):
        if should_stop and i % 64 == 0 and should_stop():
            raise InterruptedError("ZIP-FIT scoring stopped")
        cx = z.compress(x)
        out[i] = np.mean([z.similarity((x, y, cx, cy, i))[1] for y, cy in zip(target_texts, tc)])
    return out


class ZipFitSelection(SelectionMethod, name="zip-fit", needs="text", score_name="ZIP-FIT alignment (1 - NCD)",
                      description="ZIP-FIT (Obbad et al. 2024) via the zip-fit package: mean 1 - gzip NCD to target examples; top windows."):
    """ZIP-FIT gzip-NCD alignment, top windows (module docstring)."""

    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        rows = np.flatnonzero(ctx.allowed)
        texts = ctx.texts()
        target = ctx.target_texts()
        if len(target) > MAX_TARGET_EXAMPLES:
            pick = np.sort(np.random.default_rng([0, 11]).choice(len(target), MAX_TARGET_EXAMPLES, replace=False))
            target = [target[i] for i in pick]
        all_scores = ctx.memo("zipfit", lambda: zipfit_scores(texts, target, should_stop=ctx.should_stop))
        s = all_scores[rows]
        order = np.argsort(-s, kind="stable")
        return Ranked(rows=rows[order], scores=s[order])
