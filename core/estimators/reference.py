"""The reference Task2Vec recipe for causal LMs (Lee, Miranda et al., arXiv 2306.13840), bugs fixed.

Recipe (brando90/beyond-scale-language-data-diversity, ``src/diversity/task2vec.py``), per batch:

1. Fine-tune only the LM head for ``epochs`` epochs on the batch's next-token loss: AdamW, lr 5e-5,
   weight decay 1e-4, eps 1e-8, minibatches of 8 sequences in order, seed 42.
2. One Monte-Carlo FIM epoch (``mc_draws`` epochs here): for each minibatch, sample labels from the
   model's own softmax, ``y_t ~ p_w(. | x_<=t)``, back-propagate the minibatch-mean negative
   log-likelihood of the sampled labels through the whole network and accumulate the squared
   gradient; divide by the number of minibatches. This estimates the FIM diagonal
   ``F = E_x E_{y~p_w} [(d/dw log p_w(y|x))^2]`` (Task2Vec, arXiv 1902.03545, eq. 1-2).
3. Embedding = for every weight matrix except the LM head, the mean of its FIM diagonal over each
   filter (row, i.e. ``grad2.reshape(shape[0], -1).mean(1)``), concatenated in module order.

Deviations from the reference code, each deliberate:

- **Sampled labels scored at the right position.** The reference samples ``y_t`` from the logits at
  position ``t`` and then passes it through its data loss, which shifts targets by one, so the sample
  from position ``t+1`` is scored against the logits of position ``t``. Here ``y_t`` is scored
  against the distribution it was drawn from.
- **Padding excluded.** The reference masks only token id 50256 (GPT-2's EOS) and, since sampled
  labels are never that id in practice, counts every padding position in the FIM. Here the loss is
  averaged over positions whose attention mask is 1, for fine-tuning and for the FIM.
- **Head fine-tuning on cached features, untied.** Only the LM head changes in step 1, so the final
  hidden states are computed once (no grad) and the head is trained on them (as the original Task2Vec
  ``_cache_features``/``_fit_classifier`` does). With tied input/output embeddings (SmolLM2, GPT-2),
  the reference's optimiser also moved the input embedding through the shared tensor; here the head
  is fine-tuned as a separate copy and the input embedding keeps its pretrained values. In step 2
  the input-embedding segment therefore holds the FIM of the input path only; the LM head is
  excluded as in the reference.

Embedding layout: one segment per module of ``model.base_model`` owning a ``weight`` parameter (token
and position embeddings, attention and MLP projections, norms), in ``named_modules`` order, each of
length ``weight.shape[0]``. For SmolLM2-135M: D = 239,808 float32 values.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.estimators.base import Segment, Task2VecEstimator, at_least, check_embedding, register_estimator

if TYPE_CHECKING:
    import torch

    from core.batches import TokenBatch
    from core.probe import ProbeNetwork


def weight_modules(probe: ProbeNetwork) -> list[tuple[str, object]]:
    """(name, parameter) for every module of the base model owning a ``weight``, shared ones once."""
    import torch

    seen: set[int] = set()
    out = []
    for name, module in probe.model.base_model.named_modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.nn.Parameter) or id(weight) in seen:
            continue
        seen.add(id(weight))
        out.append((f"{name}.weight" if name else "weight", weight))
    return out


def batch_generator(batch: TokenBatch, seed: int, device: torch.device | str) -> torch.Generator:
    """A torch.Generator seeded from the batch content and ``seed`` (same batch -> same MC draws)."""
    import torch

    gen = torch.Generator(device=device)
    digest = hashlib.sha256(f"{batch.content_hash()}:{seed}".encode()).digest()
    gen.manual_seed(int.from_bytes(digest[:8], "little") % (2 ** 63))
    return gen


def final_hidden_states(probe: ProbeNetwork, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states after the last norm: float32 [B, T, d]."""
    return probe.model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


