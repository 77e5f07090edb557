"""Issue 12, failure 2 end to end: a tampered embedding row (pickle mode) or a truncated value is refused,
named on stderr, never executed, and the embedding is recomputed to the same value."""
import json
import pickle
import sqlite3

import numpy as np

from core.cli import main


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _embed(capsys, model, corpus):
    code = main(["embed", "--corpus", corpus, "--model", model, "--batch-size", "4", "--seq-len", "32",
                 "--num-batches", "3", "--device", "cpu", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)["corpora"][corpus], out.err


def _embeddings(model):
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings, cached_embeddings

    look = cached_embeddings("t-maths", EmbedSettings(model=model, device="cpu",
                                                      batch=BatchConfig(batch_size=4, seq_len=32, num_batches=3)))
    assert look.complete
    return look.embeddings(), look.keys


def test_pickle_row_and_truncated_value_are_refused_and_recomputed(tmp_path, capsys, caplog, tiny_model_dir,
                                                                   maths_texts, isolated_cache):
    from tests.conftest import register_texts

    register_texts(tmp_path, "t-maths", maths_texts[:40], "formal maths")
    first, _ = _embed(capsys, tiny_model_dir, "t-maths")
    assert (first["computed"], first["cached"]) == (3, 0)
    before, keys = _embeddings(tiny_model_dir)
    db = isolated_cache / "embeddings" / "cache.db"

    marker = tmp_path / "PWNED"
    con = sqlite3.connect(db)
    con.execute("UPDATE Cache SET mode = 4, value = ?, filename = NULL WHERE key = ?",
                (pickle.dumps(_Payload(marker)), keys[1]))
    (val,) = con.execute("SELECT filename FROM Cache WHERE key = ?", (keys[2],)).fetchone()
    con.commit(); con.close()
    val = db.parent / val                                           # the embedding's value file
    val.write_bytes(val.read_bytes()[:-100])                        # truncated

    with caplog.at_level("WARNING", logger="alignscope.store"):
        again, _ = _embed(capsys, tiny_model_dir, "t-maths")
    assert not marker.exists()                                      # the payload never ran
    assert (again["computed"], again["cached"], again["computed_by_other"]) == (2, 1, 0)   # both recomputed
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert f"in {db}: " in log and "pickle mode" in log                                     # each names its file
    assert f"in {val}: " in log and "truncated" in log
    after, _ = _embeddings(tiny_model_dir)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-7)
    third, _ = _embed(capsys, tiny_model_dir, "t-maths")
    assert (third["computed"], third["cached"]) == (0, 3)
