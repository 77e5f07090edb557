"""The runner's precision handling, run identity, cached base evaluation and per-process tokenisation."""
import sqlite3

import pytest

from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.finetune.runner import STEPS, run_finetune
from core.finetune.identity import base_key, familiarity_key, run_id_for, run_params
from core.probe import load_probe


def test_fp32_runs_keep_their_old_ids_and_bf16_runs_get_new_ones(corpora, tiny_config, tiny_settings, fast_bf16):
    fp32 = tiny_config(precision="fp32")
    old = {k: v for k, v in fp32.to_dict().items() if k != "precision"}      # a config from before precision
    assert run_params(fp32, tiny_settings)["config"] == old
    bf16 = tiny_config(precision="bf16")
    assert run_params(bf16, tiny_settings)["config"] == {**old, "precision": "bf16"}
    assert run_id_for(bf16, tiny_settings) != run_id_for(fp32, tiny_settings)
    assert bf16.group_key() != fp32.group_key()
    for fast in (False, True):       # auto -> fp32 for fine-tunes, even where bf16 is fast (1% tolerance missed)
        fast_bf16(fast)
        assert run_id_for(tiny_config(), tiny_settings) == run_id_for(fp32, tiny_settings)
        assert tiny_config().resolved().precision == "fp32"
    # a job's stored parameters read back as the same run
    assert FinetuneConfig.from_dict(run_params(fp32, tiny_settings)["config"]).precision == "fp32"
    assert FinetuneConfig.from_dict(run_params(bf16, tiny_settings)["config"]).precision == "bf16"
    with pytest.raises(Exception, match="precision"):
        tiny_config(precision="fp16")


def test_the_run_id_follows_the_packed_data(corpora, tiny_config, tiny_settings, tmp_path):
    """Same settings on other data are another run (issue 20): the id holds the packed training ids'
    and the evaluation windows' fingerprints, and the row records them."""
    from tests.conftest import register_texts

    from core.finetune.identity import data_identity

    cfg = tiny_config()
    ident = data_identity(cfg)
    assert run_params(cfg, tiny_settings)["data"] == ident and set(ident) == {"train", "eval"}
    assert run_id_for(cfg, tiny_settings) == run_id_for(cfg, tiny_settings, data=ident)
    assert run_id_for(cfg, tiny_settings, data={**ident, "train": "0" * 64}) != run_id_for(cfg, tiny_settings)
    # the source's documents change (one more document): the packing and so the id change
    from core.corpora import get_corpus
    texts = [d.text for d in get_corpus("maths").documents()]
    register_texts(tmp_path / "v2", "maths", ["informal statement extra formal statement theorem x : 1 = 1 :="] + texts,
                   "formal maths", overwrite=True)
    assert data_identity(cfg)["train"] != ident["train"] and run_id_for(cfg, tiny_settings) != run_id_for(
        cfg, tiny_settings, data=ident)


def test_embedding_settings_survive_the_job_parameters(corpora, tiny_config, tiny_settings):
    """A run given its settings as a dict (a job's parameters) keeps their precision (issue 21: the old
    ``settings_from_dict`` dropped it, so bf16 settings silently became auto)."""
    from dataclasses import replace

    from core.settings import EmbedSettings

    bf16 = replace(tiny_settings, precision="bf16")
    assert EmbedSettings.from_dict(bf16.to_dict()) == bf16
    row = run_finetune(tiny_config(budget_tokens=64), bf16.to_dict())
    assert row["status"] == "done" and row["align_settings"]["precision"] == "bf16"
    assert row["train_data_fp"] == data_identity_of(tiny_config(budget_tokens=64))["train"]
    assert row["eval_fp"] and len(row["packed_documents"]) >= 1


def data_identity_of(cfg):
    from core.finetune.identity import data_identity

    return data_identity(cfg)


def test_cache_keys_name_every_input_and_differ_between_precisions(tiny_config, tiny_model_dir):
    probe = load_probe(tiny_model_dir, device="cpu")
    cfg = tiny_config()
    k32 = base_key(probe, cfg, "bench", "w" * 64, "fp32")
    assert {"model", "target", "split", "tok", "seq_len", "windows"} <= set(k32) and "precision" not in k32
    assert base_key(probe, cfg, "bench", "w" * 64, "bf16") == {**k32, "precision": "bf16"}
    assert base_key(probe, tiny_config(seq_len=64), "bench", "w" * 64, "fp32") != k32
    assert base_key(probe, tiny_config(target="other"), "bench", "w" * 64, "fp32") != k32
    f32 = familiarity_key(probe, cfg, "x" * 64, "fp32")
    assert familiarity_key(probe, cfg, "x" * 64, "bf16") != f32 and f32["source"] == "maths"


