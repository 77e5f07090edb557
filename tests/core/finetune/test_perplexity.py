import math

import pytest
import torch

from core.finetune.perplexity import document_windows, perplexity
from core.finetune.train import load_causal_lm
from core.probe import load_probe


@pytest.fixture(scope="module")
def probe_and_model(tiny_model_dir):
    probe = load_probe(tiny_model_dir, device="cpu")
    return probe, load_causal_lm(probe)


def test_windows_are_consecutive_and_non_overlapping(probe_and_model):
    tok = probe_and_model[0].tokenizer
    text = "theorem foo (x : nat) : x + 0 = x := by simp " * 12
    ids = tok(text, add_special_tokens=False)["input_ids"]
    wins = document_windows([text, "a"], tok, 16)
    flat = sum(wins, [])
    assert flat == ids[: len(flat)] and len(ids) - len(flat) <= 1       # a 1-token tail has nothing to score
    assert all(len(w) == 16 for w in wins[:-1]) and 2 <= len(wins[-1]) <= 16
    assert [len(w) for w in document_windows(["a"], tok, 16)] == []          # one token: nothing to score


def test_perplexity_matches_a_hand_computation(probe_and_model):
    probe, model = probe_and_model
    tok = probe.tokenizer
    texts = ["informal statement Let $x$ be real. formal statement theorem t (x : ℝ) : x = x := rfl",
             "The village market opened early.", "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 3]
    wins = document_windows(texts, tok, 24)
    # by hand: each window alone, log-softmax, sum of -log p(next token), divided by the token count
    nll, count = 0.0, 0
    with torch.no_grad():
        for w in wins:
            logits = model(input_ids=torch.tensor([w])).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            for t in range(len(w) - 1):
                nll -= float(logp[t, w[t + 1]])
                count += 1
    res = perplexity(model, wins, batch_size=2, pad_id=tok.pad_token_id)   # mixed lengths: padding in batches
    assert res.tokens == count == sum(len(w) - 1 for w in wins)
    assert res.nll == pytest.approx(nll / count, rel=1e-5)
    assert res.perplexity == pytest.approx(math.exp(nll / count), rel=1e-5)
    # batching/padding does not change the value
    assert perplexity(model, wins, batch_size=len(wins), pad_id=tok.pad_token_id).nll == pytest.approx(res.nll, rel=1e-5)


def test_perplexity_reports_progress_and_stops(probe_and_model):
    probe, model = probe_and_model
    wins = [[1, 2, 3, 4]] * 5
    seen = []
    perplexity(model, wins, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(InterruptedError):
        perplexity(model, wins, batch_size=2, should_stop=lambda: True)
    with pytest.raises(ValueError):
        perplexity(model, [[1]])
