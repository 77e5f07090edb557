"""``python -m core jobs list|cancel|log`` over real worker processes (core.cli.jobs)."""
from __future__ import annotations

import json
import time

import pytest

from core import jobs
from core.cli import main


@pytest.fixture(autouse=True)
def kinds(monkeypatch):
    monkeypatch.setitem(jobs.JOB_KINDS, "count", "tests.core.job_targets:count")


def _wait(job, states=jobs.FINAL_STATES, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if job.status()["state"] in states:
            return job.status()
        time.sleep(0.1)
    raise AssertionError(job.status())


def test_list_log_and_cancel_a_detached_job(capsys):
    done = jobs.submit("count", {"n": 2, "sleep": 0.01})
    _wait(done)
    long = jobs.submit("count", {"n": 600, "sleep": 0.05})
    _wait(long, ("running",))
    assert main(["jobs", "list", "--json"]) == 0
    rows = {r["job_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[done.job_id]["state"] == "done" and rows[long.job_id]["state"] == "running"
    assert main(["jobs", "list", "--active"]) == 0
    out = capsys.readouterr().out
    assert long.job_id in out and done.job_id not in out
    assert main(["jobs", "log", long.job_id[:14], "--tail", "5"]) == 0            # a unique prefix is enough
    capsys.readouterr()
    assert main(["jobs", "cancel", long.job_id, "--kill-after", "30"]) == 0
    assert "cancel requested" in capsys.readouterr().out
    st = _wait(long)
    assert st["state"] in ("cancelled", "killed") and st["done"] < 600
    assert main(["jobs", "cancel", done.job_id]) == 0
    assert "already done" in capsys.readouterr().out


def test_cancel_all_active(capsys):
    a = jobs.submit("count", {"n": 600, "sleep": 0.05})
    b = jobs.submit("count", {"n": 601, "sleep": 0.05})
    _wait(a, ("running",))
    _wait(b, ("running",))
    assert main(["jobs", "cancel", "--all-active", "--kind", "count"]) == 0
    assert {_wait(a)["state"], _wait(b)["state"]} <= {"cancelled", "killed"}


def test_ambiguous_and_unknown_ids(capsys):
    jobs.submit("count", {"n": 1, "sleep": 0.0})
    jobs.submit("count", {"n": 2, "sleep": 0.0})
    assert main(["jobs", "log", "count-"]) == 2
    assert "matches 2 jobs" in capsys.readouterr().err
    assert main(["jobs", "log", "nope"]) == 2
    assert "No job 'nope'" in capsys.readouterr().err
