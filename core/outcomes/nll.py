"""The scoring kernel of every NLL outcome: summed NLL of completion tokens given their context.

Teacher forcing with the causal LM's standard shifted cross-entropy, masked to the completion: for
an item ``(context, completion)`` (after a ``prefix`` shared by all items), completion token ``y_j``
is scored as ``-log p(y_j | prefix, context, y_<j)`` (nats). Per item the kernel returns the sum of
these NLLs and the number of tokens scored; aggregates are token-weighted (the alignment paper's
eq. 2: ``perplexity = exp(sum NLL / sum tokens)``).

Memory stays bounded: the model's body runs on each batch (``[B, T, d]`` hidden states) and the LM
head (``get_output_embeddings()``) is applied only to the hidden states of scored positions, in
chunks of at most :data:`HEAD_CHUNK` rows, so ``[B, T, V]`` logits are never materialised.

The shared ``prefix`` (e.g. in-context demonstrations common to every problem) is run once with
batch 1; its key-value cache (``transformers.DynamicCache``) is copied and expanded over each batch,
position ids continue after it, and the attention mask is ones over the prefix followed by the
batch's mask. It equals an uncached forward of ``prefix + context + completion`` (fp32: to 1e-5).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from core.errors import AlignScopeError
from core.outcomes.batching import inference, padded_batches

if TYPE_CHECKING:
    import torch

#: Rows of hidden states widened to vocabulary logits at a time ([HEAD_CHUNK, V] float32 at most).
HEAD_CHUNK = 1024


@dataclass(frozen=True)
class CompletionScores:
    """Per-item scores of :func:`completion_nll`.

    Attributes:
        nll: float64 ``[n]``: summed NLL (nats) of each item's completion tokens.
        tokens: int64 ``[n]``: completion tokens scored per item (``len(completion)``).
    """

    nll: np.ndarray
    tokens: np.ndarray

    @property
    def total_nll(self) -> float:
        """Sum of NLL over every scored token (nats)."""
        return float(self.nll.sum())

    @property
    def total_tokens(self) -> int:
        """Number of scored tokens over all items."""
        return int(self.tokens.sum())

    @property
    def mean_nll(self) -> float:
        """Token-weighted mean NLL, nats/token: ``sum(nll) / sum(tokens)`` (eq. 2's exponent)."""
        return self.total_nll / self.total_tokens

    @property
    def perplexity(self) -> float:
        """``exp(mean_nll)`` (the alignment paper's eq. 2); ``inf`` when it overflows."""
        m = self.mean_nll
        return math.exp(m) if m < 700 else math.inf

    @property
    def per_item_nll(self) -> np.ndarray:
        """float64 ``[n]``: each item's mean NLL, nats/token."""
        return self.nll / self.tokens


def causal_parts(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """``(causal_lm, body, lm_head)`` of a HF causal LM, a peft-wrapped one unwrapped.

    ``body`` is the transformer without its head (``causal_lm.base_model``: e.g. ``LlamaModel``,
    ``GPT2Model``; it ends with the final norm); ``lm_head`` is ``get_output_embeddings()``. peft's
    LoRA layers are injected in place, so the unwrapped modules carry them.

    Raises:
        ModelError: the model has no output embeddings or no separate body.
    """
    from core.errors import ModelError

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = causal.get_output_embeddings() if hasattr(causal, "get_output_embeddings") else None
    body = getattr(causal, "base_model", None)
    if head is None or body is None or body is causal:
        raise ModelError(f"Model {type(causal).__name__} is not a causal LM with a separate body and LM head.",
                         fix="pass an AutoModelForCausalLM (e.g. core.finetune.train.load_causal_lm(probe)).")
    return causal, body, head


def _check_items(items: Sequence[tuple[Sequence[int], Sequence[int]]], prefix: Sequence[int]) -> list[tuple[list[int], list[int]]]:
    out = []
    for i, item in enumerate(items):
        try:
            context, completion = item
        except (TypeError, ValueError):
            raise AlignScopeError(f"Item {i} is not a (context_ids, completion_ids) pair.",
                                  fix="pass items as a list of (context token ids, completion token ids).") from None
        context, completion = [int(t) for t in context], [int(t) for t in completion]
        if len(prefix) + len(context) < 1:
            raise AlignScopeError(f"Item {i} has no context: empty prefix and empty context_ids, so its first "
                                  "completion token has nothing to be predicted from.",
                                  fix="give the item at least one context token (or a non-empty prefix).")
        if len(completion) < 1:
            raise AlignScopeError(f"Item {i} has an empty completion (nothing to score).",
                                  fix="drop the item or give it at least one completion token.")
        out.append((context, completion))
    if not out:
        raise AlignScopeError("No items to score.", fix="pass at least one (context_ids, completion_ids) pair.")
    return out


def completion_nll(model: torch.nn.Module, items: Sequence[tuple[Sequence[int], Sequence[int]]], *,
                   prefix: Sequence[int] = (), batch_size: int = 8, pad_id: int = 0, precision: str = "fp32",
                   should_stop: Callable[[], bool] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> CompletionScores:
    """Summed NLL (nats) of each item's completion tokens given ``prefix + context`` (teacher forcing).

    Completion token ``j`` of item ``i`` is predicted from ``prefix + context_i + completion_i[:j]``
    (the causal LM's shifted cross-entropy, masked to the completion); context and prefix tokens are
    never scored. Items are sorted by length and batched (right-padded, padding masked; results are
    returned in the input order). The LM head is applied only at scored positions; log-softmax /
    cross-entropy run in float32 and sums in float64.

    Args:
        model: a HF causal LM (or a peft model wrapping one; unwrapped with ``get_base_model()``).
        items: ``[(context_ids, completion_ids)]`` token-id sequences, ``n`` items.
        prefix: token ids shared by every item, before its context; its key-value cache is computed
            once (batch 1) and reused for every batch.
        batch_size: items per forward pass (>= 1).
        pad_id: id written in padding positions (masked, never scored).
        precision: resolved precision, ``fp32`` or ``bf16`` (``bf16``: the body and head run under
            :func:`core.precision.autocast`).
        should_stop: called between batches; when it returns True, ``InterruptedError`` is raised.
        progress: ``progress(done_batches, total_batches)`` after each batch.

    Returns:
        :class:`CompletionScores` with ``nll`` float64 ``[n]`` and ``tokens`` int64 ``[n]``.

    Raises:
        AlignScopeError: an item with ``len(prefix) + len(context) < 1`` or an empty completion
            (naming the item), no items, ``batch_size < 1``, or a precision other than fp32/bf16.
        ModelError: not a causal LM with a separate body and head.
        InterruptedError: ``should_stop()`` returned True.
    """
    if int(batch_size) < 1:
        raise AlignScopeError(f"batch_size must be >= 1 (got {batch_size!r}).", fix="use a batch size of 1 or more.")
    if precision not in ("fp32", "bf16"):
        raise AlignScopeError(f"Precision {precision!r} is not resolved.",
                              fix="pass fp32 or bf16 (core.precision.resolve_precision(requested, device)).")
    prefix = [int(t) for t in prefix]
    checked = _check_items(items, prefix)
    causal, body, head = causal_parts(model)
    return _compute_completion_nll(causal, body, head, checked, prefix, int(batch_size), int(pad_id), precision,
                                   should_stop, progress)


def _compute_completion_nll(causal, body, head, items, prefix, batch_size, pad_id, precision, should_stop, progress
                            ) -> CompletionScores:
    import torch

    from core.precision import autocast

    device = next(causal.parameters()).device
    n = len(items)
    nll = np.zeros(n, dtype=np.float64)
    tokens = np.array([len(c) for _, c in items], dtype=np.int64)
    seqs = [context + completion for context, completion in items]
    P = len(prefix)
    with inference(causal):
        cache, last_prefix = None, None
        if P:
            pids = torch.tensor([prefix], dtype=torch.long, device=device)                   # [1, P]
            with autocast(precision, device):
                out = body(input_ids=pids, attention_mask=torch.ones_like(pids), use_cache=True)
            cache = out.past_key_values                                                      # DynamicCache, batch 1
            last_prefix = out.last_hidden_state[0, -1:]                                      # [1, d]
        for idx, ids, mask in padded_batches(seqs, batch_size=batch_size, pad_id=pad_id, should_stop=should_stop,
                                             progress=progress, what="scoring completions"):
            B, width = ids.shape
            src, tgt, owner = [], [], []       # flat hidden-state row, target token, item (one per scored token)
            for r, i in enumerate(idx):
                # token at position p (p >= len(context)) is predicted from the hidden state at p - 1;
                # p - 1 == -1 (empty context) is the prefix's last hidden state (flat row 0)
                for p in range(len(items[i][0]), len(seqs[i])):
                    src.append(0 if p == 0 else 1 + r * width + p - 1)
                    tgt.append(seqs[i][p])
                    owner.append(i)
            ids, mask = ids.to(device), mask.to(device)
            if P:
                past = copy.deepcopy(cache)
                if B > 1:
                    past.batch_repeat_interleave(B)                                          # [B, heads, P, dh] per layer
                kw = {"past_key_values": past,
                      "attention_mask": torch.cat([torch.ones((B, P), dtype=mask.dtype, device=device), mask], 1),
                      "position_ids": (P + torch.arange(width, device=device)).unsqueeze(0).expand(B, -1)}
            else:
                kw = {"attention_mask": mask,
                      "position_ids": torch.arange(width, device=device).unsqueeze(0).expand(B, -1)}
            with autocast(precision, device):
                hidden = body(input_ids=ids, use_cache=False, **kw).last_hidden_state        # [B, T, d]
            flat = hidden.reshape(B * width, -1)                                             # [B*T, d]
            first = last_prefix.to(flat.dtype) if P else flat.new_zeros((1, flat.shape[1]))
            flat = torch.cat([first, flat], 0)                                               # [1 + B*T, d]
            src_t = torch.tensor(src, dtype=torch.long, device=device)
            tgt_t = torch.tensor(tgt, dtype=torch.long, device=device)
            per_token = torch.empty(len(src), dtype=torch.float64)
            for k in range(0, len(src), HEAD_CHUNK):
                rows = flat[src_t[k:k + HEAD_CHUNK]]                                         # [c, d]
                with autocast(precision, device):
                    logits = head(rows)                                                      # [c, V]
                ce = torch.nn.functional.cross_entropy(logits.float(), tgt_t[k:k + HEAD_CHUNK],
                                                       reduction="none")                     # [c], float32
                per_token[k:k + HEAD_CHUNK] = ce.double().cpu()
                del logits
            np.add.at(nll, np.asarray(owner, dtype=np.int64), per_token.numpy())
    return CompletionScores(nll=nll, tokens=tokens)
