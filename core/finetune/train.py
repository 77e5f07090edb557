"""Fine-tuning a causal LM with ``transformers.Trainer`` (full fine-tuning, or LoRA through peft).

The model is a fresh float32 copy loaded from the probe network's source (``core.probe`` resolves
the name: ``smollm2-135m``, a folder or a hub id), so fine-tuning never touches the memoised probe
used for Task2Vec embeddings. CUDA is used when present (``device="auto"``), else the CPU.

Progress and cancellation go through a :class:`transformers.TrainerCallback`: after each optimiser
step it reports ``(step, total, loss)`` and polls ``should_stop()``; a stop request ends training
after the current step and :func:`train` raises ``InterruptedError``. A NaN or infinite loss stops
training and raises :class:`TrainingError`.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from core.errors import AlignScopeError

if TYPE_CHECKING:
    import torch

    from core.finetune.config import FinetuneConfig
    from core.probe import ProbeNetwork


class TrainingError(AlignScopeError):
    """Training could not go on (NaN loss, out of memory)."""


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def first_loss(self) -> float | None:
        return self.losses[0] if self.losses else None

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


def load_causal_lm(probe: ProbeNetwork, *, device: str | torch.device | None = None) -> torch.nn.Module:
    """A fresh, trainable float32 copy of the probe network's causal LM on ``device`` (default the probe's)."""
    return probe.fresh_model(device)


class _Dataset:
    """Packed sequences -> ``{"input_ids", "attention_mask", "labels"}`` tensors of length ``seq_len``."""

    def __init__(self, sequences: list[list[int]], seq_len: int, pad_id: int):
        self.sequences, self.seq_len, self.pad_id = sequences, seq_len, pad_id

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, i):
        import torch

        s = self.sequences[i]
        n = len(s)
        ids = torch.full((self.seq_len,), self.pad_id, dtype=torch.long)
        ids[:n] = torch.tensor(s, dtype=torch.long)
        mask = torch.zeros(self.seq_len, dtype=torch.long)
        mask[:n] = 1
        labels = ids.clone()
        labels[n:] = -100
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def lora_wrap(model: torch.nn.Module, config: FinetuneConfig) -> torch.nn.Module:
    """Wrap ``model`` with peft LoRA adapters on every linear projection of the attention and MLP blocks."""
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ in ("Linear", "Conv1D")}
    candidates = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",  # llama-style
                  "c_attn", "c_proj", "c_fc"]                                                 # gpt2-style
    targets = [n for n in candidates if n in names]
    if not targets:
        raise TrainingError(f"LoRA: no known projection layers in {type(model).__name__}.",
                            fix="use --method full for this architecture.")
    lcfg = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM",
                      fan_in_fan_out="c_attn" in targets)
    return get_peft_model(model, lcfg)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def train(model: torch.nn.Module, sequences: list[list[int]], config: FinetuneConfig, *, pad_id: int,
          progress: Callable[[int, int, float | None], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Fine-tune ``model`` in place on packed ``sequences`` with ``transformers.Trainer``.

    Precision: when ``config.precision`` resolves to ``bf16`` (:meth:`FinetuneConfig.resolved_precision`),
    the Trainer's own mixed precision is used (``TrainingArguments(bf16=True)``, with ``use_cpu`` on
    a CPU: forward and backward under bf16 autocast; weights, gradients and the fused AdamW state
    stay float32); else everything is float32.

    Args:
        model: a causal LM (or a peft model) on its device.
        sequences: token id lists of at most ``config.seq_len`` tokens (padding masked from the loss).
        config: :class:`~core.finetune.config.FinetuneConfig` (epochs, learning_rate, batch_size, seed,
            precision...).
        progress: ``(step, total_steps, last_loss)`` after every optimiser step.
        should_stop: polled after every step; True ends training and raises ``InterruptedError``.
        log: receives one line per logged step.

    Raises:
        InterruptedError: stopped by ``should_stop``.
        TrainingError: the loss became NaN/inf, or the device ran out of memory.
    """
    import torch
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, default_data_collator

    dataset = _Dataset(sequences, config.seq_len, pad_id)
    device = next(model.parameters()).device
    state = {"losses": [], "nan": None, "stopped": False}

    class _Callback(TrainerCallback):
        def on_log(self, args, st, control, logs=None, **kw):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            loss = float(loss)
            if not math.isfinite(loss):
                state["nan"] = st.global_step
                control.should_training_stop = True
                return
            state["losses"].append(loss)
            if log:
                log(f"step {st.global_step}/{st.max_steps} loss {loss:.4f} lr {logs.get('learning_rate', 0):.2e}")

        def on_step_end(self, args, st, control, **kw):
            if progress:
                progress(st.global_step, st.max_steps, state["losses"][-1] if state["losses"] else None)
            if should_stop and should_stop():
                state["stopped"] = True
                control.should_training_stop = True

    out = tempfile.mkdtemp(prefix="alignscope-ft-")
    precision = config.resolved_precision() if hasattr(config, "resolved_precision") else "fp32"
    args = TrainingArguments(
        bf16=precision == "bf16", optim="adamw_torch_fused", dataloader_pin_memory=False,
        output_dir=out, per_device_train_batch_size=config.batch_size, num_train_epochs=float(config.epochs),
        learning_rate=config.learning_rate, lr_scheduler_type="linear", warmup_steps=0,
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm, seed=config.seed, data_seed=config.seed,
        logging_strategy="steps", logging_steps=1, logging_nan_inf_filter=False, save_strategy="no",
        report_to="none", disable_tqdm=True, use_cpu=device.type == "cpu", dataloader_num_workers=0,
        remove_unused_columns=False, eval_strategy="no", skip_memory_metrics=True)
    t0 = time.perf_counter()
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator,
                      callbacks=[_Callback()])
    trainer.remove_callback(PrinterCallback)      # our callback logs the steps
    try:
        output = trainer.train()
    except (RuntimeError, MemoryError) as exc:
        if _is_oom(exc):
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(f"Out of memory while fine-tuning on {device}: {exc}",
                                fix="lower the batch size or sequence length, or use --method lora.") from exc
        raise
    finally:
        shutil.rmtree(out, ignore_errors=True)
    steps_done = int(output.global_step)
    trainer.optimizer = trainer.lr_scheduler = None     # free AdamW state (2x the weights) before evaluation
    del trainer
    import gc

    gc.collect()
    if state["nan"] is not None:
        raise TrainingError(f"The training loss became NaN/inf at step {state['nan']}.",
                            fix=f"lower the learning rate (now {config.learning_rate:g}) or check the source's text.")
    if state["stopped"]:
        raise InterruptedError(f"stopped at training step {steps_done}/{num_steps(len(sequences), config)}")
    model.eval()
    return TrainResult(steps=steps_done, losses=state["losses"], seconds=time.perf_counter() - t0)


def num_steps(n_sequences: int, config: FinetuneConfig) -> int:
    """Optimiser steps the Trainer will take (one device, no gradient accumulation)."""
    per_epoch = math.ceil(n_sequences / config.batch_size)
    return max(1, math.ceil(per_epoch * config.epochs))
