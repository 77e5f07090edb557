"""Token counts without waiting (core.corpus_counts): the exact cached count, else an estimate from a
measured characters-per-token ratio (stored, marked as such), the exact count in a background
``corpus_stats`` job whose first status already shows its real total."""
import numpy as np
import pytest

from core import corpus_counts as cc
from core.corpora import CorpusSpec, register_corpus
from tests.app_pages.conftest import wait_job, write_corpus


class WordTokenizer:
    """A stand-in tokenizer: one token per whitespace-separated word."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[0] * len(t.split()) for t in texts]}


def test_ratio_is_unbiased_for_short_and_long_documents():
    rng = np.random.default_rng(1)
    short = [" ".join("ab" for _ in range(rng.integers(5, 40))) for _ in range(3000)]      # dense: 3 chars/token
    long = [" ".join("abcdefghij" for _ in range(rng.integers(2000, 4000))) for _ in range(10)]   # 11 chars/token
    texts = short + long
    true = sum(len(t.split()) for t in texts) / sum(len(t) for t in texts)
    m = cc.measure_ratio(texts, WordTokenizer(), windows=400, window_chars=512, seed=0)
    assert m["windows"] == 400 and m["rel_se"] > 0
    assert abs(m["tokens_per_char"] - true) / true < 3 * m["rel_se"] + 0.01           # boundary cuts: < 1%
    assert m["chars_per_token"] == pytest.approx(1 / m["tokens_per_char"])
    with pytest.raises(Exception, match="no text"):
        cc.measure_ratio(["", ""], WordTokenizer())


@pytest.fixture
def corpora(tmp_path, maths_texts, prose_texts):
    big = [t * 30 for t in maths_texts[:40]]
    register_corpus(CorpusSpec(name="big", kind="files", path=str(write_corpus(tmp_path, "big", big)), field="text"))
    register_corpus(CorpusSpec(name="small", kind="files", path=str(write_corpus(tmp_path, "small", prose_texts[:5])),
                               field="text"))
    return sum(len(t) for t in big)


def test_estimate_then_exact(corpora, tiny_model_dir, monkeypatch):
    from core.pipeline import corpus_stats

    monkeypatch.setattr(cc, "EXACT_BELOW_CHARS", 20_000)
    assert cc.known_counts(["big", "small"], model=tiny_model_dir) == {"big": None, "small": None}
    small = cc.estimate_counts("small", model=tiny_model_dir)
    assert small["estimate"] is False and small["tokens"] == corpus_stats("small", model=tiny_model_dir)["tokens"]
    est = cc.estimate_counts("big", model=tiny_model_dir)
    assert est["estimate"] is True and est["characters"] == corpora
    assert est["tokens"] == round(est["characters"] / est["chars_per_token"])
    assert cc.known_counts(["big"], model=tiny_model_dir)["big"]["measured"] == est["measured"]   # stored
    assert cc.estimate_counts("big", model=tiny_model_dir)["measured"] == est["measured"]       # not re-measured
    exact = corpus_stats("big", model=tiny_model_dir)["tokens"]
    assert abs(est["tokens"] - exact) / exact < 4 * est["rel_se"] + 0.01
    assert cc.estimate_counts("big", model=tiny_model_dir) == {**corpus_stats("big", model=tiny_model_dir),
                                                                 "estimate": False}
    assert cc.format_tokens({"tokens": 16_081_792, "tokens_estimated": False}) == "16,081,792"
    assert cc.format_tokens({"tokens": 16_081_792, "tokens_estimated": True, "tokens_rel_se": 0.012}) == "≈16.1M ±1%"
    assert cc.format_tokens({"tokens": None}) == ""


def test_listing_never_counts_and_the_background_job_does(corpora, tiny_model_dir, monkeypatch):
    from core.jobs import get_job, list_jobs

    monkeypatch.setattr(cc, "EXACT_BELOW_CHARS", 20_000)
    rows, job = cc.listing(["big", "small"], model=tiny_model_dir, background=False)
    by = {r["name"]: r for r in rows}
    assert by["big"]["tokens_estimated"] and not by["small"]["tokens_estimated"] and job is None and not list_jobs()
    assert all(r["tokens"] is not None for r in rows if r["available"])
    rows, job = cc.listing(["big", "small"], model=tiny_model_dir)
    assert job is not None and {r["name"] for r in rows if r.get("count_job") == job.job_id} == {"big"}
    assert job.status()["total"] == 1                     # the real total from the first status on
    assert wait_job(job.job_id)["state"] == "done"
    rows, job = cc.listing(["big", "small"], model=tiny_model_dir)
    assert job is None and not {r["name"]: r for r in rows}["big"]["tokens_estimated"]
    assert get_job(list_jobs(cc.STATS_KIND)[0].job_id).status()["done"] == 1


def test_first_status_shows_the_real_total(monkeypatch):
    """A job's status written at submission (before any worker runs) has its kind's total."""
    import core.jobs as jobs
    from core.settings import EmbedSettings

    monkeypatch.setattr(jobs, "_spawn_worker", lambda folder: type("P", (), {"pid": 0})())    # no worker
    job = jobs.submit(cc.STATS_KIND, {"corpora": ["a", "b", "c"], "model": "m"})
    st = job.status()
    assert (st["state"], st["done"], st["total"]) == ("queued", 0, 3)
    settings = EmbedSettings().to_dict()
    st = jobs.submit("embed", {"corpora": ["a", "b"], "settings": settings}).status()
    assert st["total"] == 2 * EmbedSettings().batch.num_batches
    assert jobs.planned_total("mix_verify", {}) == 0                  # a kind without a total: unknown until run
    ctx = jobs.JobContext(job.folder)                                  # the worker keeps the total from the start
    assert ctx._state["total"] == 3 and job.status()["total"] == 3 and job.status()["state"] == "running"


def test_count_corpora(corpora, tiny_model_dir):
    from core.pipeline import corpus_stats

    out = cc.count_corpora(["small", "big", "absent"], model=tiny_model_dir)
    assert out["small"] == corpus_stats("small", model=tiny_model_dir) and "tokens" in out["big"]
    assert "error" in out["absent"]
