"""The mixture model: exact linearity of the closed-form head embedding, prediction, gradients."""
import numpy as np
import pytest

from core.batches import BatchConfig, TokenBatch, sample_batches
from core.coefficients import alignment_coefficient
from core.estimators import get_estimator
from core.mixture.predict import (SourceSet, distance_and_grads, objective, predict_embeddings, predict_mixture,
                                  single_source_alignments)
from core.probe import load_probe
from tests.conftest import MemoryCorpus


def _concat(parts, name="mix"):
    return TokenBatch(name, 0, np.concatenate([p.input_ids for p in parts]),
                      np.concatenate([p.attention_mask for p in parts]),
                      tuple(d for p in parts for d in p.doc_ids), tuple(o for p in parts for o in p.offsets))


def test_mixed_batch_embedding_is_token_weighted_combination(tiny_model_dir, maths_texts, prose_texts):
    """Eq. (M1): e(B) = sum_s (N_s / N) e(B_s) exactly for closed_form_head (padding included)."""
    probe = load_probe(tiny_model_dir, device="cpu")
    est = get_estimator("closed_form_head", minibatch=4)
    # seq_len 48: short maths snippets (padding) and longer prose (full windows)
    short = [t[:40 + 7 * (i % 5)] for i, t in enumerate(maths_texts)]
    a = sample_batches(MemoryCorpus("maths", short), probe.tokenizer, BatchConfig(3, 48, 1, 0))[0]
    b = sample_batches(MemoryCorpus("prose", prose_texts), probe.tokenizer, BatchConfig(5, 48, 1, 0))[0]
    assert a.num_tokens < 3 * 48  # some padding in the maths part
    mixed = _concat([a, b])
    e_mix = est.embed(probe, mixed).astype(np.float64)
    e_a, e_b = est.embed(probe, a).astype(np.float64), est.embed(probe, b).astype(np.float64)
    w = np.array([a.num_tokens, b.num_tokens], dtype=np.float64) / mixed.num_tokens
    pred = predict_embeddings(np.stack([e_a, e_b])[:, None], w)[0]
    np.testing.assert_allclose(pred, e_mix, rtol=2e-5, atol=1e-12)
    # the sequence-count (document) weighting is measurably different
    wrong = predict_embeddings(np.stack([e_a, e_b])[:, None], np.array([3, 5]) / 8)[0]
    assert np.abs(wrong - e_mix).max() > 100 * np.abs(pred - e_mix).max()


def _toy(seed=0, S=3, n=5, m=4, D=40):
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 1.0, size=(S, 1, D))
    E = base * rng.lognormal(0, 0.1, size=(S, n, D))
    T = (0.3 * base[0] + 0.7 * base[1]) * rng.lognormal(0, 0.1, size=(m, D))
    return SourceSet("target", [f"s{i}" for i in range(S)], E, T, np.full(S, 100.0), 16)


def test_single_source_prediction_is_that_source():
    ss = _toy()
    for noise in ("linear", "subbatch"):
        p = predict_mixture(ss, {"s1": 1.0}, noise=noise)
        np.testing.assert_allclose(p.embeddings, ss.E[1])
        assert p.alignment.value == pytest.approx(alignment_coefficient(ss.E[1], ss.T).value)
    rows = single_source_alignments(ss)
    assert rows[0]["source"] in ("s0", "s1") and rows[0]["alignment"] >= rows[-1]["alignment"]


def test_predicted_value_has_ci_and_objective_matches():
    ss = _toy()
    w = np.array([0.2, 0.5, 0.3])
    for noise in ("linear", "subbatch"):
        p = predict_mixture(ss, w, noise=noise)
        assert p.alignment.ci_low <= p.alignment.value <= p.alignment.ci_high
        v, _ = objective(w, ss.E, ss.T, ss.tokens_per_seq, 16, noise=noise)
        assert v == pytest.approx(p.alignment.value, abs=1e-9)
        dv, _ = objective(w, ss.E, ss.T, ss.tokens_per_seq, 16, noise=noise, diversity=True)
        assert dv == pytest.approx(p.diversity.value, abs=1e-9)
    # sub-batch noise makes mixed batches more varied than the plain linear combination
    assert predict_mixture(ss, w, noise="subbatch").diversity.value > predict_mixture(ss, w, noise="linear").diversity.value


@pytest.mark.parametrize("noise", ["linear", "subbatch"])
@pytest.mark.parametrize("div", [False, True])
def test_objective_gradient_matches_finite_differences(noise, div):
    ss = _toy(1)
    w = np.array([0.25, 0.45, 0.3])
    L = np.array([90.0, 120.0, 60.0])
    _, g = objective(w, ss.E, ss.T, L, 16, noise=noise, diversity=div)
    h = 1e-6
    for s in range(3):
        e = np.eye(3)[s] * h
        fd = (objective(w + e, ss.E, ss.T, L, 16, noise=noise, diversity=div)[0]
              - objective(w - e, ss.E, ss.T, L, 16, noise=noise, diversity=div)[0]) / (2 * h)
        assert g[s] == pytest.approx(fd, rel=1e-4, abs=1e-7)


def test_distance_gradient_against_core_distance():
    from core.distance import pairwise_distances

    rng = np.random.default_rng(3)
    a, b = rng.gamma(2, 1, (4, 30)), rng.gamma(2, 1, (4, 30))
    a[0, :5] = 0.0
    b[0, :3] = 0.0  # coordinates where both are zero are skipped
    d, _, _ = distance_and_grads(a, b)
    np.testing.assert_allclose(d, np.diag(pairwise_distances(a, b)), atol=1e-12)
