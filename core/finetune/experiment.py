"""The experiment preset: one fine-tune per source with identical hyperparameters and budgets.

This reproduces the controlled experiment of Chawla, Miranda et al. ("Quantifying the Importance
of Data Alignment in Downstream Model Performance", Tables 1-2): every candidate source gets the
same token budget and optimisation settings, each fine-tuned model is evaluated on the target's
held-out split, and test perplexity is plotted against the source's alignment coefficient.

The runs of an experiment are done one after another by a single ``experiment`` job (2 CPU cores:
never two trainings at once); finished runs (same configuration and alignment settings) are reused,
not repeated, so re-running an experiment after a crash only does what is missing.
"""
from __future__ import annotations

import os
import time
from typing import Callable

from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.settings import EmbedSettings

#: Candidate sources of the demo pack for the ProofNet experiment (formal maths, informal maths,
#: code, general prose), all disjoint from every benchmark's test split (``python-docstrings``, not
#: ``humaneval``, which is the docstring -> code target benchmark).
DEFAULT_SOURCES = ("proofnet-valid", "proofnet-informal", "coq-stdlib", "metamath", "hol-light", "python-docstrings",
                   "python-stdlib", "wikipedia", "news")


def candidate_sources(target: str) -> list[str]:
    """Installed corpora that may be trained on for ``target`` (not its held-out split, not benchmarks)."""
    from core.corpora import list_corpora
    from core.corpora.benchmarks import heldout_split

    held = heldout_split(target)
    out = []
    for c in list_corpora():
        if c.name in held.forbidden or c.name == target or c.spec.domain == "target benchmark":
            continue
        if c.available():
            out.append(c.name)
    return out


def benchmark_targets() -> list[str]:
    """Installed target benchmarks (a held-out split to evaluate on), ``proofnet`` first."""
    from core.corpora import list_corpora
    from core.corpora.benchmarks import BENCHMARKS

    names = []
    for c in list_corpora():
        if (c.name in BENCHMARKS or c.spec.domain == "target benchmark") and c.available():
            names.append(c.name)
    return sorted(names, key=lambda n: (n != "proofnet", n))


def default_sources(target: str) -> list[str]:
    """:data:`DEFAULT_SOURCES` that are installed (and allowed for ``target``)."""
    ok = set(candidate_sources(target))
    return [s for s in DEFAULT_SOURCES if s in ok]


def experiment_configs(target: str, sources: list[str],
                       base: FinetuneConfig | dict | None = None) -> list[FinetuneConfig]:
    """One :class:`FinetuneConfig` per source, identical except for the source.

    Raises:
        AlignScopeError: no source, duplicate sources.
    """
    sources = [s.strip() for s in sources if s and s.strip()]
    if not sources:
        raise AlignScopeError("An experiment needs at least one source.",
                              fix=f"pass --sources {','.join(DEFAULT_SOURCES[:3])},...")
    dup = sorted({s for s in sources if sources.count(s) > 1})
    if dup:
        raise AlignScopeError(f"Sources listed twice: {', '.join(dup)}.", fix="list each source once.")
    d = base.to_dict() if isinstance(base, FinetuneConfig) else dict(base or {})
    d.pop("mixture", None)
    d.pop("source", None)
    d["target"] = target
    return [FinetuneConfig(**{**d, "source": s}) for s in sources]


def experiment_params(target: str, sources: list[str], base: FinetuneConfig | dict | None,
                      settings: EmbedSettings) -> dict:
    """Job parameters (identity) of an experiment."""
    configs = experiment_configs(target, sources, base)
    cfg = configs[0].to_dict()
    cfg.pop("source")
    cfg.pop("mixture")
    return {"target": target, "sources": [c.source for c in configs], "config": cfg, "settings": settings.to_dict()}


def configs_from_params(params: dict) -> list[FinetuneConfig]:
    """The experiment's :class:`FinetuneConfig` per source, from :func:`experiment_params`' dict."""
    return [FinetuneConfig(**{**params["config"], "source": s, "target": params["target"]}) for s in params["sources"]]


def _wait_for_other_job(run_id: str, my_job: str, should_stop: Callable[[], bool], report) -> dict | None:
    """If another job is running this very run, wait for it to end; returns the final row (or None)."""
    while True:
        row = results.get_run(run_id)
        if not row or row["status"] not in ("queued", "running") or row.get("job_id") in (None, my_job):
            return row
        if should_stop():
            raise InterruptedError("cancelled while waiting for another job's run")
        report(f"waiting for job {row['job_id']} (same run)")
        time.sleep(2)


