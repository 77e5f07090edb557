import numpy as np
import pytest

from core.distance import pairwise_distances
from core.probe import load_probe
from core.selection.base import SelectionContext
from core.selection.embed import embed_windows
from core.selection.greedy import greedy_select
from core.selection.pool import build_pool
from core.selection.score import distances_to, selection_alignment, set_alignment, set_embedding, window_scores


@pytest.fixture
def ctx(pool_config, settings):
    probe = load_probe(settings.model, device="cpu")
    pool = build_pool(pool_config, probe.tokenizer, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    return SelectionContext(pool=pool, tokenizer=probe.tokenizer, target="bench", settings=settings, depth=20)


def test_window_embeddings_average_to_the_batch_embedding(ctx, settings):
    from core.batches import TokenBatch
    from core.estimators import get_estimator

    probe = load_probe(settings.model, device="cpu")
    est = get_estimator("closed_form_head")
    b = TokenBatch("pool", 0, ctx.pool.input_ids[:6], ctx.pool.attention_mask[:6], ("",) * 6, (0,) * 6)
    rows = est.embed_rows(probe, b)
    n = ctx.pool.tokens[:6]
    assert rows.shape == (6, probe.lm_head.weight.shape[0]) and rows.dtype == np.float32
    np.testing.assert_allclose(set_embedding(rows, n, range(6)), est.embed(probe, b), rtol=2e-4, atol=1e-9)


def test_window_embeddings_are_cached_per_window(ctx, settings):
    from core.selection.pool import subset

    first = embed_windows(ctx.pool, settings)
    assert first.computed == len(ctx.pool) and first.cached == 0
    again = embed_windows(subset(ctx.pool, [5, 2, 9]), settings)        # other batches, same windows
    assert again.computed == 0 and again.cached == 3
    np.testing.assert_array_equal(again.embeddings, first.embeddings[[5, 2, 9]])


def test_distances_match_the_reference_implementation(ctx):
    e = ctx.window_embeddings().embeddings[:12]
    t = ctx.target_embeddings()
    np.testing.assert_allclose(distances_to(e, t), pairwise_distances(e, t), atol=1e-5)


def test_planted_needles_are_retrieved_first(ctx):
    """A few windows that copy the target's documents among prose: Task2Vec selection puts them first."""
    from core.selection.base import get_method

    needles = np.flatnonzero(ctx.pool.corpus_of() == "needles")
    assert 0 < needles.size < len(ctx.pool) / 2
    budget = int(ctx.pool.tokens[needles].sum())
    chosen = get_method("t2v-topk").choose(ctx, budget=budget, seed=0)
    top = chosen.rows[:needles.size]
    assert set(top.tolist()) == set(needles.tolist())
    assert np.all(np.diff(chosen.scores) <= 1e-12)                      # sorted by exact score
    scores = window_scores(ctx.window_embeddings().embeddings, ctx.target_embeddings())
    assert scores[needles].min() > np.delete(scores, needles).max()


def test_greedy_never_lowers_the_alignment(ctx):
    emb = ctx.window_embeddings().embeddings
    t = ctx.target_embeddings()
    cand = np.arange(len(ctx.pool))
    rows, trace, improving = greedy_select(emb, ctx.pool.tokens, cand, t, budget=600, fill=False)
    assert len(rows) >= 2 and improving == len(rows)
    assert np.all(np.diff(trace) >= -1e-12)
    for k in range(1, len(rows) + 1):                                  # the trace is the set alignment
        assert trace[k - 1] == pytest.approx(set_alignment(emb, ctx.pool.tokens, rows[:k], t), abs=1e-6)
    full, ftrace, fimp = greedy_select(emb, ctx.pool.tokens, cand, t, budget=600, fill=True)
    assert ctx.pool.tokens[full].sum() <= 600 and fimp <= len(full)
    assert np.all(np.diff(ftrace[:fimp]) >= -1e-12)


def test_greedy_respects_the_source_cap(ctx):
    emb = ctx.window_embeddings().embeddings
    rows, _, _ = greedy_select(emb, ctx.pool.tokens, np.arange(len(ctx.pool)), ctx.target_embeddings(), budget=400,
                               corpus=ctx.pool.corpus_of(), max_share=0.5)
    of = ctx.pool.corpus_of()
    for c in ("prose", "needles"):
        assert ctx.pool.tokens[rows][of[rows] == c].sum() <= 200


def test_selection_alignment_has_a_ci(ctx):
    emb = ctx.window_embeddings().embeddings
    c = selection_alignment(emb, ctx.pool.tokens, range(20), ctx.target_embeddings(), batch_size=4).to_dict()
    assert 0 <= c["value"] <= 1 and c["ci_low"] is not None and c["ci_low"] <= c["value"] <= c["ci_high"]
