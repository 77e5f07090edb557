"""Bounds on fine-tune work: the size of a request and its estimated time, shown before it starts.

A fine-tune whose token budget exceeds its source, or whose estimated time exceeds
:data:`DEFAULT_LIMIT_S`, needs an explicit confirmation (CLI ``--yes``, a confirmation box in the
dashboard): :func:`check_finetune` raises :class:`ConfirmationNeeded` with the estimate otherwise.

Estimate (:func:`estimate_finetune`):

- source tokens: the source's characters times its tokens per character, measured with the model's
  tokenizer on a deterministic sample of its documents (at most :data:`SAMPLE_CHARS` characters);
  exact when the whole source fits in the sample;
- training tokens ``= min(budget, source tokens)`` (a source smaller than the budget is trained on
  everything it has), tokens seen ``= training tokens x epochs``;
- seconds ``= tokens seen / throughput + fixed cost``. Throughput (tokens seen per second of
  training) and fixed cost (wall minus training seconds: evaluations, loading, alignment): the
  medians over finished runs in the results store with the same model, method, device kind,
  resolved precision and kind (quick or full), else :data:`FALLBACK_TOKENS_PER_S` (measured:
  bench/finetune.json, SmolLM2-135M full fine-tune on CPU, 1 thread, 2 x 4,000 tokens in 116 s = 69
  tokens/s; the CUDA figure is a conservative guess) and :data:`EVAL_S` / :data:`QUICK_EVAL_S`.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from core.errors import AlignScopeError, opt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.corpora.registry import Corpus
    from core.finetune.config import FinetuneConfig

#: Longest estimated fine-tune (seconds) that starts without confirmation.
DEFAULT_LIMIT_S = 3600.0
#: Characters of a source tokenised to measure its tokens per character.
SAMPLE_CHARS = 200_000
#: Tokens seen per second of training when the results store has no comparable run.
FALLBACK_TOKENS_PER_S = {"cpu": 69.0, "cuda": 2000.0}
#: Fixed cost of a run besides training: base and fine-tuned perplexity on the held-out split (s, CPU).
EVAL_S = 180.0
#: The same for a quick run (``finetune --quick``: a 4,096-token subsample, the base cached; s, CPU):
#: bench/finetune_quick.py measured 11-15 s of wall minus training seconds a run, 24 s for the first (docs/results/finetune_quick_cpu.json).
QUICK_EVAL_S = 15.0


class ConfirmationNeeded(AlignScopeError):
    """A fine-tune larger than its source or longer than the limit, asked for without confirmation."""

    def __init__(self, what: str, *, fix: str = "", estimate: "FinetuneEstimate | None" = None) -> None:
        super().__init__(what, fix=fix)
        self.estimate = estimate


@dataclass
class FinetuneEstimate:
    """Size and time of a fine-tune before it starts.

    Attributes:
        budget: requested training tokens.  source_tokens: estimated tokens of the source (None
            for a mixture: its materialisation checks each source).  exact: source_tokens counted
            on every document.  train_tokens: min(budget, source_tokens).  epochs.
        tokens_per_s: training throughput used (tokens seen per second).  basis: where it comes from.
        seconds: estimated wall time of the run (s).  limit_s: the confirmation limit (s).
    """

    budget: int
    source_tokens: int | None
    exact: bool
    train_tokens: int
    epochs: float
    tokens_per_s: float
    basis: str
    seconds: float
    limit_s: float

    @property
    def over_source(self) -> bool:
        """The budget exceeds the source's tokens."""
        return self.source_tokens is not None and self.budget > self.source_tokens

    @property
    def over_limit(self) -> bool:
        """The estimated time exceeds the limit."""
        return self.seconds > self.limit_s

    def text(self) -> str:
        """One line: ``"budget 4,000 tokens of a 23,634-token source x 2 epochs: about 5 min (69 tokens/s, ...)"``."""
        src = ("" if self.source_tokens is None else
               f" of a {'' if self.exact else '~'}{self.source_tokens:,}-token source")
        return (f"budget {self.budget:,} tokens{src} -> {self.train_tokens:,} training tokens x {self.epochs:g} "
                f"epochs: about {_duration(self.seconds)} ({self.tokens_per_s:,.0f} tokens/s, {self.basis})")

    def to_dict(self) -> dict:
        return {**asdict(self), "over_source": self.over_source, "over_limit": self.over_limit}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def source_tokens(corpus: Corpus, tokenizer: PreTrainedTokenizerBase, *, sample_chars: int = SAMPLE_CHARS) -> tuple[int, bool]:
    """Estimated tokens of a corpus (no special tokens) and whether the count is exact.

    Tokens per character are measured on the documents in a seeded order until ``sample_chars``
    characters are read, then scaled to the corpus's characters.

    Raises:
        CorpusError: the corpus cannot be read.
    """
    import numpy as np

    docs = corpus.documents()
    chars = sum(len(d.text) for d in docs)
    order = np.random.default_rng(0).permutation(len(docs))
    sample, n = [], 0
    for i in order:
        sample.append(docs[int(i)].text)
        n += len(sample[-1])
        if n >= sample_chars:
            break
    toks = sum(len(ids) for ids in tokenizer(sample, add_special_tokens=False)["input_ids"])
    exact = len(sample) == len(docs)
    return (toks if exact else int(round(toks / max(n, 1) * chars))), exact


