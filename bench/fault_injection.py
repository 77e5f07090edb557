"""Fault injection (issue 12): seeded trials that ``kill -9`` an embedding job, a fine-tune experiment and
a fine-tune at random points, then check the recovery.

Usage:
    nice -n 5 .venv/bin/python bench/fault_injection.py [--trials 20] [--seed 12] [--out docs/results/fault_injection.json]
    nice -n 5 .venv/bin/python bench/fault_injection.py --resume-trials 10 --seed 24   # issue 24, below

Each trial, in a fresh cache folder with three small registered corpora and the tiny probe network of
the tests (2-layer Llama, d=32):

1. starts a worker process doing one kind of work in-process (``embed``: 2 corpora x 6 batches through
   ``core.pipeline.embed_corpus``; ``finetune``: ``core.finetune.jobs.submit_finetune(wait=True)``,
   alignment + base perplexity + training + evaluation; ``experiment``: ``submit_experiment`` over two
   sources), waits until it has imported everything, then sleeps a seeded random fraction (5-75%) of
   the work's calibrated duration and sends SIGKILL;
2. reads the results database the way every reader does (``list_runs``, ``get_experiment``: a dead
   worker's rows are marked ``killed``) and checks that no row stays ``running``;
3. snapshots what was already computed (embedding keys in the store, ``perplexity_cache`` rows, done
   runs), reruns the same work in this process with a deadline, and checks that it finished, never
   waited on a lock (the dead holder's locks are released by the kernel), recomputed nothing from the
   snapshot (every stored embedding key is logged), left no row unfinished, and, for ``embed``, gave
   the same embeddings as an uninterrupted run.

Issue 24 (``--resume-trials N``): kill -9 of a tiny fine-tune worker at a seeded random training step;
the same submission again must resume from the newest complete checkpoint (the row's note), keep the
run id, remove the checkpoints and end at the uninterrupted run's perplexity (relative difference
< 1e-4, fp32 on CPU). Recorded in the output's ``finetune_resume`` section after each trial; a
second call with the same seed continues where the first stopped; the other sections are kept.

Kinds rotate embed -> experiment -> finetune; kill points come from ``random.Random(seed)``. Writes a
JSON summary (per trial: kind, kill time, what existed before the rerun, rerun seconds, checks).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("embed", "experiment", "finetune")
EMBED_CORPORA = ("maths", "prose")
DOMAINS = {"bench": "target benchmark", "maths": "formal maths", "prose": "general prose"}


# -- the work (run by the killed worker and by the rerun) ------------------------------------------------
def _settings(model: str, num_batches: int):
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings

    return EmbedSettings(model=model, estimator="closed_form_head", device="cpu",
                         batch=BatchConfig(batch_size=4, seq_len=32, num_batches=num_batches))


def _config(model: str, source: str = "maths"):
    from core.finetune.config import FinetuneConfig

    return FinetuneConfig(source=source, target="bench", model=model, budget_tokens=512, epochs=2, seq_len=32,
                          batch_size=4, learning_rate=3e-3, device="cpu")


def do_work(kind: str, model: str, *, restart: bool = False) -> dict:
    """Run one kind of work to the end in this process; returns what it produced."""
    if kind == "embed":
        import numpy as np

        from core.pipeline import embed_corpus

        out = {}
        for name in EMBED_CORPORA:
            r = embed_corpus(name, _settings(model, 6), progress=False)
            out[name] = {"computed": r.computed, "cached": r.cached, "computed_by_other": r.computed_by_other,
                         "digest": float(np.asarray(r.embeddings, dtype=np.float64).sum())}
            out.setdefault("_embeddings", {})[name] = r.embeddings
        return out
    from core.finetune.jobs import submit_experiment, submit_finetune

    if kind == "finetune":
        sub = submit_finetune(_config(model), _settings(model, 2), wait=True, restart=False)
    else:
        sub = submit_experiment("bench", ["maths", "prose"], _config(model).to_dict(), _settings(model, 2),
                                wait=True, restart=restart)
    return {"run_ids": list(sub.run_ids), "job_id": sub.job_id, "reused": sub.reused}


def _log_puts(log: list | Path) -> None:
    """Record every embedding key written to any store (a list here, or lines appended to a file)."""
    from core.store import EmbeddingStore

    put = EmbeddingStore.put
    if getattr(put, "_logged", False):
        return

    def logged(self, key, arrays, meta=None):
        put(self, key, arrays, meta)
        if key.startswith("emb:"):
            target = logged.target
            if isinstance(target, list):
                target.append(key)
            else:
                with open(target, "a") as fh:
                    fh.write(key + "\n")

    logged._logged = True
    logged.target = log
    EmbeddingStore.put = logged


def worker_main(kind: str, model: str, log: str) -> None:
    """The process that gets killed: import, say READY, work."""
    import torch

    torch.set_num_threads(1)
    _log_puts(Path(log))
    from core.probe import load_probe

    load_probe(model, device="cpu", progress=False)
    print("READY", flush=True)
    do_work(kind, model)
    print("DONE", flush=True)


# -- the harness ------------------------------------------------------------------------------------------
def _texts() -> dict[str, list[str]]:
    from tests.conftest import proofnet_valid_texts, village_prose

    maths = proofnet_valid_texts()
    return {"bench": maths[:24], "maths": maths[40:100], "prose": village_prose(40)}


def make_template(folder: Path, model_dir: str | None = None) -> tuple[Path, str]:
    """A cache folder with the three registered corpora (and the tiny model unless given); returns
    ``(cache template, model folder)``."""
    from core.corpora import CorpusSpec, register_corpus
    from core.paths import REPO_ROOT

    template = folder / "template"
    template.mkdir(parents=True)
    real_models = REPO_ROOT / "cache" / "models"
    if real_models.is_dir():
        (template / "models").symlink_to(real_models, target_is_directory=True)
    old = os.environ.get("ALIGNSCOPE_CACHE")
    os.environ["ALIGNSCOPE_CACHE"] = str(template)
    try:
        if model_dir is None:
            from tests.conftest import _make_tiny

            model_dir = _make_tiny(folder / "tiny", tied=True)
        for name, texts in _texts().items():
            path = folder / f"{name}.jsonl"
            path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
            register_corpus(CorpusSpec(name=name, kind="files", path=str(path), field="text", domain=DOMAINS[name]))
    finally:
        if old is None:
            os.environ.pop("ALIGNSCOPE_CACHE", None)
        else:
            os.environ["ALIGNSCOPE_CACHE"] = old
    return template, model_dir


def _fresh_cache(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest


def _snapshot(cache: Path) -> dict:
    """What is already computed: stored embedding keys, perplexity-cache rows (key -> created), runs."""
    import sqlite3

    from core.store import EmbeddingStore

    store = EmbeddingStore(cache / "embeddings")
    try:
        keys = {k for k in store.cache.iterkeys() if isinstance(k, str) and k.startswith("emb:")
                and store.get(k) is not None}
    finally:
        store.close()
    db = cache / "results" / "finetune.sqlite"
    ppl, runs, exps = {}, {}, {}
    if db.exists():
        with sqlite3.connect(db) as con:
            ppl = dict(con.execute("SELECT key, created FROM perplexity_cache").fetchall())
            runs = {r: (s, f) for r, s, f in con.execute("SELECT run_id, status, finished FROM runs")}
            try:
                exps = dict(con.execute("SELECT experiment_id, status FROM experiments").fetchall())
            except sqlite3.OperationalError:
                exps = {}
    return {"emb_keys": keys, "ppl": ppl, "runs": runs, "experiments": exps}


def _unfinished_after_readers(cache: Path) -> dict:
    """Row statuses in the results database after a reader ran (``list_runs``: dead workers' rows of
    both tables are marked killed), read back from the file itself."""
    import sqlite3

    from core.finetune import results

    results.list_runs()
    db = cache / "results" / "finetune.sqlite"
    if not db.exists():
        return {"runs": {}, "experiments": {}}
    with sqlite3.connect(db) as con:
        runs = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        try:
            exps = dict(con.execute("SELECT experiment_id, status FROM experiments").fetchall())
        except sqlite3.OperationalError:
            exps = {}
    return {"runs": runs, "experiments": exps}


def _rerun(kind: str, model: str, deadline_s: float) -> dict:
    """Rerun ``kind`` in this process within ``deadline_s``; records lock waits and stored keys."""
    from core import paths

    waits: list[str] = []
    put_log: list[str] = []
    _log_puts(put_log)
    from core.store import EmbeddingStore

    EmbeddingStore.put.target = put_log
    old_wait = paths._print_wait
    paths._print_wait = waits.append
    box: dict = {}

    def target():
        try:
            box["result"] = do_work(kind, model, restart=True)
        except BaseException as exc:      # reported below
            box["error"] = f"{type(exc).__name__}: {exc}"

    t0 = time.perf_counter()
    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(deadline_s)
    paths._print_wait = old_wait
    return {"finished": not th.is_alive(), "seconds": round(time.perf_counter() - t0, 2), "waits": waits,
            "stored": list(put_log), **box}


def calibrate(template: Path, model: str, work: Path, durations: dict | None = None) -> dict:
    """Seconds each kind of work takes uninterrupted (in a worker process, from READY to DONE; skipped
    when ``durations`` is given), and the reference embeddings of the embed work."""
    import numpy as np

    durations = dict(durations or {})
    for kind in (k for k in KINDS if k not in durations):
        cache = _fresh_cache(template, work / f"calibrate-{kind}")
        proc = _start_worker(kind, model, cache, work / f"calibrate-{kind}.log")
        _wait_ready(proc)
        t0 = time.perf_counter()
        out, err = proc.communicate(timeout=900)
        if proc.returncode != 0 or "DONE" not in out:
            raise RuntimeError(f"calibration of {kind} failed: {err[-2000:]}")
        durations[kind] = round(time.perf_counter() - t0, 2)
    ref_cache = work / "calibrate-embed"
    if not ref_cache.exists():
        _fresh_cache(template, ref_cache)
    os.environ["ALIGNSCOPE_CACHE"] = str(ref_cache)
    ref = do_work("embed", model)["_embeddings"]
    return {"durations": durations, "reference": {k: np.asarray(v) for k, v in ref.items()}}


def _start_worker(kind: str, model: str, cache: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(cache), "ALIGNSCOPE_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--model", model,
                             "--log", str(log)], cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen, timeout: float = 300) -> None:
    t0 = time.monotonic()
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        raise RuntimeError(f"worker did not start ({time.monotonic() - t0:.0f} s): {line!r} "
                           f"{proc.stderr.read()[-2000:]}")


def run_trial(index: int, kind: str, fraction: float, template: Path, model: str, work: Path, cal: dict,
              *, deadline_s: float = 600) -> dict:
    """One kill-and-recover trial; returns its record with ``ok`` and the failed ``checks``."""
    import numpy as np

    cache = _fresh_cache(template, work / f"trial-{index:02d}-{kind}")
    log = work / f"trial-{index:02d}.log"
    proc = _start_worker(kind, model, cache, log)
    _wait_ready(proc)
    kill_after = round(fraction * cal["durations"][kind], 3)
    time.sleep(kill_after)
    finished_first = proc.poll() is not None
    if not finished_first:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(60)
    proc.stdout.close()
    proc.stderr.close()

    os.environ["ALIGNSCOPE_CACHE"] = str(cache)
    from core.corpora import clear_document_cache

    clear_document_cache()
    after_kill = _unfinished_after_readers(cache)
    stuck = [r for r, s in {**after_kill["runs"], **after_kill["experiments"]}.items() if s == "running"]
    before = _snapshot(cache)
    rerun = _rerun(kind, model, deadline_s)
    after = _snapshot(cache)
    from core.finetune import results

    final_runs = {r["run_id"]: r["status"] for r in results.list_runs()}
    recomputed = sorted(set(rerun["stored"]) & before["emb_keys"])
    ppl_rewritten = [k for k, created in before["ppl"].items() if after["ppl"].get(k) != created]
    done_rerun = [r for r, (s, f) in before["runs"].items() if s == "done" and after["runs"].get(r) != (s, f)]
    checks = {
        "no_row_running_after_kill": not stuck,
        "rerun_finished": rerun["finished"] and "error" not in rerun,
        "rerun_never_waited_on_a_lock": not rerun["waits"],
        "no_embedding_recomputed": not recomputed,
        "no_cached_perplexity_recomputed": not ppl_rewritten,
        "no_done_run_rerun": not done_rerun,
        "all_rows_done_after_rerun": bool(final_runs) == (kind != "embed") and all(
            s == "done" for s in final_runs.values()),
    }
    if kind == "embed" and "result" in rerun:
        got = rerun["result"]["_embeddings"]
        checks["same_embeddings_as_uninterrupted"] = all(
            np.allclose(got[n], cal["reference"][n], rtol=1e-5, atol=1e-7) for n in EMBED_CORPORA)
        rerun["result"] = {k: v for k, v in rerun["result"].items() if k != "_embeddings"}
    return {"trial": index, "kind": kind, "kill_after_s": kill_after, "fraction": round(fraction, 3),
            "finished_before_kill": finished_first, "rows_after_kill": after_kill,
            "already_computed": {"embeddings": len(before["emb_keys"]), "perplexities": len(before["ppl"]),
                                 "done_runs": sum(s == "done" for s, _ in before["runs"].values())},
            "rows_after_rerun": final_runs, "rerun_seconds": rerun["seconds"], "rerun_stored_embeddings": len(rerun["stored"]),
            "rerun_waits": rerun["waits"], "rerun_error": rerun.get("error"), "recomputed": recomputed,
            "checks": checks, "ok": all(checks.values())}


def run_trials(trials: int, seed: int, *, work: Path, model: str | None = None, log=print,
               durations: dict | None = None) -> dict:
    """Calibrate (unless ``durations``, seconds per kind, are given), then run ``trials`` seeded trials
    (kinds rotating); returns the summary dict."""
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    saved = os.environ.get("ALIGNSCOPE_CACHE")
    try:
        template, model = make_template(work, model)
        cal = calibrate(template, model, work, durations)
        log(f"calibrated work durations (s): {cal['durations']}", flush=True)
        rng = random.Random(seed)
        records = []
        for i in range(trials):
            kind = KINDS[i % len(KINDS)]
            rec = run_trial(i, kind, rng.uniform(0.05, 0.75), template, model, work, cal)
            records.append(rec)
            failed = [k for k, v in rec["checks"].items() if not v]
            log(f"trial {i:2d} {kind:10s} kill after {rec['kill_after_s']:6.2f} s: "
                f"{rec['already_computed']}, rerun {rec['rerun_seconds']:.1f} s -> "
                + ("ok" if rec["ok"] else f"FAILED {failed} {rec['rerun_error'] or ''}"), flush=True)
    finally:
        if saved is None:
            os.environ.pop("ALIGNSCOPE_CACHE", None)
        else:
            os.environ["ALIGNSCOPE_CACHE"] = saved
    return {"trials": trials, "seed": seed, "survived": sum(r["ok"] for r in records),
            "killed_mid_work": sum(not r["finished_before_kill"] for r in records),
            "killed_with_work_stored": sum(not r["finished_before_kill"] and any(r["already_computed"].values())
                                           for r in records),
            "by_kind": {k: {"trials": sum(r["kind"] == k for r in records),
                            "survived": sum(r["ok"] for r in records if r["kind"] == k)} for k in KINDS},
            "recomputed_embeddings_total": sum(len(r["recomputed"]) for r in records),
            "rows_running_after_kill": sum(not r["checks"]["no_row_running_after_kill"] for r in records),
            "rerun_lock_waits": sum(len(r["rerun_waits"]) for r in records),
            "rerun_seconds_max": max((r["rerun_seconds"] for r in records), default=0.0),
            "calibrated_durations_s": cal["durations"], "records": records}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20, help="number of kill trials (default 20)")
    ap.add_argument("--seed", type=int, default=12, help="seed of the kill points (default 12)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "fault_injection.json"), help="JSON summary")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    ap.add_argument("--resume-trials", type=int, default=0,
                    help="issue 24: run only N kill -9 trials during training that must resume from the last "
                         "checkpoint; written to the output's finetune_resume section (resumable: done trials kept)")
    ap.add_argument("--resume-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker, args.model, args.log)
        return
    if args.resume_worker:
        resume_worker_main(args.model)
        return
    if args.resume_trials:
        work = Path(tempfile.mkdtemp(prefix="alignscope-resume-"))
        try:
            s = run_resume_trials(args.resume_trials, args.seed, work=work, out=Path(args.out))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        print(f"{s.get('survived')}/{s.get('trials_done')} resume trials survived; {s.get('resumed_from_a_checkpoint')} "
              f"resumed from a checkpoint; max relative perplexity difference {s.get('max_rel_ppl_diff')}")
        return
    work = Path(tempfile.mkdtemp(prefix="alignscope-faults-"))
    t0 = time.perf_counter()
    try:
        summary = run_trials(args.trials, args.seed, work=work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary["command"] = f"bench/fault_injection.py --trials {args.trials} --seed {args.seed}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"{summary['survived']}/{summary['trials']} trials survived ({summary['killed_mid_work']} killed mid-work, "
          f"{summary['killed_with_work_stored']} of them after storing some results); "
          f"embeddings recomputed: {summary['recomputed_embeddings_total']}; rows left running: "
          f"{summary['rows_running_after_kill']}; lock waits in reruns: {summary['rerun_lock_waits']}; "
          f"wrote {args.out}")



# -- issue 24: kill -9 during training, the rerun resumes from the last checkpoint ---------------------
RESUME_EPOCHS = 6          # the tiny run: 16 sequences of 32 tokens, batch 4 -> 4 steps an epoch, 24 steps
RESUME_SAVE_STEPS = 3


def _resume_config(model: str):
    from core.finetune.config import FinetuneConfig

    return FinetuneConfig(source="maths", target="bench", model=model, budget_tokens=512, epochs=RESUME_EPOCHS,
                          seq_len=32, batch_size=4, learning_rate=3e-3, device="cpu", precision="fp32")


def resume_worker_main(model: str) -> None:
    """The process that gets killed during training: one tiny fine-tune, ``submit_finetune(wait=True)``."""
    import torch

    torch.set_num_threads(1)
    from core.finetune.jobs import submit_finetune

    print("READY", flush=True)
    submit_finetune(_resume_config(model), _settings(model, 2), wait=True)
    print("DONE", flush=True)


def _start_resume_worker(model: str, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(cache), "ALIGNSCOPE_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "ALIGNSCOPE_FINETUNE_SAVE_STEPS": str(RESUME_SAVE_STEPS)}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--resume-worker", "--model", model],
                            cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _training_step(cache: Path) -> int | None:
    """The training step the run's row last reported (``maths: step k/N``), read from the database file."""
    import re
    import sqlite3

    db = cache / "results" / "finetune.sqlite"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db, timeout=1) as con:
            rows = con.execute("SELECT message FROM runs").fetchall()
    except sqlite3.Error:
        return None
    m = re.search(r": step (\d+)/", (rows[0][0] or "") if rows else "")
    return int(m.group(1)) if m else None


