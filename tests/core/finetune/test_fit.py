import numpy as np
import pytest
from scipy import stats

from core.errors import AlignScopeError
from core.finetune.fit import ols

X = np.array([0.12, 0.25, 0.31, 0.44, 0.52, 0.68, 0.71, 0.90])
Y = np.array([41.0, 37.5, 36.1, 30.2, 31.0, 24.9, 26.3, 19.8])


def test_fit_matches_numpy_and_scipy():
    f = ols(X, Y)
    slope, intercept = np.polyfit(X, Y, 1)
    assert f.slope == pytest.approx(slope, rel=1e-10) and f.intercept == pytest.approx(intercept, rel=1e-10)
    assert f.r2 == pytest.approx(np.corrcoef(X, Y)[0, 1] ** 2, rel=1e-10)
    assert f.r == pytest.approx(np.corrcoef(X, Y)[0, 1], rel=1e-10)
    lr = stats.linregress(X, Y)
    assert f.slope_se == pytest.approx(lr.stderr, rel=1e-10) and f.p_value == pytest.approx(lr.pvalue, rel=1e-8)
    t = stats.t.ppf(0.975, len(X) - 2)
    assert f.slope_ci == pytest.approx((lr.slope - t * lr.stderr, lr.slope + t * lr.stderr), rel=1e-10)
    assert f.slope_ci[0] < f.slope < f.slope_ci[1] < 0


def test_band_is_the_mean_response_interval():
    f = ols(X, Y)
    grid = np.linspace(0, 1, 11)
    lo, hi = f.band(grid)
    n, xm = len(X), X.mean()
    s = np.sqrt(((Y - (f.intercept + f.slope * X)) ** 2).sum() / (n - 2))
    half = stats.t.ppf(0.975, n - 2) * s * np.sqrt(1 / n + (grid - xm) ** 2 / ((X - xm) ** 2).sum())
    np.testing.assert_allclose(hi - lo, 2 * half, rtol=1e-10)
    np.testing.assert_allclose((hi + lo) / 2, f.predict(grid), rtol=1e-10)
    assert np.argmin(hi - lo) == np.argmin(abs(grid - xm))     # narrowest at the mean of x


def test_perfect_line_and_small_samples():
    f = ols([0, 1, 2], [1, 3, 5])
    assert f.slope == pytest.approx(2) and f.r2 == pytest.approx(1)
    two = ols([0, 1], [1, 2])
    assert two.slope == pytest.approx(1) and two.slope_ci is None and two.band([0.5]) is None
    nan = ols([0, 1, np.nan, 2], [1, 2, 3, np.nan])          # non-finite points are dropped
    assert nan.n == 2
    with pytest.raises(AlignScopeError, match="at least 2 points"):
        ols([1], [2])
    with pytest.raises(AlignScopeError, match="same x"):
        ols([1, 1, 1], [2, 3, 4])
