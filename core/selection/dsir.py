"""``dsir``: DSIR importance resampling (Xie, Santurkar, Ma & Liang, NeurIPS 2023) over the pool's windows.

Through the authors' package ``data-selection`` (``data_selection.HashedNgramDSIR``), fitted in memory:
the raw distribution is the pool's windows (the allowed share), the target distribution the target
benchmark's documents; features are DSIR's hashed unigrams+bigrams (10,000 buckets, WordPunct words).
``fit_importance_estimator(num_tokens_to_fit="all")`` gives ``log_diff = log(p_T + 1e-8) - log(p_R +
1e-8)`` and ``importance_estimator(features)`` each window's log importance weight
``log w = log_diff . counts`` (DSIR Sec. 4).

Resampling: DSIR draws without replacement proportionally to the weights by Gumbel top-k
(``DSIR.resample``: ``log w + Gumbel noise``, then the largest). The package draws its noise from
numpy's global generator and writes files; here the same Gumbel top-k runs in memory with a seeded
generator (``numpy.random.default_rng([seed, 3])``) and the order fills the token budget. The
package's ``min_example_length`` filter (100 words) is not applied: every window has the same token
length, and the filter would drop most 128-token windows of code.
"""
from __future__ import annotations

import numpy as np

from core.selection.base import Ranked, SelectionContext, SelectionMethod


def dsir_log_weights(raw_texts: list[str], target_texts: list[str], *, ngrams: int = 2,
                     num_buckets: int = 10000) -> np.ndarray:
    """DSIR log importance weights (nats) of ``raw_texts`` for ``target_texts``: float64 [len(raw_texts)].

    Raises:
        AlignScopeError: the ``data-selection`` package is missing (fix: its pip command).
    """
    import tempfile

    try:
        from data_selection import HashedNgramDSIR
    except ImportError:
        from core.errors import AlignScopeError

        raise AlignScopeError("DSIR selection needs the data-selection package.",
                              fix="pip install data-selection==1.0.3 nltk") from None
    with tempfile.TemporaryDirectory() as tmp:
        dsir = HashedNgramDSIR(["raw"], ["target"], cache_dir=tmp, num_proc=1, ngrams=ngrams, num_buckets=num_buckets,
                               raw_load_dataset_fn=lambda _p: ({"text": t} for t in raw_texts),
                               target_load_dataset_fn=lambda _p: ({"text": t} for t in target_texts))
        dsir.fit_importance_estimator(num_tokens_to_fit="all")
        return np.array([float(dsir.importance_estimator(dsir.featurizer(t))) for t in raw_texts])


class DsirSelection(SelectionMethod, name="dsir", needs="text", score_name="DSIR log importance weight",
                    description=("DSIR (Xie et al. 2023) via data-selection: hashed uni+bigram importance weights of pool windows "
                                 "for the target, Gumbel top-k resampling (seeded) to the budget.")):
    """DSIR hashed n-gram importance resampling (module docstring)."""

    def rank(self, ctx: SelectionContext, *, seed: int, budget: int) -> Ranked:
        rows = np.flatnonzero(ctx.allowed)
        texts = ctx.texts()
        logw = dsir_log_weights([texts[r] for r in rows], ctx.target_texts())
        noisy = logw + np.random.default_rng([seed, 3]).gumbel(size=logw.shape)
        order = np.argsort(-noisy, kind="stable")
        return Ranked(rows=rows[order], scores=logw[order])
