"""Familiarity: how well the base probe LM already predicts the source (target-independent).

Ren et al. ("Learning or Self-aligning? Rethinking Instruction Fine-tuning", arXiv 2402.11192)
relate fine-tuning gains to how familiar the model is with the fine-tuning data, measured by the
model's perplexity on it. Here:

    familiarity(S) = -NLL = -(sum of token NLLs) / (number of predicted tokens)   (nats/token)

i.e. minus the log of the alignment paper's perplexity (eq. 2), of the base probe network
(SmolLM2-135M, float32) on a seeded sample of the source: exactly the training data of a
fine-tune with the same budget and seed (``core.finetune.data.pack_documents`` of
``source_documents(source, seed)``: round-robin chunks of ``seq_len - 1`` tokens plus EOS, packed
into ``seq_len``-token windows until ``budget_tokens`` tokens). Higher = more familiar. Each window
is evaluated on its own (:func:`core.finetune.perplexity.perplexity`).

The value does not depend on the target: it is cached per source (key: source content, model,
tokenizer, budget, seq_len, seed) and reused for every target. CI: one-sample BCa bootstrap over
windows of the token-weighted ratio (sum of NLLs / tokens).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core.metrics.base import AlignmentMetric, BoundedConfig, CorpusObject, MetricValue, Progress, bounded, check_stop
from core.metrics.sampling import bootstrap_ci, index_weights
from core.probe import DEFAULT_MODEL


@dataclass(frozen=True)
class FamiliarityConfig(BoundedConfig):
    """Hyperparameters of ``familiarity`` (the probe network and a sample packed as fine-tuning data).

    Attributes:
        model: probe network (its base weights).  budget_tokens: tokens sampled (the fine-tune's budget).
        seq_len: window length.  seed: sampling seed (the fine-tune's data seed).
        n_resamples: bootstrap resamples.  device: ``auto``, ``cpu``, ``cuda`` (execution only).
    """

    model: str = DEFAULT_MODEL
    budget_tokens: int = bounded(4000, low=2)
    seq_len: int = bounded(128, low=2)
    seed: int = 0
    n_resamples: int = bounded(999, low=10)
    device: str = field(default="auto", metadata={"key": False})


class Familiarity(AlignmentMetric):
    """``familiarity``: -NLL of the base probe network on the source's fine-tuning sample; formula and CI in the
    module docstring."""

    name = "familiarity"
    description = ("Familiarity (Ren et al., arXiv 2402.11192): -NLL in nats/token (= -log perplexity, eq. 2 of "
                   "the alignment paper) of the base probe network on a seeded sample of the source packed exactly "
                   "as fine-tuning data (4,000 tokens, 128-token windows). Target-independent. CI: bootstrap over "
                   "windows.")
    cost = "probe forward"
    uses_target = False
    symmetric = False
    version = 1
    units = "-NLL in nats/token"

    Config = FamiliarityConfig

    def _probe(self):
        from core.probe import load_probe

        return load_probe(self.config.model, device=self.config.device)

    def key_extras(self) -> dict:
        probe = self._probe()
        return {"model": probe.fingerprint, "tokenizer": probe.tokenizer_fingerprint}

    def windows(self, source: CorpusObject) -> list[list[int]]:
        """The source's token windows (the fine-tune's packed training sequences for this budget and seed)."""
        from core.finetune.data import pack_documents, source_documents

        cfg = self.config
        data = pack_documents(source_documents(source, cfg.seed), self._probe().tokenizer, budget=cfg.budget_tokens,
                              seq_len=cfg.seq_len, seed=cfg.seed, name=source.name)
        return [w for w in data.sequences if len(w) >= 2]

    def _compute(self, source, target, *, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> MetricValue:
        from core.outcomes.text_ppl import perplexity

        import time

        probe = self._probe()
        if progress:
            progress(0, 1, "loading the probe network")
        model = probe.model                       # one-time load, not part of the cost
        t0 = time.perf_counter()
        windows = self.windows(source)
        pad = probe.tokenizer.pad_token_id or 0
        nll_sum = np.zeros(len(windows))
        tokens = np.zeros(len(windows))
        for i, w in enumerate(windows):
            check_stop(should_stop, f"familiarity of {source.name!r}")
            r = perplexity(model, [w], batch_size=1, pad_id=pad)
            nll_sum[i], tokens[i] = r.nll * r.tokens, r.tokens
            if progress:
                progress(i + 1, len(windows), f"{source.name}: window {i + 1}/{len(windows)}")
        value = -float(nll_sum.sum() / tokens.sum())

        def neg_nll(idx: np.ndarray) -> np.ndarray:
            w = index_weights(idx, len(windows))
            return -(w @ nll_sum) / (w @ tokens)

        lo, hi, method = bootstrap_ci(neg_nll, (len(windows),), seed=self.config.seed,
                                      n_resamples=self.config.n_resamples)
        return MetricValue(value=value, ci_low=lo, ci_high=hi, seconds=time.perf_counter() - t0, n=len(windows),
                           details={"ci_method": method, "unit": "window", "tokens": int(tokens.sum()),
                                    "perplexity": float(np.exp(-value)), "nll": -value,
                                    "target_independent": True})
