"""Real mixed data: token batches for verification, and the materialised fine-tuning dataset.

Mixed batches (:func:`mixed_batches`): a batch of ``B`` sequences gets ``m_s`` sequences from source
``s``, with ``m_s ∝ w_s / L_s`` (``L_s`` = mean real tokens per sequence of ``s``) rounded by largest
remainder, so that its *token* shares match the weights (the prediction, eq. M1 of
:mod:`core.mixture.predict`, is in token shares). The ``s``-rows of batch ``k`` are batch ``k`` of
:func:`core.batches.sample_batches` on ``s`` with ``batch_size = m_s`` and a seed derived from the
mixture seed, so they are deterministic and, with a different seed than the cached per-source
batches, they are fresh windows: verification is out of sample.

Materialisation (:func:`materialize`): each source contributes ``weight * budget`` tokens (largest
remainder rounding), taken from its documents in a seeded permutation (seed = mixture seed and the
source name); the last document of a source is cut at a token boundary so that the source's total
is its share exactly (up to how the tokenizer re-encodes the cut text, a few tokens). A source with
fewer tokens than its share raises :class:`~core.errors.AlignScopeError` by default (naming the
source, its tokens and its share); ``on_short="use_all"`` uses all of it instead and records a
warning in ``MaterializeReport.warnings`` (the dataset is then smaller than the budget).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from core.batches import BatchConfig, TokenBatch, sample_batches
from core.errors import AlignScopeError
from core.mixture.model import Mixture, apportion
from core.mixture.predict import resolve_corpus

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def _stable(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


# -- verification batches ---------------------------------------------------------------------------

def allocate_sequences(weights: dict[str, float], tokens_per_seq: dict[str, float], batch_size: int) -> dict[str,
                       int]:
    """Sequences per source in a mixed batch of ``batch_size``: ``∝ w_s / L_s``, largest remainder."""
    r = {s: w / max(float(tokens_per_seq[s]), 1e-9) for s, w in weights.items() if w > 0}
    if not r:
        raise AlignScopeError("All weights are zero.", fix="give at least one source a positive weight.")
    return apportion(r, batch_size)


def mixed_batches(weights: dict[str, float], config: BatchConfig, tokenizer: PreTrainedTokenizerBase, *,
                  tokens_per_seq: dict[str, float], seed: int = 0, corpora: Mapping[str, Any] | None = None,
                  name: str = "mix") -> tuple[list[TokenBatch], dict[str, int]]:
    """``config.num_batches`` real mixed batches of ``config.batch_size`` sequences.

    Args:
        weights: ``source -> token share``.  config: batch shape (its seed is not used; ``seed`` is).
        tokens_per_seq: ``source -> L_s`` for the allocation.  corpora: optional name -> corpus overrides.
        name: the ``corpus`` field of the returned batches.

    Returns:
        ``(batches, counts)``: :class:`TokenBatch` objects whose ``doc_ids`` are ``"source|doc_id"``,
        and the sequences per source.
    """
    counts = allocate_sequences(weights, tokens_per_seq, config.batch_size)
    parts = {}
    for s, m in counts.items():
        if m == 0:
            continue
        corpus = resolve_corpus(s, corpora)
        sub = BatchConfig(batch_size=m, seq_len=config.seq_len, num_batches=config.num_batches,
                          seed=int((seed * 1_000_003 + _stable(s) + 17) % (2 ** 31)))
        parts[s] = sample_batches(corpus, tokenizer, sub)
    out = []
    for k in range(config.num_batches):
        ids = np.concatenate([parts[s][k].input_ids for s in parts])
        mask = np.concatenate([parts[s][k].attention_mask for s in parts])
        docs = tuple(f"{s}|{d}" for s in parts for d in parts[s][k].doc_ids)
        offs = tuple(o for s in parts for o in parts[s][k].offsets)
        out.append(TokenBatch(corpus=name, index=k, input_ids=ids, attention_mask=mask, doc_ids=docs, offsets=offs))
    return out, counts


def realised_token_shares(batches: list[TokenBatch], sources: list[str]) -> dict[str, float]:
    """Token share of each source over ``batches`` (rows attributed by their ``"source|doc"`` id)."""
    tok = {s: 0 for s in sources}
    for b in batches:
        for row, d in enumerate(b.doc_ids):
            tok[d.split("|", 1)[0]] += int(b.attention_mask[row].sum())
    total = sum(tok.values()) or 1
    return {s: t / total for s, t in tok.items()}


# -- materialised dataset ------------------------------------------------------------------------------

@dataclass
class MaterializeReport:
    """What :func:`materialize_with_report` produced: ``tokens`` per source and any ``warnings``."""

    rows: list[dict]
    tokens: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Tokens over all sources."""
        return sum(self.tokens.values())


