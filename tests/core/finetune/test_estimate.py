"""Bounds on fine-tune work (core.finetune.estimate): the estimate, and --yes / confirmation."""
from __future__ import annotations

import json

import pytest

from core.finetune.config import FinetuneConfig


@pytest.fixture
def source(tmp_path, prose_texts):
    from core.corpora import CorpusSpec, register_corpus

    path = tmp_path / "prose.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in prose_texts[:20]) + "\n")
    register_corpus(CorpusSpec(name="prose", kind="files", path=str(path), field="text"))
    return "prose"


def test_source_tokens_exact_and_sampled(source, tiny_model_dir):
    from core.corpora import get_corpus
    from core.finetune.estimate import source_tokens
    from core.probe import load_probe

    tok = load_probe(tiny_model_dir, device="cpu").tokenizer
    exact, is_exact = source_tokens(get_corpus(source), tok)
    truth = sum(len(tok(d.text, add_special_tokens=False)["input_ids"]) for d in get_corpus(source).documents())
    assert is_exact and exact == truth
    sampled, is_exact = source_tokens(get_corpus(source), tok, sample_chars=1500)
    assert not is_exact and abs(sampled - truth) / truth < 0.15


def test_confirmation_needed_above_the_source_or_the_limit(source, tiny_model_dir):
    from core.finetune.estimate import ConfirmationNeeded, check_finetune

    cfg = FinetuneConfig(source=source, model=tiny_model_dir, device="cpu", budget_tokens=200)
    est = check_finetune(cfg)
    assert not est.over_source and est.train_tokens == 200 and est.seconds > 0
    big = FinetuneConfig(source=source, model=tiny_model_dir, device="cpu", budget_tokens=10 ** 12)
    with pytest.raises(ConfirmationNeeded, match="exceeds source 'prose'") as info:
        check_finetune(big)
    assert info.value.estimate.over_source and "--yes" in info.value.render("cli", {"yes": "--yes"})
    assert check_finetune(big, yes=True).train_tokens == info.value.estimate.source_tokens
    with pytest.raises(ConfirmationNeeded, match="limit"):
        check_finetune(cfg, limit_s=1.0)


def test_cli_shows_the_estimate_and_needs_yes(source, tiny_model_dir, capsys):
    from core.cli import main

    assert main(["finetune", "--source", source, "--model", tiny_model_dir, "--device", "cpu",
                 "--budget", "1000000000000", "--probe", tiny_model_dir]) == 2
    err = capsys.readouterr().err
    assert "Estimate: budget 1,000,000,000,000 tokens" in err and "--yes" in err and "Traceback" not in err
