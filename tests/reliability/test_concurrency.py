"""Issue 12: 4 processes asking for the same uncached batches compute each batch exactly once (the others
wait on its lock, say so, and report it as computed by another process) and return identical embeddings."""
import json
import os
import subprocess
import sys
import time

import numpy as np

from core.paths import REPO_ROOT

WORKERS = 4
BATCHES = 6


def test_four_processes_compute_each_batch_once(tmp_path, tiny_model_dir, maths_texts, isolated_cache):
    from tests.conftest import register_texts

    register_texts(tmp_path, "shared", maths_texts[:60], "formal maths")
    start = tmp_path / "start"
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(isolated_cache), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.reliability.embed_worker", tiny_model_dir, "shared",
                               str(tmp_path / f"w{i}"), "--start", str(start), "--delay", "0.3",
                               "--num-batches", str(BATCHES)],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(WORKERS)]
    try:
        # start together once every worker has imported torch and loaded the tiny probe network
        deadline = time.monotonic() + 200
        while not all((tmp_path / f"w{i}.ready").exists() for i in range(WORKERS)):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
            time.sleep(0.1)
        start.touch()
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    counts = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(WORKERS)]
    logged = [line.split()[1] for i in range(WORKERS) if (tmp_path / f"w{i}.computed").exists()
              for line in (tmp_path / f"w{i}.computed").read_text().splitlines()]
    assert len(logged) == BATCHES and len(set(logged)) == BATCHES, logged    # each batch computed exactly once
    assert sum(c["computed"] for c in counts) == BATCHES                       # ...and the counts agree
    for c in counts:
        assert c["computed"] + c["cached"] + c["computed_by_other"] == c["batches"] == BATCHES, c
    assert sum(c["computed_by_other"] for c in counts) > 0, counts           # someone waited for another's batch
    assert any("waiting for batch" in err and "held by pid" in err for _, err in outs)
    first = np.load(tmp_path / "w0.npy")
    for i in range(1, WORKERS):
        np.testing.assert_array_equal(np.load(tmp_path / f"w{i}.npy"), first)



_RACE = """
import threading
from core.probe import load_probe
errors, barrier = [], threading.Barrier(10)
def open_page():
    barrier.wait()
    try:
        load_probe(MODEL, device="cpu", progress=False)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=open_page) for _ in range(10)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""


def test_ten_sessions_loading_the_probe_at_once_in_a_fresh_process(tiny_model_dir, isolated_cache):
    """Dashboard sessions are threads of one server: 10 opening at once on a fresh server made
    transformers' lazy module raise "cannot import name 'AutoConfig'" (bench/viewers.py found it, in 2
    of 3 bare tries); core.probe now imports transformers under a lock."""
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(isolated_cache)}
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _RACE.replace("MODEL", repr(tiny_model_dir))], cwd=REPO_ROOT,
                             env=env, capture_output=True, text=True, timeout=240)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[0] == "0", out.stdout
