"""Background jobs of the fine-tune feature (``core.jobs`` kinds ``finetune`` and ``experiment``).

Both kinds are declared in :data:`core.jobs.JOBS`; the dashboard pages and the CLI import this module. Submission
helpers validate the request first (bad input fails at once with a clear message, nothing queued),
write the run rows as ``queued`` in the results store, then start the worker.

Job targets (run in worker processes, which lower their own CPU priority so the dashboard stays
responsive):

- :func:`finetune_job` params ``{"config": FinetuneConfig.to_dict(), "settings": EmbedSettings.to_dict()}``;
  the job id is the run id.
- :func:`experiment_job` params from :func:`core.finetune.experiment.experiment_params`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core import jobs
from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.fingerprint import EmbedSettings

if TYPE_CHECKING:
    from core.jobs import JobContext

KINDS = ("finetune", "experiment")


def _lower_priority() -> None:
    """Worker setup: nice 10 (unless ``ALIGNSCOPE_NO_NICE``), so the dashboard stays responsive.

    (Torch threads are chosen per run by :func:`core.finetune.runner.choose_threads`.)
    """
    if os.environ.get("ALIGNSCOPE_NO_NICE"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < 10:
            os.setpriority(os.PRIO_PROCESS, 0, 10)
    except OSError:
        pass


def finetune_job(params: dict, ctx: JobContext) -> dict:
    """Job target: one fine-tune run (see :func:`core.finetune.runner.run_finetune`).

    Returns only ``{"run_id"}``: the run's state and measurements live in the results database
    (:mod:`core.finetune.results`), the job's files just point at the run.
    """
    from core.finetune.runner import run_finetune

    _lower_priority()
    config = FinetuneConfig.from_dict(params["config"])
    row = run_finetune(config, EmbedSettings.from_dict(params.get("settings")), run_id=ctx.folder.name,
                       job_id=ctx.folder.name, progress=ctx.progress, should_stop=ctx.should_stop, log=ctx.log)
    return {"run_id": row["run_id"]}


def experiment_job(params: dict, ctx: JobContext) -> dict:
    """Job target: the experiment preset (one fine-tune per source, one after another)."""
    from core.finetune.experiment import run_experiment

    _lower_priority()
    return run_experiment(params, job_id=ctx.folder.name, progress=ctx.progress, should_stop=ctx.should_stop,
                          log=ctx.log)


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

    Raises:
        AlignScopeError: bad input (see :func:`core.finetune.runner.validate`).
    """
    from core.finetune.runner import run_params, validate
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings()
    validate(config)
    params = run_params(config, settings)
    run_id = jobs.job_id_for("finetune", params)
    row = results.get_run(run_id)
    if row and not restart:
        if row["status"] == "done":
            return Submission(row.get("job_id") or run_id, [run_id], True)
        if row["status"] in ("queued", "running"):
            return Submission(row["job_id"], [run_id], True)
    results.upsert_run(run_id, job_id=run_id, experiment_id=None, group_key=config.group_key(), label=config.label,
                       source=config.source, mixture=config.mixture, target=config.target, model=config.model,
                       method=config.method, budget_tokens=config.budget_tokens, hparams=config.to_dict(),
                       align_settings=settings.to_dict(), status="queued", phase="queued", error=None,
                       started=None, finished=None)
    job = jobs.submit("finetune", params, restart=True, wait=wait)
    return Submission(job.job_id, [run_id], False)


def submit_experiment(target: str, sources: list[str], base: FinetuneConfig | dict | None = None,
                      settings: EmbedSettings = None, *, restart: bool = False, wait: bool = False) -> Submission:
    """Validate and queue the experiment preset (one job running the sources' fine-tunes in turn).

    Sources already fine-tuned with the same configuration are reused. With ``restart`` the
    failed/cancelled/killed runs are tried again (done runs are still reused).

    Raises:
        AlignScopeError: no source, a source on the target's held-out split, an uninstalled source.
    """
    from core.finetune.experiment import experiment_configs, experiment_params
    from core.finetune.runner import run_id_for, validate
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
    existing = jobs.get_job(job_id)
    if existing is not None and existing.status().get("state") in ("queued", "running"):
        return Submission(job_id, run_ids, True)
    rows = {r: results.get_run(r) for r in run_ids}
    pending = [r for r, row in rows.items() if not row or row["status"] != "done"]
    if not pending and existing is not None and not restart:
        return Submission(job_id, run_ids, True)
    for c, r in zip(configs, run_ids):
        row = rows[r]
        if row and (row["status"] == "done" or row["status"] in ("queued", "running")):
            continue          # done: reused; under way in another job: the experiment waits for it
        results.upsert_run(r, job_id=job_id, experiment_id=job_id, group_key=c.group_key(), label=c.label,
                           source=c.source, mixture=None, target=c.target, model=c.model, method=c.method,
                           budget_tokens=c.budget_tokens, hparams=c.to_dict(), align_settings=settings.to_dict(),
                           status="queued", phase="queued", error=None, started=None, finished=None)
    job = jobs.submit("experiment", params, restart=True, wait=wait)
    return Submission(job.job_id, run_ids, False)


def active_jobs() -> list:
    """Fine-tune and experiment jobs that are queued or running (newest first)."""
    out = []
    for kind in KINDS:
        out += [j for j in jobs.list_jobs(kind) if not j.finished]
    return sorted(out, key=lambda j: -(j.spec.get("created") or 0))


