"""The grid's r^2 and nested bootstrap on a synthetic grid with a known slope; bad input of the CLI."""
import numpy as np
import pytest

from core.pretrain.stats import fit, nested_bootstrap


def _lab(rng):
    evals = [f"e{k}" for k in range(10)]
    x, y, cl = [], [], []
    for e in evals:
        base = rng.normal(0, 0.2)                 # an evaluation corpus's own difficulty
        for t in range(3):
            xi = rng.uniform(0, 1)
            x.append(xi)
            y.append(5.0 - 2.0 * xi + base + rng.normal(0, 0.05))
            cl.append(e)
    return x, y, cl


def test_known_slope_recovered_and_covered():
    x, y, cl = _lab(np.random.default_rng(0))
    f = fit(x, y)
    assert f["slope"] == pytest.approx(-2.0, abs=0.3)
    assert f["r2"] > 0.7 and f["pearson"] < 0
    b = nested_bootstrap(x, y, cl, n_boot=500, seed=1)
    assert b["slope_ci"][0] <= f["slope"] <= b["slope_ci"][1]
    assert b["r2_ci"][0] <= f["r2"] <= b["r2_ci"][1]
    assert b["n_boot_used"] == 500


def test_nested_bootstrap_covers_the_true_slope():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(20):
        x, y, cl = _lab(rng)
        lo, hi = nested_bootstrap(x, y, cl, n_boot=200, seed=int(rng.integers(1 << 30)))["slope_ci"]
        hits += lo < -2.0 < hi
    assert hits >= 16      # nominal 95%; at least 80% of 20 synthetic grids


def test_bad_input_exits_2(capsys):
    from core.cli import main

    assert main(["pretrain", "grid", "plan", "--sources", "a,,b"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sources" in err[0]
