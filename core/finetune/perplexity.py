"""Perplexity of a causal LM on a corpus (the alignment paper's eq. 2).

The computation lives in :mod:`core.outcomes.text_ppl` (the ``text-ppl`` outcome, which keeps it per
held-out document); this module re-exports its functions for the fine-tune layer and adds
:func:`model_perplexity_on_corpus` (the cached perplexity of a named model on a registry corpus).

``perplexity = exp( sum of NLL over all evaluated tokens / number of evaluated tokens )``: a
token-weighted mean over consecutive non-overlapping ``seq_len``-token windows, each evaluated alone
(see :mod:`core.outcomes.text_ppl`).
"""
from __future__ import annotations

from typing import Callable

from core.outcomes.text_ppl import (  # noqa: F401  (re-exported for the fine-tune layer)
    Perplexity,
    corpus_windows,
    document_windows,
    perplexity,
    window_nll,
    windows_fingerprint,
)


def model_perplexity_on_corpus(model_name: str, corpus: str, *, seq_len: int = 128, budget_tokens: int | None = None,
                               seed: int = 0, batch_size: int = 16, device: str = "auto", precision: str = "auto",
                               progress: Callable[[int, int], None] | None = None) -> dict:
    """Perplexity of a model (``smollm2-135m``, folder or hub id) on a registry corpus.

    With ``budget_tokens`` the corpus is first sampled and packed exactly as training data
    (:func:`core.finetune.data.pack_documents`, familiarity-style); otherwise every document is
    evaluated in consecutive windows (tokenised once per process, :func:`corpus_windows`). The
    result is cached for deterministic (base) models, keyed by weights, tokenizer, windows and the
    resolved ``precision`` (``auto`` | ``fp32`` | ``bf16``; in the key only when not ``fp32``).

    Returns:
        ``{"perplexity", "nll", "tokens", "windows", "precision", "cached"}``.

    Raises:
        AlignScopeError: unknown precision.  CorpusError / ModelError: bad corpus or model.
    """
    from core.corpora import get_corpus
    from core.finetune import results
    from core.finetune.data import pack_documents, source_documents
    from core.finetune.train import load_causal_lm
    from core.precision import resolve_precision
    from core.probe import load_probe

    probe = load_probe(model_name, device=device)
    precision = resolve_precision(precision, probe.device)
    tok = probe.tokenizer
    if budget_tokens:
        data = pack_documents(source_documents(corpus, seed), tok, budget=budget_tokens, seq_len=seq_len,
                              seed=seed, name=corpus)
        windows = data.sequences
        fp = windows_fingerprint(windows)
    else:
        windows, fp = corpus_windows(get_corpus(corpus), tok, seq_len, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    key = {"what": "perplexity", "model": probe.fingerprint, "tok": probe.tokenizer_fingerprint, "windows": fp}
    if precision != "fp32":
        key["precision"] = precision
    hit = results.cache_get(key)
    if hit is not None:
        return {**hit, "precision": precision, "cached": True}
    model = load_causal_lm(probe)
    res = perplexity(model, windows, batch_size=batch_size, pad_id=tok.pad_token_id or 0, precision=precision,
                     progress=progress).to_dict()
    results.cache_put(key, res)
    return {**res, "precision": precision, "cached": False}