def materialize_with_report(mixture: Mixture, *, tokenizer: PreTrainedTokenizerBase,
                            corpora: Mapping[str, Any] | None = None, on_short: str = "error",
                            chunk: int = 64) -> MaterializeReport:
    """:func:`materialize` plus per-source token counts and warnings."""
    if on_short not in ("error", "use_all"):
        raise AlignScopeError(f"on_short must be 'error' or 'use_all', got {on_short!r}.", fix="use one of them.")
    budgets = mixture.token_budgets()
    from core.corpora.contamination import check_sources

    check_sources([resolve_corpus(s, corpora) for s in sorted(budgets) if budgets[s] > 0], what="mixture source")
    rows, tokens, warnings, short = [], {}, [], []
    for src in sorted(budgets):
        want = budgets[src]
        if want <= 0:
            continue
        from core.embedding import resolve_corpus as _resolve_corpus

        docs = _resolve_corpus(resolve_corpus(src, corpora)).documents()
        order = np.random.default_rng([mixture.seed, _stable(src), 31337]).permutation(len(docs))
        got = 0
        done = False
        for start in range(0, len(order), chunk):
            idx = [int(i) for i in order[start:start + chunk]]
            enc = tokenizer([docs[i].text for i in idx], add_special_tokens=False)["input_ids"]
            for i, ids in zip(idx, enc):
                if not ids:
                    continue
                take = min(len(ids), want - got)
                text = docs[i].text if take == len(ids) else tokenizer.decode(ids[:take])
                rows.append({"source": src, "doc_id": docs[i].doc_id, "text": text})
                got += take
                if got >= want:
                    done = True
                    break
            if done:
                break
        if not done:
            msg = (f"Source {src!r} has {got:,} tokens, fewer than its share of mixture {mixture.name!r}: "
                   f"{mixture.weights[src]:.1%} of {mixture.budget_tokens:,} = {want:,} tokens.")
            short.append((src, got, msg))
            if on_short == "use_all":
                warnings.append(msg + " All of it is used; the dataset is smaller than the budget.")
        tokens[src] = got
    if short and on_short == "error":
        limit = min(max(0, int((got - 1) / mixture.weights[src])) for src, got, _ in short)
        names = ", ".join(repr(src) for src, _, _ in short)
        raise AlignScopeError(" ".join(msg for _, _, msg in short),
                              fix=f"lower the budget to at most {limit:,} tokens, lower the weight of {names}, "
                                  "or use all of it (--allow-short / 'Use all of a short source').")
    order = np.random.default_rng([mixture.seed, 4242]).permutation(len(rows))   # interleave sources
    return MaterializeReport([rows[int(i)] for i in order], tokens, warnings)


def materialize(mixture: Mixture, *, tokenizer: PreTrainedTokenizerBase, corpora: Mapping[str, Any] | None = None,
                on_short: str = "error") -> list[dict]:
    """The mixture's fine-tuning rows ``{"source", "doc_id", "text"}``, about ``budget_tokens`` tokens.

    Each source contributes ``weight * budget`` tokens (tokenizer, no special tokens) of documents
    drawn deterministically with the mixture's seed (see the module docstring). Rows are in a seeded
    shuffled order (sources interleaved), ready to train on.

    Raises:
        AlignScopeError: a source has fewer tokens than its share (``on_short="error"``, the default;
            ``"use_all"`` uses all of it and :func:`materialize_with_report` records a warning);
            CorpusError: a source is not installed, or reproduces a benchmark's held-out split
            (:mod:`core.corpora.contamination`).
    """
    return materialize_with_report(mixture, tokenizer=tokenizer, corpora=corpora, on_short=on_short).rows


def export_jsonl(mixture: Mixture, path: str | Path, *, tokenizer: PreTrainedTokenizerBase,
                 corpora: Mapping[str, Any] | None = None, on_short: str = "error") -> Path:
    """Write :func:`materialize` rows as JSON lines (one ``{"source", "doc_id", "text"}`` per line), atomically.

    Returns the path written. :func:`read_jsonl` reads it back to the same rows.
    """
    return write_jsonl(materialize(mixture, tokenizer=tokenizer, corpora=corpora, on_short=on_short), path)


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    """Write ``rows`` as JSON lines (UTF-8, one object per line) atomically; returns the path."""
    from core.paths import atomic_write

    return atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of an exported mixture (inverse of :func:`export_jsonl`)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
