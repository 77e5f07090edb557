"""Background jobs: long work (embeddings, fine-tunes) in a worker process per job.

Each job lives in a folder ``cache/jobs/<job_id>/``:

- ``spec.json``   what to run: ``{"kind", "target": "module:function", "params", "created"}``
- ``status.json`` written atomically (:func:`core.paths.atomic_write`) by the worker:
  ``{"state", "done", "total", "message", "started", "updated", "eta_s", "pid", "error"}``;
  states: ``queued``, ``running``, ``done``, ``failed``, ``cancelled``, ``killed``. A kind whose
  state lives elsewhere (registered with ``status="module:function"``, e.g. fine-tunes, whose state
  is their row in the results database) has only a pointer there, ``{"points_to": {...}}``, and
  :meth:`Job.status` asks that function (same dict shape).
- ``result.json`` the target's return value (JSON) once done.  ``log.txt`` the worker's output.
- ``cancel``      created to ask the worker to stop (checked between units of work).

The job id is a fingerprint of kind + params, so submitting the same work twice (a page reload, a
second browser tab) returns the existing job instead of starting a duplicate. Workers run with
``start_new_session=True``, so they outlive the Streamlit script run that started them and an app
restart; the submitting process reaps a worker that ends while it lives (no zombie children of the
server). A job whose worker died without writing a final state is reported as ``killed``.

A target is a function ``f(params: dict, ctx: JobContext) -> dict``; ``ctx.progress(done, total, msg)``
reports progress and ``ctx.should_stop()`` tells it to stop.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.paths import REPO_ROOT, atomic_write, cache_dir
from core.registry import Registry
from core.fingerprint import job_id
from core.settings import EmbedSettings

FINAL_STATES = ("done", "failed", "cancelled", "killed")

#: Job kinds -> ``"module:function"`` run by the worker process (:class:`core.registry.Registry`).
#: The engine's kinds are declared here, once; other layers add theirs with :func:`register_job_kind`.
JOBS = Registry("job kind")
JOBS.register("embed", "core.jobs:embed_job", description="Task2Vec embeddings of corpora",
              total="core.jobs:embed_total")
JOBS.register("mix_verify", "core.mixture.jobs:verify_job", description="measure a mixture's alignment")
JOBS.register("finetune", "core.finetune.jobs:finetune_job", description="one fine-tune run",
              status="core.finetune.jobs:job_status", spawned="core.finetune.jobs:record_worker")
JOBS.register("experiment", "core.finetune.jobs:experiment_job", description="a fine-tune experiment",
              status="core.finetune.jobs:job_status", spawned="core.finetune.jobs:record_worker")
JOB_KINDS = JOBS.targets  # the ``{kind: target}`` dict it used to be, as a live view


def register_job_kind(kind: str, target: str, **meta: object) -> None:
    """Register ``kind`` -> ``"module:function"`` (run by the worker process); idempotent.

    ``status="module:function"`` in ``meta`` declares that the kind's state lives elsewhere: the
    function ``f(job: Job) -> dict`` returns :meth:`Job.status`'s dict, and its target records
    its own state and progress there (the :class:`JobContext` then writes no state). With it,
    ``spawned="module:function"``, ``f(job: Job, pid: int) -> None``, records there the worker
    process :func:`submit` just started, so a worker that dies before its target starts is seen at
    the next status read. ``total="module:function"``, ``f(params: dict) -> int``, gives the units of
    progress of a job from its parameters alone (cheap: no model, no corpus read), so that the job's
    first status, written by :func:`submit` before the worker has even started, shows ``0/total``.

    Raises:
        RegistryError: ``kind`` is already registered with another target.
    """
    JOBS.register(kind, target, **meta)


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1, default=str))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists and is not a zombie (False for None/0)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class Job:
    """Handle on a job folder (cheap: every property reads the files)."""

    job_id: str
    folder: Path

    @property
    def spec(self) -> dict:
        """The job's ``spec.json`` (kind, target, params, created), or ``{}``."""
        return _read_json(self.folder / "spec.json") or {}

    @property
    def points_to(self) -> dict | None:
        """Where the state of a kind registered with ``status=`` lives (e.g. ``{"run_id": ...}``), else None."""
        return (_read_json(self.folder / "status.json") or {}).get("points_to")

    def status(self) -> dict:
        """Current status ``{"state", "done", "total", "message", "started", "updated", "eta_s", "pid",
        "error"}``; a running job whose worker process is gone is marked ``killed`` (persisted). For a
        kind registered with ``status=``, that function's answer (the state lives elsewhere; a folder
        written before that, without a pointer, still answers from its own file)."""
        st = _read_json(self.folder / "status.json") or {"state": "queued", "done": 0, "total": 0, "message": ""}
        reader = _status_reader(self.spec.get("kind")) if "points_to" in st else None
        if reader is not None:
            return reader(self)
        if st.get("state") in ("running", "queued") and st.get("pid") and not pid_alive(st["pid"]):
            st = _read_json(self.folder / "status.json") or st       # it may have just finished
            if st.get("state") in ("running", "queued"):
                st.update(state="killed", error="the worker process ended without reporting (killed or crashed)",
                          updated=time.time())
                _write_json(self.folder / "status.json", st)
        return st

    def result(self) -> dict | None:
        """The target's return value, or None until the job is done."""
        return _read_json(self.folder / "result.json")

    def log(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of the worker's log."""
        try:
            return (self.folder / "log.txt").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def cancel(self, *, kill_after: float | None = None) -> None:
        """Ask the worker to stop; with ``kill_after`` seconds, terminate its process group after that."""
        (self.folder / "cancel").touch()
        if kill_after is not None:
            deadline = time.time() + kill_after
            while time.time() < deadline and self.status().get("state") not in FINAL_STATES:
                time.sleep(0.2)
            pid = self.status().get("pid")
            if self.status().get("state") not in FINAL_STATES and pid_alive(pid):
                os.killpg(pid, signal.SIGTERM)

    @property
    def finished(self) -> bool:
        """Whether the job reached a final state."""
        return self.status().get("state") in FINAL_STATES


def _status_reader(kind: str | None) -> Callable[[Job], dict] | None:
    """The ``status=`` function of ``kind`` (imported on first use), or None for a kind whose state is its
    ``status.json``."""
    return _kind_hook(kind, "status")


def _kind_hook(kind: str | None, name: str) -> Callable | None:
    """The ``"module:function"`` registered as ``name=`` with ``kind`` (imported on first use), or None."""
    target = JOBS.meta(kind).get(name) if kind in JOBS else None
    if not target:
        return None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def jobs_dir() -> Path:
    """``cache/jobs`` (created on demand)."""
    return cache_dir("jobs")


def job_id_for(kind: str, params: dict) -> str:
    """Deterministic id: ``<kind>-<first 16 hex of the fingerprint of kind and params>``
    (:func:`core.fingerprint.job_id`)."""
    return job_id(kind, params)


def get_job(job_id: str) -> Job | None:
    """The job with this id, or None when its folder does not exist."""
    folder = jobs_dir() / job_id
    return Job(job_id, folder) if (folder / "spec.json").is_file() else None


def list_jobs(kind: str | None = None) -> list[Job]:
    """Jobs, newest first, optionally of one kind."""
    out = []
    for folder in jobs_dir().iterdir():
        spec = _read_json(folder / "spec.json")
        if spec and (kind is None or spec.get("kind") == kind):
            out.append((spec.get("created", 0), Job(folder.name, folder)))
    return [j for _, j in sorted(out, key=lambda t: -t[0])]


def submit(kind: str, params: dict, *, restart: bool = False, wait: bool = False,
           points_to: dict | None = None) -> Job:
    """Start a job (or return the identical one already queued, running or done).

    Args:
        kind: a name in :data:`JOBS`.
        params: JSON-able parameters (they define the job's identity).
        restart: start again even if an identical job finished (done/failed/cancelled/killed). For a
            kind registered with ``status=``, start it in any case: its submission helper decided
            from the state it owns (it may already have queued the work there).
        wait: run in this process instead of a worker (for tests and the CLI).
        points_to: for a kind registered with ``status=``: where its state lives (kept in
            ``status.json``, handed to that function through :attr:`Job.points_to`).

    Raises:
        RegistryError: unknown kind (an :class:`~core.errors.AlignScopeError`, so a ``ValueError``).
        ValueError: ``points_to`` missing for a kind registered with ``status=`` (or given for another).
    """
    kind = JOBS.canonical(kind)
    elsewhere = bool(JOBS.meta(kind).get("status"))
    if elsewhere != (points_to is not None):
        raise ValueError(f"job kind {kind!r} " + ("needs points_to (its state lives elsewhere)" if elsewhere
                                                  else "keeps its state in status.json: no points_to"))
    job_id = job_id_for(kind, params)
    folder = jobs_dir() / job_id
    existing = get_job(job_id)
    if existing is not None and not (elsewhere and restart):
        state = existing.status().get("state")
        if state in ("queued", "running") or (state == "done" and not restart):
            return existing
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("cancel", "result.json", "status.json"):
        (folder / name).unlink(missing_ok=True)
    _write_json(folder / "spec.json", {"kind": kind, "target": JOBS.target(kind), "params": params,
                                       "created": time.time()})
    _write_json(folder / "status.json", {"points_to": points_to} if elsewhere else
                {"state": "queued", "done": 0, "total": planned_total(kind, params), "message": "queued",
                 "updated": time.time()})
    job = Job(job_id, folder)
    if wait:
        run_job(folder)
        return job
    proc = _spawn_worker(folder)
    if elsewhere:                       # its state lives elsewhere: the kind records the pid there
        _record_spawned(job, kind, proc.pid)
    else:
        st = _read_json(folder / "status.json") or {}
        if st.get("state") == "queued":
            st["pid"] = proc.pid
            _write_json(folder / "status.json", st)
    return job


def planned_total(kind: str, params: dict) -> int:
    """Units of progress of a job of ``kind`` with ``params``, known before it runs: its kind's
    ``total=`` function (:func:`register_job_kind`), else 0 (unknown until the target reports)."""
    hook = _kind_hook(kind, "total")
    if hook is None:
        return 0
    try:
        return max(0, int(hook(params)))
    except (KeyError, TypeError, ValueError):        # malformed params: the target reports the error
        return 0


def _spawn_worker(folder: Path) -> subprocess.Popen:
    """Start ``python -m core.jobs <folder>`` in its own session (it outlives this process, an app
    restart included) and reap it when it ends, so it never lingers as a zombie of this process.

    Reaping: a daemon thread blocked in ``proc.wait()`` (no CPU; one per running worker). Alternatives
    rejected: a double fork would hide the worker's pid from this process (it is recorded for
    :meth:`Job.status`, :meth:`Job.cancel` and the dead-worker check) unless sent back through a pipe,
    and needs ``preexec_fn``, unsafe in the threaded Streamlit server; ``SIGCHLD = SIG_IGN`` is
    process-wide and breaks the exit codes of every other ``subprocess`` call. When this process exits
    first (the CLI submits and exits), the daemon thread dies with it and the worker, reparented to
    init (or the nearest subreaper), is reaped there.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(folder / "log.txt", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "core.jobs", str(folder)], cwd=str(REPO_ROOT), env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    threading.Thread(target=proc.wait, name=f"job-reaper-{proc.pid}", daemon=True).start()
    return proc


def _record_spawned(job: Job, kind: str, pid: int) -> None:
    """Hand the worker's ``pid`` to the kind's ``spawned=`` hook (kinds whose state lives elsewhere).

    Best effort: the worker also records itself when its target starts, so a failure here (say, the
    results database locked past its timeout) only delays the detection of a worker that dies before
    that; it is noted in the job's log instead of failing a submission whose worker already runs.
    """
    hook = _kind_hook(kind, "spawned")
    if hook is None:
        return
    try:
        hook(job, pid)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        with open(job.folder / "log.txt", "a") as fh:
            fh.write(f"could not record worker pid {pid} where the job's state lives: {exc}\n")


class JobContext:
    """What a target gets: progress reporting, stop requests, logging.

    With ``records_state=False`` (a kind registered with ``status=``: its target records its state
    elsewhere) nothing is written to ``status.json``, which keeps its pointer.
    """

    def __init__(self, folder: Path, *, records_state: bool = True) -> None:
        self.folder = folder
        self.started = time.time()
        self.records_state = records_state
        queued = (_read_json(folder / "status.json") or {}) if records_state else {}
        total = queued.get("total") if isinstance(queued.get("total"), int) else 0
        self._state = {"state": "running", "done": 0, "total": total, "message": "starting", "started": self.started,
                       "pid": os.getpid()}
        self._write()

    def _write(self) -> None:
        if not self.records_state:
            return
        self._state["updated"] = time.time()
        _write_json(self.folder / "status.json", self._state)

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report ``done`` of ``total`` units; the ETA (s) is extrapolated from the elapsed time."""
        elapsed = time.time() - self.started
        eta = elapsed / done * (total - done) if done and total else None
        self._state.update(done=int(done), total=int(total), message=message, eta_s=eta)
        self._write()

    def should_stop(self) -> bool:
        """True once a cancel was requested (the target should stop between units of work)."""
        return (self.folder / "cancel").exists()

    def log(self, message: str) -> None:
        """Append a line to the job's log."""
        with open(self.folder / "log.txt", "a") as fh:
            fh.write(message.rstrip() + "\n")

    def finish(self, state: str, **extra: object) -> None:
        """Record the final state (and extra fields such as ``error``)."""
        self._state.update(state=state, **extra)
        self._write()


def run_job(folder: Path) -> None:
    """Worker entry point: run the job in ``folder`` and record its final state."""
    folder = Path(folder)
    spec = _read_json(folder / "spec.json")
    ctx = JobContext(folder, records_state=_status_reader(spec.get("kind")) is None)
    try:
        module, func = spec["target"].split(":")
        result = getattr(importlib.import_module(module), func)(spec["params"], ctx)
        _write_json(folder / "result.json", result or {})
        ctx.finish("done", message="done")
    except InterruptedError as exc:
        ctx.finish("cancelled", message=str(exc) or "cancelled")
    except Exception as exc:  # the job failed; the app keeps working and shows the reason
        ctx.log(traceback.format_exc())
        ctx.finish("failed", error=str(exc), message="failed")


def _stop_on_sigterm(*_: object) -> None:
    raise InterruptedError("terminated")


def _sigterm_as_keyboard_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def sigterm_as_interrupt() -> bool:
    """Make SIGTERM of this process behave as Ctrl-C (raise ``KeyboardInterrupt`` in the main thread),
    so a caller that follows a job it started and cancels it on Ctrl-C (the ``finetune`` and
    ``experiment`` CLI commands without ``--detach``: ``job.cancel(kill_after=60)`` and "cancelling the
    job") does the same on ``kill <pid>``; by default SIGTERM would end this process at once and leave
    the detached worker running.

    Called by the fine-tune submission helpers when they start a worker (``wait=False``). Only from
    the main thread (the Streamlit server submits from script threads: nothing changes there), and only
    when SIGTERM still has its default action (a handler someone installed, or an ignored SIGTERM, is
    kept). SIGKILL cannot be caught: a ``kill -9`` of the CLI still leaves the worker running.

    Returns:
        True when the handler was installed (or already was).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _sigterm_as_keyboard_interrupt:
            return True
        if current is not signal.SIG_DFL:
            return False
        signal.signal(signal.SIGTERM, _sigterm_as_keyboard_interrupt)
    except (ValueError, OSError):       # not the main interpreter thread, or no signals here
        return False
    return True


def embed_total(params: dict) -> int:
    """Units of progress of an ``embed`` job: batches per corpus times corpora."""
    return EmbedSettings.from_dict(params["settings"]).batch.num_batches * len(params["corpora"])


def embed_job(params: dict, ctx: JobContext) -> dict:
    """Job target: embed corpora ``params["corpora"]`` with ``params["settings"]`` (EmbedSettings dict).

    Progress counts batches over all corpora. Returns ``{corpus: {"computed", "cached",
    "computed_by_other", "seconds"}}``.
    """
    from core.pipeline import embed_corpus

    settings = EmbedSettings.from_dict(params["settings"])
    names = list(params["corpora"])
    per = settings.batch.num_batches
    total = per * len(names)
    out, computed, precision = {}, 0, None
    for k, name in enumerate(names):
        def report(done, _total, msg, k=k):
            ctx.progress(k * per + done, total, msg)

        r = embed_corpus(name, settings, progress=report, should_stop=ctx.should_stop)
        computed, precision = computed + r.computed, r.precision
        out[name] = {"computed": r.computed, "cached": r.cached, "computed_by_other": r.computed_by_other,
                     "seconds": round(r.seconds, 3)}
        ctx.log(f"{name}: computed {r.computed}, cached {r.cached}, computed by another process "
                f"{r.computed_by_other}, {r.seconds:.1f} s")
    if computed:      # this machine's throughput for honest estimates: the job's wall time, start-up included
        from core.throughput import record

        record(settings, batches=computed, seconds=time.time() - ctx.started, precision=precision)
    return out


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    run_job(Path(sys.argv[1]))
