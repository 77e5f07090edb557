"""Mixture validation, save/load/list, materialisation and JSONL export."""
import json

import pytest

from core.errors import AlignScopeError
from core.mixture import (Mixture, export_jsonl, list_mixtures, load_mixture, materialize, materialize_with_report,
                          read_jsonl, save_mixture)


def test_weights_are_normalised_and_zeros_dropped(corpora):
    m = Mixture("m1", {"mx-maths": 3, "mx-prose": 1, "mx-code": 0}, 1000, target="tgt")
    assert m.weights == {"mx-maths": 0.75, "mx-prose": 0.25}
    assert m.token_budgets() == {"mx-maths": 750, "mx-prose": 250}


@pytest.mark.parametrize("weights, match", [
    ({"mx-maths": 0, "mx-prose": 0.0}, "All weights of mixture 'bad' are zero"),
    ({"mx-maths": -0.5, "mx-prose": 1}, "'mx-maths'.*non-negative"),
    ({"mx-maths": float("nan")}, "finite"),
    ({"no-such-corpus": 1}, "Unknown source corpus 'no-such-corpus'"),
    ({}, "no source weights"),
])
def test_bad_weights_are_clear_errors(corpora, weights, match):
    with pytest.raises(AlignScopeError, match=match):
        Mixture("bad", weights, 1000)


def test_other_bad_fields(corpora):
    with pytest.raises(AlignScopeError, match="Unknown target"):
        Mixture("m", {"mx-maths": 1}, 10, target="nope")
    with pytest.raises(AlignScopeError, match="budget"):
        Mixture("m", {"mx-maths": 1}, 0)
    with pytest.raises(AlignScopeError, match="Invalid mixture name"):
        Mixture("../evil", {"mx-maths": 1}, 10)


def test_save_load_list_round_trip(corpora):
    m = Mixture("round", {"mx-maths": 0.6, "mx-prose": 0.4}, 5000, seed=7, target="tgt")
    path = save_mixture(m)
    assert path.name == "round.json" and json.loads(path.read_text())["budget_tokens"] == 5000
    assert not list(path.parent.glob(".*tmp"))
    assert load_mixture("round") == m
    assert list_mixtures() == ["round"]
    with pytest.raises(AlignScopeError, match=r"No saved mixture named 'other'. Saved mixtures: round"):
        load_mixture("other")


def _count(rows, tok):
    return sum(len(tok(r["text"], add_special_tokens=False)["input_ids"]) for r in rows)


def test_materialize_hits_the_budget_per_source_and_is_deterministic(corpora, tokenizer):
    m = Mixture("mat", {"mx-maths": 0.7, "mx-prose": 0.3}, 3000, seed=1)
    rows = materialize(m, tokenizer=tokenizer)
    assert set(rows[0]) == {"source", "doc_id", "text"}
    per = {s: _count([r for r in rows if r["source"] == s], tokenizer) for s in m.weights}
    assert abs(per["mx-maths"] - 2100) <= 10 and abs(per["mx-prose"] - 900) <= 10
    assert rows == materialize(m, tokenizer=tokenizer)
    other = materialize(Mixture("mat", m.weights, 3000, seed=2), tokenizer=tokenizer)
    assert [r["doc_id"] for r in other] != [r["doc_id"] for r in rows]
    docs = {d for d in (r["doc_id"] for r in rows)}
    assert len(docs) == len(rows)                    # no document used twice


def test_short_source_is_an_error_or_a_warning(corpora, tokenizer):
    m = Mixture("short", {"mx-maths": 0.5, "mx-tiny": 0.5}, 2000)
    with pytest.raises(AlignScopeError, match=r"Source 'mx-tiny' has \d+ tokens, fewer than its share .* 1,000 tokens"):
        materialize(m, tokenizer=tokenizer)
    rep = materialize_with_report(m, tokenizer=tokenizer, on_short="use_all")
    assert rep.tokens["mx-tiny"] < 20 and rep.tokens["mx-maths"] == 1000
    assert len(rep.warnings) == 1 and "mx-tiny" in rep.warnings[0]


def test_export_round_trips(corpora, tokenizer, tmp_path):
    m = Mixture("exp", {"mx-maths": 0.5, "mx-code": 0.5}, 1500, seed=3)
    path = export_jsonl(m, tmp_path / "out" / "exp.jsonl", tokenizer=tokenizer)
    back = read_jsonl(path)
    assert back == materialize(m, tokenizer=tokenizer)
    assert {r["source"] for r in back} == {"mx-maths", "mx-code"}
    from core.corpora import get_corpus

    texts = {d.doc_id: d.text for d in get_corpus("mx-code").documents()}
    for r in back:                                   # provenance: each row is (a prefix of) its document
        if r["source"] == "mx-code":
            assert texts[r["doc_id"]].startswith(r["text"].rstrip()[:20])


def test_parse_weights_refuses_a_source_named_twice():
    from core.mixture import parse_weights

    assert parse_weights("a=0.5, b:0.25,c") == {"a": 0.5, "b": 0.25, "c": 1.0}
    for text in ("news=1,news=2", "news=1, news:2", "news,news=3"):
        with pytest.raises(AlignScopeError, match="'news' is given twice"):
            parse_weights(text)
    with pytest.raises(AlignScopeError, match="NAME=NUMBER"):
        parse_weights("a=x")
