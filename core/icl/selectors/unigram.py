"""``unigram``: the candidates whose token-unigram distribution is most similar to the problem's.

The similarity of ``unigram-cos`` (:mod:`core.metrics.unigram`) between one problem and one
candidate: with ``p`` and ``q`` the token count vectors (probe tokenizer, SmolLM2 by default, no
special tokens) of the problem's informal statement and of the candidate's retrieval key (a pair's
informal statement, a window's text),

    score(w) = cos(p, q) = p . q / (|p| |q|)        in [0, 1]

computed for all candidates at once as a product of L2-normalised sparse count matrices
(``scipy.sparse``). Ties (e.g. a problem sharing no token with several candidates) are broken by a
seeded permutation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from core.icl.selectors.base import DemoSelector, RankEnv, rank_by_score


class UnigramDemos(DemoSelector):
    """``unigram``: cosine of token-unigram count vectors (module docstring)."""

    name: ClassVar[str] = "unigram"
    description: ClassVar[str] = ("Cosine of the token-unigram count vectors (probe tokenizer) of the problem's informal "
                                  "statement and each candidate's key: unigram-cos of core.metrics, per candidate.")

    @dataclass(frozen=True)
    class Config(DemoSelector.Config):
        pass

    def _rank(self, pool, queries, depth, seed, env: RankEnv) -> list[np.ndarray]:
        from core.probe import load_probe

        tok = load_probe(env.model, device=env.device, progress=False).tokenizer
        cand = [list(d.ids) if d.key == d.text else None for d in pool.demos]
        missing = [i for i, c in enumerate(cand) if c is None]
        if missing:
            enc = tok([pool.demos[i].key for i in missing], add_special_tokens=False)["input_ids"]
            for i, ids in zip(missing, enc):
                cand[i] = list(ids)
        qry = tok(list(queries), add_special_tokens=False)["input_ids"]
        vocab = max(len(tok), 1 + max((max(r) for r in cand + qry if r), default=0))
        sims = (_normalised_counts(qry, vocab) @ _normalised_counts(cand, vocab).T).toarray()   # [P, N]
        return rank_by_score(sims, depth, seed)


def _normalised_counts(rows: list[list[int]], vocab: int):
    """L2-normalised token count matrix, ``scipy.sparse.csr_matrix`` float64 ``[len(rows), vocab]``
    (an empty row stays zero)."""
    from scipy.sparse import csr_matrix

    r = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
    c = np.fromiter((t for x in rows for t in x), dtype=np.int64, count=int(sum(len(x) for x in rows)))
    m = csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), vocab))
    m.sum_duplicates()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    return csr_matrix(m.multiply(scale[:, None]))
