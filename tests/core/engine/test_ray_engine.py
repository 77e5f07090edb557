"""The Ray engine on an in-process Ray (2 CPUs, started once per session) with the tiny probe network:
same embeddings as the local engine, nothing computed twice, fine-tune sweeps recorded by the driver,
a killed actor retried.

Tolerance: Ray runs the same estimator code on the same batches in another process, so the
embeddings agree to float32 rounding; we require max |ray - local| <= 1e-5 (observed: 0).
"""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from core.corpora.memory import InMemoryCorpus
from core.pipeline import cached_embeddings, embed_corpus
from core.precision import resolve_precision
from core.store import EmbeddingStore

TOLERANCE = 1e-5


@pytest.fixture
def maths_corpus(maths_texts):
    return InMemoryCorpus("maths-mem", maths_texts[:80])


def test_ray_embeddings_equal_the_local_engines_and_a_second_run_computes_nothing(
        ray_engine, tiny_settings, maths_corpus, prose_texts, isolated_cache, monkeypatch):
    import ray.data

    from core.pipeline import embed_corpora

    prose = InMemoryCorpus("prose-mem", prose_texts[:60])
    local = embed_corpora([maths_corpus, prose], tiny_settings, store=EmbeddingStore(isolated_cache / "local-store"),
                          progress=False)
    assert [e.computed for e in local.values()] == [4, 4]

    ray_engine(actors=2)
    jobs, seen = [], []
    real = ray.data.from_items
    monkeypatch.setattr(ray.data, "from_items", lambda items, **kw: (jobs.append(len(items)), real(items, **kw))[1])
    first = embed_corpora([maths_corpus, prose], tiny_settings, progress=lambda d, t, m: seen.append((d, t)))
    assert jobs == [8]                                # both corpora in one Ray job (one actor pool)
    assert [(e.computed, e.cached) for e in first.values()] == [(4, 0), (4, 0)]
    assert (8, 8) in seen                              # progress per batch over the job, as for local jobs
    for name in first:
        assert np.abs(first[name].embeddings - local[name].embeddings).max() <= TOLERANCE
        assert first[name].precision == local[name].precision == resolve_precision(tiny_settings.precision, "cpu")

    # the engine never enters a key: the local engine finds every Ray-computed batch in the same store
    from core.engine import clear_engine

    clear_engine()
    assert cached_embeddings(maths_corpus, tiny_settings).complete and cached_embeddings(prose, tiny_settings).complete

    # a second Ray run sends nothing to the cluster
    ray_engine(actors=2)
    monkeypatch.setattr(ray.data, "from_items", lambda *a, **k: pytest.fail("a cached batch was sent to Ray"))
    second = embed_corpus(maths_corpus, tiny_settings, progress=False)
    assert (second.computed, second.cached) == (0, 4)
    assert np.array_equal(second.embeddings, first["maths-mem"].embeddings)


