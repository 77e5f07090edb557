"""One fine-tune run from start to finish, recorded in the results store as it goes.

Phases (each one's result is written to the run's row as soon as it is known, so a killed worker
loses only the phase it was in):

1. validate: the target has a held-out split, the source is installed and disjoint from it;
2. training data: the source's documents packed within the token budget (:mod:`core.finetune.data`);
3. alignment of the source with the target (``core.pipeline.align``; cached Task2Vec embeddings);
4. base-model perplexity on the held-out split (the baseline) and familiarity (base-model
   perplexity on the training data): both cached, they are deterministic;
5. fine-tuning (:func:`core.finetune.train.train`), then perplexity of the fine-tuned model on the
   held-out split.

Only one run trains at a time on a machine: phases 3-5 hold an exclusive lock
(``cache/finetune/train.lock``, ``fcntl.flock``, released by the OS if the worker dies), so a second
job waits ("waiting for another fine-tune") instead of halving the speed of both.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Callable

from core.corpora.memory import InMemoryCorpus
from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig, settings_from_dict
from core.paths import cache_dir

Progress = Callable[[int, int, str], None]


def run_params(config: FinetuneConfig, settings) -> dict:
    """Job parameters (and identity) of a run: its configuration and the alignment's embedding settings."""
    return {"config": config.to_dict(), "settings": settings.to_dict()}


def run_id_for(config: FinetuneConfig, settings) -> str:
    """The run id: the id of the ``finetune`` job with :func:`run_params` (same work -> same id)."""
    from core.jobs import job_id_for

    return job_id_for("finetune", run_params(config, settings))


def validate(config: FinetuneConfig):
    """Fast checks before anything is queued (clear errors for bad input).

    Returns the target's :class:`~core.finetune.data.HeldOut`.

    Raises:
        AlignScopeError (CorpusError, ModelError): no held-out split, a source on the test split,
            an unknown/uninstalled source or mixture, an unknown model.
    """
    from core.corpora import get_corpus
    from core.finetune.data import check_training_sources, mixture_sources
    from core.probe import load_probe

    sources = mixture_sources(config.mixture) if config.mixture else [config.source]
    held = check_training_sources(sources, config.target)
    if config.source:
        c = get_corpus(config.source)
        if not c.available():
            raise AlignScopeError(f"Training source {config.source!r} is not installed.",
                                  fix=f"run: {c.install_hint() or 'install it'}")
    load_probe(config.model, device=config.device, progress=False)
    return held


@contextlib.contextmanager
def training_slot(*, should_stop=None, on_wait: Callable[[], None] | None = None, poll: float = 1.0):
    """Hold the machine-wide fine-tuning lock (one training at a time); waits, polling ``should_stop``."""
    import fcntl

    path = cache_dir("finetune") / "train.lock"
    fh = open(path, "a+")
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if should_stop and should_stop():
                    raise InterruptedError("cancelled while waiting for another fine-tune to finish")
                if on_wait and not waited:
                    on_wait()
                waited = True
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def choose_threads(device, log: Callable[[str], None] | None = None) -> int | None:
    """Set torch's CPU threads for a run and return the number (None on CUDA: nothing to do).

    ``$ALIGNSCOPE_TORCH_THREADS`` (the CLI's ``--threads``) wins. Otherwise the idle cores are used:
    ``max(1, cores - round(1-minute load average))``. On a small shared machine this matters a lot:
    with the other core busy, two OpenMP threads wait for each other and one thread trains about
    2.5x faster than two (measured on 2 cores: a SmolLM2-135M step of 8 x 128 tokens took 20 s with
    one thread and 47 s with two at load 7).
    """
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return None
    env = os.environ.get("ALIGNSCOPE_TORCH_THREADS", "")
    cores = os.cpu_count() or 1
    if env.isdigit() and int(env) > 0:
        n = int(env)
    else:
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = 0.0
        n = max(1, min(cores, cores - int(round(load))))
    torch.set_num_threads(n)
    if log:
        log(f"torch CPU threads: {n} of {cores} cores")
    return n


def compute_alignment(config: FinetuneConfig, settings, tokenizer=None, *, should_stop=None) -> dict:
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


