"""Issue 12, failures 4 and 7: cache housekeeping (clear asks first and removes orphans, verify checks every
entry, nothing outside the caches is touched) and cache folders / the results database that report their
own errors (exit 2 naming the path and the fix, no traceback)."""
import io
import json

import numpy as np
import pytest

from core.cli import main
from core.store import EmbeddingStore


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def filled(isolated_cache):
    """An embedding store with a small and a large (file-backed) entry, plus user files the cache
    commands must never touch: the corpus registry, a mixture and the results database."""
    s = EmbeddingStore()
    s.put("emb:small", {"embedding": np.ones(4, dtype=np.float32)})
    s.put("emb:big", {"embedding": np.ones(50_000, dtype=np.float32)})
    s.close()
    keep = {isolated_cache / "corpora" / "registry.json": b'{"mine": {}}',
            isolated_cache / "mixtures" / "mix.json": b'{"name": "mix"}',
            isolated_cache / "results" / "finetune.sqlite": b"results bytes"}
    for path, data in keep.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return keep


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_clear_without_a_terminal_needs_yes(capsys, filled):
    code, out, err = run(capsys, "cache", "clear")
    assert code == 2 and "--yes" in err and "Traceback" not in err
    assert EmbeddingStore().stats()["entries"] == 2


def test_clear_asks_and_no_keeps_everything(capsys, filled, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Tty("n\n"))
    code, out, err = run(capsys, "cache", "clear")
    assert code == 1 and "Delete 2 entries" in err and "cancelled" in out
    assert EmbeddingStore().stats()["entries"] == 2


def test_clear_yes_removes_entries_and_orphans_and_nothing_else(capsys, filled, isolated_cache, monkeypatch):
    (isolated_cache / "embeddings" / "cache.db").unlink()          # orphan the big value file
    code, out, _ = run(capsys, "cache", "--json")
    assert code == 0 and json.loads(out)["orphans"] == 1 and json.loads(out)["entries"] == 0
    EmbeddingStore().put("emb:new", {"embedding": np.ones(4, dtype=np.float32)})
    monkeypatch.setattr("sys.stdin", _Tty("y\n"))
    code, out, err = run(capsys, "cache", "clear", "--json")
    res = json.loads(out)
    assert code == 0 and res["cleared"] == 1 and res["orphans_removed"] == 1
    assert "Delete 1 entries and 1 orphaned files" in err
    assert not list((isolated_cache / "embeddings").rglob("*.val"))
    for path, data in filled.items():
        assert path.read_bytes() == data                           # corpora, mixtures, results untouched
    code, out, _ = run(capsys, "cache", "clear", "--yes", "--store", "all", "--json")
    assert code == 0 and json.loads(out)["cleared"] == 0


def test_verify_reports_and_removes_bad_entries(capsys, filled):
    s = EmbeddingStore()
    s.put("emb:nan", {"embedding": np.array([np.nan, 1.0], dtype=np.float32)})
    s.cache._sql("UPDATE Cache SET value = substr(value, 1, 30) WHERE key = 'emb:small'")
    code, out, _ = run(capsys, "cache", "verify", "--keep", "--json")
    res = json.loads(out)
    assert code == 0 and res["checked"] == 3 and res["bad"] == 2
    assert {p["key"] for p in res["stores"][0]["problems"]} == {"emb:nan", "emb:small"}
    code, out, _ = run(capsys, "cache", "verify")
    assert code == 0 and "2 bad (removed" in out and "NaN" in out
    assert set(EmbeddingStore().cache) == {"emb:big"}


@pytest.mark.parametrize("folder,argv", [("embeddings", ["cache", "stats"]), ("results", ["results"])])
def test_a_file_where_a_cache_folder_should_be_exits_2(capsys, isolated_cache, folder, argv):
    (isolated_cache / folder).write_text("oops")
    code, _, err = run(capsys, *argv)
    assert code == 2 and f"{isolated_cache / folder} is a file" in err and "Traceback" not in err
    assert f"mv {isolated_cache / folder} {isolated_cache / folder}.bak" in err      # the fix


def test_a_garbage_results_database_is_named_with_the_fix(capsys, isolated_cache):
    db = isolated_cache / "results" / "finetune.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database " * 300)
    code, _, err = run(capsys, "results")
    assert code == 2 and f"{db} cannot be opened" in err and f"mv {db} {db}.broken" in err
    assert "Traceback" not in err
    assert db.read_bytes().startswith(b"this is not a database")      # left for the user to inspect


def _sidebar_script():
    from ui.sidebar import settings_sidebar

    settings_sidebar()


def test_sidebar_clear_asks_for_confirmation(isolated_cache):
    from streamlit.testing.v1 import AppTest

    s = EmbeddingStore()
    s.put("emb:a", {"embedding": np.ones(4, dtype=np.float32)})
    s.close()
    at = AppTest.from_function(_sidebar_script, default_timeout=60).run()
    assert not at.exception and not [b for b in at.button if b.key == "sb_clear"]   # closed: not even read
    at.session_state["sb_cache"] = True                              # the user opens the "Cache" expander
    at.run()
    at.button(key="sb_clear").click().run()
    assert EmbeddingStore().stats()["entries"] == 1                  # the first click only asks
    assert any("Delete all 1 cached entries" in w.value for w in at.warning)
    at.button(key="sb_clear_no").click().run()                       # cancel: back to the button
    assert EmbeddingStore().stats()["entries"] == 1 and not at.warning
    at.button(key="sb_clear").click().run()
    at.button(key="sb_clear_yes").click().run()
    assert not at.exception and EmbeddingStore().stats()["entries"] == 0
    assert [b for b in at.button if b.key == "sb_clear"] and not at.warning   # back to the single button
