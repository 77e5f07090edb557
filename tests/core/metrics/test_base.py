"""The metric interface: registry, listing, caching, score_all, bad input and missing packages."""
from __future__ import annotations

import sys

import pytest

from core.errors import AlignScopeError, CorpusError
from core.metrics import (COSTS, METRICS, MetricError, MetricValue, get_metric, list_metrics, metrics_table,
                          score_all)
from core.registry import RegistryError

EXPECTED = {"t2v-head", "t2v-head-cos", "t2v-blocks", "t2v-reference", "gzip", "sbert", "unigram-cos",
            "unigram-js", "dsir", "familiarity"}


def test_registry_lists_every_metric_with_description_and_cost():
    rows = list_metrics()
    assert {r["name"] for r in rows} == EXPECTED and set(METRICS.names()) == EXPECTED
    for r in rows:
        assert r["cost"] in COSTS, r
        assert len(r["description"]) > 40 and "\n" not in r["description"]
        assert isinstance(r["requires"], list)
    assert rows[0]["name"] == "t2v-head"          # the product default leads
    assert "sentence-transformers==6.2.0" in next(r for r in rows if r["name"] == "sbert")["requires"]


def test_listing_imports_no_model_library():
    import subprocess

    code = ("import sys; from core.metrics import list_metrics, metrics_table; list_metrics(); metrics_table(); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_metrics_table_rows():
    rows = {r["name"]: r for r in metrics_table()}
    assert set(rows) == EXPECTED
    assert rows["gzip"]["installed"] is True and rows["gzip"]["install"] == ""
    assert rows["gzip"]["parameters"]["chunk_chars"] == 2048
    assert "gzip-align" in rows["gzip"]["aliases"]
    assert rows["t2v-reference"]["parameters"]["num_batches"] == 3


def test_metrics_table_names_the_install_command_of_a_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "data_selection", None)
    row = next(r for r in metrics_table() if r["name"] == "dsir")
    assert row["installed"] is False
    assert row["install"] == ".venv/bin/python -m pip install --no-deps data-selection==1.0.3"


def test_unknown_name_and_bad_parameters_are_clear_errors():
    with pytest.raises(RegistryError, match="Unknown alignment metric 'zip'.*gzip"):
        get_metric("zip")
    with pytest.raises(MetricError, match="has no parameter.*'chunk'.*chunk_chars"):
        get_metric("gzip", chunk=3)
    with pytest.raises(MetricError, match="Bad parameters? for metric 'gzip'.*level"):
        get_metric("gzip", level=12)
    assert get_metric("gzip-align").name == "gzip"


def test_unknown_corpus_fails_before_work(corpus_a):
    with pytest.raises(CorpusError, match="no-such-corpus"):
        get_metric("gzip").score("no-such-corpus", corpus_a)
    with pytest.raises(CorpusError, match="is not a corpus"):
        get_metric("gzip").score(corpus_a, 42)


def test_missing_package_is_a_clear_error_and_others_still_run(monkeypatch, corpus_a, corpus_b, tiny_model_dir):
    monkeypatch.setitem(sys.modules, "data_selection", None)     # what Python's import sees for a missing package
    with pytest.raises(MetricError, match=r"needs the Python package\(s\) data-selection==1.0.3.*"
                                          r"pip install --no-deps data-selection==1.0.3"):
        get_metric("dsir").score(corpus_a, corpus_b)
    out = score_all(["gzip", "dsir", "unigram-js"], corpus_a, corpus_b,
                    params={"gzip": {"chunks": 8}, "unigram-js": {"model": tiny_model_dir}})
    assert list(out) == ["gzip", "dsir", "unigram-js"]
    assert isinstance(out["dsir"], AlignScopeError) and "pip install" in str(out["dsir"])
    assert isinstance(out["gzip"], MetricValue) and isinstance(out["unigram-js"], MetricValue)


