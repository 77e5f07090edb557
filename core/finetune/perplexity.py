"""Perplexity of a causal LM on a corpus (the alignment paper's eq. 2).

``perplexity = exp( sum of NLL over all evaluated tokens / number of evaluated tokens )``: a
token-weighted mean, so long documents weigh in proportion to their length, never a mean of
per-document perplexities. Padding is excluded (its labels are masked).

Windows: every document is tokenised without special tokens and split into consecutive,
non-overlapping windows of ``seq_len`` tokens (the last one shorter); each window is evaluated on
its own (no context carried over from the previous window), so a window of ``L`` tokens contributes
``L - 1`` predicted tokens (the first token of a window has no context and is not scored). Windows
of a single token contribute nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


@dataclass
class Perplexity:
    """Result of :func:`perplexity`.

    Attributes:
        perplexity: ``exp(nll)``.  nll: token-weighted mean negative log-likelihood (nats/token).
        tokens: evaluated (predicted) tokens.  windows: windows evaluated.
    """

    perplexity: float
    nll: float
    tokens: int
    windows: int

    def to_dict(self) -> dict:
        return {"perplexity": self.perplexity, "nll": self.nll, "tokens": self.tokens, "windows": self.windows}


def document_windows(texts: list[str], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> list[list[int]]:
    """Consecutive non-overlapping ``seq_len``-token windows of every text (no special tokens)."""
    out = []
    for i in range(0, len(texts), 256):
        for ids in tokenizer(texts[i:i + 256], add_special_tokens=False)["input_ids"]:
            out.extend(ids[k:k + seq_len] for k in range(0, len(ids), seq_len))
    return [w for w in out if len(w) >= 2]


_WINDOWS: dict[tuple[str, str, int], tuple[list[list[int]], str]] = {}


def corpus_windows(corpus: str, tokenizer: PreTrainedTokenizerBase, seq_len: int, *, tokenizer_fingerprint: str | None = None
                   ) -> tuple[list[list[int]], str]:
    """:func:`document_windows` of a registry corpus, tokenised once per process.

    Memoised by (corpus fingerprint, tokenizer fingerprint, ``seq_len``): the corpus fingerprint
    changes when its documents do, so a stale memo is never served.

    Args:
        corpus: registry name or corpus object.
        tokenizer_fingerprint: the probe's ``tokenizer_fingerprint`` (computed from the tokenizer
            when not given).

    Returns:
        ``(windows, fingerprint)``: the windows (shared: do not modify) and
        :func:`windows_fingerprint` of them.

    Raises:
        CorpusError: unknown or uninstalled corpus.
    """
    from core.corpora import get_corpus

    c = get_corpus(corpus) if isinstance(corpus, str) else corpus
    if tokenizer_fingerprint is None:
        from core.probe import _tokenizer_fingerprint

        tokenizer_fingerprint = _tokenizer_fingerprint(tokenizer)
    key = (c.fingerprint(), tokenizer_fingerprint, int(seq_len))
    hit = _WINDOWS.get(key)
    if hit is None:
        windows = document_windows([d.text for d in c.documents()], tokenizer, seq_len)
        hit = _WINDOWS[key] = (windows, windows_fingerprint(windows))
    return hit


def windows_fingerprint(windows: list[list[int]]) -> str:
    import hashlib

    h = hashlib.sha256()
    for w in windows:
        h.update(np.asarray(w, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()


def perplexity(model: torch.nn.Module, windows: list[list[int]], *, batch_size: int = 16, pad_id: int = 0,
               precision: str = "fp32", progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Perplexity:
    """Token-weighted perplexity of ``model`` over ``windows`` (lists of token ids, each evaluated alone).

    Windows are sorted by length and batched (right-padded, padding masked). ``progress(done,
    total)`` is called after each batch; ``should_stop()`` raises ``InterruptedError`` between batches.
    Only the logits of scored positions are widened and passed to the cross-entropy.

    Args:
        precision: resolved precision, ``fp32`` or ``bf16``: ``bf16`` runs the forward pass under
            bf16 autocast (bf16 logits); the log-softmax (cross-entropy) and the sums are float32 /
            float64 in both cases.

    Raises:
        ValueError: no window has two tokens or more (nothing to score).
    """
    import torch

    from core.precision import autocast

    windows = [w for w in windows if len(w) >= 2]
    if not windows:
        raise ValueError("no window with at least 2 tokens to evaluate")
    device = next(model.parameters()).device
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    batches = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    total_nll = 0.0
    total_tokens = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b, idx in enumerate(batches):
                if should_stop and should_stop():
                    raise InterruptedError("stopped while measuring perplexity")
                width = max(len(windows[i]) for i in idx)
                ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, :len(windows[i])] = torch.tensor(windows[i])
                    mask[r, :len(windows[i])] = 1
                ids, mask = ids.to(device), mask.to(device)
                with autocast(precision, device):
                    logits = model(input_ids=ids, attention_mask=mask).logits           # [b, T, V]
                keep = mask[:, 1:].bool()                                               # [b, T-1]
                scored = logits[:, :-1][keep].float()                                   # [n, V], float32
                del logits
                nll = torch.nn.functional.cross_entropy(scored, ids[:, 1:][keep], reduction="none")  # [n]
                total_nll += float(nll.double().sum())
                total_tokens += int(keep.sum())
                if progress:
                    progress(b + 1, len(batches))
    finally:
        if was_training:
            model.train()
    mean = total_nll / total_tokens
    return Perplexity(perplexity=math.exp(mean) if mean < 700 else math.inf, nll=mean, tokens=total_tokens,
                      windows=len(windows))


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
