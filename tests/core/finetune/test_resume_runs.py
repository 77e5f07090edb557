"""Issue 24, runs end to end (tiny model): a run interrupted during training resumes from its
checkpoint under the same run id and ends with an uninterrupted run's perplexity; its checkpoints are
removed once it is done; a killed run's status says what the same command will do; the attached CLI
cancels the job it started on SIGTERM, says so, and the same command then resumes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from core.finetune import results
from core.finetune.jobs import resume_hint, submit_finetune
from core.finetune.runner import run_finetune
from core.finetune.train import sweep_checkpoints
from core.finetune.identity import run_id_for
from core.finetune.train import checkpoint_dir, latest_checkpoint
from core.jobs import get_job, pid_alive
from core.paths import REPO_ROOT


def _stopper(at_step: int):
    """(progress, should_stop): stop once the run reports training step ``at_step``."""
    box = {"stop": False}

    def progress(_done, _total, message):
        if f": step {at_step}/" in message:
            box["stop"] = True
    return progress, (lambda: box["stop"])


def test_an_interrupted_run_resumes_from_its_checkpoint_with_the_same_results(corpora, tiny_config, tiny_settings,
                                                                              monkeypatch):
    monkeypatch.setenv("ALIGNSCOPE_FINETUNE_SAVE_STEPS", "2")
    cfg = tiny_config("maths", epochs=3, precision="fp32")
    run_id = run_id_for(cfg, tiny_settings)
    ref = run_finetune(cfg, tiny_settings)
    assert ref["status"] == "done" and not checkpoint_dir(run_id).exists()    # removed once done

    progress, stop = _stopper(3)
    with pytest.raises(InterruptedError, match="resumes from it"):
        run_finetune(cfg, tiny_settings, progress=progress, should_stop=stop)
    row = results.get_run(run_id)
    assert row["status"] == "cancelled" and latest_checkpoint(checkpoint_dir(run_id)).step == 3
    assert resume_hint(run_id) == f"the same command resumes training from its checkpoint at step 3/{ref['train_steps']}"

    lines = []
    again = run_finetune(cfg, tiny_settings, log=lines.append)
    assert again["run_id"] == run_id and again["status"] == "done"
    assert any(f"maths: resuming from checkpoint step 3/{ref['train_steps']}" in line for line in lines)
    assert "training resumed at step 3/" in again["notes"]
    for k in ("ppl_after", "nll_after", "train_loss_first", "train_loss_last", "train_steps", "ppl_before"):
        assert again[k] == pytest.approx(ref[k], rel=1e-5), k
    assert not checkpoint_dir(run_id).exists()


def test_the_status_of_a_killed_run_says_what_the_same_command_does(corpora, tiny_config, tiny_settings):
    cfg = tiny_config("maths")
    run_id = run_id_for(cfg, tiny_settings)
    assert resume_hint(run_id) == "the same command starts it again from step 0 (no checkpoint yet)"
    results.upsert_run(run_id, job_id=run_id, label="maths", source="maths", target="bench", model=cfg.model,
                       method="full", status="running", phase="training", started=time.time(),
                       worker_pid=2 ** 22 + 12345, progress=40.0, message="maths: step 3/8")   # a dead pid
    from core.finetune.jobs import job_status
    from core.jobs import Job

    st = job_status(Job(run_id, checkpoint_dir(run_id).parent))
    assert st["state"] == "killed"
    assert st["message"] == "maths: step 3/8 (killed; the same command starts it again from step 0 (no checkpoint yet))"


def test_restart_and_done_runs_drop_their_checkpoints(corpora, tiny_config, tiny_settings):
    cfg = tiny_config("maths")
    run_id = run_id_for(cfg, tiny_settings)
    progress, stop = _stopper(2)
    with pytest.raises(InterruptedError):
        run_finetune(cfg, tiny_settings, progress=progress, should_stop=stop)
    assert checkpoint_dir(run_id).is_dir()
    stray = checkpoint_dir("finetune-0000000000000000")       # a deleted run's leftovers
    (stray / "checkpoint-1").mkdir(parents=True)
    assert sweep_checkpoints(keep=run_id) == ["finetune-0000000000000000"] and checkpoint_dir(run_id).is_dir()
    lines = []
    sub = submit_finetune(cfg, tiny_settings, restart=True, wait=True)       # --restart: from step 0
    assert results.get_run(sub.run_ids[0])["status"] == "done"
    assert "resumed" not in (results.get_run(run_id)["notes"] or "") and not checkpoint_dir(run_id).exists()
    del lines


def _cli(tiny_model_dir):
    return [sys.executable, "-m", "core", "finetune", "--source", "maths", "--target", "bench", "--model",
            tiny_model_dir, "--probe", tiny_model_dir, "--estimator", "closed_form_head", "--align-batch-size", "4",
            "--align-seq-len", "32", "--align-num-batches", "2", "--budget", "2000", "--epochs", "40",
            "--seq-len", "32", "--batch-size", "4", "--lr", "3e-3", "--device", "cpu", "--yes"]


def test_sigterm_of_the_attached_cli_cancels_its_job_and_the_same_command_resumes(corpora, tiny_model_dir,
                                                                                 isolated_cache):
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(isolated_cache), "PYTHONPATH": str(REPO_ROOT),
           "ALIGNSCOPE_TORCH_THREADS": "1", "ALIGNSCOPE_FINETUNE_SAVE_STEPS": "5", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(_cli(tiny_model_dir), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, row = time.time() + 240, None
        while time.time() < deadline and proc.poll() is None:
            rows = results.list_runs()
            row = rows[0] if rows else None
            if row and row["phase"] == "training" and (row.get("progress") or 0) > 0 \
                    and latest_checkpoint(checkpoint_dir(row["run_id"])) is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None and row is not None, "the run did not reach training with a checkpoint"
        worker = row["worker_pid"]
        assert worker != proc.pid and pid_alive(worker)          # a detached worker, not the CLI
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert "cancelling the job" in err
    row = results.get_run(row["run_id"])
    assert row["status"] == "cancelled" and "the same command resumes from it" in row["error"]
    assert "resumes from it" in out                               # the table's error line
    for _ in range(100):
        if not pid_alive(worker):
            break
        time.sleep(0.1)
    assert not pid_alive(worker)
    kept = latest_checkpoint(checkpoint_dir(row["run_id"])).step
    assert kept > 0

    again = subprocess.run(_cli(tiny_model_dir), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"maths: resuming from checkpoint step {kept}/" in again.stderr
    done = results.get_run(row["run_id"])
    assert done["status"] == "done" and f"training resumed at step {kept}/" in done["notes"]
    assert not checkpoint_dir(row["run_id"]).exists() and get_job(row["run_id"]) is not None
