"""Training and evaluation: one pre-training run from random initialisation, and held-out cross-entropy.

A plain PyTorch loop, not ``transformers.Trainer``: a run is one pass over pre-packed windows
(int64 [N, T], :mod:`core.pretrain.data`), a few hundred steps of a few seconds each, and the loop
records exactly what the grid needs (every step's loss, tokens trained, wall time) without the
Trainer's data collator, accelerate setup and logging machinery (about 2 s of start-up per run and
per-step callbacks to get the losses out). The loop is nanoGPT's (Karpathy, ``train.py``):

- AdamW (Loshchilov & Hutter 2019) with weight decay on matrices (``dim >= 2``) only, betas
  ``(beta1, beta2)``;
- learning rate: linear warmup for ``warmup`` steps, then cosine decay to ``min_lr`` at the last step
  (nanoGPT ``get_lr``): ``lr(t) = min_lr + 0.5 (1 + cos(pi (t - w) / (S - w))) (lr - min_lr)``;
- global gradient-norm clipping (Pascanu et al. 2013) at ``grad_clip``.

Cross-entropy (nats/token) is the mean next-token negative log-likelihood
``-1/n sum_t log p(x_{t+1} | x_{<=t})`` over every predicted position of every window (``T - 1``
per window: the first token of a window has no context), natural logarithm (``torch.nn.functional.
cross_entropy``). Perplexity is ``exp`` of it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.errors import AlignScopeError

if TYPE_CHECKING:
    import torch

    from core.pretrain.config import PretrainConfig

#: ``(step, total steps, loss in nats/token)`` after each optimiser step.
Progress = Callable[[int, int, float], None]


class PretrainError(AlignScopeError):
    """Training could not go on (a NaN or infinite loss)."""


def learning_rate(step: int, *, config: PretrainConfig, total_steps: int) -> float:
    """nanoGPT's ``get_lr``: linear warmup over ``w = min(warmup_steps, S // 10)`` steps, then cosine
    decay from ``learning_rate`` to ``learning_rate * min_lr_ratio`` at step ``S - 1`` (``step`` is 0-based)."""
    lr, min_lr = config.learning_rate, config.learning_rate * config.min_lr_ratio
    warm = min(config.warmup_steps, max(0, total_steps // 10))
    if step < warm:
        return lr * (step + 1) / (warm + 1)
    span = max(1, total_steps - 1 - warm)
    ratio = min(1.0, (step - warm) / span)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def _optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
    """AdamW with decay on parameters of ``dim >= 2`` (matrices, embeddings), none on norms (nanoGPT)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    other = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(config.beta1, config.beta2))


@dataclass
class TrainResult:
    """What a training loop did.

    Attributes:
        losses: training loss of every step (nats/token, the batch mean before the step's update).
        tokens_trained: tokens in the windows trained on (each seen once).
        steps: optimiser steps.  seconds: wall time of the loop (seconds).
        lrs: the learning rate of every step.
    """

    losses: list[float] = field(default_factory=list)
    tokens_trained: int = 0
    steps: int = 0
    seconds: float = 0.0
    lrs: list[float] = field(default_factory=list)

    def loss_summary(self, *, k: int = 5) -> dict:
        """``{"first", "last", "first_k_mean", "last_k_mean"}`` of the step losses (nats/token)."""
        if not self.losses:
            return {"first": None, "last": None, "first_k_mean": None, "last_k_mean": None}
        k = max(1, min(k, len(self.losses) // 2 or 1))
        return {"first": self.losses[0], "last": self.losses[-1],
                "first_k_mean": float(np.mean(self.losses[:k])), "last_k_mean": float(np.mean(self.losses[-k:]))}


def train(model: torch.nn.Module, windows: np.ndarray, *, config: PretrainConfig, seed: int,
          device: str | torch.device = "cpu", progress: Progress | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train ``model`` for one pass over ``windows`` in a seeded order (nanoGPT loop, module docstring).

    Args:
        model: a causal LM (:func:`core.pretrain.model.build_model`), trained in place.
        windows: int64 [N, T] token windows; the batches are rows of ``default_rng([seed, 577]).permutation(N)``,
            ``config.batch_size`` at a time (the last batch may be smaller).
        seed: the window order's seed (the model's initialisation has its own, in ``build_model``).
        progress: called after each step with ``(step, total, loss)``.
        should_stop: polled after each step; True raises ``InterruptedError``.

    Raises:
        PretrainError: a NaN or infinite loss (names the step and the learning rate).
        InterruptedError: ``should_stop()`` returned True.
    """
    import torch
    import torch.nn.functional as F

    N, T = windows.shape
    order = np.random.default_rng([int(seed), 577]).permutation(N)
    B = config.batch_size
    total = -(-N // B)
    opt = _optimizer(model, config)
    model.to(device)
    model.train()
    result = TrainResult()
    t0 = time.perf_counter()
    for step in range(total):
        lr = learning_rate(step, config=config, total_steps=total)
        for g in opt.param_groups:
            g["lr"] = lr
        rows = order[step * B:(step + 1) * B]
        x = torch.as_tensor(windows[rows], device=device)            # [b, T] int64
        logits = model(input_ids=x).logits                           # [b, T, V] float32
        # next-token targets: position t predicts x[:, t+1]          # [b, T-1, V] vs [b, T-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        value = float(loss.detach())
        if not math.isfinite(value):
            raise PretrainError(f"The training loss is {value} at step {step + 1} of {total} (learning rate {lr:.2e}).",
                                fix="lower --lr or raise --warmup-steps.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        result.losses.append(value)
        result.lrs.append(lr)
        result.tokens_trained += int(x.numel())
        result.steps = step + 1
        if progress is not None:
            progress(step + 1, total, value)
        if should_stop is not None and should_stop():
            raise InterruptedError(f"stopped after step {step + 1} of {total}")
    result.seconds = time.perf_counter() - t0
    model.eval()
    return result


def cross_entropy(model: torch.nn.Module, windows: np.ndarray, *, batch_size: int = 16,
                  device: str | torch.device = "cpu") -> dict:
    """Held-out cross-entropy of ``model`` on ``windows`` (module docstring).

    Args:
        windows: int64 [N, T] evaluation windows (no padding).
        batch_size: windows per forward pass.

    Returns:
        ``{"nats_per_token", "ppl", "predicted_tokens", "windows", "window_nats"}``: the mean NLL
        (nats/token), its perplexity, the count of predicted tokens ``N * (T - 1)``, ``N``, and the
        mean NLL of each window (float list [N], for a bootstrap over windows).
    """
    import torch
    import torch.nn.functional as F

    N, T = windows.shape
    if N == 0:
        raise AlignScopeError("No evaluation windows.", fix="give the evaluation corpus more held-out text.")
    model.to(device)
    model.eval()
    per_window: list[float] = []
    with torch.no_grad():
        for start in range(0, N, batch_size):
            x = torch.as_tensor(windows[start:start + batch_size], device=device)   # [b, T]
            logits = model(input_ids=x).logits                                      # [b, T, V]
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), x[:, 1:], reduction="none")   # [b, T-1]
            per_window += nll.mean(dim=1).double().tolist()
    mean = float(np.mean(per_window))       # every window has T - 1 predictions: the token mean
    return {"nats_per_token": mean, "ppl": float(math.exp(mean)), "predicted_tokens": int(N * (T - 1)),
            "windows": int(N), "window_nats": per_window}
