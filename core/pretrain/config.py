"""The pre-training configuration: model shape, optimiser and token budget, as one dataclass.

A :class:`PretrainConfig` says everything a pre-training run depends on apart from its data and its
seed: the Llama-style decoder's shape (built from scratch, :mod:`core.pretrain.model`), the tokenizer
it borrows (the probe network's, so vocabulary and token counts are those of the rest of the
workbench), the sequence length, the batch, the AdamW optimiser with nanoGPT's warmup + cosine
schedule, and the fixed token budget.

Named configurations (:data:`CONFIGS`):

- ``tiny``: 2 layers, width 64; tests (a run of a few thousand tokens takes about a second).
- ``cpu-small`` (the default): 4 layers, width 256, 4 heads, MLP 1024, sequence 128, batch 8
  (1,024 tokens a step), a 49,152-token budget (48 steps), 32 held-out windows (4,096 tokens) per
  evaluation corpus. About 4.2M parameters in the blocks plus the 12.6M-parameter tied embedding of
  the 49,152-token SmolLM2 vocabulary. Sized for the 2 CPU cores of this machine shared with other
  work: the vocabulary projection dominates a step's cost, and we measured about 200 training
  tokens/s under that load (``bench/pretrain_speed.py``), so a run takes about 5 minutes and the
  3 x 2 grid about 30.
- ``gpu-base``: 8 layers, width 512, 8 heads, MLP 2048, sequence 512, batch 32 (16,384 tokens a
  step), 2M-token budget; for a lent GPU (about 25M block parameters, GPT-2-small's order).

The learning rates are higher than fine-tuning's (random initialisation, a few hundred steps):
nanoGPT's ``train_shakespeare_char`` uses 1e-3 for a 6-layer width-384 model; we use 2e-3 for the
small model with a short warmup (Karpathy, nanoGPT ``train.py`` ``get_lr``: linear warmup, cosine
decay to ``min_lr = lr / 10``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from core.errors import AlignScopeError, opt
from core.probe import DEFAULT_MODEL


@dataclass(frozen=True)
class PretrainConfig:
    """Shape, optimiser and budget of a pre-training run (keyword-only).

    Attributes:
        name: the configuration's name (``cpu-small``, ``gpu-base``, ``tiny`` or a custom one).
        tokenizer: the probe network whose tokenizer the model uses (a name of :mod:`core.probe`).
        n_layer: transformer blocks.  n_head: attention heads (``n_embd % n_head == 0``).
        n_kv_head: key/value heads (grouped-query attention; ``n_head % n_kv_head == 0``).
        n_embd: model width ``d`` (hidden size).  intermediate: MLP width (SwiGLU, Llama).
        seq_len: tokens per training window ``T`` (and per evaluation window).
        batch_size: windows per optimiser step ``B``; a step sees ``B * T`` tokens.
        budget_tokens: tokens trained on (each seen once): ``floor(budget / T)`` windows.
        learning_rate: peak AdamW learning rate.  min_lr_ratio: cosine floor as a share of it.
        warmup_steps: linear warmup steps (capped at a tenth of the run).
        weight_decay: AdamW decoupled weight decay (Loshchilov & Hutter 2019), on matrices only.
        beta1, beta2: AdamW betas (nanoGPT: 0.9, 0.95).  grad_clip: global gradient-norm clip (0 = none).
        eval_windows: held-out windows per evaluation corpus (``eval_windows * T`` tokens at most).
        eval_batch_size: windows per evaluation forward pass.
        tie_embeddings: the LM head shares the token embedding (as SmolLM2 and GPT-2 do).
        dropout: attention dropout (0: one pass over the data does not over-fit).
    """

    name: str = "cpu-small"
    tokenizer: str = DEFAULT_MODEL
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int = 4
    n_embd: int = 256
    intermediate: int = 1024
    seq_len: int = 128
    batch_size: int = 8
    budget_tokens: int = 49_152
    learning_rate: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 5
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_windows: int = 32
    eval_batch_size: int = 16
    tie_embeddings: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for f in ("n_layer", "n_head", "n_kv_head", "n_embd", "intermediate", "seq_len", "batch_size",
                  "budget_tokens", "eval_windows", "eval_batch_size"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise AlignScopeError(f"Pre-training setting {f} must be a positive integer, got {v!r}.",
                                      fix=f"pass a positive {opt(f)}.")
        if self.seq_len < 2:
            raise AlignScopeError(f"Pre-training seq_len must be at least 2 tokens, got {self.seq_len}.",
                                  fix=f"pass {opt('seq_len', 128)}.")
        if self.n_embd % self.n_head or self.n_head % self.n_kv_head:
            raise AlignScopeError(f"Width {self.n_embd} must divide into {self.n_head} heads, and the heads into "
                                  f"{self.n_kv_head} key/value heads.", fix="pick n_embd = k * n_head, n_head = j * n_kv_head.")
        if self.budget_tokens < self.seq_len:
            raise AlignScopeError(f"Token budget {self.budget_tokens:,} is smaller than one window of {self.seq_len} tokens.",
                                  fix=f"pass {opt('budget_tokens')} of at least {self.seq_len}.")
        for f in ("learning_rate", "min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip", "dropout"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v >= 0) or v == float("inf"):
                raise AlignScopeError(f"Pre-training setting {f} must be a finite number >= 0, got {v!r}.",
                                      fix=f"pass a non-negative {opt(f)}.")
        if self.learning_rate <= 0:
            raise AlignScopeError(f"Learning rate must be positive, got {self.learning_rate!r}.",
                                  fix=f"pass e.g. {opt('learning_rate', 0.002)}.")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise AlignScopeError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}.",
                                  fix=f"pass {opt('warmup_steps', 10)}.")

    # -- what a run of this config does --------------------------------------------------------------
    @property
    def train_windows(self) -> int:
        """Training windows: ``floor(budget_tokens / seq_len)``."""
        return self.budget_tokens // self.seq_len

    @property
    def tokens_trained(self) -> int:
        """Tokens the model is trained on: ``train_windows * seq_len`` (<= ``budget_tokens``)."""
        return self.train_windows * self.seq_len

    @property
    def steps(self) -> int:
        """Optimiser steps: ``ceil(train_windows / batch_size)`` (the last batch may be smaller)."""
        return -(-self.train_windows // self.batch_size)

    def to_dict(self) -> dict:
        """Every field, JSON-able (what a run records)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PretrainConfig":
        """Inverse of :meth:`to_dict` (unknown keys are an error, validated like the constructor)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AlignScopeError(f"Unknown pre-training setting(s) {', '.join(unknown)}.",
                                  fix=f"use some of: {', '.join(sorted(known))}.")
        return cls(**data)

    def with_(self, **changes: Any) -> "PretrainConfig":
        """A copy with ``changes`` (None values are ignored: unset CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


#: The named configurations (module docstring).
CONFIGS: dict[str, PretrainConfig] = {
    "cpu-small": PretrainConfig(),
    "gpu-base": PretrainConfig(name="gpu-base", n_layer=8, n_head=8, n_kv_head=8, n_embd=512, intermediate=2048,
                               seq_len=512, batch_size=32, budget_tokens=2_000_000, learning_rate=1e-3,
                               warmup_steps=20, eval_windows=64),
    "tiny": PretrainConfig(name="tiny", n_layer=2, n_head=2, n_kv_head=2, n_embd=64, intermediate=128, seq_len=64,
                           batch_size=8, budget_tokens=8_192, learning_rate=3e-3, warmup_steps=2, eval_windows=8,
                           eval_batch_size=8),
}
DEFAULT_CONFIG = "cpu-small"


def get_config(name: str = DEFAULT_CONFIG, **overrides: Any) -> PretrainConfig:
    """The named configuration with ``overrides`` (None values ignored).

    Raises:
        AlignScopeError: unknown name (listing the known ones) or a bad override.
    """
    if name not in CONFIGS:
        raise AlignScopeError(f"Unknown pre-training config {name!r}.", fix=f"use one of: {', '.join(CONFIGS)}.")
    return CONFIGS[name].with_(**overrides)
