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


def _hold_lock(directory, *, seconds: float, what: str = ""):
    """A child process that holds ``EmbeddingStore(directory).lock('emb:key', what=what)`` for
    ``seconds``; returned once it holds the lock (it printed ``locked``)."""
    import os
    import subprocess
    import sys

    code = ("import time; from core.store import EmbeddingStore\n"
            f"s = EmbeddingStore({str(directory)!r})\n"
            f"with s.lock('emb:key', what={what!r}):\n    print('locked', flush=True); time.sleep({seconds})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    if proc.stdout.readline().strip() != "locked":
        proc.kill()
        raise AssertionError("the child process did not take the lock")
    return proc


def test_a_killed_holder_does_not_leave_the_key_locked(tmp_path):
    """issue 12, failure 1: a lock held by a process killed with SIGKILL is free at once (flock), not
    after a 15-minute expiry."""
    import os
    import signal
    import time

    from filelock import FileLock, Timeout

    store = EmbeddingStore(tmp_path / "emb")
    proc = _hold_lock(tmp_path / "emb", seconds=600)
    try:
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


# -- issue 12, failure 2: a store that can never unpickle --------------------------------------------------
class _Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``): the code-execution probe."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tamper_to_pickle(directory, key, marker, *, as_file=False):
    """Rewrite ``key``'s row as a diskcache pickle-mode row (mode 4) whose payload creates ``marker``."""
    import pickle

    payload = pickle.dumps(_Payload(marker))
    con = sqlite3.connect(directory / "cache.db")
    if as_file:
        (directory / "ev").mkdir(exist_ok=True)
        (directory / "ev" / "il.val").write_bytes(payload)
        con.execute("UPDATE Cache SET mode = 4, value = NULL, filename = 'ev/il.val' WHERE key = ?", (key,))
    else:
        con.execute("UPDATE Cache SET mode = 4, value = ?, filename = NULL WHERE key = ?", (payload, key))
    con.commit()
    con.close()


@pytest.mark.parametrize("as_file", [False, True], ids=["row", "value-file"])
def test_a_pickle_mode_row_is_refused_unread_and_named(tmp_path, as_file, caplog):
    marker = tmp_path / "PWNED"
    s = EmbeddingStore(tmp_path / "c")
    s.put("emb:k", {"embedding": np.ones(4, dtype=np.float32)})
    _tamper_to_pickle(tmp_path / "c", "emb:k", marker, as_file=as_file)
    assert pickle_would_run(tmp_path / "c", "emb:k", marker)     # the probe works: diskcache's own Disk runs it
    marker.unlink()
    with caplog.at_level("WARNING", logger="alignscope.store"):
        assert s.get("emb:k") is None                            # refused, reported missing -> recomputed
    assert not marker.exists()
    named = str(tmp_path / "c" / ("ev/il.val" if as_file else "cache.db"))
    assert any(named in r.getMessage() and "pickle" in r.getMessage() for r in caplog.records)
    assert s.refused and s.refused[0]["file"] == named
    assert "emb:k" not in s.cache                               # the row is gone
    s.put("emb:k", {"embedding": np.ones(4, dtype=np.float32)})
    assert s.get("emb:k") is not None and not marker.exists()


def pickle_would_run(directory, key, marker) -> bool:
    """Read the row with diskcache's stock Disk (what the store used before): does the payload run?"""
    import diskcache

    plain = diskcache.Cache(str(directory))
    try:
        plain.get(key)
    finally:
        plain.close()
    return marker.exists()


def test_safe_disk_refuses_to_pickle_on_write_and_pickled_keys(tmp_path):
    from core.store import CacheTamperError

    s = EmbeddingStore(tmp_path / "c")
    for value in ({"a": 1}, [1, 2], 3, "text", np.ones(3)):
        with pytest.raises(TypeError):
            s.cache.set("k", value)
    with pytest.raises(TypeError):
        s.cache.set(("tuple", "key"), b"x")
    assert len(s.cache) == 0
    # a row whose key is pickled (raw = 0) is refused when iterated, and verify reports it
    con = sqlite3.connect(tmp_path / "c" / "cache.db")
    import pickle
    con.execute("INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, tag, size, mode,"
                " filename, value) VALUES (?, 0, 0, NULL, 0, 0, NULL, 0, 1, NULL, ?)",
                (pickle.dumps(_Payload(tmp_path / "PWNED")), b"x"))
    con.commit(); con.close()
    with pytest.raises(CacheTamperError):
        list(s.cache)
    rep = s.verify()
    assert rep.checked == 1 and len(rep.bad) == 1 and "pickled key" in rep.bad[0]["reason"]
    assert not (tmp_path / "PWNED").exists() and len(s.cache) == 0


