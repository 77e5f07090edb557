import os
import signal
import time

import pytest

from core import jobs


@pytest.fixture(autouse=True)
def kinds(monkeypatch):
    monkeypatch.setitem(jobs.JOB_KINDS, "count", "tests.core.job_targets:count")
    monkeypatch.setitem(jobs.JOB_KINDS, "boom", "tests.core.job_targets:boom")


def wait(job, states=jobs.FINAL_STATES, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = job.status()
        if st["state"] in states:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job stuck in {job.status()}")


def test_worker_runs_reports_progress_and_result():
    job = jobs.submit("count", {"n": 5})
    st = wait(job)
    assert st["state"] == "done" and st["done"] == 5 and st["total"] == 5
    assert job.result() == {"counted": 5}


def test_identical_submission_returns_the_same_job():
    a = jobs.submit("count", {"n": 30, "sleep": 0.05})
    b = jobs.submit("count", {"n": 30, "sleep": 0.05})
    assert a.job_id == b.job_id
    assert [j.job_id for j in jobs.list_jobs("count")] == [a.job_id]
    wait(a)


def test_cancel_stops_the_worker():
    job = jobs.submit("count", {"n": 400, "sleep": 0.05})
    wait(job, states=("running",))
    job.cancel()
    st = wait(job)
    assert st["state"] == "cancelled" and st["done"] < 400


def test_killed_worker_is_reported_as_killed():
    job = jobs.submit("count", {"n": 400, "sleep": 0.05})
    st = wait(job, states=("running",))
    os.killpg(st["pid"], signal.SIGKILL)
    st = wait(job)
    assert st["state"] == "killed" and "ended without reporting" in st["error"]


def test_failure_is_recorded_and_restart_allowed():
    job = jobs.submit("boom", {})
    st = wait(job)
    assert st["state"] == "failed" and "exploded on purpose" in st["error"]
    assert "RuntimeError" in job.log()
    again = jobs.submit("boom", {}, wait=True)
    assert again.job_id == job.job_id and again.status()["state"] == "failed"
