"""``python -m core jobs [list|cancel|log]``: background jobs (``--detach`` work and dashboard jobs).

Uses the public API of :mod:`core.jobs` only (``list_jobs``, ``get_job``, ``Job.status/cancel/log``).
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from core.clikit.common import command_parser, emit, json_parent, positive_int
from core.errors import AlignScopeError

EPILOG = """
  python -m core jobs                                # every job, newest first
  python -m core jobs list --active                  # queued or running only
  python -m core jobs list --kind finetune --json
  python -m core jobs log finetune-0123456789abcdef --tail 40
  python -m core jobs cancel finetune-0123456789abcdef
  python -m core jobs cancel --all-active --kill-after 30
"""


def _job(job_id: str | None):
    """The :class:`core.jobs.Job` named by ``job_id`` (a unique prefix is enough).

    Raises:
        AlignScopeError: no id, no such job, or an ambiguous prefix; the message lists candidates.
    """
    from core.jobs import get_job, list_jobs

    if not job_id:
        raise AlignScopeError("No job id given.", fix="see the ids with: python -m core jobs list")
    job = get_job(job_id)
    if job is not None:
        return job
    matches = [j for j in list_jobs() if j.job_id.startswith(job_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AlignScopeError(f"Job id prefix {job_id!r} matches {len(matches)} jobs "
                              f"({', '.join(j.job_id for j in matches[:5])}).", fix="give more characters of the id.")
    raise AlignScopeError(f"No job {job_id!r}.", fix="see the ids with: python -m core jobs list")


def _row(job) -> dict:
    st = job.status()
    spec = job.spec
    return {"job_id": job.job_id, "kind": spec.get("kind"), "state": st.get("state"), "done": st.get("done", 0),
            "total": st.get("total", 0), "message": st.get("message", ""), "eta_s": st.get("eta_s"),
            "created": spec.get("created"), "error": st.get("error")}


def _list(args: argparse.Namespace) -> int:
    from core.jobs import FINAL_STATES, list_jobs

    rows = [_row(j) for j in list_jobs(args.kind)]
    if args.active:
        rows = [r for r in rows if r["state"] not in FINAL_STATES]
    lines = [f"{'job':30s} {'kind':11s} {'state':9s} {'progress':>11s}  {'started':16s} message"]
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])) if r["created"] else "-"
        msg = (r["error"] or r["message"] or "")[:70]
        lines.append(f"{r['job_id']:30s} {str(r['kind'])[:11]:11s} {str(r['state']):9s} "
                     f"{r['done']:>5}/{r['total']:<5} {when:16s} {msg}")
    emit(args, rows, "\n".join(lines) if rows else "no jobs")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from core.jobs import FINAL_STATES, list_jobs

    if args.all_active:
        jobs = [j for j in list_jobs(args.kind) if j.status().get("state") not in FINAL_STATES]
    else:
        jobs = [_job(args.job_id)]
    out = []
    for job in jobs:
        before = job.status().get("state")
        if before in FINAL_STATES:
            out.append({"job_id": job.job_id, "state": before, "cancelled": False})
            continue
        job.cancel(kill_after=args.kill_after)
        out.append({"job_id": job.job_id, "state": job.status().get("state"), "cancelled": True})
    emit(args, out, "\n".join(f"{r['job_id']}: {'cancel requested, now ' if r['cancelled'] else 'already '}{r['state']}"
                              for r in out) or "no active job")
    return 0


def _log(args: argparse.Namespace) -> int:
    job = _job(args.job_id)
    text = job.log(tail=10 ** 9)
    lines = text.splitlines()[-args.tail:]
    emit(args, {"job_id": job.job_id, "state": job.status().get("state"), "log": lines}, "\n".join(lines) or "(empty log)")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """List background jobs, cancel one (or all active) or print its log; returns the exit code."""
    return {"list": _list, "cancel": _cancel, "log": _log}[args.action or "list"](args)


def add_commands(sub: Any) -> None:
    """Add ``jobs`` to the ``python -m core`` parser."""
    p = command_parser(sub, "jobs", help="background jobs: list / cancel / log (detached fine-tunes, experiments...)",
                       epilog=EPILOG, parents=[json_parent()])
    p.add_argument("action", nargs="?", choices=["list", "cancel", "log"], default="list", help="what to do (default list)")
    p.add_argument("job_id", nargs="?", help="cancel/log: the job id (a unique prefix is enough)")
    p.add_argument("--kind", help="list/cancel --all-active: only jobs of this kind (finetune, experiment, embed...)")
    p.add_argument("--active", action="store_true", help="list: only queued or running jobs")
    p.add_argument("--all-active", action="store_true", help="cancel: every queued or running job (of --kind)")
    p.add_argument("--kill-after", type=float, default=None, metavar="SECONDS",
                   help="cancel: terminate the worker if it has not stopped after this many seconds")
    p.add_argument("--tail", type=positive_int, default=50, help="log: last lines to print (default 50)")
    p.set_defaults(func=cmd_jobs)
