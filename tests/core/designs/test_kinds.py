"""The four data kinds: the derangement, the halves, token counts, registration and the guards."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.corpora.spec import Document
from core.designs.kinds import KINDS, KindsConfig, derangement, derive_kinds, kind_documents, split_documents
from core.designs.pairs import LabelSplit, PairTemplate, splitter_for
from core.errors import AlignScopeError, CorpusError


@pytest.mark.parametrize("n", [2, 3, 5, 17, 185])
def test_derangement_has_no_fixed_point(n):
    for seed in range(20):
        p = derangement(n, seed)
        assert sorted(p.tolist()) == list(range(n)) and not (p == np.arange(n)).any()
    assert derangement(n, 3).tolist() == derangement(n, 3).tolist()          # seeded
    assert derangement(2, 0).tolist() == [1, 0]


def test_derangement_avoids_identical_texts_and_refuses_one_pair():
    same = ["a", "a", "b", "c", "d", "e"]
    for seed in range(20):
        p = derangement(6, seed, same=same)
        assert all(same[p[i]] != same[i] for i in range(6))
    with pytest.raises(AlignScopeError, match="at least 2 pairs"):
        derangement(1, 0)
    with pytest.raises(AlignScopeError, match="duplicates"):
        derangement(3, 0, same=["x", "x", "x"])


def _derive(source, model, **kw):
    return derive_kinds(KindsConfig(source=source, target=kw.pop("target", "bench"), model=model, **kw))


def test_unpaired_keeps_tokens_and_only_the_pairing_changes(corpora, tiny_model_dir, maths_texts):
    from core.corpora import get_corpus

    d = _derive("maths", tiny_model_dir)
    assert set(d.corpora) == set(KINDS) and d.pairs == 60 and d.splitter["name"] == "format:proofnet-lean3"
    assert abs(d.tokens["unpaired"] - d.tokens["paired"]) <= 0.01 * d.tokens["paired"]
    paired = [x.text for x in get_corpus(d.corpora["paired"]).documents()]
    unpaired = [x.text for x in get_corpus(d.corpora["unpaired"]).documents()]
    assert paired == maths_texts[40:100]                                   # re-rendered byte for byte
    fmt = PairTemplate(name="t", head="informal statement ", mid=" formal statement ", end="")
    halves_p = [fmt.split(Document(str(i), t)) for i, t in enumerate(paired)]
    halves_u = [fmt.split(Document(str(i), t)) for i, t in enumerate(unpaired)]
    assert [h[0] for h in halves_u] == [h[0] for h in halves_p]            # the same informal halves, in order
    assert sorted(h[1] for h in halves_u) == sorted(h[1] for h in halves_p)  # the same formal halves
    assert all(u[1] != p[1] for u, p in zip(halves_u, halves_p))            # nobody meets their own formal statement
    assert sorted(d.permutation) == list(range(60))


def test_formal_and_informal_only_hold_only_their_halves(corpora, tiny_model_dir, maths_texts):
    from core.corpora import get_corpus

    d = _derive("maths", tiny_model_dir)
    fmt = PairTemplate(name="t", head="informal statement ", mid=" formal statement ", end="")
    halves = [fmt.split(Document(str(i), t)) for i, t in enumerate(maths_texts[40:100])]
    formal = [x.text for x in get_corpus(d.corpora["formal-only"]).documents()]
    informal = [x.text for x in get_corpus(d.corpora["informal-only"]).documents()]
    assert formal == [h[1].strip() for h in halves] and informal == [h[0].strip() for h in halves]
    assert not any("informal statement" in t or "formal statement" in t for t in formal + informal)
    assert d.tokens["formal-only"] + d.tokens["informal-only"] < d.tokens["paired"]


def test_variants_are_registered_once_and_not_rewritten(corpora, tiny_model_dir):
    from core.corpora import get_corpus

    d = _derive("maths", tiny_model_dir)
    fps = {k: get_corpus(n).fingerprint() for k, n in d.corpora.items()}
    again = _derive("maths", tiny_model_dir)
    assert again.corpora == d.corpora and {k: get_corpus(n).fingerprint() for k, n in d.corpora.items()} == fps
    other = _derive("maths", tiny_model_dir, perm_seed=1)                  # another derivation, another name
    assert other.corpora["unpaired"] != d.corpora["unpaired"] and other.permutation != d.permutation


def test_variants_of_a_target_derived_corpus_are_target_derived(tiny_model_dir):
    from core.corpora import get_corpus
    from core.validation.lab import derived_from_target

    d = _derive("proofnet-valid", tiny_model_dir, target="proofnet")
    assert d.derived_from == "proofnet" and d.pairs == 185
    for name in d.corpora.values():
        assert get_corpus(name).spec.derived_from == "proofnet" and derived_from_target(name, "proofnet")


def test_the_test_split_and_non_pair_corpora_are_refused(corpora, tiny_model_dir):
    with pytest.raises(AlignScopeError, match="evaluation split"):
        _derive("proofnet", tiny_model_dir, target="proofnet")
    with pytest.raises(CorpusError, match="not a pair-format corpus"):
        _derive("prose", tiny_model_dir)
    with pytest.raises(AlignScopeError, match="max_pairs"):
        KindsConfig(source="maths", max_pairs=1)


def test_max_pairs_takes_the_same_sample_for_every_kind(corpora, tiny_model_dir):
    d = _derive("maths", tiny_model_dir, max_pairs=10)
    assert d.pairs == 10 and set(d.documents.values()) == {10}


def test_metamath_labels_and_user_templates_split(tmp_path, corpora, tiny_model_dir):
    from core.corpora import CorpusSpec, get_corpus, register_corpus

    docs = [Document("ax-1", "Axiom _Simp_. One of the 3 axioms. ax-1 $a |- ( ph -> ( ps -> ph ) )"),
            Document("idi", "Inference rule ~ idi used by ~ a1i . idi $p |- ph")]
    s = LabelSplit()
    assert [s.render(*s.split(d)) for d in docs] == [d.text for d in docs]
    assert s.split(docs[0]) == ("Axiom _Simp_. One of the 3 axioms.", "ax-1 $a |- ( ph -> ( ps -> ph ) )")
    h = split_documents(docs, s)
    v = kind_documents(h, s, np.array([1, 0]))
    assert v["unpaired"][0][1] == "Axiom _Simp_. One of the 3 axioms. idi $p |- ph"
    rows = [{"q": f"Show that {i} + 0 = {i} for the natural number {i}.", "lean": f"theorem t{i} : {i} + 0 = {i} :="}
            for i in range(6)]
    path = tmp_path / "user.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    register_corpus(CorpusSpec(name="user-pairs", kind="files", path=str(path), template="Q: {q} A: {lean}"))
    sp = splitter_for(get_corpus("user-pairs"), "bench")
    assert sp.name == "template:user-pairs" and sp.split(get_corpus("user-pairs").documents()[0])[1].startswith("theorem t0")
    swapped = splitter_for(get_corpus("user-pairs"), "bench", splitter="template", informal_field="lean")
    assert swapped.split(get_corpus("user-pairs").documents()[0])[0].startswith("theorem t0")
    d = derive_kinds(KindsConfig(source="user-pairs", target="bench", model=tiny_model_dir))
    assert [x.text for x in get_corpus(d.corpora["formal-only"]).documents()] == [r["lean"] for r in rows]
    with pytest.raises(CorpusError, match="Unknown pair splitter"):
        splitter_for(get_corpus("user-pairs"), "bench", splitter="nope")
