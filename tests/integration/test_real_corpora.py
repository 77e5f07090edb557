"""Integration: the real embedded probe network (SmolLM2-135M) on real installed corpora.

Small batches keep this under a minute on 2 CPU cores. Corpora that are not installed are skipped
with the command that installs them (never counted as passing)."""
import numpy as np
import pytest

from core.batches import BatchConfig
from core.corpora import get_corpus
from core.pipeline import EmbedSettings, align, embed_corpus

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def real_corpora(monkeypatch, isolated_cache):
    """Use the repo's installed demo corpora (cache/corpora) with an otherwise isolated cache."""
    from core import paths

    real = paths.REPO_ROOT / "cache" / "corpora"
    if real.is_dir() and not (isolated_cache / "corpora").exists():
        (isolated_cache / "corpora").symlink_to(real, target_is_directory=True)


def need(name):
    c = get_corpus(name)
    if not c.available():
        pytest.skip(f"corpus {name} not installed: run {c.install_hint()}")
    return c


def test_formal_maths_is_more_aligned_with_proofnet_than_general_prose():
    for n in ("proofnet", "metamath", "coq-stdlib", "wikipedia", "news"):
        need(n)
    settings = EmbedSettings(estimator="closed_form_head", device="cpu",
                             batch=BatchConfig(batch_size=8, seq_len=64, num_batches=3))
    res = align("proofnet", ["metamath", "coq-stdlib", "wikipedia", "news"], settings, progress=False)
    by = {r["source"]: r for r in res["ranking"]}
    formal = min(by["metamath"]["alignment"], by["coq-stdlib"]["alignment"])
    prose = max(by["wikipedia"]["alignment"], by["news"]["alignment"])
    assert formal > prose, res["ranking"]
    for r in res["ranking"]:
        assert r["ci_low"] <= r["alignment"] <= r["ci_high"]
    again = align("proofnet", ["metamath", "coq-stdlib", "wikipedia", "news"], settings, progress=False)
    assert sum(e.computed for e in again["embedded"].values()) == 0
    assert [r["alignment"] for r in again["ranking"]] == [r["alignment"] for r in res["ranking"]]


def test_reference_recipe_runs_on_the_real_probe_network():
    need("proofnet")
    settings = EmbedSettings(estimator="reference", estimator_params=(("epochs", 1),), device="cpu",
                             batch=BatchConfig(batch_size=4, seq_len=32, num_batches=1))
    r = embed_corpus("proofnet", settings, progress=False)
    assert r.embeddings.shape == (1, 239_808) and np.all(np.isfinite(r.embeddings))
    assert (r.embeddings > 0).mean() > 0.5
