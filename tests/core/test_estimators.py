import numpy as np
import pytest
import torch

from core.batches import BatchConfig, TokenBatch, sample_batches
from core.errors import EstimatorError
from core.estimators import REGISTRY, check_embedding, get_estimator
from core.estimators.closed_form import head_fim_diag, real_hidden
from core.estimators.reference import final_hidden_states, weight_modules
from core.probe import load_probe
from tests.conftest import MemoryCorpus


@pytest.fixture(scope="module")
def tied(tiny_model_dir):
    return load_probe(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def untied(tiny_untied_dir):
    return load_probe(tiny_untied_dir, device="cpu")


@pytest.fixture(scope="module")
def batch(tied, maths_texts):
    return sample_batches(MemoryCorpus("maths", maths_texts), tied.tokenizer, BatchConfig(batch_size=4, seq_len=24, num_batches=1))[0]


def test_registry_has_the_built_ins_and_rejects_unknowns():
    assert {"reference", "closed_form_head", "closed_form_blocks"} <= set(REGISTRY)
    with pytest.raises(EstimatorError, match="Unknown Task2Vec estimator 'nope'"):
        get_estimator("nope")
    with pytest.raises(EstimatorError, match="no parameter"):
        get_estimator("reference", epoch=3)
    assert get_estimator("reference", epochs=3).fingerprint()["epochs"] == 3
    assert get_estimator("reference").fingerprint() == get_estimator("reference", epochs=10).fingerprint()


@pytest.mark.parametrize("probe_name", ["tied", "untied"])
@pytest.mark.parametrize("name,params", [("reference", {"epochs": 1}), ("closed_form_head", {}),
                                         ("closed_form_blocks", {"k": 1})])
def test_every_estimator_runs_on_tied_and_untied_models(request, probe_name, name, params, maths_texts):
    probe = request.getfixturevalue(probe_name)
    assert probe.tied_embeddings == (probe_name == "tied")
    b = sample_batches(MemoryCorpus("m", maths_texts), probe.tokenizer, BatchConfig(batch_size=4, seq_len=24, num_batches=1))[0]
    est = get_estimator(name, **params)
    before = {k: v.clone() for k, v in probe.model.state_dict().items()}
    e = est.embed(probe, b)
    assert e.dtype == np.float32 and e.ndim == 1 and e.shape[0] == est.layout(probe)[-1].stop
    assert np.all(np.isfinite(e)) and np.all(e >= 0) and e.max() > 0
    after = probe.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "an estimator must not change the probe's weights"
    assert all(p.requires_grad for p in probe.model.parameters())


def test_reference_mc_fim_matches_brute_force_per_example(tied, batch):
    """The minibatch FIM (squared gradient of the mean sampled NLL over real positions) equals the same
    quantity assembled from per-example gradients computed one sequence at a time."""
    est = get_estimator("reference", epochs=0)
    ids, mask = batch.to_torch()
    head = tied.lm_head
    w = head.weight.detach().clone()
    gen = torch.Generator().manual_seed(0)
    with torch.enable_grad():
        fast, labels = est.minibatch_fim(tied, ids, mask, w, None, generator=gen)
    params = [p for _, p in weight_modules(tied)]
    n = int(mask.sum())
    total = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    offset = 0
    for i in range(ids.shape[0]):                                # one example at a time
        m = mask[i].bool()
        k = int(m.sum())
        with torch.enable_grad():
            h = final_hidden_states(tied, ids[i:i + 1], mask[i:i + 1])[0][m]
            logp = torch.log_softmax(h @ w.T, -1)
            nll = -logp[torch.arange(k), labels[offset:offset + k]].sum()
            grads = torch.autograd.grad(nll, params, allow_unused=True)
        for t, g in zip(total, grads):
            if g is not None:
                t += g.double() / n
        offset += k
    brute = [t.pow(2).reshape(t.shape[0], -1).mean(1) for t in total]
    for a, b in zip(fast, brute):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-12)


def test_reference_fim_excludes_padding(tied, batch):
    """Padding columns appended to a batch change nothing when the sampled labels are the same."""
    est = get_estimator("reference", epochs=0)
    ids, mask = batch.to_torch()
    pad = torch.full((ids.shape[0], 8), tied.tokenizer.pad_token_id)
    ids2, mask2 = torch.cat([ids, pad], 1), torch.cat([mask, torch.zeros_like(pad)], 1)
    w = tied.lm_head.weight.detach().clone()
    with torch.enable_grad():
        a, labels = est.minibatch_fim(tied, ids, mask, w, None, generator=torch.Generator().manual_seed(1))
        b, _ = est.minibatch_fim(tied, ids2, mask2, w, None, labels=labels)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-12)


