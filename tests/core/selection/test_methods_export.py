import json

import numpy as np
import pytest

from core.probe import load_probe
from core.selection.base import SELECTION_METHODS, SelectionContext, SelectionError, check_budget, fill_budget, get_method
from core.selection.export import list_selections, load_selection, read_jsonl, save_selection, write_jsonl
from core.selection.pool import build_pool
from core.selection.select import allowed_rows, run_selection, with_texts


@pytest.fixture
def ctx(pool_config, settings):
    probe = load_probe(settings.model, device="cpu")
    pool = build_pool(pool_config, probe.tokenizer, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    return SelectionContext(pool=pool, tokenizer=probe.tokenizer, target="bench", settings=settings, depth=20)


@pytest.mark.parametrize("method", ["random", "dsir", "zip-fit", "unigram-cos", "best-single", "t2v-topk", "t2v-greedy"])
def test_every_method_fills_the_budget_from_allowed_windows(ctx, method):
    ctx.allowed = allowed_rows(ctx.pool, 1, 0.8)
    chosen = get_method(method).choose(ctx, budget=300, seed=1)
    tokens = ctx.pool.tokens[chosen.rows]
    assert 300 - ctx.pool.config.seq_len < tokens.sum() <= 300            # within one window of the budget
    assert ctx.allowed[chosen.rows].all() and len(set(chosen.rows.tolist())) == len(chosen.rows)
    again = get_method(method).choose(ctx, budget=300, seed=1)
    assert np.array_equal(again.rows, chosen.rows)                       # seeded


@pytest.mark.parametrize("method", ["dsir", "zip-fit", "unigram-cos"])
def test_text_methods_prefer_the_target_style(ctx, method):
    needles = ctx.pool.corpus_of() == "needles"
    ranked = get_method(method).rank(ctx, seed=0, budget=100)
    position = np.empty(len(ctx.pool))
    position[ranked.rows] = np.arange(len(ranked.rows))
    assert position[needles].mean() < position[~needles].mean()        # copies of the target rank higher


def test_fill_budget_and_source_cap(ctx):
    order = np.arange(len(ctx.pool))
    rows = fill_budget(order, ctx.pool, budget=200, max_share=0.5)
    of = ctx.pool.corpus_of()
    assert ctx.pool.tokens[rows].sum() <= 200
    for c in set(of[rows]):
        assert ctx.pool.tokens[rows][of[rows] == c].sum() <= 100


def test_budget_checks(ctx):
    allowed = np.ones(len(ctx.pool), dtype=bool)
    with pytest.raises(SelectionError, match=r"budget=1000000 tokens is larger than the pool.*lower budget") as exc:
        check_budget(ctx.pool, allowed, 1_000_000)
    assert exc.value.render("cli", {}).startswith("--budget 1000000 tokens is larger")     # each surface's words
    assert "'Budget (tokens)' = 1000000" in exc.value.render("ui", {"budget": "'Budget (tokens)'"})
    with pytest.raises(SelectionError, match="budget=0"):
        check_budget(ctx.pool, allowed, 0)
    with pytest.raises(SelectionError, match="max_share=1.5"):
        check_budget(ctx.pool, allowed, 100, max_share=1.5)
    with pytest.raises(SelectionError, match="Unknown selection method|not a known|nope"):
        get_method("nope")
    assert {"t2v-topk", "t2v-greedy", "dsir", "zip-fit", "random", "best-single", "unigram-cos"} <= set(SELECTION_METHODS.names())


def test_provenance_round_trips_through_export_and_saved_corpus(sel_corpora, pool_config, settings, tmp_path):
    from core.corpora import get_corpus

    probe = load_probe(settings.model, device="cpu")
    res = run_selection(method="unigram-cos", target="bench", pool_config=pool_config, budget=200, settings=settings)
    assert res.alignment["value"] is not None and res.tokens <= 200
    pool = build_pool(pool_config, probe.tokenizer, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    res = with_texts(res, pool, probe.tokenizer)
    rows = read_jsonl(write_jsonl(res, tmp_path / "sel.jsonl"))
    assert [(r["corpus"], r["doc_id"], r["offset"], r["tokens"]) for r in rows] == \
        [(w["corpus"], w["doc_id"], w["offset"], w["tokens"]) for w in res.windows]
    docs = {d.doc_id: d.text for c in ("prose", "needles") for d in get_corpus(c).documents()}
    for r in rows:                                   # provenance points at the exact tokens of the source
        ids = probe.tokenizer(docs[r["doc_id"]], add_special_tokens=False)["input_ids"]
        assert probe.tokenizer.decode(ids[r["offset"]:r["offset"] + r["tokens"]]) == r["text"]
    corpus = save_selection(res, "my-sel")
    assert [d.text for d in corpus.documents()] == [r["text"] for r in rows]
    assert "my-sel" in list_selections() and load_selection("my-sel")["method"] == "unigram-cos"
    assert "text" not in load_selection("my-sel")["windows"][0]
    assert json.loads((tmp_path / "sel.jsonl").read_text().splitlines()[0])["method"] == "unigram-cos"
