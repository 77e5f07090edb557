"""core.views: URL query parameters <-> view state, table rows (pure functions)."""
from core.views import (DEFAULT_CANDIDATES, ViewState, corpus_rows, default_candidates, human_count, params_diff,
                        ranking_rows, settings_caption, share_link, split_names, view_from_params, view_to_params)

KNOWN = ["proofnet", "coq-stdlib", "metamath", "news", "wikipedia", "mine"]


def test_defaults_when_url_is_empty():
    v = view_from_params({}, known=KNOWN, available=["proofnet", "news", "metamath"])
    assert v.target == "proofnet"
    assert v.candidates == ("metamath", "news")            # DEFAULT_CANDIDATES order, installed only
    assert v.settings().batch.num_batches == 5 and v.order == "clustered" and v.job == ""


def test_round_trip_through_query_params():
    v = ViewState(target="news", candidates=("metamath", "mine"), model="/tmp/tiny", batch_size=4, seq_len=32,
                  num_batches=3, seed=7, device="cpu", order="alphabetical", job="embed-0123456789abcdef")
    params = view_to_params(v)
    assert params["candidates"] == "metamath,mine" and params["num_batches"] == "3"
    back = view_from_params(params, known=KNOWN, estimators=["closed_form_head"])
    assert back == v


def test_defaults_are_left_out_of_the_url_but_selection_is_not():
    params = view_to_params(ViewState(candidates=()))
    assert params == {"target": "proofnet", "candidates": ""}
    assert view_from_params(params, known=KNOWN).candidates == ()          # explicit empty stays empty


def test_bad_values_fall_back_to_defaults():
    v = view_from_params({"target": "nope", "candidates": "news,,ghost,proofnet,news", "batch_size": "abc",
                          "seq_len": "999999", "num_batches": "-3", "estimator": "evil", "device": "tpu",
                          "order": "random", "job": "../../etc"}, known=KNOWN, estimators=["closed_form_head"])
    assert v.target == "proofnet" and v.candidates == ("news",)
    assert v.batch_size == 16 and v.seq_len == 2048 and v.num_batches == 1
    assert v.estimator == "closed_form_head" and v.device == "auto" and v.order == "clustered" and v.job == ""


def test_list_values_and_splitting():
    assert split_names(["a,b", " c ", "a"]) == ["a", "b", "c"]
    assert split_names(None) == []
    v = view_from_params({"target": ["news"], "candidates": ["metamath,proofnet"]}, known=KNOWN)
    assert v.target == "news" and v.candidates == ("metamath", "proofnet")


def test_params_diff_touches_only_view_keys():
    current = {"target": "proofnet", "candidates": "news", "run": "ft-1", "job": "embed-0123456789abcdef"}
    to_set, to_delete = params_diff(current, {"target": "proofnet", "candidates": "news,metamath"})
    assert to_set == {"candidates": "news,metamath"} and to_delete == ["job"]


def test_share_link_and_settings():
    v = ViewState(candidates=("news",), num_batches=3)
    assert share_link("http://localhost:8501/", v, "Alignment") == \
        "http://localhost:8501/Alignment?target=proofnet&candidates=news&num_batches=3"
    s = v.settings()
    assert ViewState().with_settings(s).num_batches == 3
    assert "3 batches × 16 seqs × 128 tokens" in settings_caption(s)
    assert "closed_form_head(k=2)" in settings_caption({**s.to_dict(), "estimator_params": {"k": 2}})


def test_corpus_rows_and_ranking_rows():
    corpora = [{"name": "proofnet", "kind": "demo", "domain": "target benchmark", "documents": 186,
                "available": True, "install_hint": None, "source": "s", "license": "MIT"},
               {"name": "gcide", "kind": "demo", "domain": "general prose", "documents": None,
                "available": False, "install_hint": "python -m core corpora install gcide", "source": "", "license": "GPL"}]
    rows = corpus_rows(corpora, tokens={"proofnet": 1234}, target="proofnet", candidates=["gcide"])
    assert rows[0]["role"] == "target" and rows[0]["tokens"] == 1234 and rows[0]["install"] == ""
    assert rows[1]["role"] == "candidate" and not rows[1]["installed"] and "install gcide" in rows[1]["install"]
    rr = ranking_rows([{"rank": 1, "source": "news", "alignment": 0.9, "ci_low": 0.8, "ci_high": 0.95,
                        "diversity": 0.2, "num_batches": [5, 5]}], tokens={"news": 10}, domains={"news": "general prose"})
    assert rr[0]["batches"] == "5x5" and rr[0]["domain"] == "general prose" and rr[0]["tokens"] == 10


def test_helpers():
    assert human_count(1234567) == "1.23 M" and human_count(None) == "" and human_count(12) == "12"
    assert default_candidates(None) == list(DEFAULT_CANDIDATES)


def test_precision_round_trips_through_the_url_and_reaches_the_settings():
    from core.views import ViewState, view_from_params, view_to_params

    v = view_from_params({"precision": "bf16"})
    assert v.precision == "bf16" and v.settings().precision == "bf16"
    assert view_to_params(v)["precision"] == "bf16" and "precision" not in view_to_params(ViewState())
    assert view_from_params({"precision": "fp8"}).precision == "auto"        # bad values fall back
    assert ViewState().with_settings(v.settings()).precision == "bf16"