def test_score_all_wraps_library_failures_and_validates_names(monkeypatch, corpus_a, corpus_b, tiny_model_dir):
    from core.metrics import gzip as gzip_metric

    def boom(*a, **k):
        raise RuntimeError("library exploded")

    monkeypatch.setattr(gzip_metric, "compressed_size", boom)
    out = score_all(["gzip", "unigram-cos"], corpus_a, corpus_b, params={"unigram-cos": {"model": tiny_model_dir}})
    assert isinstance(out["gzip"], MetricError) and "library exploded" in str(out["gzip"])
    assert isinstance(out["unigram-cos"], MetricValue)
    with pytest.raises(RegistryError):
        score_all(["gzip", "nope"], corpus_a, corpus_b)
    with pytest.raises(MetricError, match="not being scored"):
        score_all(["gzip"], corpus_a, corpus_b, params={"dsir": {"ngrams": 1}})


def test_caching_returns_the_same_value(corpus_a, corpus_b):
    first = get_metric("gzip", chunks=8).score(corpus_a, corpus_b)
    again = get_metric("gzip", chunks=8).score(corpus_a, corpus_b)
    assert not first.cached and again.cached
    assert (again.value, again.ci_low, again.ci_high, again.n) == (first.value, first.ci_low, first.ci_high, first.n)
    assert again.seconds == first.seconds and first.seconds > 0     # cost of the original computation
    assert again.details["lookup_seconds"] < 5
    other = get_metric("gzip", chunks=6).score(corpus_a, corpus_b)        # another parameter: another key
    assert not other.cached and other.n == 6


def test_cache_key_follows_corpus_content(letters_texts, corpus_b):
    from tests.conftest import MemoryCorpus

    a = get_metric("gzip", chunks=4).score(MemoryCorpus("x", letters_texts), corpus_b)
    renamed = get_metric("gzip", chunks=4).score(MemoryCorpus("y", letters_texts), corpus_b)
    assert renamed.cached and renamed.value == a.value                    # same content, same answer
    changed = get_metric("gzip", chunks=4).score(MemoryCorpus("x", letters_texts[1:]), corpus_b)
    assert not changed.cached


def test_progress_and_stop(corpus_a, corpus_b, tiny_model_dir):
    calls = []
    get_metric("gzip", chunks=4).score(corpus_a, corpus_b, progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls and calls[-1][0] == calls[-1][1] == 4
    with pytest.raises(InterruptedError):
        get_metric("gzip", chunks=5).score(corpus_a, corpus_b, should_stop=lambda: True)
    prefixed = []
    score_all(["unigram-cos"], corpus_a, corpus_b, params={"unigram-cos": {"model": tiny_model_dir}},
              progress=lambda d, t, m: prefixed.append(m))
    assert prefixed and all(m.startswith("unigram-cos: ") for m in prefixed)


def test_metric_value_to_dict_is_json_ready():
    import json

    v = MetricValue(value=0.5, ci_low=float("nan"), ci_high=0.7, seconds=1.0, n=3, details={"a": 1})
    d = v.to_dict()
    assert d["ci_low"] is None and d["ci_high"] == 0.7 and d["cached"] is False
    json.dumps(d)


def test_command_line(capsys, corpus_a):
    from core.metrics.__main__ import main

    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in EXPECTED)
    assert main(["--target", "proofnet"]) == 2
    assert "--sources" in capsys.readouterr().err
    assert main(["--sources", "no-such-corpus", "--metrics", "gzip"]) == 2
    assert "no-such-corpus" in capsys.readouterr().err


def test_an_unreadable_cached_entry_is_recomputed(corpus_a, corpus_b):
    from core.metrics.base import metric_store

    m = get_metric("gzip", chunks=4)
    first = m.score(corpus_a, corpus_b)
    import numpy as np

    metric_store().put(m.cache_key(corpus_a, corpus_b), {"none": np.zeros(0, dtype=np.int8)}, {"value": {"value": 1}})
    again = m.score(corpus_a, corpus_b)
    assert not again.cached and again.value == first.value
    assert m.score(corpus_a, corpus_b).cached
