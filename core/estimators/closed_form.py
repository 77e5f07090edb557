"""Task2Vec estimators at the cost of about one forward pass: closed-form softmax-head FIM.

For a softmax output layer ``logits = W h + b`` (W: V x d), the FIM of W at one position, with the
label drawn from the model's own distribution ``p = softmax(W h + b)``, has the exact diagonal

    F[v, j] = E_{y~p} [((1[y=v] - p_v) h_j)^2] = p_v (1 - p_v) h_j^2                     (1)

(the Task2Vec FIM, Achille et al. arXiv 1902.03545 eq. 1, evaluated in closed form for the
categorical likelihood). The embedding keeps, as the reference does, the per-filter mean over j,
averaged over the N real (non-padding) positions of the batch:

    e_v = (1/N) sum_t p_tv (1 - p_tv) * mean_j h_tj^2                                    (2)

Since the per-filter mean commutes with the sum over positions, (2) is one matrix-vector product
``A^T s`` per chunk of the vocabulary (A: N x V_chunk of p(1-p), s: N of mean_j h^2) after a single
forward pass, with no sampling and no backward pass. The vocabulary is processed in chunks of
``vocab_chunk`` rows with a log-sum-exp computed first, so memory stays O(N x vocab_chunk).

Padding: the mean over real positions (a per-token FIM) makes the embedding invariant to padding
added to a batch, unlike the reference's minibatch-mean squared gradient whose scale grows with the
share of padding (issue 6 measurement).

Tied embeddings: (1) is the FIM of the *output* role of W only; when the head shares its tensor with
the input embedding (SmolLM2, GPT-2), the input-path contribution is not included (it would need a
backward pass). ``closed_form_blocks`` adds an exact-in-expectation Monte-Carlo FIM of the last k
transformer blocks for a richer, still cheap embedding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.errors import EstimatorError, opt
from core.estimators.base import Segment, Task2VecEstimator, at_least, check_embedding, register_estimator
from core.estimators.reference import batch_generator, final_hidden_states
from core.precision import resolve_precision

if TYPE_CHECKING:
    import torch

    from core.batches import TokenBatch
    from core.probe import ProbeNetwork


def head_fim_diag(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *, vocab_chunk: int = 8192,
                  full: bool = False, max_logits_bytes: int = 2 ** 30, precision: str = "fp32") -> torch.Tensor:
    """Closed-form expected FIM of a softmax head, eq. (1)-(2) of this module.

    Args:
        hidden: float tensor [N, d] of final hidden states at real positions.
        weight: float tensor [V, d] (the LM head), ``bias``: [V] or None.
        vocab_chunk: rows of W processed at once when the N x V logits exceed ``max_logits_bytes``
            (two passes: log-sum-exp, then probabilities; memory O(N * vocab_chunk)).
        full: return the whole V x d matrix ``(1/N) sum_t p(1-p) h^2`` instead of the per-filter means.
        max_logits_bytes: below this size the logits are computed once, in one matmul (the same cost
            as the probe's own output layer), and transformed in place.
        precision: ``"bf16"`` computes the logits ``W h`` as a bf16 matrix product (bf16 inputs,
            float32 accumulation, bf16 result), the one product of the head that costs as much as a
            forward layer; they are widened to float32 at once, and the log-sum-exp, ``p (1 - p)``
            and the sum over positions run in float32. ``"fp32"``: everything in float32.

    Returns:
        float32 tensor [V] (per-filter means, eq. 2) or [V, d] when ``full``.
    """
    import torch

    n = hidden.shape[0]
    h = hidden.float()
    low = precision == "bf16"
    hl = h.bfloat16() if low else h
    wl = weight.detach().bfloat16() if low else weight.detach().float()

    def head_logits(s: int = 0, e: int | None = None):                           # float32 [N, e - s]
        out = (hl @ wl[s:e].T).float()
        if bias is not None:
            out += bias[s:e].float()
        return out

    if not full and n * weight.shape[0] * 4 <= max_logits_bytes:
        with torch.no_grad():
            logits = head_logits()                                                # [N, V]
            logits -= torch.logsumexp(logits, dim=1, keepdim=True)
            p = logits.exp_()                                                     # [N, V], in place
            p.mul_(1.0 - p)                                                       # p (1 - p)
            return (p.T @ (h * h).mean(1)) / n                                    # [V]
    with torch.no_grad():
        # log-sum-exp over the whole vocabulary, chunk by chunk: [N]
        lse = torch.full((n,), float("-inf"), device=h.device)
        for s in range(0, weight.shape[0], vocab_chunk):
            logits = head_logits(s, s + vocab_chunk)                              # [N, Vc]
            lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
        h2 = h * h                                                                # [N, d]
        s_vec = h2.mean(1)                                                        # [N]
        out = []
        for s in range(0, weight.shape[0], vocab_chunk):
            logits = head_logits(s, s + vocab_chunk)
            p = torch.exp(logits - lse[:, None])                                  # [N, Vc]
            a = p * (1.0 - p)                                                     # [N, Vc]
            out.append((a.T @ h2) / n if full else (a.T @ s_vec) / n)             # [Vc, d] or [Vc]
        return torch.cat(out)


AUTOCAST = {"none": None, "bf16": "bfloat16", "fp16": "float16"}


def forward_autocast(precision: str, autocast: str = "none") -> str:
    """The ``AUTOCAST`` name of the probe's forward pass: the legacy ``autocast`` hyperparameter
    when set (it is part of the cache key), else the execution ``precision`` (``bf16`` -> ``bf16``)."""
    if autocast != "none":
        return autocast
    return "bf16" if precision == "bf16" else "none"


def real_hidden(probe: ProbeNetwork, batch: TokenBatch, minibatch: int, autocast: str = "none") -> torch.Tensor:
    """Final hidden states at the real positions of ``batch``: float32 [N, d] (N = real tokens).

    ``autocast`` ("none", "bf16", "fp16") runs the forward pass under ``torch.autocast`` on the probe's
    device (the FIM itself is always computed in float32); tolerance is tested in
    tests/core/test_estimators.py and tests/integration (bf16: Task2Vec distance to the float32
    embedding < 1e-3).
    """
    import torch

    ids, mask = batch.to_torch(probe.device)
    parts = []
    dtype = AUTOCAST[autocast]
    with torch.no_grad(), torch.autocast(probe.device.type, dtype=getattr(torch, dtype or "float32"),
                                         enabled=dtype is not None):
        for i in range(0, ids.shape[0], minibatch):
            h = final_hidden_states(probe, ids[i:i + minibatch], mask[i:i + minibatch])  # [b, T, d]
            parts.append(h[mask[i:i + minibatch].bool()].float())
    return torch.cat(parts)


@register_estimator
class ClosedFormHeadEstimator(Task2VecEstimator):
    """Exact expected FIM of the LM head (eq. 1-2) from one forward pass; D = V."""

    name, version = "closed_form_head", 1

    @dataclass(frozen=True)
    class Config:
        """Attributes: minibatch (sequences per forward pass), vocab_chunk (rows of W at once),
        autocast (legacy, part of the cache key: "none", "bf16", "fp16" forces that dtype for the
        forward pass whatever the execution precision; "none", the default, follows the
        ``precision`` passed to :meth:`embed`, the setting to use)."""

        minibatch: int = field(default=16, metadata={"key": False})      # per-token mean: no effect
        vocab_chunk: int = field(default=8192, metadata={"key": False})  # exact chunking: no effect
        autocast: str = "none"

        def __post_init__(self):
            at_least(self, 1, "minibatch", "vocab_chunk")
            if self.autocast not in AUTOCAST:
                raise ValueError(f"autocast must be one of {sorted(AUTOCAST)}")

    def layout(self, probe: ProbeNetwork) -> list[Segment]:
        return [Segment("lm_head.weight", 0, probe.lm_head.weight.shape[0])]

    def embed(self, probe: ProbeNetwork, batch: TokenBatch, *, precision: str = "fp32") -> np.ndarray:
        """Eq. (2) for one batch. ``precision`` (resolved, ``fp32`` | ``bf16``): ``bf16`` runs the
        forward pass under bf16 autocast and the head's logits as a bf16 product; log-sum-exp,
        ``p (1 - p)`` and the sums stay float32 (Task2Vec distance to fp32 < 1e-3 on real batches,
        tests/integration). The legacy ``autocast`` hyperparameter, when set, fixes the forward
        pass's dtype (it is in the cache key; its entries were made with a float32 head)."""
        precision = resolve_precision(precision, probe.device)
        model = probe.model
        model.eval()
        h = real_hidden(probe, batch, self.config.minibatch, forward_autocast(precision, self.config.autocast))
        head = probe.lm_head
        e = head_fim_diag(h, head.weight, getattr(head, "bias", None), vocab_chunk=self.config.vocab_chunk,
                          precision=precision)
        return check_embedding(e.cpu().numpy(), where=f"batch {batch.index} of corpus {batch.corpus!r}")

    def embed_rows(self, probe: ProbeNetwork, batch: TokenBatch, *, precision: str = "fp32") -> np.ndarray:
        """Per-window Task2Vec embeddings: eq. (2) over the real positions of each row (window) of
        ``batch`` separately, from the same single forward pass as :meth:`embed`.

        Because eq. (2) is a mean over positions, the batch embedding is the token-weighted mean of
        these rows: ``embed(batch) = sum_r n_r e_r / sum_r n_r`` (n_r = real tokens of row r; exact up
        to float rounding). Used by window-level selection (:mod:`core.selection`); the cache keys of
        :meth:`embed` are unchanged (per-window entries carry ``per_sequence`` in their key).

        Returns:
            float32 array [B, D] (D = V); a row without real tokens is all zeros.

        Raises:
            EstimatorError: a non-empty row's FIM is NaN/inf or all zeros.
        """
        import torch

        precision = resolve_precision(precision, probe.device)
        probe.model.eval()
        h = real_hidden(probe, batch, self.config.minibatch, forward_autocast(precision, self.config.autocast))
        head = probe.lm_head
        lengths = [int(n) for n in batch.attention_mask.sum(1)]
        out = np.zeros((len(lengths), head.weight.shape[0]), dtype=np.float32)
        for r, part in enumerate(torch.split(h, lengths)):
            if lengths[r] == 0:
                continue
            e = head_fim_diag(part, head.weight, getattr(head, "bias", None), vocab_chunk=self.config.vocab_chunk,
                              precision=precision)
            out[r] = check_embedding(e.cpu().numpy(), where=f"window {r} of batch {batch.index} of {batch.corpus!r}")
        return out


def transformer_blocks(probe: ProbeNetwork) -> torch.nn.ModuleList:
    """The ``nn.ModuleList`` of transformer blocks of the base model (Llama ``layers``, GPT-2 ``h``)."""
    import torch

    base = probe.model.base_model
    for attr in ("layers", "h", "blocks", "block"):
        blocks = getattr(base, attr, None)
        if isinstance(blocks, torch.nn.ModuleList):
            return attr, blocks
    raise ValueError(f"cannot find the transformer blocks of {type(base).__name__}")


@register_estimator
class ClosedFormBlocksEstimator(Task2VecEstimator):
    """Closed-form head FIM plus a Monte-Carlo per-token FIM of the last ``k`` blocks and final norm.

    The blocks' segment is the squared gradient of the summed sampled log-likelihood divided by the
    number of real tokens, averaged over ``mc_draws`` draws (labels drawn from the model's softmax at
    the position they are scored at). Only the last ``k`` blocks need a backward pass.
    Layout: ``lm_head.weight`` (V) followed by one segment per weight of the last k blocks and the
    final norm, each of length ``weight.shape[0]``.
    """

    name, version = "closed_form_blocks", 1

    @dataclass(frozen=True)
    class Config:
        """Attributes: k (last blocks covered, 1 to the probe's layer count), mc_draws, minibatch,
        vocab_chunk, seed."""

        k: int = 2
        mc_draws: int = 1
        minibatch: int = 8
        vocab_chunk: int = field(default=8192, metadata={"key": False})  # exact chunking: no effect
        seed: int = 42

        def __post_init__(self):
            at_least(self, 1, "k", "mc_draws", "minibatch", "vocab_chunk")

    def check_model(self, *, num_layers: int | None = None) -> None:
        """``k`` may not exceed the probe's layer count (``num_layers``; None: unknown).

        Raises:
            EstimatorError: naming k, the layer count and the fix.
        """
        n = num_layers
        if n is not None and self.config.k > n:
            raise EstimatorError(f"Estimator {self.name!r}: k={self.config.k} exceeds the {n} transformer blocks of "
                                 "the probe network.", fix=f"give {opt('estimator_param', f'k={n}')} or less.")

    def _block_params(self, probe):
        import torch

        attr, blocks = transformer_blocks(probe)
        self.check_model(num_layers=len(blocks))
        k = self.config.k
        out = []
        start = len(blocks) - k
        for name, module in probe.model.base_model.named_modules():
            inside = any(name.startswith(f"{attr}.{i}.") or name == f"{attr}.{i}" for i in range(start, len(blocks)))
            is_final_norm = name in ("norm", "ln_f", "final_layer_norm")
            w = getattr(module, "weight", None)
            if (inside or is_final_norm) and isinstance(w, torch.nn.Parameter):
                out.append((f"{name}.weight", w))
        return out

    def layout(self, probe: ProbeNetwork) -> list[Segment]:
        v = probe.lm_head.weight.shape[0]
        segs, start = [Segment("lm_head.weight", 0, v)], v
        for name, w in self._block_params(probe):
            segs.append(Segment(name, start, start + w.shape[0]))
            start += w.shape[0]
        return segs

    def embed(self, probe: ProbeNetwork, batch: TokenBatch, *, precision: str = "fp32") -> np.ndarray:
        """Head FIM (eq. 2) plus the blocks' Monte-Carlo FIM of one batch. ``precision="bf16"``: the
        forward and backward passes run under bf16 autocast (the weights and their gradients stay
        float32), the labels are sampled from a float32 softmax, the squared gradients are
        accumulated in float64, and the head's logits are a bf16 product (see :func:`head_fim_diag`)."""
        import torch
        import torch.nn.functional as F

        from core.precision import autocast

        precision = resolve_precision(precision, probe.device)
        cfg = self.config
        model = probe.model
        model.eval()
        head = probe.lm_head
        named = self._block_params(probe)
        params = [p for _, p in named]
        # Only the last k blocks need gradients: freeze everything else for this call.
        flags = {id(p): p.requires_grad for p in model.parameters()}
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        gen = batch_generator(batch, cfg.seed, probe.device)
        ids, mask = batch.to_torch(probe.device)
        acc = [torch.zeros(p.shape[0], dtype=torch.float64, device=p.device) for p in params]
        hid = []
        n_total = 0
        try:
            with torch.enable_grad(), autocast(precision, probe.device):
                for i in range(0, ids.shape[0], cfg.minibatch):
                    m = mask[i:i + cfg.minibatch].bool()
                    if not m.any():
                        continue
                    h = final_hidden_states(probe, ids[i:i + cfg.minibatch], mask[i:i + cfg.minibatch])[m]  # [n, d]
                    hid.append(h.detach().float())
                    n_total += h.shape[0]
                    logits = F.linear(h, head.weight, getattr(head, "bias", None))               # [n, V]
                    for d in range(cfg.mc_draws):
                        with torch.no_grad():
                            y = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen).squeeze(1)
                        # per-token scale: gradient of the summed log-lik, squared, later / N tokens
                        loss = F.cross_entropy(logits.float(), y, reduction="sum")
                        grads = torch.autograd.grad(loss, params, retain_graph=d + 1 < cfg.mc_draws)
                        for a, g in zip(acc, grads):
                            a += g.double().pow(2).reshape(g.shape[0], -1).mean(1)
        finally:
            for p in model.parameters():
                p.requires_grad_(flags[id(p)])
        blocks = torch.cat(acc).div_(max(n_total, 1) * cfg.mc_draws)
        head_e = head_fim_diag(torch.cat(hid), head.weight, getattr(head, "bias", None), vocab_chunk=cfg.vocab_chunk,
                               precision=precision)
        vec = torch.cat([head_e.double(), blocks]).cpu().numpy()
        return check_embedding(vec, where=f"batch {batch.index} of corpus {batch.corpus!r}")
