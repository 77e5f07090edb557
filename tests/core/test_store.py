import sqlite3

import numpy as np
import pytest

from core.store import EmbeddingStore, decode_arrays, embedding_key, encode_arrays


def test_roundtrip_is_raw_arrays_not_pickles(tmp_path):
    s = EmbeddingStore(tmp_path / "c")
    v = np.arange(10, dtype=np.float32)
    s.put("k", {"embedding": v}, {"corpus": "x"})
    arrays, meta = s.get("k")
    np.testing.assert_array_equal(arrays["embedding"], v)
    assert arrays["embedding"].dtype == np.float32 and meta == {"corpus": "x"}
    blob = s.cache.get("k", read=False)
    assert isinstance(blob, bytes) and blob[:4] == b"A2V1"


def test_corrupted_entries_are_detected_and_dropped(tmp_path):
    s = EmbeddingStore(tmp_path / "c")
    s.put("big", {"embedding": np.ones(50_000, dtype=np.float32)})   # large: stored as a file
    s.put("small", {"embedding": np.ones(4, dtype=np.float32)})      # small: stored in SQLite
    # flip bytes in the file behind the large value
    files = [p for p in (tmp_path / "c").rglob("*.val")]
    assert files
    data = bytearray(files[0].read_bytes()); data[-7] ^= 0xFF; files[0].write_bytes(bytes(data))
    assert s.get("big") is None and "big" not in s.cache
    # truncate the small value inside SQLite
    con = sqlite3.connect(tmp_path / "c" / "cache.db")
    con.execute("UPDATE Cache SET value = substr(value, 1, 20) WHERE key = 'small'"); con.commit(); con.close()
    assert s.get("small") is None


def test_decode_rejects_garbage():
    with pytest.raises(ValueError):
        decode_arrays(b"nope")
    blob = encode_arrays({"a": np.zeros(3)})
    with pytest.raises(ValueError):
        decode_arrays(blob + b"x")


def test_embedding_key_changes_with_every_input_and_nothing_else():
    base = dict(model_fingerprint="m", tokenizer_fingerprint="t", estimator={"estimator": "reference", "epochs": 10},
                batch_hash="b")
    k = embedding_key(**base)
    assert k == embedding_key(**dict(base))
    assert k == embedding_key(**{**base, "estimator": {"epochs": 10, "estimator": "reference"}})  # key order
    for field, value in [("model_fingerprint", "m2"), ("tokenizer_fingerprint", "t2"), ("batch_hash", "b2"),
                         ("estimator", {"estimator": "reference", "epochs": 3}),
                         ("estimator", {"estimator": "closed_form_head", "epochs": 10})]:
        assert embedding_key(**{**base, field: value}) != k


def test_estimator_fingerprints_cover_every_hyperparameter():
    from dataclasses import fields

    from core.estimators import REGISTRY, get_estimator

    for name, cls in REGISTRY.items():
        default = get_estimator(name).fingerprint()
        for f in fields(cls.Config):
            if isinstance(f.default, str):
                changed = "bf16"  # the only string hyperparameter: autocast
            else:
                changed = f.default * 2 + 1
            same = get_estimator(name, **{f.name: changed}).fingerprint() == default
            # execution knobs (chunk sizes...) must not change the key; every hyperparameter must
            assert same == (f.metadata.get("key", True) is False), (name, f.name)
        # a default made explicit does not change the key
        assert get_estimator(name, **{f.name: f.default for f in fields(cls.Config)}).fingerprint() == default


def test_a_killed_holder_does_not_leave_the_key_locked(tmp_path):
    """issue 12, failure 1: a lock held by a process killed with SIGKILL is free at once (flock), not
    after a 15-minute expiry."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from filelock import FileLock, Timeout

    store = EmbeddingStore(tmp_path / "emb")
    code = ("import sys, time; from core.store import EmbeddingStore\n"
            f"s = EmbeddingStore({str(tmp_path / 'emb')!r})\n"
            "with s.lock('emb:key'):\n    print('locked', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert proc.stdout.readline().strip() == "locked"
        lock_files = list((tmp_path / "emb" / "locks").glob("*.lock"))
        assert len(lock_files) == 1
        with pytest.raises(Timeout):                       # held: another attempt times out
            FileLock(str(lock_files[0]), timeout=0.2).acquire()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        t = time.perf_counter()
        with store.lock("emb:key"):
            pass
        assert time.perf_counter() - t < 5
    finally:
        proc.kill()