@register_estimator
class ReferenceEstimator(Task2VecEstimator):
    """Head fine-tuning + Monte-Carlo FIM over the whole network (the reference recipe, fixed)."""

    name, version = "reference", 1

    @dataclass(frozen=True)
    class Config:
        """Hyperparameters (reference values: epochs=10, lr=5e-5, weight_decay=1e-4, minibatch=8).

        Attributes:
            epochs: head fine-tuning epochs E (0 skips fine-tuning).
            mc_draws: Monte-Carlo FIM epochs averaged (the reference uses 1).
            lr: AdamW learning rate.  weight_decay: AdamW weight decay.  adam_eps: AdamW eps.
            minibatch: sequences per minibatch for fine-tuning and the FIM.
            seed: seeds the Monte-Carlo label sampling (with the batch content) and torch during fine-tuning.
        """

        epochs: int = 10
        mc_draws: int = 1
        lr: float = 5e-5
        weight_decay: float = 1e-4
        adam_eps: float = 1e-8
        minibatch: int = 8
        seed: int = 42

        def __post_init__(self):
            at_least(self, 0, "epochs")
            at_least(self, 1, "mc_draws", "minibatch")
            for name in ("lr", "weight_decay", "adam_eps"):
                value = getattr(self, name)
                if not (value >= 0 and value < float("inf")):
                    raise ValueError(f"{name} must be a finite number >= 0 (got {value!r})")

    def layout(self, probe: ProbeNetwork) -> list[Segment]:
        segs, start = [], 0
        for name, weight in weight_modules(probe):
            segs.append(Segment(name, start, start + weight.shape[0]))
            start += weight.shape[0]
        return segs

    # -- step 1 -------------------------------------------------------------------------------
    def finetune_head(self, probe: ProbeNetwork, ids: torch.Tensor, mask: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fine-tune a copy of the LM head on cached final hidden states.

        Args:
            ids, mask: int64 [B, T].
        Returns:
            (weight [V, d] float32, bias [V] or None), detached, after ``epochs`` epochs.
        """
        import torch
        import torch.nn.functional as F

        cfg = self.config
        head = probe.lm_head
        weight = head.weight.detach().clone().requires_grad_(True)
        bias = head.bias.detach().clone().requires_grad_(True) if getattr(head, "bias", None) is not None else None
        if cfg.epochs == 0:
            return weight.detach(), None if bias is None else bias.detach()
        with torch.no_grad():
            hidden = torch.cat([final_hidden_states(probe, ids[i:i + cfg.minibatch], mask[i:i + cfg.minibatch])
                                for i in range(0, ids.shape[0], cfg.minibatch)]).float()  # [B, T, d]
        params = [weight] + ([bias] if bias is not None else [])
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, eps=cfg.adam_eps)
        torch.manual_seed(cfg.seed)
        for _ in range(cfg.epochs):
            for i in range(0, ids.shape[0], cfg.minibatch):
                h = hidden[i:i + cfg.minibatch, :-1]                      # [b, T-1, d]
                target = ids[i:i + cfg.minibatch, 1:]                     # [b, T-1]
                valid = (mask[i:i + cfg.minibatch, 1:] * mask[i:i + cfg.minibatch, :-1]).bool()
                if not valid.any():
                    continue
                logits = F.linear(h[valid], weight, bias)                 # [n, V] (bf16 under autocast)
                loss = F.cross_entropy(logits.float(), target[valid])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return weight.detach(), None if bias is None else bias.detach()

    # -- step 2 -------------------------------------------------------------------------------
    def minibatch_fim(self, probe: ProbeNetwork, ids: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None, *, labels: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Squared gradient of the mean sampled NLL of one minibatch, per-filter means.

        Args:
            ids, mask: int64 [b, T].
            labels: int64 [n] for the n real positions (row-major order); None draws them from the
                model's softmax at those same positions with ``generator``.
        Returns:
            (list of float64 tensors, one [rows] per weight of :func:`weight_modules`; labels int64 [n]).
        """
        import torch
        import torch.nn.functional as F

        params = [p for _, p in weight_modules(probe)]
        m = mask.bool()
        h = final_hidden_states(probe, ids, mask)                              # [b, T, d]
        logits = F.linear(h[m], weight, bias)                                  # [n, V]
        if labels is None:
            with torch.no_grad():
                labels = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=generator).squeeze(1)  # [n]
        loss = F.cross_entropy(logits.float(), labels)                         # mean over real positions
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros(p.shape[0], dtype=torch.float64, device=p.device) if g is None
                else g.double().pow(2).reshape(g.shape[0], -1).mean(1) for p, g in zip(params, grads)], labels

    def mc_fim(self, probe: ProbeNetwork, ids: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
               bias: torch.Tensor | None, generator: torch.Generator) -> np.ndarray:
        """Monte-Carlo FIM diagonal, per-filter means, float64 [D] (see module docstring)."""
        import torch

        cfg = self.config
        acc = None
        count = 0
        for _ in range(cfg.mc_draws):
            for i in range(0, ids.shape[0], cfg.minibatch):
                if not mask[i:i + cfg.minibatch].any():
                    continue
                parts, _ = self.minibatch_fim(probe, ids[i:i + cfg.minibatch], mask[i:i + cfg.minibatch],
                                              weight, bias, generator=generator)
                acc = parts if acc is None else [a + p for a, p in zip(acc, parts)]
                count += 1
        return torch.cat(acc).div_(max(count, 1)).cpu().numpy()

    def embed(self, probe: ProbeNetwork, batch: TokenBatch, *, precision: str = "fp32") -> np.ndarray:
        """The recipe on one batch. ``precision="bf16"``: the cached hidden states, the head's
        fine-tuning logits and the Monte-Carlo FIM's forward/backward passes run under bf16
        autocast; the head copy, AdamW's state and every gradient stay float32, labels are sampled
        from a float32 softmax and squared gradients are accumulated in float64."""
        import torch

        from core.precision import autocast, resolve_precision

        precision = resolve_precision(precision, probe.device)
        model = probe.model
        ids, mask = batch.to_torch(probe.device)
        was_training = model.training
        model.eval()  # dropout off: the FIM is of the deterministic network
        try:
            with autocast(precision, probe.device):
                weight, bias = self.finetune_head(probe, ids, mask)
            with torch.enable_grad(), autocast(precision, probe.device):
                fim = self.mc_fim(probe, ids, mask, weight, bias, batch_generator(batch, self.config.seed, probe.device))
        finally:
            model.train(was_training)
            model.zero_grad(set_to_none=True)
        return check_embedding(fim, where=f"batch {batch.index} of corpus {batch.corpus!r}")