def test_reference_head_finetuning_lowers_loss_and_keeps_input_embeddings(tied, batch):
    est = get_estimator("reference", epochs=5, lr=1e-2)
    ids, mask = batch.to_torch()
    w0 = tied.lm_head.weight.detach().clone()
    w, _ = est.finetune_head(tied, ids, mask)

    def loss(weight):
        with torch.no_grad():
            h = final_hidden_states(tied, ids, mask)[:, :-1]
            valid = (mask[:, 1:] * mask[:, :-1]).bool()
            return torch.nn.functional.cross_entropy(h[valid] @ weight.T, ids[:, 1:][valid]).item()

    assert loss(w) < loss(w0)
    assert torch.equal(tied.model.get_input_embeddings().weight, w0)


def test_closed_form_equals_monte_carlo_expectation(tied, batch):
    """E_y[(d/dW log p(y))^2] estimated with many sampled labels converges to p(1-p) h^2 (eq. 1)."""
    # 6 positions [6, d]; scaled up so the random tiny model's softmax is peaked enough for MC to resolve
    h = real_hidden(tied, batch, 4)[:6] * 20
    W = tied.lm_head.weight.detach()[:512]                                # a 512-way softmax head keeps MC cheap
    closed = head_fim_diag(h, W, full=True)                               # [V, d]
    Wp = W.clone().requires_grad_(True)
    logits = h @ Wp.T
    probs = torch.softmax(logits.detach(), -1)
    gen = torch.Generator().manual_seed(0)
    acc = torch.zeros_like(W, dtype=torch.float64)
    draws = 4000
    for _ in range(draws):
        y = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        g, = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y, reduction="sum"), Wp, retain_graph=True)
        acc += g.double() ** 2
    mc = (acc / draws / h.shape[0]).float()
    assert mc.sum().item() == pytest.approx(closed.sum().item(), rel=0.05)
    top = torch.topk(closed.sum(1), 10).indices
    torch.testing.assert_close(mc[top].sum(1), closed[top].sum(1), rtol=0.2, atol=0)


