"""The completion-NLL kernel: masking to the completion, the prefix cache, order, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from core.errors import AlignScopeError
from core.outcomes.nll import CompletionScores, completion_nll


def _load(folder):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(folder).eval()


def _hand(model, prefix, context, completion) -> float:
    """Sum of -log softmax(full logits)[next token] over the completion's positions (uncached forward)."""
    seq = list(prefix) + list(context) + list(completion)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([seq])).logits[0].double()                 # [T, V]
    logp = torch.log_softmax(logits, -1)
    start = len(prefix) + len(context)
    return float(-sum(logp[p - 1, seq[p]] for p in range(start, len(seq))))


ITEMS = [([5, 17, 250, 9], [33, 44, 1000]), ([7], [8, 9, 10, 11, 12, 13]), ([100, 200, 300, 400, 500, 600], [42]),
         ([11, 12], [13, 14])]


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_untied_dir"])
@pytest.mark.parametrize("prefix", [(), (3, 99, 4000, 12, 6)])
def test_matches_hand_computation_with_and_without_prefix_cache(request, fixture, prefix):
    model = _load(request.getfixturevalue(fixture))
    got = completion_nll(model, ITEMS, prefix=prefix, batch_size=3)
    want = np.array([_hand(model, prefix, c, m) for c, m in ITEMS])
    assert isinstance(got, CompletionScores)
    assert got.nll.dtype == np.float64 and got.tokens.dtype == np.int64
    np.testing.assert_array_equal(got.tokens, [3, 6, 1, 2])
    np.testing.assert_allclose(got.nll, want, rtol=1e-5, atol=1e-5)
    assert got.mean_nll == pytest.approx(want.sum() / 12, rel=1e-5)
    assert got.perplexity == pytest.approx(np.exp(want.sum() / 12), rel=1e-5)


def test_empty_context_after_prefix_scores_first_token_from_prefix(tiny_model_dir):
    model = _load(tiny_model_dir)
    prefix = (3, 99, 4000)
    got = completion_nll(model, [([], [5, 6, 7]), ([1, 2], [3])], prefix=prefix, batch_size=2)
    np.testing.assert_allclose(got.nll, [_hand(model, prefix, [], [5, 6, 7]), _hand(model, prefix, [1, 2], [3])],
                               rtol=1e-5, atol=1e-5)


def test_batch_size_does_not_change_scores_and_context_is_masked(tiny_model_dir):
    model = _load(tiny_model_dir)
    one = completion_nll(model, ITEMS, batch_size=1)
    many = completion_nll(model, ITEMS, batch_size=8)
    np.testing.assert_allclose(one.nll, many.nll, rtol=1e-5, atol=1e-6)
    # changing the scored completion changes the score; the context's own likelihood is never added
    other = completion_nll(model, [(ITEMS[0][0], [33, 44, 1001])])
    assert other.nll[0] != pytest.approx(one.nll[0])


def test_peft_lora_model_is_unwrapped(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    model = _load(tiny_model_dir)
    base = completion_nll(model, ITEMS).nll
    torch.manual_seed(1)
    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], lora_alpha=4,
                                            init_lora_weights=False)).eval()          # B != 0: LoRA changes outputs
    got = completion_nll(lora, ITEMS).nll
    np.testing.assert_allclose(got, [_hand(lora, (), c, m) for c, m in ITEMS], rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, base, rtol=1e-4)


def test_progress_and_stop(tiny_model_dir):
    model = _load(tiny_model_dir)
    seen = []
    completion_nll(model, ITEMS, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    with pytest.raises(InterruptedError):
        completion_nll(model, ITEMS, should_stop=lambda: True)


@pytest.mark.parametrize("items, prefix, word", [([([], [1, 2])], (), "Item 0"), ([([1], [2]), ([3], [])], (), "Item 1"),
                                                 ([], (), "No items")])
def test_bad_items_are_named(tiny_model_dir, items, prefix, word):
    model = _load(tiny_model_dir)
    with pytest.raises(AlignScopeError, match=word):
        completion_nll(model, items, prefix=prefix)
    with pytest.raises(AlignScopeError, match="batch_size"):
        completion_nll(model, ITEMS, batch_size=0)