def run_resume_trials(trials: int, seed: int, *, work: Path, out: Path, log=print) -> dict:
    """``trials`` kill -9 trials of a tiny fine-tune at seeded random training steps; each rerun must
    resume from the newest complete checkpoint and end at the uninterrupted run's perplexity. Resumable:
    trials already recorded in ``out``'s ``finetune_resume`` section (same seed) are kept."""
    import re

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["ALIGNSCOPE_FINETUNE_SAVE_STEPS"] = str(RESUME_SAVE_STEPS)
    old = json.loads(out.read_text()) if out.is_file() else {}
    section = old.get("finetune_resume") or {}
    records = section.get("records", []) if section.get("seed") == seed else []
    template, model = make_template(work)
    saved = os.environ.get("ALIGNSCOPE_CACHE")
    from core.finetune import results
    from core.finetune.train import checkpoint_dir, latest_checkpoint

    def final_row(cache: Path) -> dict:
        os.environ["ALIGNSCOPE_CACHE"] = str(cache)
        rows = results.list_runs()
        return rows[0] if rows else {}

    try:
        ref_cache = _fresh_cache(template, work / "resume-reference")
        proc = _start_resume_worker(model, ref_cache)
        out_, _ = proc.communicate(timeout=900)
        ref = final_row(ref_cache)
        total = int(ref["train_steps"])
        log(f"uninterrupted: perplexity {ref['ppl_after']:.6f} after {total} steps", flush=True)
        rng = random.Random(seed)
        points = [rng.randint(1, total - 1) for _ in range(trials)]
        for i in range(len(records), trials):
            cache = _fresh_cache(template, work / f"resume-{i:02d}")
            proc = _start_resume_worker(model, cache)
            _wait_ready(proc)
            target, t0 = points[i], time.time()
            while proc.poll() is None and time.time() - t0 < 600:
                step = _training_step(cache)
                if step is not None and step >= target:
                    break
                time.sleep(0.01)
            killed_at = _training_step(cache)
            finished_first = proc.poll() is not None
            if not finished_first:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(60)
            os.environ["ALIGNSCOPE_CACHE"] = str(cache)
            run_id = final_row(cache).get("run_id")
            ck = latest_checkpoint(checkpoint_dir(run_id)) if run_id else None
            t1 = time.perf_counter()
            try:
                from core.finetune.jobs import submit_finetune

                submit_finetune(_resume_config(model), _settings(model, 2), wait=True)
                error = None
            except Exception as exc:      # reported in the record
                error = f"{type(exc).__name__}: {exc}"
            row = final_row(cache)
            m = re.search(r"training resumed at step (\d+)/", row.get("notes") or "")
            resumed = int(m.group(1)) if m else 0
            rel = abs(row["ppl_after"] - ref["ppl_after"]) / ref["ppl_after"] if row.get("ppl_after") else None
            checks = {"rerun_finished": error is None and row.get("status") == "done",
                      "resumed_from_last_checkpoint": resumed == (ck.step if ck else 0),
                      "same_run_id": row.get("run_id") == ref["run_id"],
                      "same_perplexity_within_1e-4": rel is not None and rel < 1e-4,
                      "checkpoints_removed": not checkpoint_dir(row.get("run_id") or "x").exists()}
            rec = {"trial": i, "kill_at_step": target, "step_reported_at_kill": killed_at,
                   "finished_before_kill": finished_first, "last_checkpoint_before_rerun": ck.step if ck else None,
                   "resumed_from": resumed, "ppl_after": row.get("ppl_after"), "rel_diff": rel,
                   "rerun_seconds": round(time.perf_counter() - t1, 2), "error": error, "checks": checks,
                   "ok": all(checks.values())}
            records.append(rec)
            log(f"resume trial {i}: kill at step {target} (row said {killed_at}), checkpoint {rec['last_checkpoint_before_rerun']},"
                f" resumed from {resumed}, ppl {row.get('ppl_after')} (rel diff {rel}) -> {'ok' if rec['ok'] else checks}",
                flush=True)
            summary = _resume_summary(records, trials, seed, ref, total, model)
            old["finetune_resume"] = summary
            out.write_text(json.dumps(old, indent=2, default=str) + "\n")   # after each trial: resumable
    finally:
        if saved is None:
            os.environ.pop("ALIGNSCOPE_CACHE", None)
        else:
            os.environ["ALIGNSCOPE_CACHE"] = saved
    return old.get("finetune_resume", {})


