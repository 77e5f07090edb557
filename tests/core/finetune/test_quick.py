"""Quick (live) fine-tunes (issue 26): the seeded held-out subsample, its CI, its own identity and group."""
import math

import pytest

from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.finetune.quick import eval_subsample
from core.finetune.runner import run_finetune
from core.finetune.identity import run_id_for
from core.probe import load_probe


def _scored(windows):
    return sum(len(w) - 1 for w in windows)


def test_the_subsample_is_fixed_in_corpus_order_and_holds_the_tokens_asked_for(corpora, tiny_model_dir):
    from core.outcomes.text_ppl import corpus_document_windows

    tok = load_probe(tiny_model_dir, device="cpu").tokenizer
    windows, owner, ids = corpus_document_windows("bench", tok, 32)
    total = _scored(windows)
    ids_a, win_a = eval_subsample("bench", tok, 32, total // 3)
    ids_b, win_b = eval_subsample("bench", tok, 32, total // 3)
    assert (ids_a, win_a) == (ids_b, win_b)                              # the same for every run
    assert ids_a == [i for i in ids if i in set(ids_a)]                  # corpus order
    assert total // 3 <= _scored(win_a) < total
    per_doc = {}
    for w, o in zip(windows, owner):
        per_doc[ids[o]] = per_doc.get(ids[o], 0) + len(w) - 1
    assert _scored(win_a) == sum(per_doc[i] for i in ids_a)            # whole documents, all their windows
    # dropping the last document taken (in the seeded order) would fall short: no document more than needed
    assert min(_scored(win_a) - per_doc[i] for i in ids_a) < total // 3 or len(ids_a) == 1
    ids_all, win_all = eval_subsample("bench", tok, 32, 10 * total)     # more than the split: all of it
    assert sorted(ids_all) == sorted(set(ids[o] for o in owner)) and _scored(win_all) == total
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            eval_subsample("bench", tok, 32, bad)


def test_a_quick_run_is_its_own_run_and_group_and_full_runs_keep_their_ids(corpora, tiny_config, tiny_settings):
    full, quick = tiny_config(precision="fp32"), tiny_config(precision="fp32", eval_subsample_tokens=64)
    assert "eval_subsample_tokens" not in full.to_dict() and "eval_subsample_tokens" not in full.identity_dict()
    assert quick.identity_dict()["eval_subsample_tokens"] == 64 and quick.quick and not full.quick
    assert run_id_for(quick, tiny_settings) != run_id_for(full, tiny_settings)
    assert quick.group_key() != full.group_key()
    assert FinetuneConfig.from_dict(quick.to_dict()) == quick
    with pytest.raises(Exception, match="eval_subsample_tokens"):
        tiny_config(eval_subsample_tokens=-1)


def test_quick_auto_precision_is_bf16_where_it_is_faster_and_full_runs_stay_fp32(tiny_config, fast_bf16):
    for fast, want in ((True, "bf16"), (False, "fp32")):
        fast_bf16(fast)
        assert tiny_config(eval_subsample_tokens=64).resolved_precision() == want
        assert tiny_config().resolved_precision() == "fp32"
        assert tiny_config(eval_subsample_tokens=64, precision="fp32").resolved_precision() == "fp32"


def test_a_quick_run_records_its_documents_a_ci_and_reuses_the_cached_base(corpora, tiny_config, tiny_settings,
                                                                          monkeypatch):
    from core.finetune import train as train_mod
    from core.finetune.perplexity import perplexity
    from core.finetune.train import load_causal_lm

    seen, real = [], train_mod.train
    monkeypatch.setattr(train_mod, "train", lambda *a, **kw: seen.append(kw["checkpoint_dir"]) or real(*a, **kw))

    from core.outcomes.text_ppl import corpus_document_windows

    probe = load_probe(tiny_config().model, device="cpu")
    want = _scored(corpus_document_windows("bench", probe.tokenizer, 32)[0]) // 3     # several documents
    cfg = tiny_config(precision="fp32", eval_subsample_tokens=want)
    row = run_finetune(cfg, tiny_settings)
    assert row["status"] == "done" and row["quick"] is True
    assert seen == [None]                                                 # no 1.6 GB checkpoints for a quick run
    ids, windows = eval_subsample("bench", probe.tokenizer, cfg.seq_len, want)
    assert len(ids) >= 3 and row["eval_documents"] == ids and row["eval_tokens"] == _scored(windows) >= want
    # the quick figure is eq. 2 on the subsample's windows: the same as perplexity() on them
    base = perplexity(load_causal_lm(probe), windows, batch_size=4, pad_id=probe.tokenizer.pad_token_id or 0)
    assert row["ppl_before"] == pytest.approx(base.perplexity, rel=1e-9)
    assert row["ppl_ci_low"] <= row["ppl_after"] <= row["ppl_ci_high"]
    assert math.isfinite(row["ppl_ci_low"]) and row["ppl_ci_low"] < row["ppl_ci_high"]
    rec = row["outcomes"]["text-ppl"]
    assert rec["value"] == pytest.approx(row["ppl_after"]) and rec["n"] == len(ids)
    assert rec["before"] == pytest.approx(row["ppl_before"])
    assert rec["difference_ci"][0] <= rec["difference"] <= rec["difference_ci"][1]
    again = run_finetune(tiny_config(precision="fp32", eval_subsample_tokens=want, seed=1), tiny_settings)
    assert again["ppl_before"] == row["ppl_before"] and again["eval_documents"] == ids    # base from the cache
    groups = results.groups(results.list_runs())
    assert groups and all(g["quick"] and g["title"].startswith("quick · ") for g in groups)


def test_a_quick_run_measures_its_outcomes_on_the_subsample(tiny_config, tiny_settings, qa_bench):
    docs = qa_bench(5)
    row = run_finetune(tiny_config("maths", target="qa-bench", precision="fp32", outcomes=("af-nll",),
                                   eval_subsample_tokens=40), tiny_settings)
    n = len(row["eval_documents"])
    assert 0 < n < len(docs)
    assert row["outcomes"]["af-nll"]["n"] == n and row["outcomes"]["text-ppl"]["n"] == n


def test_the_cli_quick_flag_sets_the_subsample_and_the_table_marks_it(corpora):
    from core.cli import build_parser
    from core.finetune.cli import _config_dict, _table
    from core.finetune.config import QUICK_EVAL_TOKENS

    args = build_parser().parse_args(["finetune", "--source", "maths", "--target", "bench", "--quick"])
    assert _config_dict(args)["eval_subsample_tokens"] == QUICK_EVAL_TOKENS
    plain = build_parser().parse_args(["finetune", "--source", "maths", "--target", "bench"])
    assert "eval_subsample_tokens" not in _config_dict(plain)
    text = _table([{"label": "maths", "status": "done", "quick": True, "ppl_ci_low": 10.0, "ppl_ci_high": 12.0,
                    "ppl_after": 11.0, "eval_documents": ["a", "b"], "eval_tokens": 4100}])
    assert "quick" in text and "[10.000, 12.000]" in text and "2 held-out documents" in text