def test_decode_refuses_object_dtypes():
    import hashlib
    import json
    import struct

    raw = b"\0" * 8
    header = json.dumps({"meta": {}, "arrays": [{"name": "a", "dtype": "|O", "shape": [1], "nbytes": 8,
                                                 "sha256": hashlib.sha256(raw).hexdigest()}]}).encode()
    with pytest.raises(ValueError, match="object dtype"):
        decode_arrays(b"A2V1" + struct.pack("<I", len(header)) + header + raw)


def test_verify_checks_shape_dtype_and_finiteness(tmp_path):
    s = EmbeddingStore(tmp_path / "c")
    s.put("emb:good", {"embedding": np.ones(4, dtype=np.float32)})
    s.put("emb:nan", {"embedding": np.array([1, np.nan], dtype=np.float32)})
    s.put("emb:dtype", {"embedding": np.ones(4, dtype=np.float64)})
    s.put("emb:shape", {"embedding": np.ones((2, 2), dtype=np.float32)})
    s.put("batches:bad", {"input_ids": np.ones((2, 4, 8), dtype=np.int64),
                          "attention_mask": np.ones((2, 4, 7), dtype=np.int64)}, {"indices": [0, 1]})
    s.put("batches:good", {"input_ids": np.ones((2, 4, 8), dtype=np.int64),
                           "attention_mask": np.ones((2, 4, 8), dtype=np.int64)}, {"indices": [0, 1]})
    s.put("dist:x", {"d": np.array([[0.0, np.inf]])})
    s.put("big", {"embedding": np.ones(50_000, dtype=np.float32)})          # a .val file
    val = next((tmp_path / "c").rglob("*.val"))
    val.write_bytes(val.read_bytes()[:1000])                                 # truncated
    kept = s.verify(remove=False)
    assert kept.checked == 8 and len(s.cache) == 8
    assert {b["key"] for b in kept.bad} == {"emb:nan", "emb:dtype", "emb:shape", "batches:bad", "dist:x", "big"}
    assert next(b for b in kept.bad if b["key"] == "big")["file"] == str(val)
    rep = s.verify()
    assert len(rep.bad) == 6 and set(s.cache) == {"emb:good", "batches:good"}
    assert not val.exists() and s.verify().bad == []


def test_clear_removes_orphaned_value_files(tmp_path):
    s = EmbeddingStore(tmp_path / "c")
    s.put("big", {"embedding": np.ones(50_000, dtype=np.float32)})
    s.put("small", {"embedding": np.ones(4, dtype=np.float32)})
    s.close()
    (tmp_path / "c" / "cache.db").unlink()                     # the index is lost; the value file stays
    s = EmbeddingStore(tmp_path / "c")
    assert s.stats(orphans=True)["orphans"] == 1 and s.stats()["entries"] == 0
    s.put("again", {"embedding": np.ones(50_000, dtype=np.float32)})   # a live file is not an orphan
    assert len(s.orphans()) == 1
    assert s.clear() == 1
    assert not list((tmp_path / "c").rglob("*.val")) and s.stats(orphans=True)["orphans"] == 0


def test_a_file_where_the_cache_folder_should_be_is_named(tmp_path, monkeypatch):
    from core.errors import AlignScopeError
    from core.paths import cache_dir

    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(tmp_path / "root"))
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "embeddings").write_text("not a folder")
    with pytest.raises(AlignScopeError, match=r"embeddings is a file.*mv .*embeddings .*embeddings\.bak"):
        EmbeddingStore()
    with pytest.raises(AlignScopeError, match="is a file"):
        cache_dir("embeddings", "locks")
    with pytest.raises(AlignScopeError, match="is a file"):
        EmbeddingStore(tmp_path / "root" / "embeddings")


def test_a_garbage_cache_index_is_named_with_the_fix(tmp_path):
    from core.errors import AlignScopeError

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cache.db").write_bytes(b"garbage " * 512)
    with pytest.raises(AlignScopeError, match=r"cache\.db cannot be opened.*mv "):
        EmbeddingStore(tmp_path / "c")


def test_a_waiting_caller_is_told_what_it_waits_for_and_who_holds_it(tmp_path):
    proc = _hold_lock(tmp_path / "emb", seconds=3, what="batch 3 of 'sympy'")
    try:
        messages = []
        store = EmbeddingStore(tmp_path / "emb")
        with store.lock("emb:key", what="batch 3 of 'sympy'", on_wait=messages.append):
            pass
        assert len(messages) == 1
        assert "batch 3 of 'sympy'" in messages[0] and f"pid {proc.pid}" in messages[0], messages
        with store.lock("emb:key", on_wait=messages.append):      # free now: no message
            pass
        assert len(messages) == 1
    finally:
        proc.kill()