def _resume_summary(records: list, trials: int, seed: int, ref: dict, total: int, model: str) -> dict:
    return {"what": "issue 24: kill -9 of a fine-tune worker at a seeded random training step, then the same "
                    "submission again; it must resume from the newest complete checkpoint and end at the "
                    "uninterrupted run's perplexity",
            "model": "tiny test model (2-layer Llama, d=32, SmolLM2 tokenizer; tests/conftest.py _make_tiny), fp32, CPU, "
                     "1 thread",
            "budget": {"budget_tokens": 512, "seq_len": 32, "batch_size": 4, "epochs": RESUME_EPOCHS,
                       "train_steps": total, "save_steps": RESUME_SAVE_STEPS},
            "why_not_smollm2": "2 shared CPU cores and a deadline: a SmolLM2-135M 1k-token fine-tune is ~1-2 min a "
                               "trial plus ~1.6 GB checkpoints; the mechanism is the same (Trainer checkpoints)",
            "seed": seed, "trials_planned": trials, "trials_done": len(records),
            "survived": sum(r["ok"] for r in records),
            "killed_mid_training": sum(not r["finished_before_kill"] for r in records),
            "resumed_from_a_checkpoint": sum(r["resumed_from"] > 0 for r in records),
            "uninterrupted_ppl_after": ref["ppl_after"],
            "max_rel_ppl_diff": max((r["rel_diff"] for r in records if r["rel_diff"] is not None), default=None),
            "command": f"bench/fault_injection.py --resume-trials {trials} --seed {seed}",
            "records": records}


if __name__ == "__main__":
    main()
