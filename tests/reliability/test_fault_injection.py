"""Issue 12 fault injection, a seeded sample of bench/fault_injection.py (which runs the full 20 trials
and writes docs/results/fault_injection.json): kill -9 an embedding job, a fine-tune experiment and a
fine-tune at random points; after each, no results-database row stays ``running``, the rerun finishes
without waiting on a lock, recomputes nothing already stored, and ends with every row done."""
import importlib.util

from core.paths import REPO_ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("fault_injection", REPO_ROOT / "bench" / "fault_injection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_seeded_kill_trials_recover(tmp_path, tiny_model_dir):
    import torch

    threads = torch.get_num_threads()
    try:
        # kill points: seeded fractions of these durations (the bench script measures them instead)
        summary = _bench().run_trials(3, seed=7, work=tmp_path, model=tiny_model_dir, log=lambda *a, **k: None,
                                      durations={"embed": 6.0, "experiment": 20.0, "finetune": 12.0})
    finally:
        torch.set_num_threads(threads)
    failed = [(r["kind"], [k for k, v in r["checks"].items() if not v], r["rerun_error"])
              for r in summary["records"] if not r["ok"]]
    assert summary["survived"] == 3, failed
    assert {r["kind"] for r in summary["records"]} == {"embed", "experiment", "finetune"}
    assert summary["recomputed_embeddings_total"] == 0 and summary["rows_running_after_kill"] == 0
    assert summary["rerun_lock_waits"] == 0


_KILLED_BEFORE_START = """
import os, signal
from core import jobs
from core.batches import BatchConfig
from core.finetune.config import FinetuneConfig
from core.finetune.jobs import submit_experiment, submit_finetune
from core.pipeline import EmbedSettings
jobs.run_job = lambda folder: os.kill(os.getpid(), signal.SIGKILL)     # killed between queueing and starting
settings = EmbedSettings(model=MODEL, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))
config = FinetuneConfig(source="maths", target="bench", model=MODEL, budget_tokens=256, epochs=1, seq_len=32,
                        batch_size=4, learning_rate=3e-3, device="cpu")
if KIND == "finetune":
    submit_finetune(config, settings, wait=True)
else:
    submit_experiment("bench", ["maths", "prose"], config.to_dict(), settings, wait=True)
"""


def test_a_submitter_killed_before_its_run_starts_does_not_block_the_rerun(corpora, tiny_model_dir,
                                                                            isolated_cache):
    """Found by the fault injection: a run queued by a process killed before the run started stayed
    ``queued`` with no worker for results.ORPHAN_AFTER_S (120 s), and a rerun meanwhile found it "under
    way" and ran nothing. The submitter that runs the work itself (wait=True) is now its worker."""
    import os
    import subprocess
    import sys

    from core.batches import BatchConfig
    from core.finetune import results
    from core.finetune.config import FinetuneConfig
    from core.finetune.jobs import submit_experiment, submit_finetune
    from core.pipeline import EmbedSettings

    settings = EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32,
                                                                                   num_batches=2))
    config = FinetuneConfig(source="maths", target="bench", model=tiny_model_dir, budget_tokens=256, epochs=1,
                            seq_len=32, batch_size=4, learning_rate=3e-3, device="cpu")
    for kind in ("finetune", "experiment"):
        code = _KILLED_BEFORE_START.replace("MODEL", repr(tiny_model_dir)).replace("KIND", repr(kind))
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                              env={**os.environ, "ALIGNSCOPE_CACHE": str(isolated_cache)}, timeout=240)
        assert proc.returncode == -9, proc.stderr[-2000:]
        rows = {r["run_id"]: r["status"] for r in results.list_runs()}     # a reader marks dead workers' rows
        assert "killed" in rows.values() and set(rows.values()) <= {"killed", "done"}, rows   # none left queued
        if kind == "finetune":
            sub = submit_finetune(config, settings, wait=True)
        else:
            sub = submit_experiment("bench", ["maths", "prose"], config.to_dict(), settings, wait=True)
        assert not sub.reused
        assert all(results.get_run(r)["status"] == "done" for r in sub.run_ids)
