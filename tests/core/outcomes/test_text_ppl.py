"""text-ppl: per-document sums whose aggregate is the fine-tune layer's perplexity() on the same windows."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.corpora.memory import InMemoryCorpus
from core.finetune import perplexity as ft_ppl
from core.outcomes.base import get_outcome
from core.outcomes.text_ppl import corpus_document_windows, corpus_windows, window_nll


def _old_perplexity(model, windows, batch_size, pad_id=0):
    """The pre-outcomes implementation of core.finetune.perplexity.perplexity (full logits, masked CE)."""
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    total, count = 0.0, 0
    with torch.no_grad():
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            width = max(len(windows[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(windows[i])] = torch.tensor(windows[i])
                mask[r, :len(windows[i])] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits
            keep = mask[:, 1:].bool()
            nll = torch.nn.functional.cross_entropy(logits[:, :-1][keep].float(), ids[:, 1:][keep], reduction="none")
            total += float(nll.double().sum())
            count += int(keep.sum())
    return total / count, count


def test_text_ppl_aggregate_equals_perplexity_on_the_same_windows(tiny):
    model, tok = tiny
    windows, _ = corpus_windows("proofnet", tok, 128)
    sub = windows[:24]
    old_nll, old_tokens = _old_perplexity(model, sub, 8)
    p = ft_ppl.perplexity(model, sub, batch_size=8)
    assert p.nll == old_nll and p.tokens == old_tokens and p.perplexity == math.exp(old_nll)   # unchanged results
    s = window_nll(model, sub, batch_size=8)
    assert s.total_nll / old_tokens == old_nll                         # the same float64 accumulation
    assert s.nll.sum() == pytest.approx(s.total_nll, rel=1e-13)       # per-window sums add up to it
    np.testing.assert_array_equal(s.tokens, [len(w) - 1 for w in sub])


def test_text_ppl_per_document_sums(tiny):
    model, tok = tiny
    docs = ["informal statement " + "x + y = y + x. " * 40 + "formal statement theorem foo : true :=",
            "short doc here", "a"]
    corpus = InMemoryCorpus("mem-bench", docs)
    windows, owner, ids = corpus_document_windows(corpus, tok, 32)
    assert owner[0] == 0 and owner.count(0) > 1 and 2 not in owner      # long doc: several windows; 1-token doc none
    s = window_nll(model, windows, batch_size=3)
    old = ft_ppl.perplexity(model, windows, batch_size=3)
    assert s.nll.sum() / s.tokens.sum() == pytest.approx(old.nll, rel=1e-13)


def test_text_ppl_outcome_on_proofnet(tiny):
    model, tok = tiny
    from core.corpora import get_corpus

    docs = get_corpus("proofnet").documents()[:6]
    res = get_outcome("text-ppl").measure(model, tok, "proofnet", problem_ids=[d.doc_id for d in docs], batch_size=4)
    windows, owner, ids = corpus_document_windows("proofnet", tok, 128)
    mine = [w for w, o in zip(windows, owner) if o < 6]
    want = ft_ppl.perplexity(model, mine, batch_size=4)
    assert res.problem_ids == [d.doc_id for d in docs]
    assert res.value == pytest.approx(want.perplexity, rel=1e-12)
    assert res.extra["nll"] == pytest.approx(want.nll, rel=1e-12) and int(res.arrays["tokens"].sum()) == want.tokens
    assert res.ci[0] <= res.value <= res.ci[1]
