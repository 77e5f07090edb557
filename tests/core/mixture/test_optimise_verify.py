"""The optimiser on constructed embeddings; verification, jobs and the CLI on the tiny model."""
import json

import numpy as np
import pytest

from core.errors import AlignScopeError
from core.mixture import MissingEmbeddingsError, load_source_set, predict_mixture, suggest_mix, verify_mixture
from core.mixture.predict import SourceSet, objective


def _constructed(noise_sd=0.0, seed=0, n=5, D=60):
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 1.0, size=(4, D))
    E = np.stack([base[i] * rng.lognormal(0, noise_sd, size=(n, D)) for i in range(4)])
    T = (0.3 * base[0] + 0.7 * base[1]) * rng.lognormal(0, noise_sd, size=(n, D))
    return SourceSet("t", ["a", "b", "c", "d"], E, T, np.full(4, 100.0), 16)


def test_optimiser_finds_the_known_best_mix():
    sug = suggest_mix(_constructed())
    np.testing.assert_allclose([sug.weights[s] for s in "abcd"], [0.3, 0.7, 0, 0], atol=2e-3)
    assert sug.feasible and sug.prediction.alignment.value > 0.9999
    noisy = suggest_mix(_constructed(0.05))
    np.testing.assert_allclose([noisy.weights[s] for s in "abcd"], [0.3, 0.7, 0, 0], atol=0.03)


def test_caps_and_diversity_floor():
    ss = _constructed(0.05)
    capped = suggest_mix(ss, cap=0.5)
    assert max(capped.weights.values()) <= 0.5 + 1e-6
    assert capped.prediction.alignment.value < suggest_mix(ss).prediction.alignment.value
    rng = np.random.default_rng(1)
    for _ in range(20):                      # no random feasible mix beats the suggestion
        w = rng.dirichlet(np.ones(4))
        if w.max() <= 0.5:
            assert objective(w, ss.E, ss.T)[0] <= capped.objective + 1e-6
    base_div = objective(np.array([0.3, 0.7, 0, 0]), ss.E, ss.T, diversity=True)[0]
    floor = suggest_mix(ss, min_diversity=base_div * 1.5)
    if floor.feasible:
        assert objective(np.array([floor.weights[s] for s in "abcd"]), ss.E, ss.T, diversity=True)[0] >= base_div * 1.5 - 1e-6
    impossible = suggest_mix(ss, min_diversity=0.99)
    assert not impossible.feasible and "No mix reaches" in impossible.message
    with pytest.raises(AlignScopeError, match="sum to 0.600 < 1"):
        suggest_mix(ss, cap=0.15)


def test_missing_embeddings_are_named(corpora, small_settings):
    from core.pipeline import embed_corpus

    embed_corpus("tgt", small_settings, progress=False)
    with pytest.raises(MissingEmbeddingsError) as exc:
        load_source_set("tgt", ["mx-maths", "mx-prose"], small_settings)
    assert exc.value.missing == ["mx-maths", "mx-prose"]
    assert "python -m core embed --corpus mx-maths,mx-prose" in str(exc.value)
    with pytest.raises(AlignScopeError, match="also a source"):
        load_source_set("tgt", ["tgt"], small_settings)


def test_verify_measures_real_mixed_batches_and_caches_them(corpora, small_settings):
    r = verify_mixture({"mx-maths": 0.5, "mx-prose": 0.5}, "tgt", small_settings)   # computes missing sources too
    assert sum(r["sequences"].values()) == 4 and r["computed"] == 3
    assert sum(r["realised_weights"].values()) == pytest.approx(1.0)
    for what in ("alignment", "diversity"):
        m, p = r["measured"][what], r["predicted"][what]
        assert 0 <= m["value"] <= 1 and m["ci_low"] <= m["value"] <= m["ci_high"]
        assert abs(m["value"] - p["value"]) < 0.2
    json.dumps(r)                                          # the job result must be JSON
    again = verify_mixture({"mx-maths": 0.5, "mx-prose": 0.5}, "tgt", small_settings)
    assert (again["computed"], again["cached"]) == (0, 3)
    assert again["measured"] == r["measured"]


def test_verify_job_kind(corpora, small_settings):
    from core import jobs
    from core.mixture.jobs import submit_verify

    assert jobs.JOB_KINDS["mix_verify"] == "core.mixture.jobs:verify_job"
    job = submit_verify({"mx-maths": 0.25, "mx-code": 0.75}, "tgt", small_settings, wait=True)
    assert job.status()["state"] == "done", job.status()
    assert set(job.result()["measured"]) == {"alignment", "diversity"}
    assert submit_verify({"mx-code": 0.75, "mx-maths": 0.25}, "tgt", small_settings).job_id == job.job_id


def test_cli_mix_commands(corpora, small_settings, tiny_model_dir, tmp_path, capsys):
    from core.cli import main
    from core.pipeline import embed_corpora

    embed_corpora(["tgt", "mx-maths", "mx-prose"], small_settings, progress=False)
    small = ["--model", tiny_model_dir, "--batch-size", "4", "--seq-len", "32", "--num-batches", "3", "--device", "cpu"]
    assert main(["mix", "predict", "--target", "tgt", "--weights", "mx-code=1", *small]) == 2
    assert "not computed yet for: mx-code" in capsys.readouterr().err
    assert main(["mix", "predict", "--target", "tgt", "--weights", "mx-code=1", "--compute-missing", "--json", *small]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == {"mx-code": 1.0}
    assert main(["mix", "predict", "--target", "tgt", "--weights", "mx-maths=1,mx-prose=1", "--json", *small]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["weights"] == {"mx-maths": 0.5, "mx-prose": 0.5} and 0 < out["alignment"]["value"] <= 1
    assert main(["mix", "suggest", "--target", "tgt", "--sources", "mx-maths,mx-prose,mx-code", "--save", "best",
                 "--budget", "2000", "--json", *small]) == 0
    sug = json.loads(capsys.readouterr().out)
    assert sug["saved"].endswith("best.json") and sug["weights"]["mx-maths"] > 0.5
    assert main(["mix", "export", "best", "--out", str(tmp_path / "best.jsonl"), "--model", tiny_model_dir]) == 0
    assert "rows" in capsys.readouterr().out and (tmp_path / "best.jsonl").is_file()
    assert main(["mix", "list"]) == 0 and "best" in capsys.readouterr().out
    # bad input: exit 2 with one clear line
    assert main(["mix", "predict", "--target", "tgt", "--weights", "mx-maths=0,mx-prose=0", *small]) == 2
    assert "All weights" in capsys.readouterr().err
    assert main(["mix", "predict", "--target", "tgt", "--weights", "mx-tiny=1", *small]) == 2
    err = capsys.readouterr().err
    assert "mx-tiny" in err
    assert main(["mix", "save", "x", "--weights", "mx-maths=0.5,mx-tiny=0.5", "--budget", "100000"]) == 0
    assert main(["mix", "export", "x", "--out", str(tmp_path / "x.jsonl"), "--model", tiny_model_dir]) == 2
    assert "fewer than its share" in capsys.readouterr().err
    assert main(["mix", "show", "nope"]) == 2 and "Saved mixtures: best, x" in capsys.readouterr().err
