"""One fine-tune run from start to finish, recorded in the results store as it goes.

Steps (:data:`STEPS`, one function each; each one's result is written to the run's row as soon as
it is known, so a killed worker loses only the step it was in; each is timed, see
``run_finetune(...)["timings"]``):

1. ``prepare``: validate (the target has a held-out split, the source is installed and disjoint
   from it), resolve the precision, pack the training data within the token budget
   (:mod:`core.finetune.data`);
2. ``tokenise``: the held-out split's evaluation windows, tokenised once per process
   (:func:`core.finetune.perplexity.corpus_windows`);
3. ``alignment`` of the source with the target (``core.pipeline.align``; cached Task2Vec embeddings);
4. ``load``: the model, once per run (a fresh float32 copy: the base evaluations and the training
   use the same copy, in that order);
5. ``base``: base-model perplexity on the held-out split, and 6. ``familiarity`` (base-model
   perplexity on the training data): deterministic, so stored in the results store's cache keyed
   by model, target, split, tokenizer, seq_len, the exact token windows and the precision
   (:func:`base_key`, :func:`familiarity_key`) and computed only by the first run that needs them;
7. ``train`` (:func:`core.finetune.train.train`), checkpointed in ``cache/finetune/checkpoints/<run_id>``
   and resumed from there by the next attempt after a kill or a cancellation (issue 24: the same run
   id, the same final weights; the row's notes say so); 8. ``evaluate``: perplexity of the fine-tuned
   model on the held-out split; 9. ``finish``: the row is completed and the checkpoints removed.

Precision: ``config.precision`` is resolved once (:meth:`FinetuneConfig.resolved_precision`); under
``bf16`` training uses the Trainer's bf16 mixed precision and every perplexity runs under bf16
autocast. The resolved precision is recorded in the row (``precision``) and is part of the run's
identity and of the cached evaluations' keys only when it is not ``fp32``.

Only one run trains at a time on a machine: phases 3-5 hold an exclusive lock
(``cache/finetune/train.lock``, a ``filelock`` lock released by the OS if the worker dies), so a second
job waits ("waiting for another fine-tune") instead of halving the speed of both.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from core.corpora.memory import InMemoryCorpus
from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.finetune.identity import base_key, eval_set, familiarity_key, run_id_for, validate
from core.finetune.machine import choose_threads, training_slot
from core.paths import cache_dir

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.settings import EmbedSettings

Progress = Callable[[int, int, str], None]


def compute_alignment(config: FinetuneConfig, settings: EmbedSettings, tokenizer: PreTrainedTokenizerBase | None = None,
                      *, should_stop: Callable[[], bool] | None = None) -> dict:
    """Alignment of the run's source (or mixture) with the target: ``{"alignment", "ci_low", "ci_high"}``."""
    from core.pipeline import align, embed_corpus

    if config.source:
        r = align(config.target, [config.source], settings, progress=False, should_stop=should_stop)["ranking"][0]
        return {"alignment": r["alignment"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
    from core.coefficients import alignment_coefficient
    from core.finetune.data import mixture_documents

    # the mixture's materialised documents, cut into seq_len-token pieces (a small budget may hold
    # fewer whole documents than one Task2Vec batch needs)
    rows, _ = mixture_documents(config.mixture, tokenizer)
    pieces = []
    for ids in tokenizer([str(r["text"]) for r in rows], add_special_tokens=False)["input_ids"]:
        pieces += [tokenizer.decode(ids[k:k + config.seq_len]) for k in range(0, len(ids), config.seq_len)]
    mix = InMemoryCorpus(f"mixture:{config.mixture}", [p for p in pieces if p.strip()])
    et = embed_corpus(config.target, settings, progress=False, should_stop=should_stop).embeddings
    em = embed_corpus(mix, settings, progress=False, should_stop=should_stop).embeddings
    c = alignment_coefficient(em, et).to_dict()
    return {"alignment": c["value"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}


class _Phases:
    """Progress in percent over weighted phases (weights ~ expected seconds), with a message."""

    def __init__(self, report: Progress | None, weights: dict[str, float]):
        self.report, self.weights = report, weights
        self.total = sum(weights.values()) or 1.0
        self.done: dict[str, float] = {}

    def update(self, phase: str, frac: float, message: str) -> None:
        self.done[phase] = max(0.0, min(1.0, frac)) * self.weights.get(phase, 0.0)
        if self.report:
            self.report(int(100 * sum(self.done.values()) / self.total), 100, message)


def run_finetune(config: FinetuneConfig, settings: EmbedSettings | dict | None = None, *, run_id: str | None = None,
                 job_id: str | None = None,
                 experiment_id: str | None = None, progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run one fine-tune (all :data:`STEPS`) and return its row.

    The run's state lives in its row of the results database: this process is its worker
    (``worker_pid``), and its progress (percent, message, ETA) is recorded there as well as passed
    to ``progress``.

    Args:
        config: the run.  settings: :class:`core.pipeline.EmbedSettings` for the alignment (default settings).
        run_id: row id (default :func:`run_id_for`).  job_id / experiment_id: recorded in the row.
        progress: ``(percent, 100, message)``.  should_stop: cancellation poll.  log: one line per event.

    Returns:
        The row (:func:`core.finetune.results.get_run`) plus ``"timings"``: ``{step: {"wall_s",
        "cpu_s"}}`` of this process (not stored).

    Raises:
        InterruptedError: cancelled (row ``cancelled``).  AlignScopeError and others: row ``failed``
            with the message as ``error``.
    """
    from core.settings import EmbedSettings

    settings = settings or EmbedSettings()
    if isinstance(settings, dict):
        settings = EmbedSettings.from_dict(settings)
    run_id = run_id or run_id_for(config, settings)
    say = log or (lambda m: None)
    stop = should_stop or (lambda: False)
    t0 = time.time()
    results.upsert_run(run_id, job_id=job_id, experiment_id=experiment_id, group_key=config.group_key(),
                       label=config.label, source=config.source, mixture=config.mixture, target=config.target,
                       model=config.model, method=config.method, budget_tokens=config.budget_tokens,
                       hparams=config.to_dict(), align_settings=settings.to_dict(), status="running",
                       phase="validating", started=t0, finished=None, error=None, worker_pid=os.getpid(),
                       progress=0.0, message="validating", eta_s=None)
    record = results.progress_recorder(run_id, started=t0)
    try:
        return _run(_RunState(config=config, settings=settings, run_id=run_id, t0=t0, say=say, stop=stop,
                              progress=combine_progress(progress, record)))
    except InterruptedError as exc:
        results.update_run(run_id, status="cancelled", error=str(exc) or "cancelled", finished=time.time(),
                           wall_seconds=time.time() - t0)
        say(f"{config.label}: cancelled ({exc})")
        raise
    except Exception as exc:
        from core.finetune.train import TrainingError, _is_oom

        if _is_oom(exc) and not isinstance(exc, AlignScopeError):
            exc = TrainingError(f"Out of memory during {config.label}'s run: {exc}",
                                fix="lower the batch size, the evaluation batch size or the sequence length, "
                                    "or use --method lora.")
        msg = str(exc) or type(exc).__name__
        if not isinstance(exc, AlignScopeError):
            msg = f"{type(exc).__name__}: {msg}"
        results.update_run(run_id, status="failed", error=msg, finished=time.time(), wall_seconds=time.time() - t0)
        say(f"{config.label}: FAILED: {msg}")
        if isinstance(exc, AlignScopeError):
            raise exc
        raise


@dataclass
class _RunState:
    """What the steps of one run hand to each other."""

    config: FinetuneConfig
    settings: object
    run_id: str
    t0: float
    say: Callable[[str], None]
    stop: Callable[[], bool]
    progress: Progress | None
    precision: str = "fp32"
    probe: object = None
    pad_id: int = 0
    held: object = None
    data: object = None
    notes: list = field(default_factory=list)
    eval_windows: list = field(default_factory=list)
    eval_fp: str = ""
    eval_ids: list | None = None                            # quick runs: the subsample's document ids
    quick_before: object = None                             # quick runs: text-ppl OutcomeResult (base, fine-tuned)
    quick_after: object = None
    base: dict | None = None
    fam: dict | None = None
    outcomes_before: dict = field(default_factory=dict)    # {name: OutcomeResult} of the base weights
    outcomes_after: dict = field(default_factory=dict)     # {name: OutcomeResult} of the fine-tuned weights
    keys: dict = field(default_factory=dict)
    phases: object = None
    model: object = None
    after: object = None
    adapter: str | None = None
    timings: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.config.label


def _step_prepare(r: _RunState) -> None:
    """Validate, resolve the precision, load the tokenizer, pack the training data; record them."""
    from core.finetune.data import build_training_data
    from core.probe import load_probe

    r.held = validate(r.config)
    r.precision = r.config.resolved_precision()
    r.config = r.config.resolved()
    r.probe = load_probe(r.config.model, device=r.config.device, progress=False)
    tok = r.probe.tokenizer
    r.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    r.data = build_training_data(r.config, tok)
    r.notes = list(r.data.notes)
    for n in r.notes:
        r.say(f"{r.label}: note: {n}")
    results.update_run(r.run_id, tokens_trained=r.data.tokens, tokens_seen=int(round(r.data.tokens * r.config.epochs)),
                       documents_used=r.data.documents, budget_tokens=r.data.requested, notes="; ".join(r.notes) or None,
                       eval_corpus=r.held.corpus, device=str(r.probe.device), precision=r.precision,
                       hparams=r.config.to_dict(), train_data_fp=r.data.fingerprint(), quick=r.config.quick,
                       packed_documents=[list(p) for p in r.data.packed], phase="training data ready")
    r.say(f"{r.label}: precision {r.precision} on {r.probe.device}")


def _step_tokenise(r: _RunState) -> None:
    """The held-out split's windows (memoised per process), the cache keys, the progress weights."""
    from core.finetune.perplexity import windows_fingerprint
    from core.finetune.train import num_steps

    cfg, probe = r.config, r.probe
    r.eval_windows, r.eval_fp, r.eval_ids = eval_set(cfg, probe, r.held.corpus)
    results.update_run(r.run_id, eval_fp=r.eval_fp, eval_documents=r.eval_ids)
    if not r.eval_windows:
        raise AlignScopeError(f"The held-out split {r.held.corpus!r} of target {cfg.target!r} has no text to evaluate.",
                              fix="check the target corpus.")
    r.keys = {"base": base_key(probe, cfg, r.held.corpus, r.eval_fp, r.precision),
              "fam": familiarity_key(probe, cfg, windows_fingerprint(r.data.sequences), r.precision)}
    r.base = results.cache_get(r.keys["base"])
    r.fam = results.cache_get(r.keys["fam"])
    steps = num_steps(len(r.data.sequences), cfg)
    eval_batches = math.ceil(len(r.eval_windows) / cfg.eval_batch_size)
    fam_batches = math.ceil(len(r.data.sequences) / cfg.eval_batch_size)
    train_weight = 3.0 * cfg.batch_size / cfg.eval_batch_size  # fwd+bwd ~ 3 forwards
    r.phases = _Phases(r.progress, {"align": 4.0, "base": 0 if r.base else eval_batches,
                                    "fam": 0 if r.fam else fam_batches, "load": 2.0,
                                    "train": steps * train_weight, "eval": eval_batches})


def _step_alignment(r: _RunState) -> None:
    """Alignment coefficient of the source (or mixture) with the target; a failure is a note."""
    cfg = r.config
    results.update_run(r.run_id, phase="alignment")
    r.phases.update("align", 0, f"{r.label}: alignment with {cfg.target}")
    try:
        a = compute_alignment(cfg, r.settings, r.probe.tokenizer, should_stop=r.stop)
        results.update_run(r.run_id, alignment=a["alignment"], align_ci_low=a["ci_low"], align_ci_high=a["ci_high"])
        ci = ("" if a["ci_low"] is None or a["ci_high"] is None
              else f" (95% CI {a['ci_low']:.4f} to {a['ci_high']:.4f})")
        r.say(f"{r.label}: alignment with {cfg.target} {a['alignment']:.4f}{ci}")
    except AlignScopeError as exc:   # the perplexities are still worth having; the plot skips the point
        r.notes.append(f"alignment unavailable: {exc}")
        results.update_run(r.run_id, notes="; ".join(r.notes))
        r.say(f"{r.label}: alignment unavailable: {exc}")
    r.phases.update("align", 1, f"{r.label}: alignment done")
    r.stop() and _raise_stop("after the alignment")


def _step_load(r: _RunState) -> None:
    """The model, once: a fresh float32 copy (LoRA-wrapped after the base evaluations)."""
    from core.finetune.train import load_causal_lm

    r.phases.update("load", 0, f"loading {r.config.model}")
    r.model = load_causal_lm(r.probe)
    r.phases.update("load", 1, f"loaded {r.config.model}")


def _step_base(r: _RunState) -> None:
    """Base-model perplexity on the held-out split: from the cache, or computed once and stored."""
    from core.finetune.perplexity import perplexity
    from core.finetune.quick import as_perplexity

    if r.base is None:
        results.update_run(r.run_id, phase="base-model perplexity")
        progress = lambda d, t: r.phases.update("base", d / t, f"base perplexity on {r.held.corpus}: {d}/{t}")  # noqa: E731
        if r.config.quick:                       # per document, for the CI (the cached dict keeps them)
            res = _measure_quick(r, progress)
            r.base = {**as_perplexity(res).to_dict(), "outcome": res.to_dict()}
        else:
            r.base = perplexity(r.model, r.eval_windows, batch_size=r.config.eval_batch_size, pad_id=r.pad_id,
                                precision=r.precision, should_stop=r.stop, progress=progress).to_dict()
        results.cache_put(r.keys["base"], r.base)
    else:
        r.say(f"{r.label}: base-model perplexity reused from the cache")
    if r.config.quick:
        from core.outcomes.base import OutcomeResult

        r.quick_before = OutcomeResult.from_dict(r.base["outcome"])
    results.update_run(r.run_id, ppl_before=r.base["perplexity"], nll_before=r.base["nll"], eval_tokens=r.base["tokens"])
    r.say(f"{r.label}: base-model perplexity on {r.held.corpus}: {r.base['perplexity']:.3f} ({r.base['tokens']} tokens)")
    if r.config.outcomes:
        from core.outcomes.measure import base_outcomes

        results.update_run(r.run_id, phase="base-model outcomes")
        r.outcomes_before = base_outcomes(r.probe, r.config.target, r.config.outcomes, precision=r.precision,
                                          problem_ids=_outcome_ids(r),
                                          batch_size=r.config.eval_batch_size, should_stop=r.stop, model=r.model)
        for name, res in r.outcomes_before.items():
            r.say(f"{r.label}: base-model {name} on {r.config.target}: {res.value:.4f} {res.unit}"
                  + (" (cached)" if res.extra.get("cached") else ""))


def _step_familiarity(r: _RunState) -> None:
    """Base-model perplexity on the run's training sequences: from the cache, or computed and stored."""
    from core.finetune.perplexity import perplexity

    if r.fam is None:
        results.update_run(r.run_id, phase="familiarity")
        r.fam = perplexity(r.model, r.data.sequences, batch_size=r.config.eval_batch_size, pad_id=r.pad_id,
                           precision=r.precision, should_stop=r.stop,
                           progress=lambda d, t: r.phases.update("fam", d / t, f"familiarity of {r.label}: {d}/{t}")).to_dict()
        results.cache_put(r.keys["fam"], r.fam)
    results.update_run(r.run_id, familiarity=r.fam["perplexity"])
    r.say(f"{r.label}: familiarity (base perplexity on its {r.data.tokens} training tokens): {r.fam['perplexity']:.3f}")


def _step_train(r: _RunState) -> None:
    """Fine-tune the loaded model in place (LoRA adapters first for ``method="lora"``), checkpointing in
    :func:`core.finetune.train.checkpoint_dir` of the run id and resuming from an earlier attempt's
    newest complete checkpoint (said in the log and noted in the row)."""
    from core.finetune import train as train_mod

    cfg = r.config
    if cfg.method == "lora":
        r.model = train_mod.lora_wrap(r.model, cfg)
    total = train_mod.num_steps(len(r.data.sequences), cfg)
    results.update_run(r.run_id, phase="training", train_steps=total)
    train_mod.sweep_checkpoints(keep=r.run_id)
    t_train = time.perf_counter()

    def on_step(step, total, loss):
        msg = f"{r.label}: step {step}/{total}" + (f", loss {loss:.4f}" if loss is not None else "")
        r.phases.update("train", step / max(total, 1), msg)

    def say(line: str) -> None:
        r.say(f"{r.label}: {line}" if line.startswith(("resuming", "restarting", "checkpoints")) else line)
        if line.startswith(("resuming", "restarting")):
            results.update_run(r.run_id, message=f"{r.label}: {line.split(' (')[0].split(':')[0]}")

    if cfg.quick:     # a checkpoint is 1.6 GB (weights + AdamW state) for a minute of training: none
        r.say(f"{r.label}: quick run: no checkpoints (a killed quick run trains again from step 0)")
    tr = train_mod.train(r.model, r.data.sequences, cfg, pad_id=r.pad_id, progress=on_step, should_stop=r.stop,
                         log=say, checkpoint_dir=None if cfg.quick else train_mod.checkpoint_dir(r.run_id))
    if tr.resumed_from:
        r.notes.append(f"training resumed at step {tr.resumed_from}/{tr.steps} from its checkpoint after an interruption")
        results.update_run(r.run_id, notes="; ".join(r.notes))
    results.update_run(r.run_id, train_steps=tr.steps, train_loss_first=tr.first_loss, train_loss_last=tr.last_loss,
                       train_seconds=time.perf_counter() - t_train, phase="evaluating")


def _step_evaluate(r: _RunState) -> None:
    """Perplexity of the fine-tuned model on the held-out split; saves the LoRA adapter if asked."""
    from core.finetune.perplexity import perplexity
    from core.finetune.train import TrainingError

    cfg = r.config
    progress = lambda d, t: r.phases.update("eval", d / t, f"{r.label}: perplexity on {r.held.corpus}: {d}/{t}")  # noqa: E731
    if cfg.quick:
        from core.finetune.quick import as_perplexity

        r.quick_after = _measure_quick(r, progress)
        r.after = as_perplexity(r.quick_after)
    else:
        r.after = perplexity(r.model, r.eval_windows, batch_size=cfg.eval_batch_size, pad_id=r.pad_id,
                             precision=r.precision, should_stop=r.stop, progress=progress)
    if not math.isfinite(r.after.perplexity):
        raise TrainingError(f"The fine-tuned model's perplexity on {r.held.corpus!r} is not finite (nll {r.after.nll}).",
                            fix=f"lower the learning rate (now {cfg.learning_rate:g}).")
    if cfg.outcomes:
        from core.outcomes.measure import measure_outcomes

        results.update_run(r.run_id, phase="outcomes")
        r.outcomes_after = measure_outcomes(r.model, r.probe.tokenizer, cfg.target, cfg.outcomes,
                                            precision=r.precision, batch_size=cfg.eval_batch_size, should_stop=r.stop,
                                            problem_ids=_outcome_ids(r))
    if cfg.method == "lora" and cfg.save_adapter:
        r.adapter = str(cache_dir("finetune", "adapters", r.run_id))
        r.model.save_pretrained(r.adapter)


def _step_finish(r: _RunState) -> None:
    """Free the model and complete the row."""
    import gc

    r.model = None                     # the next run of an experiment loads a fresh copy
    gc.collect()
    wall = time.time() - r.t0
    after, before, ci = dict(r.outcomes_after), dict(r.outcomes_before), {}
    if r.quick_after is not None:              # a quick run's perplexity and its CI over documents
        after["text-ppl"], before["text-ppl"] = r.quick_after, r.quick_before
        ci = {"ppl_ci_low": r.quick_after.ci[0], "ppl_ci_high": r.quick_after.ci[1]}
    r.say(f"{r.label}: perplexity {r.base['perplexity']:.3f} -> {r.after.perplexity:.3f}"
          + (f" (95% CI {ci['ppl_ci_low']:.3f} to {ci['ppl_ci_high']:.3f}, {len(r.eval_ids)} documents, quick)" if ci else "")
          + f" in {wall:.0f} s")
    results.update_run(r.run_id, ppl_after=r.after.perplexity, nll_after=r.after.nll, adapter_path=r.adapter, **ci,
                       outcomes=outcome_record(after, before) or None, status="done", phase="done", error=None, finished=time.time(), wall_seconds=wall,
                       notes="; ".join(r.notes) or None)
    from core.finetune.train import checkpoint_dir, remove_checkpoints

    if remove_checkpoints(checkpoint_dir(r.run_id)):      # the run is done: its checkpoints are not needed
        r.say(f"{r.label}: checkpoints removed")
    r.phases.update("eval", 1, f"{r.label}: done")


def _measure_quick(r: _RunState, progress: Callable[[int, int], None]):
    """A quick run's perplexity on its subsample, per document (:func:`core.finetune.quick.measure_quick`)."""
    from core.finetune.quick import measure_quick

    cfg = r.config
    return measure_quick(r.model, r.probe.tokenizer, cfg.target, r.eval_ids, seq_len=cfg.seq_len, precision=r.precision,
                         batch_size=cfg.eval_batch_size, should_stop=r.stop, progress=progress)


def _outcome_ids(r: _RunState) -> list[str] | None:
    """The problems a run measures its outcomes on: all (None), or a quick run's subsample."""
    if not r.config.quick:
        return None
    from core.finetune.quick import outcome_problems
    from core.outcomes.base import get_outcome

    pair = any(get_outcome(n).uses_pair_format for n in r.config.outcomes)   # af-nll, af-gen: the pairs among them
    return outcome_problems(r.config.target, r.eval_ids) if pair else list(r.eval_ids)


def outcome_record(after: dict, before: dict) -> dict:
    """The ``outcomes`` column of a run row: ``{name: {value, ci_low, ci_high, n, unit, direction,
    before, before_ci, difference, difference_ci}}`` of the fine-tuned weights (``after``) and, where
    the base weights were measured on the same problems, the paired difference after - before with its
    95% paired bootstrap CI (:meth:`core.outcomes.base.OutcomeResult.paired_difference`). The shape
    :func:`core.validation.axes.run_outcome` reads.

    Args:
        after, before: ``{name: OutcomeResult}``.
    """
    out = {}
    for name, res in after.items():
        rec = {"value": res.value, "ci_low": res.ci[0], "ci_high": res.ci[1], "n": res.n, "unit": res.unit,
               "direction": res.direction}
        base = before.get(name)
        if base is not None:
            d = res.paired_difference(base)
            rec.update(before=base.value, before_ci=list(base.ci), difference=d.difference, difference_ci=list(d.ci))
        out[name] = rec
    return out


#: The steps of a run, in order, and whether each holds the machine-wide training slot.
STEPS: tuple[tuple[str, Callable[[_RunState], None], bool], ...] = (
    ("prepare", _step_prepare, False), ("tokenise", _step_tokenise, False), ("alignment", _step_alignment, True),
    ("load", _step_load, True), ("base", _step_base, True), ("familiarity", _step_familiarity, True),
    ("train", _step_train, True), ("evaluate", _step_evaluate, True), ("finish", _step_finish, False))


def _timed(r: _RunState, name: str, step: Callable[[_RunState], None]) -> None:
    w, c = time.perf_counter(), time.process_time()
    step(r)
    r.timings[name] = {"wall_s": round(time.perf_counter() - w, 3), "cpu_s": round(time.process_time() - c, 3)}


def _run(r: _RunState) -> dict:
    def wait_msg():
        r.say(f"{r.label}: waiting for another fine-tune to finish (one at a time)")
        r.phases.update("align", 0, "waiting for another fine-tune to finish")
        results.update_run(r.run_id, phase="waiting for the training slot")

    slotted = [s for s in STEPS if s[2]]
    for name, step, _ in STEPS[:STEPS.index(slotted[0])]:
        _timed(r, name, step)
    with training_slot(should_stop=r.stop, on_wait=wait_msg):
        choose_threads(r.probe.device, r.say)
        for name, step, _ in slotted:
            _timed(r, name, step)
        r.model = None
    for name, step, _ in STEPS[STEPS.index(slotted[-1]) + 1:]:
        _timed(r, name, step)
    r.say(f"{r.label}: step timings (wall s): " + ", ".join(f"{k} {v['wall_s']:.1f}" for k, v in r.timings.items()))
    row = results.get_run(r.run_id, reconcile_first=False)
    return {**row, "timings": r.timings}


def combine_progress(*callbacks: Progress | None) -> Progress:
    """One ``progress(done, total, message)`` callback that calls each given one (None are skipped)."""
    def call(done: int, total: int, message: str) -> None:
        for cb in callbacks:
            if cb is not None:
                cb(done, total, message)
    return call


def _raise_stop(where: str) -> None:
    raise InterruptedError(f"stopped {where}")
