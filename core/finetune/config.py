"""Fine-tune run configuration (what defines a run).

Embedding settings come back from a dict only through :meth:`core.settings.EmbedSettings.from_dict`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from core.errors import AlignScopeError
from core.precision import check_precision
from core.probe import DEFAULT_MODEL

#: Defaults of the controlled experiment, sized for 2 CPU cores (about 1-2 min of training per source).
DEFAULT_BUDGET = 4000        # tokens per source, as in the alignment paper's controlled experiment
DEFAULT_EPOCHS = 2
DEFAULT_LR = 1e-4
DEFAULT_SEQ_LEN = 128
DEFAULT_BATCH_SIZE = 8
DEFAULT_TARGET = "proofnet"
METHODS = ("full", "lora")
#: Held-out tokens a quick (live) run is evaluated on (issue 26): a seeded document subsample.
QUICK_EVAL_TOKENS = 4096


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that determines one fine-tune run (except the alignment's embedding settings).

    Attributes:
        source: training corpus name (exclusive with ``mixture``).
        mixture: saved mixture name (``core.mixture``), exclusive with ``source``.
        target: target benchmark; its held-out split is the evaluation set (see
            :func:`core.finetune.data.heldout_split`).
        model: causal LM to fine-tune: ``smollm2-135m`` (embedded), a folder or a hub id.
        budget_tokens: training tokens per run (unique tokens; each epoch sees them once). For a
            mixture, the mixture's own ``budget_tokens`` is used.
        epochs, learning_rate, batch_size, seed: optimisation (AdamW, linear decay, no warmup).
        seq_len: tokens per training sequence and per evaluation window.
        method: ``full`` (all weights) or ``lora`` (peft adapters on the attention projections).
        lora_r, lora_alpha, lora_dropout: LoRA hyperparameters (ignored for ``full``).
        weight_decay, max_grad_norm: optimiser regularisation.
        eval_batch_size: windows per forward pass when measuring perplexity (does not change it).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``.
        precision: ``auto`` | ``fp32`` | ``bf16`` (:mod:`core.precision`): ``bf16`` trains in bf16
            mixed precision (the Trainer's ``bf16=True``: bf16 autocast, float32 master weights and
            AdamW state) and evaluates under bf16 autocast (log-softmax in float32); ``auto`` is
            ``fp32`` (see :meth:`resolved_precision`: bf16 training missed the 1% tolerance). The *resolved*
            precision is part of a run's identity only when it is not ``fp32`` (see
            :meth:`identity_dict`), so runs made before precision existed keep their ids.
        save_adapter: keep the LoRA adapter under ``cache/finetune/adapters/<run_id>`` (LoRA only;
            full fine-tuned weights are never saved, the metrics are what matter).
        outcomes: target outcomes (:mod:`core.outcomes` names or aliases, e.g. ``("af-nll",)``)
            measured on the base model (cached) and on the fine-tuned one, per problem, beside the
            held-out perplexity that every run records; canonical names, in the order given. Part of
            a run's identity only when not empty (runs made before outcomes keep their ids); not a
            hyperparameter (runs measuring other outcomes stay comparable on perplexity).
        eval_subsample_tokens: ``0`` (default) evaluates the whole held-out split; ``N > 0`` is a
            **quick** run (``finetune --quick``: :data:`QUICK_EVAL_TOKENS`): evaluated on a fixed,
            seeded subsample of the held-out documents holding at least ``N`` scored tokens
            (:func:`core.finetune.quick.eval_subsample`; the document ids are recorded), with a
            95% bootstrap CI over those documents, and ``precision="auto"`` resolved to bf16 where
            it is faster (:meth:`resolved_precision`); no training checkpoints (a killed quick run
            trains again from step 0). Same training as a full run; part of the
            identity and of the hyperparameters only when not 0, so quick runs form their own
            comparability group and never enter a fit with full runs.
    """

    source: str | None = None
    mixture: str | None = None
    target: str = DEFAULT_TARGET
    model: str = DEFAULT_MODEL
    budget_tokens: int = DEFAULT_BUDGET
    epochs: float = DEFAULT_EPOCHS
    learning_rate: float = DEFAULT_LR
    seq_len: int = DEFAULT_SEQ_LEN
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    method: str = "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_batch_size: int = 16
    device: str = "auto"
    save_adapter: bool = True
    precision: str = "auto"
    outcomes: tuple[str, ...] = ()
    eval_subsample_tokens: int = 0

    def __post_init__(self) -> None:
        if self.outcomes:
            from core.outcomes.measure import parse_names

            object.__setattr__(self, "outcomes", tuple(parse_names(self.outcomes)))
        else:
            object.__setattr__(self, "outcomes", ())
        if bool(self.source) == bool(self.mixture):
            raise AlignScopeError("A fine-tune needs exactly one of a source corpus or a mixture.",
                                  fix="pass --source NAME or --mixture NAME (not both).")
        if self.method not in METHODS:
            raise AlignScopeError(f"Unknown fine-tuning method {self.method!r}.", fix="use full or lora.")
        checks = [("budget_tokens", self.budget_tokens, 1), ("seq_len", self.seq_len, 2),
                  ("batch_size", self.batch_size, 1), ("eval_batch_size", self.eval_batch_size, 1),
                  ("lora_r", self.lora_r, 1), ("eval_subsample_tokens", self.eval_subsample_tokens, 0)]
        for name, value, low in checks:
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise AlignScopeError(f"Fine-tune setting {name}={value!r} is invalid.",
                                      fix=f"give an integer >= {low}.")
        if not (self.epochs > 0):
            raise AlignScopeError(f"Fine-tune setting epochs={self.epochs!r} is invalid.", fix="give a positive number.")
        if not (0 < self.learning_rate < 1):
            raise AlignScopeError(f"Learning rate {self.learning_rate!r} is out of range.",
                                  fix="use a value such as 1e-4 (full) or 1e-3 (LoRA).")
        if not (self.model or "").strip():
            raise AlignScopeError("No model given.", fix=f"pass --model {DEFAULT_MODEL}.")
        check_precision(self.precision)

    @property
    def quick(self) -> bool:
        """A quick (live) run: evaluated on a seeded subsample of the held-out split (issue 26)."""
        return self.eval_subsample_tokens > 0

    @property
    def label(self) -> str:
        """The run's name in tables and plots: the source, or ``mixture:NAME``."""
        return self.source or f"mixture:{self.mixture}"

    def to_dict(self) -> dict:
        """All fields (job parameters, a row's ``hparams``); ``outcomes`` only when not empty and
        ``eval_subsample_tokens`` only when not 0, so the dicts of full runs without outcomes are
        those written before either existed."""
        d = asdict(self)
        if self.outcomes:
            d["outcomes"] = list(self.outcomes)
        else:
            d.pop("outcomes")
        if not self.eval_subsample_tokens:
            d.pop("eval_subsample_tokens")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        """The configuration of a stored dict (job parameters, a row's ``hparams``).

        A dict without ``precision`` was written by :meth:`identity_dict` for an fp32 run, or before
        precision existed (every run was fp32 then): it gives ``precision="fp32"``, never ``auto``.

        Raises:
            AlignScopeError: unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise AlignScopeError(f"Unknown fine-tune settings: {', '.join(unknown)}.",
                                  fix=f"use only: {', '.join(sorted(known))}.")
        return cls(**{"precision": "fp32", **d})

    def resolved_precision(self) -> str:
        """``fp32`` or ``bf16``: the precision this run trains and evaluates in.

        ``auto`` is ``fp32`` for full fine-tunes on every device (``bf16`` only when asked for): bf16
        mixed-precision training missed the 1% tolerance of issue 10 (bench/finetune.py, seed 1,
        4,000 tokens, fine-tuned perplexity on ProofNet test, bf16 vs fp32: coq-stdlib +0.39%,
        wikipedia +0.06%, proofnet-valid +4.32%), while bf16 evaluation alone stays within 0.2%.
        For a :attr:`quick` run, ``auto`` is :func:`core.precision.resolve_precision`'s choice (bf16
        where it is faster on the device, ``$ALIGNSCOPE_FAST_BF16`` pins it): speed matters live,
        and quick runs are their own comparability group. ``fp32``/``bf16`` are kept as asked
        (:func:`core.precision.check_precision`).

        Raises:
            AlignScopeError: unknown precision; ModelError: the device does not exist here.
        """
        from core.precision import check_precision
        from core.probe import resolve_device

        device = resolve_device(self.device)
        if check_precision(self.precision) != "auto":
            return self.precision
        if self.quick:
            from core.precision import resolve_precision

            return resolve_precision("auto", device)
        return "fp32"

    def resolved(self) -> "FinetuneConfig":
        """This configuration with :attr:`precision` resolved (``fp32`` or ``bf16``, never ``auto``)."""
        return replace(self, precision=self.resolved_precision())

    def identity_dict(self) -> dict:
        """:meth:`to_dict` with the precision resolved, and left out when it is ``fp32``.

        What identifies a run (its id, its comparability group): an fp32 run has the same identity
        as a run made before precision existed; ``auto`` and the precision it resolves to are the
        same run. :meth:`from_dict` reads a missing precision back as ``fp32``.
        """
        d = self.to_dict()
        d["precision"] = self.resolved_precision()
        if d["precision"] == "fp32":
            d.pop("precision")
        return d

    def hparams(self) -> dict:
        """The optimisation hyperparameters (what must be identical across runs of one experiment).

        The resolved precision is one of them when it is not ``fp32`` (bf16 and fp32 runs are not
        points of one plot).
        """
        d = self.identity_dict()
        for k in ("source", "mixture", "target", "device", "save_adapter", "eval_batch_size"):
            d.pop(k)
        d.pop("outcomes", None)
        if self.method == "full":
            for k in ("lora_r", "lora_alpha", "lora_dropout"):
                d.pop(k)
        return d

    def group_key(self) -> str:
        """Runs with the same key are comparable points of one plot (same target and hyperparameters)."""
        return json.dumps({"target": self.target, **self.hparams()}, sort_keys=True)