def test_closed_form_is_invariant_to_padding(tied, batch):
    est = get_estimator("closed_form_head")
    pad = np.full((batch.input_ids.shape[0], 10), tied.tokenizer.pad_token_id)
    padded = TokenBatch(batch.corpus, batch.index, np.concatenate([batch.input_ids, pad], 1),
                        np.concatenate([batch.attention_mask, np.zeros_like(pad)], 1), batch.doc_ids, batch.offsets)
    extra_rows = TokenBatch(batch.corpus, batch.index, np.concatenate([batch.input_ids, np.full_like(batch.input_ids[:2], 2)]),
                            np.concatenate([batch.attention_mask, np.zeros_like(batch.attention_mask[:2])]),
                            batch.doc_ids, batch.offsets)
    e = est.embed(tied, batch)
    np.testing.assert_allclose(est.embed(tied, padded), e, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(est.embed(tied, extra_rows), e, rtol=1e-4, atol=1e-12)


def test_chunked_vocabulary_equals_unchunked(tied, batch):
    h = real_hidden(tied, batch, 4)
    W = tied.lm_head.weight.detach()
    full = head_fim_diag(h, W, vocab_chunk=10 ** 6)                        # one pass, logits in memory
    torch.testing.assert_close(head_fim_diag(h, W, vocab_chunk=1000, max_logits_bytes=0), full, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(head_fim_diag(h, W, vocab_chunk=777, full=True).mean(1), full, rtol=1e-5, atol=1e-12)


def test_nan_and_zero_fims_are_clear_errors():
    with pytest.raises(EstimatorError, match="NaN"):
        check_embedding(np.array([1.0, np.nan]), where="batch 0 of corpus 'x'")
    with pytest.raises(EstimatorError, match="all zeros"):
        check_embedding(np.zeros(4), where="batch 0 of corpus 'x'")


def test_bf16_autocast_stays_within_tolerance(tied, batch):
    from core.distance import task2vec_distance

    e32 = get_estimator("closed_form_head").embed(tied, batch)
    e16 = get_estimator("closed_form_head", autocast="bf16").embed(tied, batch)
    assert task2vec_distance(e32, e16) < 0.01
    with pytest.raises(EstimatorError):
        get_estimator("closed_form_head", autocast="fp8")


@pytest.mark.parametrize("name,params", [("reference", {"epochs": 1}), ("closed_form_head", {}),
                                         ("closed_form_blocks", {"k": 1})])
def test_bf16_precision_is_used_and_stays_within_tolerance_of_fp32(tied, batch, name, params):
    from core.distance import task2vec_distance

    est = get_estimator(name, **params)
    e32 = est.embed(tied, batch, precision="fp32")
    e16 = est.embed(tied, batch, precision="bf16")
    assert e16.dtype == np.float32 and e16.shape == e32.shape
    assert not np.array_equal(e32, e16)                     # bf16 really ran
    assert task2vec_distance(e32, e16) < 1e-3
    assert "precision" not in est.fingerprint()             # an execution setting, keyed by the pipeline
    with pytest.raises(Exception, match="precision"):
        est.embed(tied, batch, precision="fp8")


def test_auto_precision_in_embed_resolves_on_the_probe_device(tied, batch, monkeypatch):
    from core.precision import fast_bf16

    monkeypatch.setenv("ALIGNSCOPE_FAST_BF16", "0")
    fast_bf16.cache_clear()
    try:
        est = get_estimator("closed_form_head")
        np.testing.assert_array_equal(est.embed(tied, batch, precision="auto"), est.embed(tied, batch))
    finally:
        fast_bf16.cache_clear()


def test_legacy_autocast_field_fixes_the_forward_and_keeps_its_key(tied, batch):
    """autocast="bf16" (a key field) keeps its old meaning: bf16 forward, float32 head, whatever the
    precision; precision="bf16" alone adds the bf16 head logits. Both stay close to fp32."""
    from core.distance import task2vec_distance

    legacy = get_estimator("closed_form_head", autocast="bf16")
    assert legacy.fingerprint()["autocast"] == "bf16"
    assert get_estimator("closed_form_head").fingerprint()["autocast"] == "none"   # old default keys unchanged
    h = real_hidden(tied, batch, 4, "bf16")
    old = head_fim_diag(h, tied.lm_head.weight).numpy()
    np.testing.assert_allclose(legacy.embed(tied, batch, precision="fp32"), old, rtol=1e-6, atol=0)
    e32 = get_estimator("closed_form_head").embed(tied, batch, precision="fp32")
    both = legacy.embed(tied, batch, precision="bf16")
    assert task2vec_distance(both, e32) < 1e-3 and not np.array_equal(both, old)


def test_head_fim_bf16_logits_are_widened_before_the_softmax(tied, batch):
    h = real_hidden(tied, batch, 4)
    W = tied.lm_head.weight.detach()
    e32 = head_fim_diag(h, W)
    e16 = head_fim_diag(h, W, precision="bf16")
    chunked = head_fim_diag(h, W, precision="bf16", vocab_chunk=1000, max_logits_bytes=0)
    assert e16.dtype == torch.float32 and chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, e16, rtol=1e-4, atol=1e-12)      # same bf16 logits, chunked or not
    torch.testing.assert_close(e16, e32, rtol=0.05, atol=1e-9)


@pytest.mark.precision_sensitive
@pytest.mark.parametrize("ratio,expected", [(2.0, "bf16"), (1.1, "fp32")])
def test_auto_decided_on_the_probes_own_step_embeds_as_that_precision(tied, batch, monkeypatch, ratio, expected):
    """``auto`` resolved with the probe network follows its measured closed_form_head step (the timer is
    replaced by given timings, issue 20), and the embedding is the one of the precision it chose;
    on the timing batch itself bf16 stays within the Task2Vec tolerance of fp32."""
    from core import precision as P
    from core.distance import task2vec_distance

    monkeypatch.delenv("ALIGNSCOPE_FAST_BF16", raising=False)
    monkeypatch.setattr(P, "_cpu_bf16_flag", lambda: True)
    monkeypatch.setattr(P, "_time_steps", lambda probe, b, repeats: {"fp32": [ratio] * repeats, "bf16": [1.0] * repeats})
    P._DECISIONS.clear()
    try:
        resolved = P.resolve_precision("auto", tied.device, probe=tied)
        assert resolved == expected
        est = get_estimator("closed_form_head")
        np.testing.assert_array_equal(est.embed(tied, batch, precision=resolved), est.embed(tied, batch, precision=expected))
        step = P.step_batch(tied)
        assert task2vec_distance(est.embed(tied, step, precision="fp32"), est.embed(tied, step, precision="bf16")) < 1e-3
    finally:
        P._DECISIONS.clear()
