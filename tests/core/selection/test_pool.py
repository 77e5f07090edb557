import numpy as np
import pytest

from core.errors import CorpusError
from core.probe import load_probe
from core.selection.pool import PoolConfig, PoolError, build_pool, load_pool, subset
from tests.conftest import register_texts


@pytest.fixture
def probe(tiny_model_dir):
    return load_probe(tiny_model_dir, device="cpu")


def _lean(k, n=240):
    return "\n\n".join(f"theorem f{k}_t{i} (a b : Nat) (h : a ≤ b) : a + {i} ≤ b + {i} := by\n  exact Nat.add_le_add_right h {i}"
                       for i in range(n))


def test_two_long_files_give_many_windows_with_provenance(tmp_path, probe, isolated_cache):
    for k in range(2):
        (tmp_path / f"f{k}.lean").write_text(_lean(k))
    from core.corpora import CorpusSpec, register_corpus

    register_corpus(CorpusSpec(name="lean2", kind="files", path=str(tmp_path / "*.lean"), domain="formal maths"))
    pool = build_pool(PoolConfig(corpora=("lean2",), max_windows=200, seq_len=128), probe.tokenizer)
    assert len(pool) > 150                                  # ~55k tokens -> many 128-token windows
    assert {w.doc_id for w in pool.windows} == {"f0.lean", "f1.lean"}
    assert len({(w.doc_id, w.offset) for w in pool.windows}) == len(pool)
    ids = {d: probe.tokenizer(_lean(int(d[1])), add_special_tokens=False)["input_ids"] for d in ("f0.lean", "f1.lean")}
    for i in range(0, len(pool), 17):                       # the offset points at the window's tokens
        w = pool.windows[i]
        assert list(pool.input_ids[i, :w.tokens]) == ids[w.doc_id][w.offset:w.offset + w.tokens]


def test_pool_is_seeded_capped_and_balanced(pool_config, probe):
    a = build_pool(pool_config, probe.tokenizer)
    b = build_pool(pool_config, probe.tokenizer)
    assert len(a) <= 60 and a.fingerprint == b.fingerprint
    assert np.array_equal(a.input_ids, b.input_ids)
    c = build_pool(PoolConfig(**{**pool_config.__dict__, "seed": 5}), probe.tokenizer)
    assert not np.array_equal(a.input_ids[:10], c.input_ids[:10])
    assert set(a.composition()) == {"prose", "needles"}
    assert (a.tokens >= 8).all() and (a.tokens <= 32).all()


def test_load_pool_caches_it(pool_config, probe):
    a = load_pool(pool_config, probe)
    b = load_pool(pool_config, probe)
    assert a.fingerprint == b.fingerprint and a.windows == b.windows
    s = subset(a, [3, 1])
    assert s.windows == [a.windows[3], a.windows[1]] and s.fingerprint != a.fingerprint


def test_bad_pools_are_clear_errors(sel_corpora, probe, tmp_path, maths_texts):
    with pytest.raises(PoolError, match="empty") as exc:
        build_pool(PoolConfig(corpora=(), target="bench"), probe.tokenizer)
    assert "--pool" in exc.value.render("cli", {})
    with pytest.raises(PoolError, match="contains the target 'bench'"):
        build_pool(PoolConfig(corpora=("prose", "bench"), target="bench"), probe.tokenizer)
    with pytest.raises(CorpusError, match="nope"):
        build_pool(PoolConfig(corpora=("nope",), target="bench"), probe.tokenizer)
    with pytest.raises(PoolError, match="max_windows=0") as exc:
        build_pool(PoolConfig(corpora=("prose",), max_windows=0), probe.tokenizer)
    assert exc.value.render("cli", {}).startswith("--max-windows 0")


def test_corpora_derived_from_the_target_are_left_out_by_default(sel_corpora, probe, tmp_path, maths_texts):
    from core.corpora import CorpusSpec, register_corpus

    register_texts(tmp_path, "bench-dev-src", maths_texts[150:160], "formal maths")
    register_corpus(CorpusSpec(name="bench-dev", kind="files", path=str(tmp_path / "bench-dev-src.jsonl"), field="text",
                               domain="formal maths", derived_from="bench"))
    pool = build_pool(PoolConfig(corpora=("prose", "bench-dev"), target="bench", max_windows=40, seq_len=32), probe.tokenizer)
    assert "bench-dev" in pool.excluded and "bench-dev" not in pool.composition()
    kept = build_pool(PoolConfig(corpora=("prose", "bench-dev"), target="bench", max_windows=40, seq_len=32,
                                 include_derived=True), probe.tokenizer)
    assert "bench-dev" in kept.composition()
    with pytest.raises(PoolError, match="derived from the target.*include_derived=True"):
        build_pool(PoolConfig(corpora=("bench-dev",), target="bench"), probe.tokenizer)
