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
