import math

import pytest
import torch

from core.finetune.perplexity import document_windows, perplexity
from core.finetune.train import load_causal_lm
from core.probe import load_probe
from tests.conftest import MemoryCorpus


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


def test_model_perplexity_is_cached_per_precision_and_bf16_stays_within_1_percent(corpora, tiny_model_dir):
    from core.finetune.perplexity import model_perplexity_on_corpus

    p32 = model_perplexity_on_corpus(tiny_model_dir, "bench", seq_len=32, device="cpu", precision="fp32")
    p16 = model_perplexity_on_corpus(tiny_model_dir, "bench", seq_len=32, device="cpu", precision="bf16")
    assert (p32["precision"], p16["precision"]) == ("fp32", "bf16")
    assert not p32["cached"] and not p16["cached"]                  # bf16 never served from the fp32 entry
    assert p16["perplexity"] != p32["perplexity"] and p16["perplexity"] == pytest.approx(p32["perplexity"], rel=0.01)
    again = model_perplexity_on_corpus(tiny_model_dir, "bench", seq_len=32, device="cpu", precision="bf16")
    assert again["cached"] and again["perplexity"] == p16["perplexity"]
    with pytest.raises(Exception, match="precision"):
        model_perplexity_on_corpus(tiny_model_dir, "bench", seq_len=32, device="cpu", precision="fp8")


def test_corpus_windows_are_memoised_by_corpus_content(tiny_model_dir, maths_texts, prose_texts):
    from core.finetune import perplexity as P
    from core.probe import load_probe

    tok = load_probe(tiny_model_dir, device="cpu").tokenizer
    a = MemoryCorpus("x", maths_texts[:5])
    w1, fp1 = P.corpus_windows(a, tok, 16)
    w2, fp2 = P.corpus_windows(MemoryCorpus("x", maths_texts[:5]), tok, 16)
    assert w2 is w1 and fp2 == fp1 == P.windows_fingerprint(w1)
    assert w1 == P.document_windows(maths_texts[:5], tok, 16)
    w3, fp3 = P.corpus_windows(MemoryCorpus("x", prose_texts[:5]), tok, 16)       # same name, new content
    assert fp3 != fp1 and w3 == P.document_windows(prose_texts[:5], tok, 16)
    assert P.corpus_windows(a, tok, 24)[1] != fp1
