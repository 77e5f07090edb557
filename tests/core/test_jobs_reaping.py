"""Worker processes of ``core.jobs``: reaped by the submitting process (issue 14: "a finished job worker
lingered as a defunct child of the server"), still detached from it, and recorded where a kind's state
lives as soon as they are spawned (issue 12: a worker killed before it started stayed ``queued``)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from core import jobs
from core.paths import REPO_ROOT
from tests.core.test_jobs import wait


@pytest.fixture(autouse=True)
def kinds(monkeypatch):
    monkeypatch.setitem(jobs.JOB_KINDS, "count", "tests.core.job_targets:count")


def _proc_status(pid):
    """``{"State": "Z", "PPid": "123", ...}`` of ``/proc/<pid>/status``, or None when no such process."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return {k: v.split()[0] for k, _, v in (line.partition(":\t") for line in fh) if v.strip()}
    except FileNotFoundError:
        return None


def _still_our_child(pid):
    """Whether ``pid`` is (still) a child of this process: running, or finished and not reaped (a zombie)."""
    st = _proc_status(pid)
    return st is not None and int(st["PPid"]) == os.getpid()


def test_a_finished_worker_is_reaped_not_left_a_zombie():
    job = jobs.submit("count", {"n": 20, "sleep": 0.05})
    pid = wait(job, states=("running",))["pid"]
    assert os.getsid(pid) == pid                # its own session: it outlives the submitter
    assert wait(job)["state"] == "done"
    deadline = time.time() + 10                # "done" is written just before the interpreter exits
    while _still_our_child(pid) and time.time() < deadline:
        time.sleep(0.05)
    left = {k: v for k, v in (_proc_status(pid) or {}).items() if k in ("State", "PPid")}
    assert not _still_our_child(pid), f"worker {pid} is still a child of the submitter: {left}"
    with pytest.raises(ChildProcessError):     # already reaped (checked only now: waitpid would reap it itself)
        os.waitpid(pid, os.WNOHANG)


def test_a_killed_worker_is_reaped_too_and_reported_killed():
    job = jobs.submit("count", {"n": 400, "sleep": 0.05})
    pid = wait(job, states=("running",))["pid"]
    os.killpg(pid, signal.SIGKILL)
    assert wait(job, timeout=10)["state"] == "killed"
    deadline = time.time() + 10
    while _still_our_child(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _still_our_child(pid), (_proc_status(pid) or {}).get("State")


def test_the_worker_outlives_a_submitter_that_exits_at_once(isolated_cache):
    """The CLI submits detached jobs and exits: the reaper thread must neither hold it nor take the worker
    down with it."""
    code = ("import json; from core import jobs; "
            "jobs.JOB_KINDS['count'] = 'tests.core.job_targets:count'; "
            "print(json.dumps(jobs.submit('count', {'n': 20, 'sleep': 0.05}).job_id))")
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ALIGNSCOPE_CACHE": str(isolated_cache),
                               "PYTHONPATH": str(REPO_ROOT)})
    submitter_s = time.time() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    job = jobs.get_job(proc.stdout.strip().strip('"'))
    st = wait(job)
    assert st["state"] == "done" and job.result() == {"counted": 20}
    assert st["updated"] > t0 + submitter_s - 0.5    # it finished after its submitter had exited


# -- issue 12 leftover: kinds whose state lives in the results database ------------------------------

@pytest.fixture
def finetune_request(corpora, tiny_model_dir):
    from core.batches import BatchConfig
    from core.finetune.config import FinetuneConfig
    from core.pipeline import EmbedSettings

    settings = EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32,
                                                                                   num_batches=2))
    config = FinetuneConfig(source="maths", target="bench", model=tiny_model_dir, budget_tokens=256, epochs=1,
                            seq_len=32, batch_size=4, learning_rate=3e-3, device="cpu")
    return config, settings


def _kill_at_once(job):
    """SIGKILL the worker recorded for ``job`` (read the way the dashboard reads it) before it can start."""
    pid = job.status()["pid"]
    assert pid, f"no worker pid recorded right after the spawn: {job.status()}"
    os.killpg(pid, signal.SIGKILL)
    return pid


def test_a_finetune_worker_killed_right_after_spawn_is_reported_killed_at_once(finetune_request):
    from core.finetune import results
    from core.finetune.jobs import submit_finetune

    config, settings = finetune_request
    sub = submit_finetune(config, settings)
    pid = _kill_at_once(sub.job)
    st = wait(sub.job, timeout=10)               # was: "queued" for results.ORPHAN_AFTER_S = 120 s
    assert st["state"] == "killed" and st["pid"] == pid, st
    row = results.get_run(sub.run_ids[0])
    assert row["status"] == "killed" and "before this run started" in row["error"], row


def test_an_experiment_worker_killed_right_after_spawn_ends_its_queued_runs_too(finetune_request):
    from core.finetune import results
    from core.finetune.jobs import submit_experiment

    config, settings = finetune_request
    sub = submit_experiment("bench", ["maths", "prose"], config.to_dict(), settings)
    pid = _kill_at_once(sub.job)
    st = wait(sub.job, timeout=10)
    assert st["state"] == "killed" and st["pid"] == pid, st
    runs = {r: results.get_run(r) for r in sub.run_ids}
    assert {r["status"] for r in runs.values()} == {"killed"}, runs
    assert {r["worker_pid"] for r in runs.values()} == {pid}