def _as_dict(value) -> dict:
    """A row's JSON column as a dict (stored as text or already decoded)."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _throughput(config, device_kind: str) -> tuple[float, float, str]:
    """Tokens seen per training second and the fixed seconds of a run: the medians of comparable
    finished runs (model, method, device, resolved precision, quick or full), else the fallbacks."""
    rates, fixed = [], []
    try:
        from core.finetune import results

        precision = config.resolved_precision()
        for r in (results.list_runs() if results.db_path().is_file() else []):      # never creates the store
            if (r.get("status") == "done" and r.get("model") == config.model and r.get("method") == config.method
                    and r.get("train_seconds") and r.get("tokens_seen")
                    and (r.get("precision") or "fp32") == precision and bool(r.get("quick")) == config.quick
                    and str(_as_dict(r.get("hparams")).get("device", "auto")) in (config.device, "auto")):
                rates.append(r["tokens_seen"] / r["train_seconds"])
                if r.get("wall_seconds"):
                    fixed.append(max(r["wall_seconds"] - r["train_seconds"], 0.0))
    except Exception:                 # the results store is optional here: its own commands report damage
        rates, fixed = [], []
    default_fixed = (QUICK_EVAL_S if config.quick else EVAL_S) * (1 if device_kind == "cpu" else 0.1)
    if rates:
        return (statistics.median(rates), statistics.median(fixed) if fixed else default_fixed,
                f"median of {len(rates)} finished run(s) in the results store")
    return FALLBACK_TOKENS_PER_S[device_kind], default_fixed, f"default for {device_kind}, no finished run to learn from"


def estimate_finetune(config: FinetuneConfig, *, limit_s: float = DEFAULT_LIMIT_S) -> FinetuneEstimate:
    """The :class:`FinetuneEstimate` of a :class:`~core.finetune.config.FinetuneConfig` (no training).

    Raises:
        CorpusError: unknown or unreadable source; ModelError: unknown model or device.
    """
    from core.corpora import get_corpus
    from core.probe import load_probe, resolve_device

    kind = resolve_device(config.device).type
    kind = "cuda" if kind == "cuda" else "cpu"
    budget = config.budget_tokens
    src, exact = None, False
    if config.source:
        src, exact = source_tokens(get_corpus(config.source), load_probe(config.model, device="cpu", progress=False).tokenizer)
    train = budget if src is None else min(budget, src)
    rate, fixed, basis = _throughput(config, kind)
    seconds = train * config.epochs / rate + fixed
    return FinetuneEstimate(budget=budget, source_tokens=src, exact=exact, train_tokens=train, epochs=config.epochs,
                            tokens_per_s=rate, basis=basis, seconds=seconds, limit_s=limit_s)


def check_finetune(config: FinetuneConfig, *, yes: bool = False, limit_s: float = DEFAULT_LIMIT_S) -> FinetuneEstimate:
    """Return the estimate; without ``yes``, refuse a budget above the source or a run above the limit.

    The sequence length is checked against the model's ``max_position_embeddings`` first.

    Raises:
        ModelError: ``seq_len`` beyond the model's positions.
        ConfirmationNeeded: carrying the estimate; the fix names the confirmation
            (:func:`core.errors.opt` ``yes``: ``--yes`` on the CLI, the confirmation box in the dashboard).
    """
    from core.probe import check_limits

    check_limits(config.model, seq_len=config.seq_len)
    est = estimate_finetune(config, limit_s=limit_s)
    if yes or not (est.over_source or est.over_limit):
        return est
    why = []
    if est.over_source:
        why.append(f"the budget of {est.budget:,} tokens exceeds source {config.source!r} "
                   f"({'' if est.exact else 'about '}{est.source_tokens:,} tokens; all of it would be trained on)")
    if est.over_limit:
        why.append(f"it would take about {_duration(est.seconds)}, more than the {_duration(limit_s)} limit")
    raise ConfirmationNeeded(f"Fine-tune not started: {' and '.join(why)}. Estimate: {est.text()}.",
                             fix=f"lower {opt('budget_tokens', min(est.train_tokens, 4000))}, or confirm with "
                                 f"{opt('yes')}.", estimate=est)