def test_the_base_model_is_evaluated_once_and_windows_tokenised_once(corpora, tiny_config, tiny_settings, monkeypatch):
    import core.finetune.perplexity as ppl_mod

    calls, tokenised = [], []
    import core.outcomes.text_ppl as text_ppl

    real_ppl, real_windows = ppl_mod.perplexity, text_ppl.document_windows_owned

    def spy_ppl(model, windows, **kw):
        calls.append(windows)
        return real_ppl(model, windows, **kw)

    def spy_windows(texts, tokenizer, seq_len):
        tokenised.append(len(texts))
        return real_windows(texts, tokenizer, seq_len)

    monkeypatch.setattr(ppl_mod, "perplexity", spy_ppl)
    monkeypatch.setattr(text_ppl, "document_windows_owned", spy_windows)
    text_ppl._WINDOWS.clear()
    first = run_finetune(tiny_config("maths", precision="fp32"), tiny_settings)
    probe = load_probe(tiny_config().model, device="cpu")
    held, _ = ppl_mod.corpus_windows("bench", probe.tokenizer, 32, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    assert sum(w is held for w in calls) == 2          # base model + fine-tuned model
    assert len(calls) == 3                             # + familiarity
    assert [s for s, _, _ in STEPS] == list(first["timings"])
    calls.clear()
    second = run_finetune(tiny_config("maths", seed=1, precision="fp32"), tiny_settings)
    assert sum(w is held for w in calls) == 1          # only the fine-tuned model: the base one is reused
    assert second["ppl_before"] == first["ppl_before"]
    assert len(tokenised) == 1                         # the held-out split was tokenised once in this process
    # familiarity of the same training data is reused as well
    calls.clear()
    run_finetune(tiny_config("maths", seed=1, precision="fp32", learning_rate=1e-3), tiny_settings)
    assert len(calls) == 1


def test_precision_is_recorded_and_bf16_stays_close_to_fp32(corpora, tiny_config, tiny_settings):
    r32 = run_finetune(tiny_config("maths", precision="fp32"), tiny_settings)
    r16 = run_finetune(tiny_config("maths", precision="bf16"), tiny_settings)
    assert r32["precision"] == "fp32" and r16["precision"] == "bf16"
    assert r16["hparams"]["precision"] == "bf16" and r32["hparams"]["precision"] == "fp32"
    assert r16["run_id"] != r32["run_id"]
    assert r16["ppl_before"] != r32["ppl_before"]                    # evaluated again, in bf16
    assert r16["ppl_before"] == pytest.approx(r32["ppl_before"], rel=0.01)
    assert r16["familiarity"] == pytest.approx(r32["familiarity"], rel=0.01)
    assert r16["ppl_after"] == pytest.approx(r32["ppl_after"], rel=0.03)
    assert r16["ppl_after"] < r16["ppl_before"]


def test_an_old_database_gains_the_precision_column():
    path = results.db_path()
    results.engine()                                     # today's schema, then make it an old one
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO runs (run_id, label, target, model, method, status, created, updated) "
                     "VALUES ('old', 'coq', 'proofnet', 'm', 'full', 'done', 1, 1)")
        conn.execute("ALTER TABLE runs DROP COLUMN precision")
    results._ENGINES.clear()
    assert results.get_run("old", reconcile_first=False)["precision"] is None
    results.update_run("old", precision="fp32")
    assert results.get_run("old", reconcile_first=False)["precision"] == "fp32"
    with sqlite3.connect(path) as conn:
        assert "precision" in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}


def test_a_run_records_af_nll_before_and_after_with_a_paired_ci(tiny_config, tiny_settings, qa_bench):
    from core.validation.axes import run_outcome

    docs = qa_bench(4)
    cfg = tiny_config("maths", target="qa-bench", precision="fp32", outcomes=("af-nll",))
    plain = tiny_config("maths", target="qa-bench", precision="fp32")
    assert "outcomes" not in plain.identity_dict() and cfg.identity_dict()["outcomes"] == ["af-nll"]
    assert run_id_for(cfg, tiny_settings) != run_id_for(plain, tiny_settings)
    assert cfg.hparams() == plain.hparams()            # comparable on perplexity
    row = run_finetune(cfg, tiny_settings)
    rec = row["outcomes"]["af-nll"]
    assert rec["n"] == len(docs) and rec["unit"] == "nats/token" and rec["direction"] == "lower"
    assert rec["ci_low"] <= rec["value"] <= rec["ci_high"]
    assert rec["difference"] == pytest.approx(rec["value"] - rec["before"])
    assert rec["difference_ci"][0] <= rec["difference"] <= rec["difference_ci"][1]
    assert run_outcome(row, "af-nll") == rec["value"]
    again = run_finetune(tiny_config("maths", target="qa-bench", precision="fp32", outcomes=("af-nll",), seed=1),
                         tiny_settings)
    assert again["outcomes"]["af-nll"]["before"] == rec["before"]          # base outcome from the cache


def test_an_unknown_outcome_or_a_target_without_pairs_is_refused_before_any_work(corpora, tiny_config):
    from core.errors import AlignScopeError
    from core.finetune.identity import validate

    with pytest.raises(AlignScopeError, match="af-nll"):
        tiny_config("maths", outcomes=("no-such-outcome",))
    with pytest.raises(AlignScopeError, match="pair format"):
        validate(tiny_config("maths", outcomes=("af-nll",)))