def run_experiment(params: dict, *, job_id: str, progress: Callable[[int, int, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run the experiment's fine-tunes one after another (reusing finished ones).

    The experiment's state lives in its ``experiments`` row (``experiment_id`` = ``job_id``): this
    process is its worker (``worker_pid``, also of the runs it queued), its progress (percent over all
    runs, ``[k/n]`` messages, ETA) is recorded there as well as passed to ``progress``, and it ends
    ``done``, ``cancelled`` or ``failed``.

    One failing source (bad input, NaN loss, out of memory) is recorded as ``failed`` and the next
    source goes on; a cancel request stops the experiment and marks the runs not started as
    ``cancelled`` (another error: ``failed``).

    Returns:
        ``{"runs": {source: {"run_id", "status", "error"}}, "done": n, "failed": n}``.
    """
    from core.finetune.runner import combine_progress
    from core.finetune.identity import run_id_for

    stop = should_stop or (lambda: False)
    say = log or (lambda m: None)
    run_ids: list[str] = []
    results.save_experiment(job_id, status="running", worker_pid=os.getpid(), started=time.time(), finished=None,
                              error=None, message="starting")
    record = results.progress_recorder(experiment_id=job_id)
    try:
        settings = EmbedSettings.from_dict(params.get("settings"))
        configs = configs_from_params(params)
        run_ids = [run_id_for(c, settings) for c in configs]
        results.save_experiment(job_id, target=params.get("target"), run_ids=run_ids)
        _adopt_queued(run_ids, job_id)
        out = _run_in_turn(configs, run_ids, settings, job_id=job_id, stop=stop, say=say,
                           report=combine_progress(progress, record), n=len(configs))
    except InterruptedError as exc:
        _end_unstarted(run_ids, job_id, "cancelled", f"experiment cancelled ({exc})")
        raise
    except Exception as exc:
        _end_unstarted(run_ids, job_id, "failed", f"experiment failed: {exc}")
        raise
    done = sum(v["status"] == "done" for v in out.values())
    results.save_experiment(job_id, status="done", message=f"done: {done} of {len(out)} runs", progress=100.0,
                              eta_s=0.0, finished=time.time())
    return {"runs": out, "done": done, "failed": len(out) - done}


def _adopt_queued(run_ids: list[str], job_id: str) -> None:
    """This process is the worker of the runs this experiment queued (a dead worker is then detected)."""
    for run_id in run_ids:
        row = results.get_run(run_id, reconcile_first=False)
        if row and row["status"] == "queued" and row.get("job_id") == job_id:
            results.update_run(run_id, worker_pid=os.getpid())


def _end_unstarted(run_ids: list[str], job_id: str, status: str, error: str) -> None:
    """The experiment ends early: its row, and its runs still queued, become ``status``."""
    now = time.time()
    for run_id in run_ids:
        row = results.get_run(run_id, reconcile_first=False)
        if row and row["status"] == "queued" and row.get("job_id") == job_id:
            results.update_run(run_id, status=status, error=error, finished=now)
    results.save_experiment(job_id, status=status, error=error, finished=now)


def _run_in_turn(configs: list[FinetuneConfig], run_ids: list[str], settings: EmbedSettings, *, job_id: str,
                 stop: Callable[[], bool], say: Callable[[str], None], report: Callable[[int, int, str], None],
                 n: int) -> dict[str, dict]:
    """The experiment's loop: each run reused when done, else fine-tuned; returns ``{label: outcome}``."""
    from core.execution import current_engine
    from core.finetune.runner import run_finetune

    if current_engine().distributed:         # --engine ray: one Ray task per run, rows recorded here
        return _run_on_engine(configs, run_ids, settings, job_id=job_id, stop=stop, say=say, report=report, n=n)
    out: dict[str, dict] = {}

    def at(k: int, pct: float, msg: str) -> None:
        report(k * 100 + int(pct), n * 100, f"[{k + 1}/{n}] {msg}")

    for k, (cfg, run_id) in enumerate(zip(configs, run_ids)):
        if stop():
            raise InterruptedError(f"stopped before {cfg.label}")
        row = _wait_for_other_job(run_id, job_id, stop, lambda m: at(k, 0, f"{cfg.label}: {m}"))
        if row and row["status"] == "done":
            say(f"[{k + 1}/{n}] {cfg.label}: already done (run {run_id}), reused")
            out[cfg.label] = {"run_id": run_id, "status": "done", "error": None, "reused": True}
            at(k, 100, f"{cfg.label}: reused")
            continue
        say(f"[{k + 1}/{n}] {cfg.label}: fine-tuning")
        try:
            run_finetune(cfg, settings, run_id=run_id, job_id=job_id, experiment_id=job_id,
                         progress=lambda d, t, m, k=k: at(k, 100 * d / max(t, 1), m), should_stop=stop, log=say)
            out[cfg.label] = {"run_id": run_id, "status": "done", "error": None}
        except InterruptedError:
            raise
        except Exception as exc:   # recorded in the row by run_finetune; the next source goes on
            out[cfg.label] = {"run_id": run_id, "status": "failed", "error": str(exc)}
        at(k, 100, f"{cfg.label}: {out[cfg.label]['status']}")
    return out


def _run_on_engine(configs: list[FinetuneConfig], run_ids: list[str], settings: EmbedSettings, *, job_id: str,
                   stop: Callable[[], bool], say: Callable[[str], None], report: Callable[[int, int, str], None],
                   n: int) -> dict[str, dict]:
    """The experiment's runs on a distributed engine (:meth:`core.engine.Engine.run_finetunes`): done
    runs reused, the others sent at once (one task per run); returns ``{label: outcome}``."""
    from core.execution import RunRequest, current_engine

    out: dict[str, dict] = {}
    todo: list[RunRequest] = []
    for k, (cfg, run_id) in enumerate(zip(configs, run_ids)):
        row = _wait_for_other_job(run_id, job_id, stop, lambda m: report(0, n * 100, f"{cfg.label}: {m}"))
        if row and row["status"] == "done":
            say(f"[{k + 1}/{n}] {cfg.label}: already done (run {run_id}), reused")
            out[cfg.label] = {"run_id": run_id, "status": "done", "error": None, "reused": True}
        else:
            todo.append(RunRequest(cfg, settings, run_id, job_id=job_id, experiment_id=job_id, label=cfg.label))
    reused = len(out)
    for o in current_engine().run_finetunes(todo, should_stop=stop, log=say,
                                            progress=lambda d, t, m: report((reused + d) * 100, n * 100, m)):
        req = todo[o.index]
        out[req.label] = {"run_id": o.run_id, "status": "done" if o.ok else "failed", "error": o.error}
    return {c.label: out[c.label] for c in configs if c.label in out}
