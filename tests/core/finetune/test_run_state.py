"""One source of truth for run state: the results database. A fine-tune job's folder only points at its row."""
import json
import os
import sqlite3
import time

import pytest

from core import jobs
from core.finetune import results
from core.finetune.jobs import submit_experiment, submit_finetune

DEAD = 2 ** 22 + 12345          # no such process


def test_a_finetune_job_points_at_its_run_and_reads_its_state_from_the_row(corpora, tiny_config, tiny_settings):
    sub = submit_finetune(tiny_config("maths"), tiny_settings, wait=True)
    job = jobs.get_job(sub.job_id)
    assert json.loads((job.folder / "status.json").read_text()) == {"points_to": {"run_id": sub.run_ids[0]}}
    row = results.get_run(sub.run_ids[0])
    st = job.status()
    assert row["status"] == st["state"] == "done" and st["done"] == st["total"] == 100
    assert row["progress"] == 100.0 and row["worker_pid"] == st["pid"] == os.getpid()
    assert job.result() == {"run_id": sub.run_ids[0]}
    # the state is the row's: change the row, the job follows
    results.update_run(sub.run_ids[0], status="failed", error="marked by hand")
    assert job.status()["state"] == "failed" and job.status()["error"] == "marked by hand"


def test_an_experiment_has_a_row_with_its_runs_state_and_progress(corpora, tiny_config, tiny_settings):
    sub = submit_experiment("bench", ["maths", "prose"], tiny_config().to_dict(), tiny_settings, wait=True)
    job = jobs.get_job(sub.job_id)
    assert json.loads((job.folder / "status.json").read_text()) == {"points_to": {"experiment_id": sub.job_id}}
    exp = results.get_experiment(sub.job_id)
    assert exp["status"] == "done" and exp["run_ids"] == sub.run_ids and exp["progress"] == 100.0
    st = job.status()
    assert st["state"] == "done" and st["done"] == st["total"] == 200 and "2 of 2" in st["message"]
    assert all(results.get_run(r)["status"] == "done" for r in sub.run_ids)
    # done and not restarted: nothing new starts
    assert submit_experiment("bench", ["maths", "prose"], tiny_config().to_dict(), tiny_settings).reused


def test_a_dead_experiment_worker_marks_the_experiment_and_its_queued_runs_killed(corpora):
    results.save_experiment("experiment-gone", run_ids=["q1"], status="running", started=time.time(),
                              worker_pid=DEAD)
    results.upsert_run("q1", job_id="experiment-gone", label="a", target="bench", model="m", method="full",
                       status="queued", worker_pid=DEAD)
    exp = results.get_experiment("experiment-gone")
    assert exp["status"] == "killed" and "while running this experiment" in exp["error"]
    assert results.get_run("q1")["status"] == "killed"


def test_a_live_worker_keeps_its_row_and_an_orphan_queued_row_is_killed(corpora):
    results.upsert_run("alive", label="a", target="bench", model="m", method="full", status="running",
                       started=time.time(), worker_pid=os.getpid())
    results.upsert_run("fresh", label="b", target="bench", model="m", method="full", status="queued")
    results.upsert_run("orphan", label="c", target="bench", model="m", method="full", status="queued")
    with sqlite3.connect(results.db_path()) as conn:      # queued long ago, and no worker ever took it
        conn.execute("UPDATE runs SET updated = ? WHERE run_id = 'orphan'", (time.time() - 2 * results.ORPHAN_AFTER_S,))
    rows = {r["run_id"]: r for r in results.list_runs()}
    assert rows["alive"]["status"] == "running" and rows["fresh"]["status"] == "queued"
    assert rows["orphan"]["status"] == "killed" and "no worker took it" in rows["orphan"]["error"]


def test_progress_is_recorded_in_the_row_throttled_with_an_eta(corpora):
    results.upsert_run("p", label="a", target="bench", model="m", method="full", status="running")
    record = results.progress_recorder("p", started=time.time() - 10.0, every=60.0)
    record(25, 100, "a quarter")
    row = results.get_run("p", reconcile_first=False)
    assert row["progress"] == 25.0 and row["message"] == "a quarter" and row["eta_s"] == pytest.approx(30.0, rel=0.05)
    record(50, 100, "half")                                # within `every`: not written
    assert results.get_run("p", reconcile_first=False)["message"] == "a quarter"
    record(100, 100, "done")                               # the end is always written
    assert results.get_run("p", reconcile_first=False)["progress"] == 100.0


def test_an_old_database_gains_worker_tracking_and_its_unfinished_rows_are_killed():
    path = results.db_path()
    results.engine()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO runs (run_id, label, target, model, method, status, created, updated) "
                     "VALUES ('old-running', 'coq', 'proofnet', 'm', 'full', 'running', 1, 1)")
        conn.execute("INSERT INTO runs (run_id, label, target, model, method, status, created, updated) "
                     "VALUES ('old-done', 'coq', 'proofnet', 'm', 'full', 'done', 1, 1)")
        for col in ("worker_pid", "progress", "message", "eta_s"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {col}")
    results._ENGINES.clear()
    assert results.get_run("old-done", reconcile_first=False)["status"] == "done"
    old = results.get_run("old-running", reconcile_first=False)
    assert old["status"] == "killed" and "submit it again" in old["error"]


def test_a_kind_whose_state_lives_elsewhere_needs_a_pointer():
    with pytest.raises(ValueError, match="points_to"):
        jobs.submit("finetune", {"config": {}, "settings": {}})
    with pytest.raises(ValueError, match="no points_to"):
        jobs.submit("embed", {"corpora": [], "settings": {}}, points_to={"run_id": "x"})


def test_one_training_slot_at_a_time_a_waiter_is_told_and_can_be_cancelled():
    import threading

    from core.finetune.machine import training_slot
    from core.paths import cache_dir, lock_holder

    held, release = threading.Event(), threading.Event()

    def holder():
        with training_slot():
            held.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(30)
    assert lock_holder(cache_dir("finetune") / "train.lock") == os.getpid()
    waits, polls = [], []
    with pytest.raises(InterruptedError, match="waiting for the fine-tune training slot"):
        with training_slot(should_stop=lambda: polls.append(1) or len(polls) > 2, on_wait=lambda: waits.append(1),
                           poll=0.05):
            pass
    assert waits == [1] and len(polls) == 3             # told once, polled until cancelled
    release.set()
    t.join(30)
    with training_slot(poll=0.05):                      # free again
        pass


def test_a_job_folder_from_before_run_state_moved_still_answers_from_its_own_file(corpora):
    folder = jobs.jobs_dir() / "experiment-legacy"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"kind": "experiment", "target": "core.finetune.jobs:experiment_job",
                                                  "params": {}, "created": 0}))
    (folder / "status.json").write_text(json.dumps({"state": "done", "done": 3, "total": 3, "message": "done"}))
    st = jobs.get_job("experiment-legacy").status()
    assert st["state"] == "done" and st["done"] == 3
