"""The Ray engine on an in-process Ray (2 CPUs, started once per session) with the tiny probe network:
same embeddings as the local engine, nothing computed twice, fine-tune sweeps recorded by the driver,
a killed actor retried.

Tolerance: Ray runs the same estimator code on the same batches in another process, so the
embeddings agree to float32 rounding; we require max |ray - local| <= 1e-5 (observed: 0).
"""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from core.corpora.memory import InMemoryCorpus
from core.pipeline import cached_embeddings, embed_corpus
from core.store import EmbeddingStore

TOLERANCE = 1e-5


@pytest.fixture
def maths_corpus(maths_texts):
    return InMemoryCorpus("maths-mem", maths_texts[:80])


def test_ray_embeddings_equal_the_local_engines_and_a_second_run_computes_nothing(
        ray_engine, tiny_settings, maths_corpus, isolated_cache, monkeypatch):
    local = embed_corpus(maths_corpus, tiny_settings, store=EmbeddingStore(isolated_cache / "local-store"),
                         progress=False)
    assert local.computed == 4

    ray_engine(actors=2)
    seen = []
    first = embed_corpus(maths_corpus, tiny_settings, progress=lambda d, t, m: seen.append((d, t)))
    assert (first.computed, first.cached) == (4, 0)
    assert seen[-1] == (4, 4) and len(seen) == 5                 # progress per batch, as for local jobs
    assert np.abs(first.embeddings - local.embeddings).max() <= TOLERANCE
    assert first.precision == local.precision == "fp32"

    # the engine never enters a key: the local engine finds every Ray-computed batch in the same store
    from core.engine import clear_engine

    clear_engine()
    look = cached_embeddings(maths_corpus, tiny_settings)
    assert look.complete and not look.missing

    # a second Ray run sends nothing to the cluster
    ray_engine(actors=2)
    import ray.data

    monkeypatch.setattr(ray.data, "from_items", lambda *a, **k: pytest.fail("a cached batch was sent to Ray"))
    second = embed_corpus(maths_corpus, tiny_settings, progress=False)
    assert (second.computed, second.cached) == (0, 4)
    assert np.array_equal(second.embeddings, first.embeddings)


def test_only_missing_batches_are_sent_and_stored_metadata_names_the_worker(ray_engine, tiny_settings, maths_corpus):
    from core.pipeline import embed_batches

    look = cached_embeddings(maths_corpus, tiny_settings)
    store = EmbeddingStore()
    embed_batches(look.batches[:1], look.probe, look.estimator, precision=look.precision, store=store,
                  keys=look.keys[:1])                                # batch 0 computed locally
    ray_engine(actors=1)
    res = embed_corpus(maths_corpus, tiny_settings, progress=False)
    assert (res.computed, res.cached) == (3, 1)
    metas = [store.get(k)[1] for k in look.keys]
    assert "engine" not in metas[0] and {m["engine"] for m in metas[1:]} == {"ray"}
    assert all(":" in m["worker"] for m in metas[1:])


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


def test_cancel_stops_between_batches_and_keeps_what_was_stored(ray_engine, tiny_settings, maths_corpus):
    ray_engine(actors=1)
    stored = []
    with pytest.raises(InterruptedError):
        embed_corpus(maths_corpus, tiny_settings, progress=lambda d, t, m: stored.append(d),
                     should_stop=lambda: len(stored) >= 2)
    look = cached_embeddings(maths_corpus, tiny_settings)
    assert 1 <= len(look.found) < 4                               # finished batches kept, the rest not computed
    res = embed_corpus(maths_corpus, tiny_settings, progress=False)   # rerunning continues
    assert res.cached == len(look.found) and res.computed == 4 - len(look.found)


def test_a_sweep_of_two_fine_tunes_on_ray_records_both(ray_engine, corpora, tiny_model_dir, one_torch_thread):
    from core.batches import BatchConfig
    from core.finetune import results
    from core.finetune.experiment import experiment_params, run_experiment
    from core.pipeline import EmbedSettings

    settings = EmbedSettings(model=tiny_model_dir, device="cpu", batch=BatchConfig(batch_size=4, seq_len=32, num_batches=2))
    base = dict(model=tiny_model_dir, budget_tokens=256, epochs=1, seq_len=32, batch_size=4, learning_rate=3e-3,
                device="cpu", save_adapter=False)
    params = experiment_params("bench", ["maths", "prose"], base, settings)
    ray_engine()
    out = run_experiment(params, job_id="experiment-ray-test")
    assert out["done"] == 2 and out["failed"] == 0
    for label in ("maths", "prose"):
        row = results.get_run(out["runs"][label]["run_id"])
        assert row["status"] == "done" and row["ppl_after"] > 0 and row["alignment"] is not None
        assert row["experiment_id"] == "experiment-ray-test"
    again = run_experiment(params, job_id="experiment-ray-test")     # rerunning reuses both
    assert all(v.get("reused") for v in again["runs"].values())
