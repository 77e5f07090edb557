"""Builders of small validation results dicts (the contract's format) for the statistics tests."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

SMALL_RESULTS = Path(__file__).resolve().parents[2] / "data" / "validation_small.json"


def make_results(points: dict, *, regime: str = "4k", derived: dict | None = None, extra_runs=(),
                 extra_metrics=()) -> dict:
    """A results dict from ``{point: {"ppl": [per-seed ppl or None (failed)], "x": {metric: value}}}``.

    A ``None`` perplexity is a failed seed; ``"killed"``/``"running"`` strings give that status.
    """
    derived = derived or {}
    runs, metrics = [], []
    for name, spec in points.items():
        for seed, p in enumerate(spec["ppl"]):
            status = "done" if isinstance(p, (int, float)) else ("failed" if p is None else p)
            runs.append({"run_id": f"{regime}-{name}-{seed}", "regime": regime, "point": name, "source": name,
                         "pair": None, "fraction": None, "seed": seed, "status": status,
                         "error": None if status == "done" else "boom", "ppl_before": 34.0,
                         "ppl_after": p if status == "done" else None, "nll_after": None,
                         "tokens_trained": 4000, "wall_seconds": 1.0, "train_seconds": 1.0})
        for metric, value in spec["x"].items():
            metrics.append({"metric": metric, "point": name, "value": value, "ci_low": None, "ci_high": None,
                            "seconds": 2.0})
    sources = {n: {"derived_from_target": bool(derived.get(n, False))} for n in points}
    return {"version": 1, "target": "proofnet", "model": "tiny", "precision": "fp32", "created": "2026-01-01T00:00:00",
            "wall_seconds": 1.0, "regimes": {regime: {"budget_tokens": 4000, "seeds": [0, 1, 2]}},
            "base": {"perplexity": 34.0, "nll": 3.5, "tokens": 100}, "sources": sources,
            "runs": runs + list(extra_runs), "metrics": metrics + list(extra_metrics), "metric_info": {}}


@pytest.fixture
def small_results() -> dict:
    """The recorded small lab result (tests/data/validation_small.json)."""
    return json.loads(SMALL_RESULTS.read_text())


@pytest.fixture
def small_results_path() -> Path:
    return SMALL_RESULTS