def test_a_killed_actor_is_restarted_and_the_job_completes(ray_engine, tiny_settings, maths_corpus):
    look = cached_embeddings(maths_corpus, tiny_settings)
    store = EmbeddingStore()
    killed = []

    def kill_first_worker(done, total, msg):
        if done == 1 and not killed:              # the first batch is stored: kill the actor that made it
            meta = next(store.get(k)[1] for k in look.keys if store.get(k) is not None)
            pid = int(meta["worker"].rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    ray_engine(actors=1)
    res = embed_corpus(maths_corpus, tiny_settings, progress=kill_first_worker)
    assert killed and (res.computed, res.cached) == (4, 0)
    workers = {int(store.get(k)[1]["worker"].rsplit(":", 1)[1]) for k in look.keys}
    assert killed[0] in workers and len(workers) >= 2          # the restarted actor did the rest
    ref = embed_corpus(maths_corpus, tiny_settings, store=EmbeddingStore(store.directory.parent / "ref"), progress=False)
    assert np.abs(res.embeddings - ref.embeddings).max() <= TOLERANCE


def test_cancel_keeps_stored_batches_and_the_rerun_sends_only_the_missing_ones(ray_engine, tiny_settings,
                                                                                 maths_corpus, monkeypatch):
    ray_engine(actors=1)
    calls = []
    with pytest.raises(InterruptedError):
        embed_corpus(maths_corpus, tiny_settings, progress=lambda d, t, m: calls.append(d),
                     should_stop=lambda: len(calls) >= 2)          # stop once the first new batch is stored
    look = cached_embeddings(maths_corpus, tiny_settings)
    kept = len(look.found)
    assert 1 <= kept < 4                                          # finished batches kept, the rest not computed

    import ray.data

    sent = []
    real = ray.data.from_items
    monkeypatch.setattr(ray.data, "from_items", lambda items, **kw: (sent.extend(items), real(items, **kw))[1])
    res = embed_corpus(maths_corpus, tiny_settings, progress=False)   # rerunning continues
    assert (res.cached, res.computed) == (kept, 4 - kept)
    assert sorted(i["row"] for i in sent) == look.missing             # only the missing batches were sent
    metas = [EmbeddingStore().get(k)[1] for k in look.keys]
    assert {m["engine"] for m in metas} == {"ray"} and all(":" in m["worker"] for m in metas)


def test_a_sweep_of_two_fine_tunes_on_ray_records_both_even_when_a_worker_dies(ray_engine, corpora, tiny_model_dir, one_torch_thread):
    from core.batches import BatchConfig
    from core.finetune import results
    from core.finetune.experiment import experiment_params, run_experiment
    from core.pipeline import EmbedSettings

    settings = EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))
    base = dict(model=tiny_model_dir, budget_tokens=256, epochs=1, seq_len=32, batch_size=4, learning_rate=3e-3,
                device="cpu", save_adapter=False)
    params = experiment_params("bench", ["maths", "prose"], base, settings)
    ray_engine()
    killed: list[int] = []
    done = threading.Event()

    def kill_the_first_running_task():          # a Ray worker dies mid-run: the task is retried
        while not done.is_set() and not killed:
            for row in results.list_runs(reconcile_first=False):
                pid = row.get("worker_pid")
                if row["status"] == "running" and pid and pid != os.getpid() and row.get("phase") != "validating":
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.2)

    watcher = threading.Thread(target=kill_the_first_running_task, daemon=True)
    watcher.start()
    try:
        out = run_experiment(params, job_id="experiment-ray-test")
    finally:
        done.set()
        watcher.join()
    assert killed and out["done"] == 2 and out["failed"] == 0, out
    for label in ("maths", "prose"):
        row = results.get_run(out["runs"][label]["run_id"])
        assert row["status"] == "done" and row["ppl_after"] > 0 and row["alignment"] is not None
        assert row["experiment_id"] == "experiment-ray-test"
    again = run_experiment(params, job_id="experiment-ray-test")     # rerunning reuses both
    assert all(v.get("reused") for v in again["runs"].values())


def test_a_lab_on_ray_records_every_run_and_its_results_file(ray_engine, corpora, tiny_model_dir, one_torch_thread,
                                                            tmp_path):
    import json

    from core.batches import BatchConfig
    from core.finetune import results
    from core.pipeline import EmbedSettings
    from core.validation.lab import run_lab
    from core.validation.plan import LabPlan, Regime

    plan = LabPlan(target="bench", sources=("maths", "prose", "wiki-ish"),
                   regimes=(Regime("t", 128, epochs=1, seeds=(0,), seq_len=32, batch_size=4, learning_rate=3e-3),),
                   dose_pairs=(("maths", "prose"),), dose_fractions=(0.5,), dose_seeds=(0,), model=tiny_model_dir,
                   precision="fp32")
    settings = EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))
    ray_engine()
    lines: list[str] = []
    res = run_lab(plan, out=tmp_path / "lab.json", settings=settings, say=lines.append, metrics=False)
    assert len(res["runs"]) == 4 and {r["status"] for r in res["runs"]} == {"done"}, [r["error"] for r in res["runs"]]
    assert json.loads((tmp_path / "lab.json").read_text())["runs"] == json.loads(json.dumps(res["runs"]))
    assert any("sent to ray engine" in ln for ln in lines)
    assert all(results.get_run(r["run_id"])["status"] == "done" for r in res["runs"])


def test_select_compare_on_ray_fine_tunes_every_selection_as_a_task(ray_engine, corpora, tiny_model_dir,
                                                                  one_torch_thread, tmp_path):
    from core.finetune import results
    from core.finetune.compare import CompareConfig, run_compare

    cfg = CompareConfig(target="bench", pool=("prose", "maths"), max_windows=40, budget=160,
                        methods=("random", "unigram-cos"), seeds=(0,), seq_len=32, batch_size=2, epochs=1,
                        model=tiny_model_dir, align_batches=2)
    ray_engine()
    lines: list[str] = []
    res = run_compare(cfg, out=tmp_path / "cmp.json", say=lines.append)
    assert [r["status"] for r in res["runs"]] == ["done", "done"], [r.get("error") for r in res["runs"]]
    assert any("2 fine-tunes sent to ray engine" in ln for ln in lines)
    assert all(results.get_run(r["run_id"])["ppl_after"] > 0 for r in res["runs"])


