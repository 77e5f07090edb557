"""Statistics of the validation lab: nested bootstrap (incl. a coverage simulation), permutation
p-value, leave-one-source-out error, paired r^2 differences, failed seeds, too few points, dose."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from core.errors import AlignScopeError
from core.validation import stats
from tests.core.validation.conftest import make_results

FAST = dict(n_boot=400, n_permutations=999)


def _row(rows, metric, regime="4k"):
    return next(r for r in rows if r["metric"] == metric and r["regime"] == regime)


def _linear_points(n=6, *, seeds=3, slope=-10.0, noise=0.3, rng_seed=0, extra_metric=None):
    rng = np.random.default_rng(rng_seed)
    out = {}
    for i in range(n):
        x = 0.5 + 0.08 * i
        ppl = [float(34.0 + slope * x + rng.normal(0, noise)) for _ in range(seeds)]
        xs = {"t2v-head": x + rng.normal(0, 0.02)}
        if extra_metric:
            xs.update(extra_metric(x, i, rng))
        out[f"s{i}"] = {"ppl": ppl, "x": xs}
    return out


# ----------------------------------------------------------------------------------------------
# Elementary pieces against scipy / closed forms
# ----------------------------------------------------------------------------------------------
def test_kendall_rows_matches_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(50, 9)).astype(float)            # many ties
    y = x + rng.integers(0, 3, size=(50, 9))
    got = stats.kendall_tau_b_rows(x, y)
    for b in range(50):
        want = sps.kendalltau(x[b], y[b]).statistic
        if np.isnan(want):
            assert np.isnan(got[b])
        else:
            assert got[b] == pytest.approx(want, abs=1e-12)


def test_correlations_match_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=12), rng.normal(size=12)
    c = stats.correlations(x, y)
    assert c["pearson"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert c["r2"] == pytest.approx(c["pearson"] ** 2)
    assert c["spearman"] == pytest.approx(sps.spearmanr(x, y).statistic)
    assert c["kendall"] == pytest.approx(sps.kendalltau(x, y).statistic)
    assert math.isnan(stats.correlations(np.ones(5), y[:5])["r2"])


def test_seed_ci_is_the_t_interval():
    v = [30.0, 31.0, 33.5]
    mean, lo, hi = stats.seed_ci(v)
    half = sps.t.ppf(0.975, 2) * np.std(v, ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(np.mean(v)) and lo == pytest.approx(mean - half) and hi == pytest.approx(mean + half)
    assert stats.seed_ci([30.0]) == (30.0, None, None)
    assert math.isnan(stats.seed_ci([])[0])


def test_nested_resample_draws_seeds_within_points():
    ppl = [[1.0, 2.0, 3.0], [10.0], [100.0, 200.0]]
    idx, ybar = stats.nested_resample(ppl, n_boot=3000, rng=np.random.default_rng(0))
    assert idx.shape == ybar.shape == (3000, 3)
    # every resampled value is a mean of that point's seeds
    for k, p in enumerate(ppl):
        sel = ybar[idx == k]
        assert sel.min() >= min(p) and sel.max() <= max(p)
    assert set(np.unique(ybar[idx == 1])) == {10.0}
    # stage 2 really resamples seeds: a 3-seed point shows non-observed means (e.g. 1.0 = all seed 0)
    vals0 = np.unique(np.round(ybar[idx == 0], 6))
    assert 1.0 in vals0 and 3.0 in vals0 and len(vals0) == 7          # (1..3 choose-with-repeat) means
    assert abs(ybar[idx == 0].mean() - 2.0) < 0.05
    # stage 1 resamples points uniformly
    assert np.allclose(np.bincount(idx.ravel(), minlength=3) / idx.size, 1 / 3, atol=0.02)
    # reproducible
    idx2, ybar2 = stats.nested_resample(ppl, n_boot=3000, rng=np.random.default_rng(0))
    assert np.array_equal(idx, idx2) and np.array_equal(ybar, ybar2)


def test_nested_resample_refuses_points_without_seeds():
    with pytest.raises(AlignScopeError, match="one seed per point"):
        stats.nested_resample([[1.0], []], n_boot=10, rng=np.random.default_rng(0))


def test_degenerate_resamples_are_skipped_and_counted():
    x = np.array([0.0, 0.0, 1.0])                 # resamples drawing only points 0 and 1 have constant x
    idx, ybar = stats.nested_resample([[5.0, 5.2], [5.5], [9.0, 9.1]], n_boot=2000, rng=np.random.default_rng(0))
    b = stats.resampled_correlations(x, idx, ybar)
    const_x = np.ptp(x[idx], axis=1) == 0
    assert const_x.any() and not b["valid"][const_x].any()
    assert np.isnan(b["r2"][~b["valid"]]).all() and np.isfinite(b["r2"][b["valid"]]).all()
    assert 0 < b["valid"].sum() < 2000


def test_percentile_ci():
    s = np.arange(1001, dtype=float)
    assert stats.percentile_ci(s) == pytest.approx([25.0, 975.0])
    assert stats.percentile_ci(np.array([np.nan, 1.0]), min_count=2) is None


def test_nested_bootstrap_covers_true_correlation_in_simulation():
    """x ~ N(0,1); point effect mu = x + e, e ~ N(0, 0.8^2); seeds y = mu + eps, eps ~ N(0, 1).
    With m = 3 seeds, (x, seed mean) is bivariate normal with rho = 1/sqrt(1 + 0.64 + 1/3), so the
    population r^2 = rho^2, Spearman = (6/pi) asin(rho/2) and Kendall = (2/pi) asin(rho) are known
    (Kendall 1948; Pearson 1907). The nominal-95% nested-bootstrap interval must cover each of
    them in >= 90% of 200 simulated labs (12 sources x 3 seeds, 300 resamples)."""
    n, m, s_e, s_eps, sims, n_boot = 12, 3, 0.8, 1.0, 200, 300
    rho = 1.0 / math.sqrt(1.0 + s_e ** 2 + s_eps ** 2 / m)
    truth = {"pearson": rho, "r2": rho ** 2, "spearman": 6 / math.pi * math.asin(rho / 2),
             "kendall": 2 / math.pi * math.asin(rho)}
    rng = np.random.default_rng(2024)
    hits = dict.fromkeys(truth, 0)
    widths = []
    for _ in range(sims):
        x = rng.normal(size=n)
        mu = x + rng.normal(0, s_e, n)
        ppl = mu[:, None] + rng.normal(0, s_eps, (n, m))
        idx, ybar = stats.nested_resample(ppl.tolist(), n_boot=n_boot, rng=rng)
        b = stats.resampled_correlations(x, idx, ybar)
        for k, true in truth.items():
            lo, hi = stats.percentile_ci(b[k][b["valid"]])
            hits[k] += lo <= true <= hi
        ci = stats.percentile_ci(b["r2"][b["valid"]])
        widths.append(ci[1] - ci[0])
    coverage = {k: v / sims for k, v in hits.items()}
    assert all(c >= 0.90 for c in coverage.values()), coverage
    assert all(c < 1.0 for c in coverage.values()), coverage     # intervals are not trivially wide
    assert 0.2 < np.median(widths) < 0.9


def test_loo_error_matches_manual_refits():
    rng = np.random.default_rng(5)
    x = rng.normal(size=7)
    y = 30 - 4 * x + rng.normal(0, 0.5, 7)
    want = []
    for i in range(7):
        k = np.arange(7) != i
        b, a = np.polyfit(x[k], y[k], 1)
        want.append(abs(y[i] - (a + b * x[i])))
    err, n = stats.loo_error(x, y)
    assert n == 7 and err == pytest.approx(np.mean(want))
    # a point whose complement has constant x cannot be predicted
    err, n = stats.loo_error([1.0, 1.0, 2.0], [3.0, 3.1, 5.0])
    assert n == 2


def test_permutation_pvalue():
    x = np.linspace(0, 1, 8)
    assert stats.permutation_pvalue(x, 30 - 5 * x, rng=np.random.default_rng(0)) < 0.001
    rng = np.random.default_rng(9)
    assert stats.permutation_pvalue(rng.normal(size=30), rng.normal(size=30), rng=np.random.default_rng(0)) > 0.05
    # exact for small n: 4 points, 24 pairings; a perfect line has p = 2/24 (both signs as extreme)
    assert stats.permutation_pvalue([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(2 / 24)


# ----------------------------------------------------------------------------------------------
# The leaderboard
# ----------------------------------------------------------------------------------------------
def test_leaderboard_row_fields_and_values():
    pts = _linear_points(6, extra_metric=lambda x, i, rng: {"noise": float(rng.normal())})
    res = make_results(pts)
    rows = stats.build_leaderboard(res, exclude_derived=False, **FAST)
    assert [r["metric"] for r in rows] == ["t2v-head", "noise"]       # ordered by r^2
    t2v = _row(rows, "t2v-head")
    x = np.array([p["x"]["t2v-head"] for p in pts.values()])
    y = np.array([np.mean(p["ppl"]) for p in pts.values()])
    assert t2v["r2"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2)
    assert t2v["pearson"] < 0 and t2v["spearman"] == pytest.approx(sps.spearmanr(x, y).statistic)
    assert t2v["kendall"] == pytest.approx(sps.kendalltau(x, y).statistic)
    for k in ("r2", "spearman", "kendall", "pearson"):
        lo, hi = t2v[f"{k}_ci"]
        assert lo <= hi
    assert t2v["r2_ci"][0] <= t2v["r2"] <= t2v["r2_ci"][1]
    assert t2v["n_sources"] == 6 and t2v["n_seeds"] == 3 and t2v["n_runs_used"] == 18 and t2v["n_runs_failed"] == 0
    assert t2v["loo_error"] == pytest.approx(stats.loo_error(x, y)[0]) and t2v["loo_n"] == 6
    assert t2v["cost_s"] == pytest.approx(2.0)
    assert t2v["p_perm"] < 0.05 and t2v["is_default"] and t2v["r2_diff_vs_default"] is None
    noise = _row(rows, "noise")
    assert noise["r2_diff_vs_default"] == pytest.approx(noise["r2"] - t2v["r2"])
    assert noise["r2_diff_ci"][1] < 0                    # clearly worse than the default
    assert noise["p_perm"] > t2v["p_perm"]
    assert t2v["slope"] == pytest.approx(sps.linregress(x, y).slope)


def test_paired_difference_of_identical_metric_is_exactly_zero():
    pts = _linear_points(6, extra_metric=lambda x, i, rng: {})
    for p in pts.values():
        p["x"]["copy"] = p["x"]["t2v-head"]
    rows = stats.build_leaderboard(make_results(pts), exclude_derived=False, **FAST)
    copy = _row(rows, "copy")
    assert copy["r2_diff_vs_default"] == 0.0 and copy["r2_diff_ci"] == [0.0, 0.0]
    assert copy["r2_ci"] == _row(rows, "t2v-head")["r2_ci"]     # same resamples for both metrics


def test_paired_difference_on_common_points_when_a_metric_misses_one():
    pts = _linear_points(7, extra_metric=lambda x, i, rng: {"partial": x + float(rng.normal(0, 0.05))})
    del pts["s3"]["x"]["partial"]
    rows = stats.build_leaderboard(make_results(pts), exclude_derived=False, **FAST)
    part = _row(rows, "partial")
    assert part["n_sources"] == 6 and part["missing_metric"] == ["s3"]
    assert part["r2_diff_vs_default"] is not None and part["r2_diff_ci"] is not None
    names = [n for n in pts if n != "s3"]
    y = np.array([np.mean(pts[n]["ppl"]) for n in names])
    r2_t2v_common = np.corrcoef([pts[n]["x"]["t2v-head"] for n in names], y)[0, 1] ** 2
    assert part["r2_diff_vs_default"] == pytest.approx(part["r2"] - r2_t2v_common)


def test_failed_and_killed_seeds_are_excluded_and_counted():
    pts = _linear_points(5)
    pts["s1"]["ppl"][2] = None                          # failed
    pts["s2"]["ppl"][0] = "killed"
    pts["s4"]["ppl"] = [pts["s4"]["ppl"][0], "running", "running"]
    res = make_results(pts)
    row = _row(stats.build_leaderboard(res, exclude_derived=False, **FAST), "t2v-head")
    assert row["n_runs_used"] == 3 * 5 - 2 - 2 and row["n_runs_failed"] == 2 and row["n_runs_pending"] == 2
    assert row["n_seeds_min"] == 1 and row["n_seeds_max"] == 3
    recs = {r["point"]: r for r in stats.point_records(res, "4k")}
    assert recs["s1"]["n_seeds"] == 2 and recs["s1"]["n_failed"] == 1 and recs["s1"]["errors"] == ["boom"]
    assert recs["s1"]["ppl_mean"] == pytest.approx(np.mean(pts["s1"]["ppl"][:2]))


def test_fewer_than_three_points_gives_a_message_not_a_fit():
    pts = _linear_points(4)
    pts["s2"]["ppl"] = [None, None, None]               # all seeds failed: the point drops out
    pts["s3"]["ppl"] = ["killed"]
    row = _row(stats.build_leaderboard(make_results(pts), exclude_derived=False, **FAST), "t2v-head")
    assert row["r2"] is None and row["r2_ci"] is None and row["loo_error"] is None and row["slope"] is None
    assert "Only 2 point(s)" in row["message"] and "at least 3" in row["message"]
    assert row["n_runs_failed"] == 4


def test_constant_metric_gives_a_message():
    pts = _linear_points(5, extra_metric=lambda x, i, rng: {"flat": 0.5})
    row = _row(stats.build_leaderboard(make_results(pts), exclude_derived=False, **FAST), "flat")
    assert row["r2"] is None and "same metric value" in row["message"]


def test_exclude_derived_drops_target_derived_points():
    pts = _linear_points(5)
    pts["valid"] = {"ppl": [20.0, 20.5, 19.8], "x": {"t2v-head": 0.99}}   # high-leverage derived source
    res = make_results(pts, derived={"valid": True})
    with_d = _row(stats.build_leaderboard(res, exclude_derived=False, **FAST), "t2v-head")
    without = _row(stats.build_leaderboard(res, exclude_derived=True, **FAST), "t2v-head")
    assert with_d["n_sources"] == 6 and "valid" in with_d["points"] and with_d["excluded"] == []
    assert without["n_sources"] == 5 and "valid" not in without["points"] and without["excluded"] == ["valid"]
    assert without["exclude_derived"] and not with_d["exclude_derived"]


def test_leaderboard_is_reproducible_and_order_independent():
    pts = _linear_points(6, extra_metric=lambda x, i, rng: {"b": x + float(rng.normal(0, 0.1))})
    res = make_results(pts)
    a = stats.build_leaderboard(res, exclude_derived=False, **FAST)
    b = stats.build_leaderboard(res, exclude_derived=False, metrics=["b", "t2v-head"], **FAST)
    assert _row(a, "b") == _row(b, "b") and _row(a, "t2v-head") == _row(b, "t2v-head")
    c = stats.build_leaderboard(res, exclude_derived=False, n_boot=400, n_permutations=999, seed=1)
    assert _row(c, "b")["r2_ci"] != _row(a, "b")["r2_ci"]


@pytest.mark.parametrize("opts, match", [(dict(n_boot=10), "n_boot"), (dict(n_permutations=5), "n_permutations"),
                                         (dict(confidence=1.5), "confidence"), (dict(seed=-1), "seed")])
def test_bad_options(opts, match):
    with pytest.raises(AlignScopeError, match=match):
        stats.build_leaderboard(make_results(_linear_points(4)), exclude_derived=False, **opts)


# ----------------------------------------------------------------------------------------------
# Dose-response
# ----------------------------------------------------------------------------------------------
def test_dose_points_reuse_pure_runs_and_mark_derived(small_results):
    pairs = stats.dose_pairs(small_results)
    assert list(pairs) == [("proofnet-valid", "wikipedia"), ("coq-stdlib", "news")]
    pv = pairs[("proofnet-valid", "wikipedia")]
    assert [p.fraction for p in pv] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [p.derived for p in pv] == [False, True, True, True, True]
    assert pv[0].regime == "4k" and pv[0].metric_point == "wikipedia" and pv[-1].metric_point == "proofnet-valid"
    assert pv[1].name == "proofnet-valid+wikipedia@0.25" and pv[1].metric_point == pv[1].name
    four_k = {p.name: p for p in stats.regime_points(small_results, "4k")}
    assert pv[-1].ppl == four_k["proofnet-valid"].ppl
    cn = pairs[("coq-stdlib", "news")]
    assert cn[0].n_failed == 1 and len(cn[0].ppl) == 2          # news' killed 4k seed carries over
    pooled = stats.regime_points(small_results, "dose")
    assert len(pooled) == 10 and len({p.name for p in pooled}) == 10


def test_dose_response_summary(small_results):
    d = stats.dose_response(small_results)
    pv = d["pairs"][0]
    assert pv["label"] == "proofnet-valid+wikipedia"
    fr = [p["fraction"] for p in pv["points"]]
    ppl = [p["ppl_mean"] for p in pv["points"]]
    assert pv["spearman_ppl"]["rho"] == pytest.approx(sps.spearmanr(fr, ppl).statistic)
    assert pv["spearman_ppl"]["rho"] < 0                        # more aligned data, lower perplexity
    assert set(pv["spearman_metric"]) == {"t2v-head", "unigram-cos", "gzip"}
    assert all(p["ppl_ci_low"] < p["ppl_mean"] < p["ppl_ci_high"] for p in pv["points"])
    assert all(set(p["metrics"]) == {"t2v-head", "unigram-cos", "gzip"} for p in pv["points"])


def test_pooled_dose_regime_rows(small_results):
    rows = stats.build_leaderboard(small_results, exclude_derived=False, regimes=["dose"], **FAST)
    assert {r["regime"] for r in rows} == {"dose"} and all(r["n_sources"] == 10 for r in rows)
    rows_ex = stats.build_leaderboard(small_results, exclude_derived=True, regimes=["dose"], **FAST)
    assert all(r["n_sources"] == 6 for r in rows_ex)     # wikipedia, coq-stdlib, news, 3 coq+news mixes
    assert stats.regime_names(small_results) == ["4k", "long", "dose"]


def test_dose_endpoints_follow_the_regime_with_the_dose_budget(small_results):
    small_results["regimes"]["short"] = small_results["regimes"].pop("4k")
    for r in small_results["runs"]:
        if r["regime"] == "4k":
            r["regime"] = "short"
    assert stats.dose_base_regime(small_results) == "short"
    pv = stats.dose_pairs(small_results)[("proofnet-valid", "wikipedia")]
    assert [p.fraction for p in pv] == [0.0, 0.25, 0.5, 0.75, 1.0] and pv[0].regime == "short"


def test_cancelled_runs_count_as_failed():
    pts = _linear_points(4)
    pts["s0"]["ppl"][1] = "cancelled"
    row = _row(stats.build_leaderboard(make_results(pts), exclude_derived=False, **FAST), "t2v-head")
    assert row["n_runs_failed"] == 1 and row["n_runs_used"] == 11
