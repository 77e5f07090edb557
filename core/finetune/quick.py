"""The quick (live) fine-tune's evaluation set (issue 26): a fixed, seeded subsample of the target's
held-out documents, about :data:`core.finetune.config.QUICK_EVAL_TOKENS` scored tokens.

A full run evaluates every held-out window (ProofNet test: 186 documents, 23,634 scored tokens with
SmolLM2's tokenizer); before and after, that is most of a 5-minute CPU run. A quick run
(``FinetuneConfig.eval_subsample_tokens > 0``) trains exactly as a full run and evaluates only the
windows of the documents chosen here:

- the held-out documents with at least one scored token are permuted by
  ``numpy.random.default_rng([SUBSAMPLE_SEED, 0x9C1C])`` (fixed: the same documents for every source,
  seed and run, so quick runs of one group are paired);
- documents are taken in that order until their scored tokens (``len(window) - 1`` summed over the
  document's ``seq_len``-token windows, :func:`core.outcomes.text_ppl.corpus_document_windows`)
  reach ``eval_subsample_tokens``; all of them when the split holds fewer;
- the ids are returned in corpus order.

Its perplexity is the ``text-ppl`` outcome restricted to those documents
(:class:`core.outcomes.text_ppl.TextPerplexity` with ``problem_ids``): token-weighted (the
alignment paper's eq. 2), with a 95% percentile bootstrap CI over documents
(:func:`core.outcomes.base.bootstrap_ci`), which is what it estimates of the whole split's perplexity.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from transformers import PreTrainedTokenizerBase

    from core.outcomes.base import OutcomeResult
    from core.outcomes.text_ppl import Perplexity

#: Seed of the subsample (fixed, never a run's seed: every quick run sees the same documents).
SUBSAMPLE_SEED = 0


def eval_subsample(corpus: object, tokenizer: PreTrainedTokenizerBase, seq_len: int, tokens: int, *,
                   tokenizer_fingerprint: str | None = None) -> tuple[list[str], list[list[int]]]:
    """The quick evaluation set of a held-out corpus: ``(document ids, their windows)``.

    Args:
        corpus: the held-out corpus (registry name or corpus object).
        tokenizer: the run's tokenizer.  seq_len: tokens per evaluation window.
        tokens: scored tokens wanted (``> 0``); the subsample holds at least this many unless the
            split holds fewer.
        tokenizer_fingerprint: memo key of the tokenised windows (``probe.tokenizer_fingerprint``).

    Returns:
        Document ids in corpus order, and the windows (lists of int token ids, each ``<= seq_len``
        long) of those documents in corpus order, windows of one token left out (they score nothing).

    Raises:
        ValueError: ``tokens`` is not a positive integer, or no document has a scored token.
        CorpusError: unknown or uninstalled corpus.
    """
    from core.outcomes.text_ppl import corpus_document_windows

    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        raise ValueError(f"eval_subsample tokens must be a positive integer, not {tokens!r}")
    windows, owner, ids = corpus_document_windows(corpus, tokenizer, seq_len, tokenizer_fingerprint=tokenizer_fingerprint)
    scored = np.zeros(len(ids), dtype=np.int64)                       # [documents] scored tokens
    for w, o in zip(windows, owner):
        scored[o] += max(len(w) - 1, 0)
    docs = np.flatnonzero(scored > 0)
    if not len(docs):
        raise ValueError("the held-out corpus has no document with a token to score")
    order = docs[np.random.default_rng([SUBSAMPLE_SEED, 0x9C1C]).permutation(len(docs))]
    upto = int(np.searchsorted(np.cumsum(scored[order]), tokens)) + 1  # first prefix reaching `tokens`
    chosen = set(order[:upto].tolist())
    keep = [w for w, o in zip(windows, owner) if o in chosen and len(w) >= 2]
    return [ids[d] for d in sorted(chosen)], keep


def measure_quick(model: object, tokenizer: PreTrainedTokenizerBase, target: str, doc_ids: list[str], *, seq_len: int,
                  precision: str, batch_size: int, should_stop: Callable[[], bool] | None = None,
                  progress: Callable[..., None] | None = None) -> OutcomeResult:
    """The ``text-ppl`` outcome of ``model`` on the subsample ``doc_ids`` (:func:`eval_subsample`).

    Returns:
        :class:`core.outcomes.base.OutcomeResult`: ``value`` = token-weighted perplexity over the
        documents' ``seq_len`` windows (eq. 2), ``ci`` its 95% bootstrap CI over documents, per-document
        ``nll`` (nats, float64) and ``tokens`` (int64) arrays ``[len(doc_ids)]``, ``extra["nll"]``
        (nats/token), ``extra["tokens"]``, ``extra["windows"]``.

    Raises:
        OutcomeError: an id is not a held-out document.  InterruptedError: ``should_stop()``.
    """
    from core.outcomes.base import get_outcome

    return get_outcome("text-ppl", seq_len=seq_len).measure(model, tokenizer, target, precision=precision,
                                                              batch_size=batch_size, should_stop=should_stop,
                                                              progress=progress, problem_ids=doc_ids)


def as_perplexity(res: OutcomeResult) -> Perplexity:
    """The :class:`core.outcomes.text_ppl.Perplexity` of a :func:`measure_quick` result (same figures)."""
    from core.outcomes.text_ppl import Perplexity

    return Perplexity(perplexity=res.value, nll=res.extra["nll"], tokens=int(res.extra["tokens"]),
                      windows=int(res.extra["windows"]))


def outcome_problems(target: str, doc_ids: list[str]) -> list[str]:
    """The subsample's documents that are problems of the target's pair outcomes (``af-nll``,
    ``af-gen``: :func:`core.outcomes.problems.target_problems`), in the subsample's order, so a quick
    run measures those outcomes on the same documents as its perplexity.

    Raises:
        CorpusError: the target has no pair format.
    """
    from core.outcomes.problems import target_problems

    _, problems = target_problems(target)
    have = {p.problem_id for p in problems}
    return [d for d in doc_ids if d in have]