def run_finetune(config: FinetuneConfig, settings=None, *, run_id: str | None = None, job_id: str | None = None,
                 experiment_id: str | None = None, progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run one fine-tune (all phases) and return its row.

    Args:
        config: the run.  settings: :class:`core.pipeline.EmbedSettings` for the alignment (default settings).
        run_id: row id (default :func:`run_id_for`).  job_id / experiment_id: recorded in the row.
        progress: ``(percent, 100, message)``.  should_stop: cancellation poll.  log: one line per event.

    Raises:
        InterruptedError: cancelled (row ``cancelled``).  AlignScopeError and others: row ``failed``
            with the message as ``error``.
    """
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings()
    if isinstance(settings, dict):
        settings = settings_from_dict(settings)
    run_id = run_id or run_id_for(config, settings)
    say = log or (lambda m: None)
    stop = should_stop or (lambda: False)
    t0 = time.time()
    results.upsert_run(run_id, job_id=job_id, experiment_id=experiment_id, group_key=config.group_key(),
                       label=config.label, source=config.source, mixture=config.mixture, target=config.target,
                       model=config.model, method=config.method, budget_tokens=config.budget_tokens,
                       hparams=config.to_dict(), align_settings=settings.to_dict(), status="running",
                       phase="validating", started=t0, finished=None, error=None)
    try:
        return _run(config, settings, run_id, t0, progress, stop, say)
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


def _run(config, settings, run_id, t0, progress, stop, say) -> dict:
    from core.corpora import get_corpus
    from core.finetune.data import build_training_data
    from core.finetune.perplexity import document_windows, perplexity, windows_fingerprint
    from core.finetune.train import TrainingError, load_causal_lm, lora_wrap, num_steps, train
    from core.probe import load_probe

    held = validate(config)
    probe = load_probe(config.model, device=config.device, progress=False)
    tok = probe.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    data = build_training_data(config, tok)
    notes = list(data.notes)
    for n in notes:
        say(f"{config.label}: note: {n}")
    results.update_run(run_id, tokens_trained=data.tokens, tokens_seen=int(round(data.tokens * config.epochs)),
                       documents_used=data.documents, budget_tokens=data.requested, notes="; ".join(notes) or None,
                       eval_corpus=held.corpus, device=str(probe.device), phase="training data ready")
    eval_windows = document_windows([d.text for d in get_corpus(held.corpus).documents()], tok, config.seq_len)
    if not eval_windows:
        raise AlignScopeError(f"The held-out split {held.corpus!r} of target {config.target!r} has no text to evaluate.",
                              fix="check the target corpus.")
    steps = num_steps(len(data.sequences), config)
    eval_batches = math.ceil(len(eval_windows) / config.eval_batch_size)
    fam_batches = math.ceil(len(data.sequences) / config.eval_batch_size)
    key_base = {"what": "target", "model": probe.fingerprint, "tok": probe.tokenizer_fingerprint,
                "windows": windows_fingerprint(eval_windows)}
    key_fam = {"what": "familiarity", "model": probe.fingerprint, "tok": probe.tokenizer_fingerprint,
               "windows": windows_fingerprint(data.sequences)}
    base = results.cache_get(key_base)
    fam = results.cache_get(key_fam)
    train_weight = 3.0 * config.batch_size / config.eval_batch_size  # fwd+bwd ~ 3 forwards
    phases = _Phases(progress, {"align": 4.0, "base": 0 if base else eval_batches, "fam": 0 if fam else fam_batches,
                                "load": 2.0, "train": steps * train_weight, "eval": eval_batches})

    def wait_msg():
        say(f"{config.label}: waiting for another fine-tune to finish (one at a time)")
        phases.update("align", 0, "waiting for another fine-tune to finish")
        results.update_run(run_id, phase="waiting for the training slot")

    with training_slot(should_stop=stop, on_wait=wait_msg):
        choose_threads(probe.device, say)
        results.update_run(run_id, phase="alignment")
        phases.update("align", 0, f"{config.label}: alignment with {config.target}")
        try:
            a = compute_alignment(config, settings, tok, should_stop=stop)
            results.update_run(run_id, alignment=a["alignment"], align_ci_low=a["ci_low"], align_ci_high=a["ci_high"])
            ci = ("" if a["ci_low"] is None or a["ci_high"] is None
                  else f" (95% CI {a['ci_low']:.4f} to {a['ci_high']:.4f})")
            say(f"{config.label}: alignment with {config.target} {a['alignment']:.4f}{ci}")
        except AlignScopeError as exc:   # the perplexities are still worth having; the plot skips the point
            notes.append(f"alignment unavailable: {exc}")
            results.update_run(run_id, notes="; ".join(notes))
            say(f"{config.label}: alignment unavailable: {exc}")
        phases.update("align", 1, f"{config.label}: alignment done")
        stop() and _raise_stop("after the alignment")

        model = None
        if base is None or fam is None:
            phases.update("load", 0, f"loading {config.model}")
            model = load_causal_lm(probe)
            phases.update("load", 1, f"loaded {config.model}")
        if base is None:
            results.update_run(run_id, phase="base-model perplexity")
            base = perplexity(model, eval_windows, batch_size=config.eval_batch_size, pad_id=pad_id, should_stop=stop,
                              progress=lambda d, t: phases.update("base", d / t, f"base perplexity on {held.corpus}: {d}/{t}")).to_dict()
            results.cache_put(key_base, base)
        results.update_run(run_id, ppl_before=base["perplexity"], nll_before=base["nll"], eval_tokens=base["tokens"])
        say(f"{config.label}: base-model perplexity on {held.corpus}: {base['perplexity']:.3f} ({base['tokens']} tokens)")
        if fam is None:
            results.update_run(run_id, phase="familiarity")
            fam = perplexity(model, data.sequences, batch_size=config.eval_batch_size, pad_id=pad_id, should_stop=stop,
                             progress=lambda d, t: phases.update("fam", d / t, f"familiarity of {config.label}: {d}/{t}")).to_dict()
            results.cache_put(key_fam, fam)
        results.update_run(run_id, familiarity=fam["perplexity"])
        say(f"{config.label}: familiarity (base perplexity on its {data.tokens} training tokens): {fam['perplexity']:.3f}")

        if model is None:
            phases.update("load", 0, f"loading {config.model}")
            model = load_causal_lm(probe)
        phases.update("load", 1, f"loaded {config.model}")
        if config.method == "lora":
            model = lora_wrap(model, config)
        results.update_run(run_id, phase="training", train_steps=steps)
        t_train = time.perf_counter()

        def on_step(step, total, loss):
            msg = f"{config.label}: step {step}/{total}" + (f", loss {loss:.4f}" if loss is not None else "")
            phases.update("train", step / max(total, 1), msg)

        tr = train(model, data.sequences, config, pad_id=pad_id, progress=on_step, should_stop=stop, log=say)
        results.update_run(run_id, train_steps=tr.steps, train_loss_first=tr.first_loss, train_loss_last=tr.last_loss,
                           train_seconds=time.perf_counter() - t_train, phase="evaluating")
        after = perplexity(model, eval_windows, batch_size=config.eval_batch_size, pad_id=pad_id, should_stop=stop,
                           progress=lambda d, t: phases.update("eval", d / t, f"{config.label}: perplexity on {held.corpus}: {d}/{t}"))
        if not math.isfinite(after.perplexity):
            raise TrainingError(f"The fine-tuned model's perplexity on {held.corpus!r} is not finite (nll {after.nll}).",
                                fix=f"lower the learning rate (now {config.learning_rate:g}).")
        adapter = None
        if config.method == "lora" and config.save_adapter:
            adapter = str(cache_dir("finetune", "adapters", run_id))
            model.save_pretrained(adapter)
        del model                      # the next run of an experiment loads a fresh copy
        import gc

        gc.collect()
    wall = time.time() - t0
    say(f"{config.label}: perplexity {base['perplexity']:.3f} -> {after.perplexity:.3f} in {wall:.0f} s")
    results.update_run(run_id, ppl_after=after.perplexity, nll_after=after.nll, adapter_path=adapter,
                       status="done", phase="done", error=None, finished=time.time(), wall_seconds=wall,
                       notes="; ".join(notes) or None)
    phases.update("eval", 1, f"{config.label}: done")
    return results.get_run(run_id, reconcile_first=False)


def _raise_stop(where: str):
    raise InterruptedError(f"stopped {where}")