def test_a_killed_driver_keeps_every_stored_batch_and_the_rerun_continues(ray_cluster, ray_engine, corpora,
                                                                         tiny_model_dir, isolated_cache):
    """``python -m core embed --engine ray`` is SIGKILLed after its first batch is stored (it joins the
    session's cluster, so no second Ray starts); the rerun computes only the batches not stored."""
    import subprocess
    import sys

    from core.batches import BatchConfig
    from core.paths import REPO_ROOT
    from core.pipeline import EmbedSettings

    settings = EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32, num_batches=6))
    look = cached_embeddings("maths", settings)
    store = EmbeddingStore()
    gcs = ray_cluster.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "core", "embed", "--corpus", "maths", "--model", tiny_model_dir, "--device", "cpu",
           "--batch-size", "4", "--seq-len", "32", "--num-batches", "6", "--engine", "ray", "--ray-address", gcs,
           "--ray-actors", "1"]
    proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if any(store.get(k) is not None for k in look.keys):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the driver ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    kept = sum(store.get(k) is not None for k in look.keys)
    assert 1 <= kept < 6
    ray_engine(actors=1)
    res = embed_corpus("maths", settings, progress=False)
    assert (res.cached, res.computed) == (kept, 6 - kept)


def test_per_window_pool_embeddings_on_ray_equal_the_local_engines_and_a_second_run_computes_nothing(
        ray_engine, tiny_settings, corpora, isolated_cache, monkeypatch):
    """The selection pool's per-window embeddings (``select run/embed --engine ray``): the same
    windows, forward passes and keys as the local engine; each window stored under its own key."""
    import ray.data

    from core.engine import clear_engine
    from core.probe import load_probe
    from core.selection.embed import embed_windows
    from core.selection.pool import PoolConfig, build_pool

    probe = load_probe(tiny_settings.model, device="cpu")
    pool = build_pool(PoolConfig(corpora=("prose", "maths"), target="bench", max_windows=18, seq_len=32, min_tokens=8),
                      probe.tokenizer, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    n = len(pool)
    assert n > 8
    local = embed_windows(pool, tiny_settings, store=EmbeddingStore(isolated_cache / "local-store"))
    assert (local.computed, local.cached) == (n, 0)

    ray_engine(actors=2)
    sent, seen = [], []
    real = ray.data.from_items
    monkeypatch.setattr(ray.data, "from_items", lambda items, **kw: (sent.extend(items), real(items, **kw))[1])
    first = embed_windows(pool, tiny_settings, progress=lambda d, t, m: seen.append(d))
    assert (first.computed, first.cached) == (n, 0)
    assert len(sent) == -(-n // tiny_settings.batch.batch_size)                       # one Ray Data row per forward pass
    assert sorted(int(r) for it in sent for r in it["rows"] if r >= 0) == list(range(n))
    assert seen[0] == 0 and seen[-1] == n and seen == sorted(seen)                     # progress per forward pass
    assert first.keys == local.keys and first.precision == local.precision == resolve_precision(tiny_settings.precision, "cpu")
    assert np.abs(first.embeddings - local.embeddings).max() <= TOLERANCE
    metas = [EmbeddingStore().get(k)[1] for k in first.keys]
    assert {m["engine"] for m in metas} == {"ray"} and all(m["per_sequence"] for m in metas)

    # a second run on Ray sends nothing; the local engine finds every window in the same store
    monkeypatch.setattr(ray.data, "from_items", lambda *a, **k: pytest.fail("a cached window was sent to Ray"))
    second = embed_windows(pool, tiny_settings)
    assert (second.computed, second.cached) == (0, n)
    clear_engine()
    third = embed_windows(pool, tiny_settings, compute=False)
    assert np.array_equal(third.embeddings, first.embeddings) and np.array_equal(second.embeddings, first.embeddings)


def test_cancelling_pool_embeddings_on_ray_keeps_the_stored_windows(ray_engine, tiny_settings, corpora):
    from core.probe import load_probe
    from core.selection.embed import embed_windows
    from core.selection.pool import PoolConfig, build_pool

    probe = load_probe(tiny_settings.model, device="cpu")
    pool = build_pool(PoolConfig(corpora=("prose",), target="bench", max_windows=16, seq_len=32, min_tokens=8),
                      probe.tokenizer, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    ray_engine(actors=1)
    calls: list[int] = []
    with pytest.raises(InterruptedError):
        embed_windows(pool, tiny_settings, progress=lambda d, t, m: calls.append(d),
                      should_stop=lambda: len(calls) >= 2)           # stop once the first pass is stored
    again = embed_windows(pool, tiny_settings)
    assert 1 <= again.cached < len(pool) and again.cached + again.computed == len(pool)
