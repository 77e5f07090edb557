"""Fine-tuning a causal LM with ``transformers.Trainer`` (full fine-tuning, or LoRA through peft).

The model is a fresh float32 copy loaded from the probe network's source (``core.probe`` resolves
the name: ``smollm2-135m``, a folder or a hub id), so fine-tuning never touches the memoised probe
used for Task2Vec embeddings. CUDA is used when present (``device="auto"``), else the CPU.

Progress and cancellation go through a :class:`transformers.TrainerCallback`: after each optimiser
step it reports ``(step, total, loss)`` and polls ``should_stop()``; a stop request ends training
after the current step and :func:`train` raises ``InterruptedError``. A NaN or infinite loss stops
training and raises :class:`TrainingError`.

Checkpoints and resumption (issue 24): given a ``checkpoint_dir`` (the runner passes
:func:`checkpoint_dir` of the run id, ``cache/finetune/checkpoints/<run_id>``), the Trainer saves its own
``checkpoint-<step>`` folders every ``save_steps`` optimiser steps, at the last step, and at a
cancellation (weights, AdamW and scheduler state, ``rng_state.pth``, ``trainer_state.json`` with the
loss history). A checkpoint counts only once :data:`CHECKPOINT_MARKER` is written in it, atomically,
after the Trainer's ``on_save`` (so after every file of it is written), listing each file's size; an
older checkpoint is deleted only after the next one is marked, so a kill at any moment leaves the
previous complete checkpoint. On the next attempt :func:`latest_checkpoint` picks the newest marked
one whose files all have their recorded sizes, every other ``checkpoint-*`` folder is removed, and
``trainer.train(resume_from_checkpoint=...)`` restores weights, optimiser, scheduler, RNG states and the
data order (the Trainer skips the batches already seen), so the run ends where an uninterrupted one
ends. :func:`remove_checkpoints` deletes the folder once the run is done.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
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
    """What :func:`train` did: ``steps`` (the final global optimiser step), ``losses`` (one per step,
    from the first step of the run, a resumed attempt's included, read from the Trainer's log history),
    ``seconds`` (this attempt's wall time), ``resumed_from`` (the checkpoint step this attempt started
    from; 0: from the start), ``save_steps`` (checkpoint interval; 0: no checkpoints)."""

    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0
    save_steps: int = 0

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

#: The file that makes a ``checkpoint-<step>`` folder complete (written last, atomically).
CHECKPOINT_MARKER = "alignscope-checkpoint.json"
#: Prefix of the Trainer's checkpoint folders (``transformers.trainer_utils.PREFIX_CHECKPOINT_DIR``).
CHECKPOINT_PREFIX = "checkpoint-"
#: Checkpoints per run when ``save_steps`` is not given (see :func:`default_save_steps`).
CHECKPOINTS_PER_RUN = 4


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: its folder, the global ``step`` it holds and the run's ``max_steps``."""

    path: Path
    step: int
    max_steps: int


def checkpoint_dir(run_id: str) -> Path:
    """``cache/finetune/checkpoints/<run_id>``: where a run's Trainer checkpoints live (not created here).

    Raises:
        ValueError: ``run_id`` is not a plain folder name (a separator or ``..``).
    """
    from core.paths import cache_dir

    if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
        raise ValueError(f"not a run id: {run_id!r}")
    return cache_dir("finetune", "checkpoints") / run_id


