"""``t2v``: the candidates whose per-window Task2Vec embedding lies nearest to the problem's.

Each candidate's retrieval key (a window's text; a pair's informal statement) and each problem's
informal statement are embedded as one window of ``window_tokens`` tokens (right-padded; longer keys
truncated) by :func:`core.selection.embed.embed_windows`: the closed-form head Task2Vec embedding
(the diagonal FIM of the probe's LM head over the window's positions, eq. (2) of
:mod:`core.estimators.closed_form`; Achille et al. 2019, arXiv 1902.03545), one store entry per
window, shared with window-level selection (a window embedded once is never computed again).

Nearness is the Task2Vec score of a candidate ``w`` against the problem's embedding ``t``:

    score(w) = 1 - d(e_w, t)                 (S1 of :mod:`core.selection.score` with one target)

with ``d`` the symmetric normalised Task2Vec distance. Candidates are retrieved from the selection's
faiss index (:mod:`core.selection.index`: centred log features, PCA to ``dims``, L2 as inner product;
key-checked file under ``cache/selection/index``), ``depth`` per problem, and re-ranked by the exact
score (:func:`core.selection.index.search`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from core.icl.selectors.base import DemoSelector, RankEnv
from core.bounds import bounded


class Task2VecDemos(DemoSelector):
    """``t2v``: nearest per-window Task2Vec embeddings (module docstring)."""

    name: ClassVar[str] = "t2v"
    description: ClassVar[str] = (
        "Nearest candidates by the Task2Vec score 1 - d(e_w, e_problem) of per-window closed-form head embeddings "
        "(diagonal FIM of the probe's LM head; Achille et al. 2019) of the candidate's key and the problem's informal "
        "statement, retrieved from the selection's faiss index (PCA of centred log features) and re-ranked exactly.")

    @dataclass(frozen=True)
    class Config(DemoSelector.Config):
        """``dims``: PCA components of the index (1..511).  ``batch_size``: windows per forward pass
        (execution only)."""

        dims: int = bounded(256, low=1, high=511)
        batch_size: int = bounded(16, low=1, key=False)

    def _rank(self, pool, queries, depth, seed, env: RankEnv) -> list[np.ndarray]:
        from core.batches import BatchConfig
        from core.settings import EmbedSettings
        from core.probe import load_probe
        from core.selection.embed import embed_windows
        from core.selection.index import load_or_build, search

        probe = load_probe(env.model, device=env.device, progress=False)
        tok = probe.tokenizer
        width = pool.config.window_tokens
        cand_ids = [list(d.ids) if d.key == d.text else tok(d.key, add_special_tokens=False)["input_ids"]
                    for d in pool.demos]
        query_ids = tok(list(queries), add_special_tokens=False)["input_ids"]
        cand = _as_pool(cand_ids, width, tok, name=pool.source, doc_ids=[d.doc_id for d in pool.demos],
                        offsets=[d.offset for d in pool.demos])
        qpool = _as_pool(query_ids, width, tok, name="icl-problems", doc_ids=[f"q{i}" for i in range(len(queries))],
                         offsets=[0] * len(queries))
        settings = EmbedSettings(model=env.model, estimator="closed_form_head",
                                 batch=BatchConfig(batch_size=self.config.batch_size, seq_len=width, num_batches=1),
                                 device=env.device, precision=env.precision)

        def report(what):
            return (lambda d, t, m: env.progress(d, t, f"t2v {what}: {m}")) if env.progress else None

        ec = embed_windows(cand, settings, progress=report(f"{pool.source} candidates"), should_stop=env.should_stop)
        eq = embed_windows(qpool, settings, progress=report("problems"), should_stop=env.should_stop)
        if len(pool) == 1:
            return [np.zeros(1, dtype=np.int64) for _ in queries]
        index = load_or_build(ec.embeddings, pool_fingerprint=cand.fingerprint, embedding_keys=ec.keys,
                              dims=self.config.dims, seed=0)
        out = []
        for i in range(len(queries)):
            rows, _ = search(index, ec.embeddings, eq.embeddings[i:i + 1], depth=depth)   # exact S1 order
            out.append(rows)
        return out


def _as_pool(rows: list[list[int]], width: int, tokenizer, *, name: str, doc_ids: list[str], offsets: list[int]):
    """A :class:`core.selection.pool.Pool` of ``rows`` cut to ``width`` tokens: int64 ``[n, width]`` ids
    (right-padded with the pad id) and mask; its fingerprint is the content of the rows."""
    from core.fingerprint import fingerprint
    from core.selection.pool import Pool, PoolConfig, Window

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    windows = []
    for r, toks in enumerate(rows):
        toks = list(toks)[:width]
        ids[r, :len(toks)] = toks
        mask[r, :len(toks)] = 1
        windows.append(Window(name, doc_ids[r], int(offsets[r]), len(toks)))
    fp = fingerprint({"icl-t2v-keys": [list(map(int, r[:width])) for r in rows], "width": width})
    return Pool(config=PoolConfig(corpora=(name,), seq_len=width, max_windows=max(1, len(rows))), windows=windows,
                input_ids=ids, attention_mask=mask, fingerprint=fp)
