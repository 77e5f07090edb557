"""Background jobs of the fine-tune feature (``core.jobs`` kinds ``finetune`` and ``experiment``).

Both kinds are declared in :data:`core.jobs.JOBS` with ``status="core.finetune.jobs:job_status"``: their
state lives in the results database (the run's row, or the experiment's), and the job folder only
points at it (``{"points_to": {"run_id"}}`` / ``{"experiment_id"}``). Submission helpers validate the
request first (bad input fails at once with a clear message, nothing queued), decide from the rows
whether the work is done or under way, write the rows as ``queued``, then start the worker.

Job targets (run in worker processes, which lower their own CPU priority so the dashboard stays
responsive):

- :func:`finetune_job` params ``{"config": FinetuneConfig.to_dict(), "settings": EmbedSettings.to_dict()}``;
  the job id is the run id.
- :func:`experiment_job` params from :func:`core.finetune.experiment.experiment_params`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import jobs
from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.settings import EmbedSettings
from core.paths import cache_dir, file_lock

if TYPE_CHECKING:
    from core.jobs import JobContext

KINDS = ("finetune", "experiment")


def _lower_priority() -> None:
    """Worker setup: nice 10 (unless ``ALIGNSCOPE_NO_NICE``), so the dashboard stays responsive.

    (Torch threads are chosen per run by :func:`core.finetune.machine.choose_threads`.)
    """
    if os.environ.get("ALIGNSCOPE_NO_NICE"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < 10:
            os.setpriority(os.PRIO_PROCESS, 0, 10)
    except OSError:
        pass


def job_status(job: jobs.Job) -> dict:
    """:meth:`core.jobs.Job.status` of a ``finetune`` or ``experiment`` job, read from its row in the
    results database (after :func:`core.finetune.results.mark_dead_workers`).

    Returns ``{"state", "done", "total", "message", "started", "updated", "eta_s", "pid", "error"}``:
    ``done``/``total`` in percent (a run) or percent summed over the runs (an experiment), ``eta_s``
    in seconds, ``pid`` the worker's. A missing row gives state ``killed``.
    """
    ref = job.points_to or {"run_id": job.job_id}
    if "experiment_id" in ref:
        row = results.get_experiment(ref["experiment_id"])
        total = 100 * len((row or {}).get("run_ids") or []) or 100
    else:
        row = results.get_run(ref["run_id"])
        total = 100
    if row is None:
        return {"state": "killed", "done": 0, "total": 0, "message": "", "pid": None,
                "error": f"its row {ref} is not in the results database (cache cleared?)"}
    state = row["status"]
    done = total if state == "done" else int(round((row.get("progress") or 0.0) * total / 100))
    message = row.get("message") or row.get("phase") or state
    if state in ("killed", "cancelled", "failed") and "run_id" in ref:
        message = f"{message} ({state}; {resume_hint(ref['run_id'], row)})"
    return {"state": state, "done": done, "total": total, "message": message,
            "started": row.get("started"), "updated": row.get("updated"), "eta_s": row.get("eta_s"),
            "pid": row.get("worker_pid"), "error": row.get("error")}


def resume_hint(run_id: str, row: dict | None = None) -> str:
    """What submitting an unfinished run again does, in words: ``the same command resumes training from
    its checkpoint at step k/N`` when :func:`core.finetune.train.latest_checkpoint` finds a complete one
    in the run's checkpoint folder, else ``the same command starts it again from step 0 (no checkpoint
    yet)`` (the phases before training are cached, so only training is redone)."""
    from core.finetune.train import checkpoint_dir, latest_checkpoint

    ck = latest_checkpoint(checkpoint_dir(run_id))
    if ck is not None:
        return f"the same command resumes training from its checkpoint at step {ck.step}/{ck.max_steps}"
    return "the same command starts it again from step 0 (no checkpoint yet)"


def record_worker(job: jobs.Job, pid: int) -> None:
    """The ``spawned=`` hook of the ``finetune`` and ``experiment`` kinds: the worker process ``pid`` that
    :func:`core.jobs.submit` just started becomes the ``worker_pid`` of the rows it will run (the run's, or
    the experiment's and the runs it queued) while they are ``queued`` with none, so a worker that dies
    before its target starts is marked ``killed`` at the next status read
    (:func:`core.finetune.results.mark_dead_workers`) instead of after ``results.ORPHAN_AFTER_S`` seconds.
    (The worker writes the same pid when it starts: the two writes never disagree.)
    """
    ref = job.points_to or {"run_id": job.job_id}
    run_ids = [ref.get("run_id")]
    if "experiment_id" in ref:
        exp = results.get_experiment(ref["experiment_id"])
        if exp and exp["status"] == "queued" and exp.get("worker_pid") is None:
            results.save_experiment(ref["experiment_id"], worker_pid=pid)
        run_ids = (exp or {}).get("run_ids") or []
    for run_id in run_ids:
        row = results.get_run(run_id, reconcile_first=False)
        if row and row["status"] == "queued" and row.get("worker_pid") is None and row.get("job_id") == job.job_id:
            results.update_run(run_id, worker_pid=pid)


def finetune_job(params: dict, ctx: JobContext) -> dict:
    """Job target: one fine-tune run (see :func:`core.finetune.runner.run_finetune`).

    Returns only ``{"run_id"}``: the run's state, progress and measurements live in the results
    database (:mod:`core.finetune.results`), the job's files just point at the run. A failure before
    the run starts (a bad parameter) is recorded in its row as ``failed``.
    """
    from core.finetune.runner import run_finetune

    _lower_priority()
    run_id = ctx.folder.name
    results.update_run(run_id, worker_pid=os.getpid())
    try:
        config = FinetuneConfig.from_dict(params["config"])
        settings = EmbedSettings.from_dict(params.get("settings"))
    except Exception as exc:
        results.update_run(run_id, status="failed", error=f"bad job parameters: {exc}", finished=time.time())
        raise
    row = run_finetune(config, settings, run_id=run_id, job_id=run_id, should_stop=ctx.should_stop, log=ctx.log)
    return {"run_id": row["run_id"]}


def experiment_job(params: dict, ctx: JobContext) -> dict:
    """Job target: the experiment preset (one fine-tune per source, one after another; its state and
    progress are recorded in its ``experiments`` row by :func:`core.finetune.experiment.run_experiment`)."""
    from core.finetune.experiment import run_experiment

    _lower_priority()
    return run_experiment(params, job_id=ctx.folder.name, should_stop=ctx.should_stop, log=ctx.log)


@dataclass
class Submission:
    """What a submission started or found: the run (or experiment) and the job that does it.

    ``reused`` is True when nothing new was started (already done, or already queued/running).
    """

    job_id: str
    run_ids: list[str]
    reused: bool

    @property
    def job(self) -> jobs.Job | None:
        """The :class:`core.jobs.Job` doing the work (None if its folder is gone)."""
        return jobs.get_job(self.job_id)


def submit_finetune(config: FinetuneConfig, settings: EmbedSettings = None, *, restart: bool = False,
                    wait: bool = False) -> Submission:
    """Validate and queue one fine-tune (or return the identical one already done or under way).

    A killed, cancelled or failed run is queued again under the same run id; its worker resumes
    training from the run's newest complete checkpoint (:func:`core.finetune.train.latest_checkpoint`,
    :func:`resume_hint` says which), or starts from step 0 when there is none, and says so in its log.
    With ``restart`` the run is run again from step 0 (done or not: its checkpoints are removed first).
    When this call starts a worker (``wait=False``) from the main thread, SIGTERM of this process
    becomes ``KeyboardInterrupt`` (:func:`core.jobs.sigterm_as_interrupt`), so an attached CLI cancels the
    job it started on SIGTERM as on Ctrl-C.

    Raises:
        AlignScopeError: bad input (see :func:`core.finetune.identity.validate`).
    """
    from core.finetune.identity import run_params, validate
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings()
    validate(config)
    params = run_params(config, settings)
    run_id = jobs.job_id_for("finetune", params)
    with file_lock(_submit_lock(run_id), what=f"submission of run {run_id}"):
        row = results.get_run(run_id)
        if row and row["status"] in results.UNFINISHED:     # under way: never two workers on one run
            return Submission(row["job_id"], [run_id], True)
        if row and row["status"] == "done" and not restart:
            return Submission(row.get("job_id") or run_id, [run_id], True)
        if restart:                                          # asked to start over: from step 0
            from core.finetune.train import checkpoint_dir, remove_checkpoints

            remove_checkpoints(checkpoint_dir(run_id))
        _queue(run_id, config, settings, job_id=run_id, experiment_id=None, worker_pid=os.getpid() if wait else None)
        job = jobs.submit("finetune", params, restart=True, wait=wait, points_to={"run_id": run_id})
    if not wait:
        jobs.sigterm_as_interrupt()     # a follower's SIGTERM cancels the job it started, as Ctrl-C does
    return Submission(job.job_id, [run_id], False)


def _submit_lock(job_id: str) -> Path:
    """The lock held while deciding whether to start ``job_id`` (two clicks never start two workers)."""
    return cache_dir("finetune", "submit") / f"{job_id}.lock"


def _queue(run_id: str, config: FinetuneConfig, settings: EmbedSettings, *, job_id: str,
           experiment_id: str | None, worker_pid: int | None = None) -> None:
    """Write (or reset) the run's row as ``queued`` by ``job_id``, before its worker starts.

    ``worker_pid``: the process that will run it when known (the submitter itself with ``wait=True``),
    so a kill before the run starts is detected at once, not after ``results.ORPHAN_AFTER_S`` (issue 12
    fault injection: a rerun within that window found the row "under way" and ran nothing)."""
    results.upsert_run(run_id, job_id=job_id, experiment_id=experiment_id, group_key=config.group_key(),
                       label=config.label, source=config.source, mixture=config.mixture, target=config.target,
                       model=config.model, method=config.method, budget_tokens=config.budget_tokens,
                       hparams=config.to_dict(), align_settings=settings.to_dict(), status="queued", phase="queued",
                       error=None, started=None, finished=None, worker_pid=worker_pid, progress=0.0, message="queued",
                       eta_s=None)


def submit_experiment(target: str, sources: list[str], base: FinetuneConfig | dict | None = None,
                      settings: EmbedSettings = None, *, restart: bool = False, wait: bool = False) -> Submission:
    """Validate and queue the experiment preset (one job running the sources' fine-tunes in turn).

    Sources already fine-tuned with the same configuration are reused. With ``restart`` the
    failed/cancelled/killed runs are tried again (done runs are still reused).

    Raises:
        AlignScopeError: no source, a source on the target's held-out split, an uninstalled source.
    """
    from core.finetune.experiment import experiment_configs, experiment_params
    from core.finetune.identity import run_id_for, validate
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings()
    configs = experiment_configs(target, sources, base)
    problems = []
    for c in configs:
        try:
            validate(c)
        except AlignScopeError as exc:
            problems.append(str(exc))
    if problems:
        raise AlignScopeError("The experiment cannot start: " + " | ".join(problems),
                              fix="remove or fix the sources named above.")
    params = experiment_params(target, [c.source for c in configs], base, settings)
    job_id = jobs.job_id_for("experiment", params)
    run_ids = [run_id_for(c, settings) for c in configs]
    with file_lock(_submit_lock(job_id), what=f"submission of experiment {job_id}"):
        exp = results.get_experiment(job_id)
        if exp is not None and exp["status"] in results.UNFINISHED:
            return Submission(job_id, run_ids, True)
        rows = {r: results.get_run(r) for r in run_ids}
        pending = [r for r, row in rows.items() if not row or row["status"] != "done"]
        if not pending and exp is not None and not restart:
            return Submission(job_id, run_ids, True)
        pid = os.getpid() if wait else None         # with wait this process runs it: a kill is seen at once
        results.save_experiment(job_id, target=target, run_ids=run_ids, status="queued", message="queued",
                                  progress=0.0, eta_s=None, worker_pid=pid, error=None, started=None, finished=None)
        for c, r in zip(configs, run_ids):
            row = rows[r]
            if row and (row["status"] == "done" or row["status"] in results.UNFINISHED):
                continue          # done: reused; under way in another job: the experiment waits for it
            _queue(r, c, settings, job_id=job_id, experiment_id=job_id, worker_pid=pid)
        job = jobs.submit("experiment", params, restart=True, wait=wait, points_to={"experiment_id": job_id})
    if not wait:
        jobs.sigterm_as_interrupt()     # a follower's SIGTERM cancels the job it started, as Ctrl-C does
    return Submission(job.job_id, run_ids, False)


def active_jobs() -> list:
    """Fine-tune and experiment jobs that are queued or running (newest first)."""
    out = []
    for kind in KINDS:
        out += [j for j in jobs.list_jobs(kind) if not j.finished]
    return sorted(out, key=lambda j: -(j.spec.get("created") or 0))