def default_save_steps(total_steps: int) -> int:
    """Steps between checkpoints when not given: ``$ALIGNSCOPE_FINETUNE_SAVE_STEPS`` if a positive
    integer, else about :data:`CHECKPOINTS_PER_RUN` checkpoints per run (``ceil(total / 4)``; a
    SmolLM2-135M checkpoint is ~1.6 GB of weights and AdamW state, a few seconds to write). The
    Trainer also saves at the last step. Not part of a run's identity: it changes no result."""
    env = os.environ.get("ALIGNSCOPE_FINETUNE_SAVE_STEPS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, math.ceil(max(1, total_steps) / CHECKPOINTS_PER_RUN))


def _step_of(folder: Path) -> int | None:
    name = folder.name
    if not name.startswith(CHECKPOINT_PREFIX):
        return None
    tail = name[len(CHECKPOINT_PREFIX):]
    return int(tail) if tail.isdigit() else None


def _files_of(folder: Path) -> dict[str, int]:
    """``{relative path: size in bytes}`` of every file under ``folder`` but the marker."""
    return {str(f.relative_to(folder)): f.stat().st_size for f in sorted(folder.rglob("*"))
            if f.is_file() and f.name != CHECKPOINT_MARKER}


def mark_complete(folder: str | Path, *, step: int, max_steps: int) -> Path:
    """Write :data:`CHECKPOINT_MARKER` in a checkpoint folder the Trainer has finished saving: the
    step, the run's ``max_steps`` and every file's size, atomically (:func:`core.paths.atomic_write`).

    Raises:
        OSError: the folder cannot be written.
    """
    from core.paths import atomic_write

    folder = Path(folder)
    marker = {"step": int(step), "max_steps": int(max_steps), "files": _files_of(folder), "written": time.time()}
    return atomic_write(folder / CHECKPOINT_MARKER, json.dumps(marker, indent=1))


def checkpoint_problem(folder: str | Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint (None when it is): no or unreadable marker, a step
    that differs from the folder's name, the Trainer's ``trainer_state.json`` missing, or a listed file
    missing or of another size (a kill while saving, or while an older checkpoint was being deleted)."""
    folder = Path(folder)
    step = _step_of(folder)
    if step is None:
        return "not a checkpoint-<step> folder"
    try:
        marker = json.loads((folder / CHECKPOINT_MARKER).read_text())
    except (OSError, ValueError):
        return f"no complete {CHECKPOINT_MARKER} (its save did not finish)"
    if not isinstance(marker, dict) or marker.get("step") != step or not isinstance(marker.get("files"), dict):
        return f"{CHECKPOINT_MARKER} does not describe step {step}"
    files = marker["files"]
    if "trainer_state.json" not in files:
        return "no trainer_state.json"
    for name, size in files.items():
        f = folder / name
        try:
            if f.stat().st_size != size:
                return f"{name} is {f.stat().st_size} bytes, {size} when saved"
        except OSError:
            return f"{name} is missing"
    return None


def latest_checkpoint(folder: str | Path, *, max_steps: int | None = None) -> Checkpoint | None:
    """The newest complete checkpoint under ``folder`` (``checkpoint-<step>`` with a valid marker,
    :func:`checkpoint_problem`), or None. With ``max_steps``, a checkpoint of a run of another length
    is not used."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(((s, d) for d in folder.iterdir() if d.is_dir() and (s := _step_of(d)) is not None),
                   reverse=True)
    for step, d in found:
        if checkpoint_problem(d) is not None:
            continue
        marked = json.loads((d / CHECKPOINT_MARKER).read_text())
        if max_steps is not None and int(marked.get("max_steps", -1)) != int(max_steps):
            continue
        return Checkpoint(d, step, int(marked.get("max_steps", 0)))
    return None


def remove_checkpoints(folder: str | Path) -> bool:
    """Delete a run's checkpoint folder (after the run is done); True when there was one."""
    folder = Path(folder)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def sweep_checkpoints(*, keep: str | None = None) -> list[str]:
    """Remove the checkpoint folders (``cache/finetune/checkpoints/<run_id>``) of runs that are done or
    no longer in the results database (a run killed after it was recorded done, a deleted run); the
    ones of killed, cancelled or failed runs stay, for the next attempt to resume from. Returns the run
    ids removed. ``keep``: a run id never removed (the run about to train)."""
    from core.finetune import results
    from core.paths import cache_dir

    root = cache_dir("finetune", "checkpoints")
    removed = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name == keep:
            continue
        row = results.get_run(folder.name, reconcile_first=False)
        if row is None or row.get("status") == "done":
            remove_checkpoints(folder)
            removed.append(folder.name)
    return removed


def _prune(folder: Path, keep: Path | None) -> list[str]:
    """Remove every ``checkpoint-*`` folder (and leftover temporary file) under ``folder`` but ``keep``;
    returns the names removed."""
    removed = []
    for d in folder.iterdir():
        if keep is not None and d.resolve() == keep.resolve():
            continue
        if d.is_dir() and d.name.startswith(CHECKPOINT_PREFIX):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
        elif d.is_file() and d.name.startswith(".") and d.name.endswith(".tmp"):
            d.unlink(missing_ok=True)
    return removed


def train(model: torch.nn.Module, sequences: list[list[int]], config: FinetuneConfig, *, pad_id: int,
          progress: Callable[[int, int, float | None], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          log: Callable[[str], None] | None = None,
          checkpoint_dir: str | Path | None = None, save_steps: int | None = None) -> TrainResult:
    """Fine-tune ``model`` in place on packed ``sequences`` with ``transformers.Trainer``.

    Precision: when ``config.precision`` resolves to ``bf16`` (:meth:`FinetuneConfig.resolved_precision`),
    the Trainer's own mixed precision is used (``TrainingArguments(bf16=True)``, with ``use_cpu`` on
    a CPU: forward and backward under bf16 autocast; weights, gradients and the fused AdamW state
    stay float32); else everything is float32.

    Checkpoints (see the module docstring): with ``checkpoint_dir`` the Trainer saves there every
    ``save_steps`` steps (default :func:`default_save_steps`), at the last step and when stopped; an
    earlier attempt's newest complete checkpoint is resumed from (weights, optimiser, scheduler, RNG
    states, data position), and the attempt says so through ``log`` (``resuming from checkpoint step
    k/N``), or that it restarts from step 0 when the folder holds no complete checkpoint. Without
    ``checkpoint_dir`` nothing is saved (a temporary output folder, removed).

    Args:
        model: a causal LM (or a peft model) on its device; on resumption its weights are replaced by
            the checkpoint's.
        sequences: token id lists of at most ``config.seq_len`` tokens (padding masked from the loss).
        config: :class:`~core.finetune.config.FinetuneConfig` (epochs, learning_rate, batch_size, seed,
            precision...).
        progress: ``(step, total_steps, last_loss)`` after every optimiser step.
        should_stop: polled after every step; True ends training (after saving a checkpoint at that
            step when checkpointing) and raises ``InterruptedError``.
        log: receives one line per logged step, and the resume/restart line.
        checkpoint_dir: the run's checkpoint folder (created), e.g. :func:`checkpoint_dir` of its id.
        save_steps: optimiser steps between checkpoints (>= 1).

    Raises:
        InterruptedError: stopped by ``should_stop`` (the checkpoint at that step is kept).
        TrainingError: the loss became NaN/inf, or the device ran out of memory.
        ValueError: ``save_steps`` < 1.
    """
    from transformers import PrinterCallback, Trainer, default_data_collator

    dataset = _Dataset(sequences, config.seq_len, pad_id)
    device = next(model.parameters()).device
    state = {"losses": [], "nan": None, "stopped": False}
    total = num_steps(len(sequences), config)
    say = log or (lambda _m: None)
    out, save_steps, resume = _checkpoints(checkpoint_dir, total, save_steps, say)

    callback = _callback(state, out=out, save_steps=save_steps, progress=progress, should_stop=should_stop, log=log)

    args = _training_args(config, device, out, save_steps)
    t0 = time.perf_counter()
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator,
                      callbacks=[callback])
    trainer.remove_callback(PrinterCallback)      # our callback logs the steps
    output = _fit(trainer, resume, device, out=out, save_steps=save_steps)
    steps_done = int(output.global_step)
    # the whole run's losses, an earlier attempt's included (restored with trainer_state.json)
    history = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    losses = history if resume is not None and history else state["losses"]
    trainer.optimizer = trainer.lr_scheduler = None     # free AdamW state (2x the weights) before evaluation
    del trainer
    import gc

    gc.collect()
    if state["nan"] is not None:
        raise TrainingError(f"The training loss became NaN/inf at step {state['nan']}.",
                            fix=f"lower the learning rate (now {config.learning_rate:g}) or check the source's text.")
    if state["stopped"]:
        kept = latest_checkpoint(out, max_steps=total) if save_steps else None
        raise InterruptedError(f"stopped at training step {steps_done}/{total}"
                               + (f"; its checkpoint (step {kept.step}) is kept: the same command resumes from it"
                                  if kept else ""))
    model.eval()
    return TrainResult(steps=steps_done, losses=losses, seconds=time.perf_counter() - t0,
                       resumed_from=resume.step if resume else 0, save_steps=save_steps)


def _fit(trainer, resume: Checkpoint | None, device, *, out: str, save_steps: int):
    """``trainer.train()`` (resumed from ``resume``); the temporary output folder removed when not checkpointing.

    Raises:
        TrainingError: the device ran out of memory.
    """
    import torch

    try:
        return trainer.train(resume_from_checkpoint=str(resume.path) if resume else None)
    except (RuntimeError, MemoryError) as exc:
        if _is_oom(exc):
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(f"Out of memory while fine-tuning on {device}: {exc}",
                                fix="lower the batch size or sequence length, or use --method lora.") from exc
        raise
    finally:
        if not save_steps:
            shutil.rmtree(out, ignore_errors=True)


def _checkpoints(checkpoint_dir: str | Path | None, total: int, save_steps: int | None,
                 say: Callable[[str], None]) -> tuple[str, int, Checkpoint | None]:
    """``(output folder, save_steps, checkpoint to resume from)`` of a training call: the run's folder
    (created; incomplete checkpoints pruned; the resume or restart said), or a temporary folder and
    ``save_steps=0`` without ``checkpoint_dir``.

    Raises:
        ValueError: ``save_steps`` < 1.
    """
    if checkpoint_dir is None:
        return tempfile.mkdtemp(prefix="alignscope-ft-"), 0, None
    out_dir = Path(checkpoint_dir)
    earlier = out_dir.is_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_steps = default_save_steps(total) if save_steps is None else int(save_steps)
    if save_steps < 1:
        raise ValueError(f"save_steps must be >= 1, not {save_steps}")
    resume = latest_checkpoint(out_dir, max_steps=total)
    dropped = _prune(out_dir, resume.path if resume else None)
    if resume is not None:
        say(f"resuming from checkpoint step {resume.step}/{total} ({resume.path}); "
            f"weights, optimiser, scheduler, RNG state and data order restored")
    elif earlier:
        say(f"restarting training from step 0: no complete checkpoint of an earlier attempt in {out_dir}"
            + (f" (removed incomplete: {', '.join(sorted(dropped))})" if dropped else ""))
    say(f"checkpoints every {save_steps} steps (and at the last) in {out_dir}")
    return str(out_dir), save_steps, resume


def _callback(state: dict, *, out: str, save_steps: int, progress, should_stop, log):
    """The Trainer callback of :func:`train`: records finite losses in ``state["losses"]`` (a NaN/inf
    loss stops training, ``state["nan"]`` = its step, never saved), reports progress, stops when asked
    (``state["stopped"]``, saving that step when checkpointing), and marks each saved checkpoint
    complete before deleting the older ones."""
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        def on_log(self, args, st, control, logs=None, **kw):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            loss = float(loss)
            if not math.isfinite(loss):
                state["nan"] = st.global_step
                control.should_training_stop = True
                control.should_save = False          # a NaN state is never resumed from
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
                if save_steps:                         # keep this step's work: the next attempt resumes here
                    control.should_save = True

        def on_save(self, args, st, control, **kw):
            if not save_steps or state["nan"] is not None:
                return
            folder = Path(out) / f"{CHECKPOINT_PREFIX}{st.global_step}"
            if folder.is_dir():
                mark_complete(folder, step=st.global_step, max_steps=st.max_steps)
                for d in Path(out).iterdir():          # older ones only once this one is complete
                    s_ = _step_of(d) if d.is_dir() else None
                    if s_ is not None and s_ < st.global_step:
                        shutil.rmtree(d, ignore_errors=True)

    return _Callback()


def _training_args(config: FinetuneConfig, device, out: str, save_steps: int):
    """The ``transformers.TrainingArguments`` of a run: AdamW (fused), linear decay without warmup, bf16
    mixed precision when the config resolves to bf16, a log line every step, checkpoints every
    ``save_steps`` steps (none when 0)."""
    from transformers import TrainingArguments

    precision = config.resolved_precision() if hasattr(config, "resolved_precision") else "fp32"
    saving = dict(save_strategy="steps", save_steps=save_steps, save_total_limit=None, save_only_model=False) \
        if save_steps else dict(save_strategy="no")
    return TrainingArguments(
        bf16=precision == "bf16", optim="adamw_torch_fused", dataloader_pin_memory=False,
        output_dir=out, per_device_train_batch_size=config.batch_size, num_train_epochs=float(config.epochs),
        learning_rate=config.learning_rate, lr_scheduler_type="linear", warmup_steps=0,
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm, seed=config.seed, data_seed=config.seed,
        logging_strategy="steps", logging_steps=1, logging_nan_inf_filter=False, **saving,
        report_to="none", disable_tqdm=True, use_cpu=device.type == "cpu", dataloader_num_workers=0,
        remove_unused_columns=False, eval_strategy="no", skip_memory_metrics=True)


def num_steps(n_sequences: int, config: FinetuneConfig) -> int:
    """Optimiser steps the Trainer will take (one device, no gradient accumulation)."""
    per_epoch = math.ceil(n_sequences / config.batch_size)
    return max(1, math.ceil(per_epoch * config.epochs))
