"""The model: a Llama-style causal decoder built from a :class:`PretrainConfig`, randomly initialised.

We use the library's ``transformers.LlamaConfig`` / ``LlamaForCausalLM`` (RMSNorm, rotary position
embeddings, SwiGLU MLP; Touvron et al. 2023) rather than a hand-written block: it is the probe
network's own architecture (SmolLM2 is a Llama), so the pre-trained model is one more checkpoint
that every part of the workbench (perplexity, Task2Vec) can load from a folder. Weights are drawn by
the library's ``_init_weights`` (normal, std ``initializer_range`` = 0.02, as GPT-2 and nanoGPT) under
``torch.manual_seed(seed)``, so the same config and seed give the same initial model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from core.pretrain.config import PretrainConfig


def build_model(config: PretrainConfig, *, vocab_size: int, pad_token_id: int | None, bos_token_id: int | None,
                eos_token_id: int | None, seed: int) -> torch.nn.Module:
    """A freshly initialised ``LlamaForCausalLM`` of ``config``'s shape, float32, in train mode on the CPU.

    Args:
        vocab_size: the tokenizer's vocabulary ``V`` (``len(tokenizer)``; SmolLM2: 49,152).
        pad_token_id, bos_token_id, eos_token_id: the tokenizer's special ids (recorded in the config).
        seed: ``torch.manual_seed`` before the weights are drawn.

    Returns:
        The model: input ids int64 [B, T] -> logits float32 [B, T, V].
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=config.n_embd, intermediate_size=config.intermediate,
                      num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
                      num_key_value_heads=config.n_kv_head, max_position_embeddings=config.seq_len,
                      attention_dropout=config.dropout, tie_word_embeddings=config.tie_embeddings,
                      pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                      initializer_range=0.02, use_cache=False)
    torch.manual_seed(int(seed))
    model = LlamaForCausalLM(cfg)
    model.train()
    return model


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """``{"total", "embedding", "blocks"}``: parameters, each tensor once (a tied head is not counted twice)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    emb = model.get_input_embeddings().weight.numel()
    head = model.get_output_embeddings().weight
    untied = head is not model.get_input_embeddings().weight
    return {"total": total, "embedding": emb + (head.numel() if untied else 0),
            "blocks": total - emb - (head.numel() if untied else 0)}
