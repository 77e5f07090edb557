"""Predictions with a leave-one-source-out conformal interval (core.validation.predict) and the
``predict`` / ``metrics`` commands."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.errors import AlignScopeError
from core.validation.predict import (Predictor, conformal_radius, fit_predictor, leaderboard_metric,
                                     loo_residuals)

SMALL = Path(__file__).resolve().parents[2] / "data" / "validation_small.json"


def _predictor(x, y, **kw):
    return Predictor(x=np.asarray(x, float), y=np.asarray(y, float), names=tuple(f"s{i}" for i in range(len(x))),
                     metric="m", condition="finetune", outcome="text-ppl", regime="4k", exclude_derived=True, **kw)


def test_the_interval_covers_fresh_sources_at_its_level_on_a_simulation_with_known_noise():
    """Linear truth + Gaussian noise: over many repeated labs of 40 sources, the 95% interval built on
    each lab covers >= 90% of fresh sources drawn from the same law (the level is attainable at n=40)."""
    rng = np.random.default_rng(0)
    hits = total = 0
    for _ in range(200):
        x = rng.uniform(0.2, 0.8, 40)
        y = 30 - 20 * x + rng.normal(0, 1.5, 40)
        p = _predictor(x, y)
        for xf in rng.uniform(0.2, 0.8, 10):
            pr = p.predict(float(xf))
            yf = 30 - 20 * xf + rng.normal(0, 1.5)
            hits += pr.low <= yf <= pr.high
            total += 1
        assert pr.level == pytest.approx(0.95)
    assert hits / total >= 0.90
    assert hits / total <= 0.99                          # not trivially wide


def test_conformal_radius_rank_and_its_level_with_few_points():
    q, level = conformal_radius([3, 1, 2, 5, 4] * 4)      # n = 20: rank ceil(21 * 0.95) = 20 -> the largest
    assert (q, level) == (5.0, 0.95)
    q, level = conformal_radius([3, 1, 2])                # n = 3: 95% is unattainable; level n/(n+1)
    assert q == 3.0 and level == pytest.approx(0.75)
    q, level = conformal_radius(np.arange(1, 41), alpha=0.1)   # rank ceil(41 * 0.9) = 37
    assert q == 37.0 and level == pytest.approx(0.9)
    with pytest.raises(AlignScopeError):
        conformal_radius([])


def test_loo_residuals_and_coverage_by_hand():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    y = 2.0 * x + 1.0
    y[5] += 3.0                                          # one source off the line
    res = loo_residuals(x, y)
    from scipy import stats

    fit = stats.linregress(x[:5], y[:5])                 # without source 5: the exact line
    assert res[5] == pytest.approx(abs(y[5] - (fit.intercept + fit.slope * 5.0)))
    assert res[5] == pytest.approx(3.0)
    p = _predictor(x, y)
    # held out, each point gets the largest residual of the other 5 as radius (level 5/6)
    cover = []
    for j in range(6):
        keep = np.arange(6) != j
        inner = _predictor(x[keep], y[keep]).predict(float(x[j]))
        cover.append(inner.low <= y[j] <= inner.high)
    assert p.coverage() == pytest.approx(sum(cover) / 6)
    assert cover[5] is False or cover[5] == np.False_    # the outlier is missed when held out


def test_extrapolation_is_flagged_widens_the_interval_and_far_outside_refuses_the_point():
    rng = np.random.default_rng(1)
    x = np.linspace(0.3, 0.6, 12)
    p = _predictor(x, 20 - 10 * x + rng.normal(0, 0.5, 12))
    inside = p.predict(0.45)
    assert not inside.extrapolates and inside.distance == 0 and inside.radius == inside.base_radius
    near = p.predict(0.65)                                # 1/6 of the range outside
    assert near.extrapolates and near.distance == pytest.approx(0.05 / 0.3)
    assert near.radius > near.base_radius and near.value is not None and "extrapolation" in near.note
    far = p.predict(0.9)                                  # 2 ranges outside
    assert far.value is None and far.radius > near.radius and "no point estimate" in far.note
    with pytest.raises(AlignScopeError):
        p.predict(float("nan"))


def test_fit_on_lab_results_uses_the_leaderboard_first_metric_unless_told():
    from core.validation.report import load_results

    results = load_results(SMALL)
    first = leaderboard_metric(results, condition="finetune", outcome="text-ppl", regime="4k", exclude_derived=False)
    p = fit_predictor(results, exclude_derived=False)
    assert p.metric == first and p.regime == "4k" and len(p.x) >= 4
    assert fit_predictor(results, metric="gzip", exclude_derived=False).metric == "gzip"
    derived = [n for n, v in results["sources"].items() if v["derived_from_target"]]
    assert not set(fit_predictor(results, metric="gzip").names) & set(derived)
    full = fit_predictor(results, metric="gzip", exclude_derived=False)
    held = fit_predictor(results, metric="gzip", exclude_derived=False, leave_out=full.names[0])
    assert full.names[0] not in held.names and len(held.names) == len(full.names) - 1
    assert held.measured == pytest.approx(full.y[0]) and full.measured is None      # its own runs never fit it
    for bad in (dict(metric="nosuch"), dict(regime="nosuch"), dict(outcome="af-nll"), dict(condition="icl")):
        with pytest.raises(AlignScopeError):
            fit_predictor(results, **{"exclude_derived": False, **bad})


def test_predict_and_metrics_commands(corpora, capsys, monkeypatch, tmp_path):
    """``metrics score`` and ``predict`` on in-memory-registered corpora with a model-free metric (gzip):
    JSON on stdout, the lab fit from a results file, bad input exits 2."""
    from core.cli import main
    from core.validation.report import load_results

    assert main(["metrics", "score", "--target", "bench", "--sources", "maths,prose", "--metrics", "gzip", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["metric"], r["source"]) for r in rows] == [("gzip", "maths"), ("gzip", "prose")]
    assert all(math.isfinite(r["value"]) for r in rows)
    assert main(["metrics", "list", "--json"]) == 0 and "gzip" in capsys.readouterr().out
    for bad in (["metrics", "score", "--sources", "maths,maths", "--target", "bench"],
                ["metrics", "score", "--sources", "maths", "--target", "bench", "--metrics", "nosuch"],
                ["metrics", "score", "--sources", ",", "--target", "bench"]):
        assert main(bad) == 2

    results = load_results(SMALL)
    results["target"] = "bench"
    lab = tmp_path / "lab.json"
    lab.write_text(json.dumps(results))
    assert main(["predict", "--target", "bench", "--source", "prose", "--metric", "gzip", "--results", str(lab),
                 "--with-derived", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "gzip" and out["low"] <= out["high"] and out["n"] >= 4
    assert out["metric_value"] == pytest.approx(rows[1]["value"])
    assert out["extrapolates"] == (not out["fit_range"][0] <= out["metric_value"] <= out["fit_range"][1])
    from core.validation.predict_cli import prediction_cell, ranking_predictions

    cells = ranking_predictions(["prose", "wiki-ish", "bench"], target="bench", results_path=str(lab), metric="gzip",
                                with_derived=True)
    assert cells["prose"]["value"] == pytest.approx(out["value"])       # cached gzip value: the same prediction
    assert cells["wiki-ish"] is None and cells["bench"] is None         # not cached (nothing computed) / the test split
    assert prediction_cell(cells["prose"]).endswith("(gzip)" + (", extrapolates" if out["extrapolates"] else ""))
    assert prediction_cell(None) == ""
    assert ranking_predictions(["prose"], target="bench", results_path=str(tmp_path / "none.json")) == {"prose": None}
    for bad in (["predict", "--target", "bench", "--source", "bench", "--results", str(lab)],           # the test split
                ["predict", "--target", "proofnet", "--source", "prose", "--results", str(lab)],        # other target
                ["predict", "--target", "bench", "--source", "prose", "--results", str(lab), "--metric", "nosuch"],
                ["predict", "--target", "bench", "--source", "prose", "--results", str(tmp_path / "none.json")]):
        assert main(bad) == 2


def test_the_closed_form_fit_is_linregress_and_the_coverage_is_computed_once(monkeypatch):
    from scipy import stats

    import core.validation.predict as P

    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 1, 25), rng.normal(0, 1, 25)
    fit = stats.linregress(x, y)
    assert P._ols(x, y) == pytest.approx((fit.slope, fit.intercept), rel=1e-12, abs=1e-12)
    assert P._ols(np.full(4, 0.5), np.array([1.0, 2.0, 3.0, 6.0])) == (0.0, 3.0)      # constant x: the mean
    calls = []
    real = P._loso_coverage
    monkeypatch.setattr(P, "_loso_coverage", lambda *a, **k: calls.append(1) or real(*a, **k))
    p = _predictor(x, y)
    first = p.coverage()
    assert [p.predict(v).coverage for v in (0.2, 0.5, 0.8)] == [first] * 3 and len(calls) == 1
