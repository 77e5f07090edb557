import sys
import types
from dataclasses import dataclass

import pytest

from core.errors import AlignScopeError, CorpusError
from core.finetune.data import build_training_data, check_training_sources, heldout_split, pack_documents
from core.probe import load_probe


@pytest.fixture
def tok(tiny_model_dir):
    return load_probe(tiny_model_dir, device="cpu").tokenizer


def test_budget_is_packed_exactly_and_deterministically(corpora, tiny_config, tok):
    cfg = tiny_config(budget_tokens=300, seq_len=32)
    a = build_training_data(cfg, tok)
    assert a.tokens == 300 and sum(len(s) for s in a.sequences) == 300
    assert [len(s) for s in a.sequences] == [32] * 9 + [12]
    assert a.documents >= 300 // 32 and not a.notes            # one chunk per document first
    assert build_training_data(cfg, tok).sequences == a.sequences
    assert build_training_data(tiny_config(budget_tokens=300, seq_len=32, seed=1), tok).sequences != a.sequences


def test_a_small_source_trains_on_what_it_has_and_says_so(tok):
    docs = [("small", "alpha beta gamma delta"), ("small", "one two three")]
    data = pack_documents(docs, tok, budget=1000, seq_len=8, seed=0, name="small")
    assert data.tokens < 1000 and data.notes and "only" in data.notes[0] and "budget 1000" in data.notes[0]
    eos = tok.eos_token_id
    assert sum(data.sequences, []).count(eos) == 2               # every document ends with EOS
    with pytest.raises(CorpusError, match="no tokens"):
        pack_documents([("e", "")], tok, budget=10, seq_len=8, seed=0, name="e")


def test_long_documents_spread_over_rounds(tok):
    long_doc = " ".join(f"w{i}" for i in range(400))
    data = pack_documents([("a", long_doc), ("b", long_doc)], tok, budget=200, seq_len=16, seed=0, name="ab")
    assert data.tokens == 200 and sum(data.sources.values()) == 200
    assert set(data.sources) == {"a", "b"} and data.documents == 2    # both documents contribute, chunk by chunk
    assert abs(data.sources["a"] - data.sources["b"]) <= 16


def test_proofnet_test_split_is_never_a_training_source():
    held = heldout_split("proofnet")
    assert held.corpus == "proofnet" and set(held.forbidden) == {"proofnet", "proofnet-af"}
    for bad in ("proofnet", "proofnet-af"):
        with pytest.raises(AlignScopeError, match="evaluation split.*proofnet-valid"):
            check_training_sources([bad], "proofnet")
    assert check_training_sources(["proofnet-valid", "proofnet-informal"], "proofnet").corpus == "proofnet"


def test_target_without_heldout_split_is_refused(corpora):
    with pytest.raises(CorpusError, match="no held-out split"):
        heldout_split("prose")
    assert heldout_split("bench").forbidden == ("bench",)
    with pytest.raises(AlignScopeError, match="evaluation split"):
        check_training_sources(["bench"], "bench")


@dataclass
class FakeMixture:
    name: str
    weights: dict
    budget_tokens: int
    seed: int


def test_mixture_through_a_stand_in_core_mixture(monkeypatch, corpora, tiny_config, tok):
    calls = {}

    def load_mixture(name):
        return FakeMixture(name, {"maths": 0.5, "prose": 0.5}, 200, 0)

    def materialize(mix, *, tokenizer):
        calls["tokenizer"] = tokenizer
        return [{"source": "maths", "doc_id": "m1", "text": "theorem a : 1 + 1 = 2 := rfl " * 5},
                {"source": "prose", "doc_id": "p1", "text": "The market opened early. " * 8}]

    fake = types.ModuleType("core.mixture")
    fake.load_mixture, fake.materialize = load_mixture, materialize
    monkeypatch.setitem(sys.modules, "core.mixture", fake)
    cfg = tiny_config(source=None, mixture="half-half")
    data = build_training_data(cfg, tok)
    assert calls["tokenizer"] is tok and data.requested == 200 and set(data.sources) == {"maths", "prose"}
    assert cfg.label == "mixture:half-half"


def test_missing_mixture_package_gives_a_clear_error(monkeypatch, tiny_config, tok):
    monkeypatch.setitem(sys.modules, "core.mixture", None)       # import fails with ModuleNotFoundError
    with pytest.raises(AlignScopeError, match="core.mixture"):
        build_training_data(tiny_config(source=None, mixture="m"), tok)


def test_packing_is_pinned_for_a_fixed_corpus_and_seed():
    """The packed token ids of a fixed text and seed, with the embedded tokenizer, pinned like the cache
    keys (tests/core/test_fingerprint.py): a change of the packing procedure changes every run id
    (core.finetune.identity.data_identity), so it must be deliberate, and then this value is updated."""
    from core.probe import embedded_model_dir, load_probe

    tok = load_probe(str(embedded_model_dir(progress=False)), device="cpu").tokenizer
    docs = [("pinned", f"Lemma {i}: for every natural number n, n + {i} = {i} + n. " * (1 + i % 5), f"doc{i}")
            for i in range(12)]
    data = pack_documents(docs, tok, budget=400, seq_len=32, seed=3, name="pinned")
    assert (data.tokens, data.documents, len(data.sequences)) == (400, 12, 13)
    assert data.fingerprint() == PINNED_PACKING
    assert [d for _, d, _ in data.packed][:3] == ["doc0", "doc1", "doc2"]
    assert sum(n for _, _, n in data.packed) == data.tokens            # every token is some document's


PINNED_PACKING = "4c52c0bbeb8cfa226b71ac430c40a56528927ffa3239fabae86e862a8e7f2517"


def test_packed_documents_are_recorded_with_ids_and_token_counts(corpora, tiny_config, tok):
    data = build_training_data(tiny_config(budget_tokens=300, seq_len=32), tok)
    assert len(data.packed) == data.documents and sum(n for *_, n in data.packed) == data.tokens
    assert all(src == "maths" and not doc.startswith("#") for src, doc, _ in data.packed)
    ids = [doc for _, doc, _ in data.packed]
    assert len(set(ids)) == len(ids)
