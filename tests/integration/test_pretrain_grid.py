"""A 2 x 2 pre-training grid on real corpora at a tiny budget: 2 training corpora x 2 evaluation corpora,
one seed, the tiny config, two model-free metrics; then the report and its figure."""
import pytest

from tests.integration.test_real_corpora import need, real_corpora  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.integration


def test_two_by_two_grid_on_real_corpora(tmp_path):
    need("news")
    need("gcide")
    from core.pretrain.config import get_config
    from core.pretrain.grid import GridPlan, load_results, run_grid
    from core.pretrain.stats import grid_report

    plan = GridPlan(sources=("news", "gcide"), eval_corpora=("news", "gcide"), seeds=(0,), mixture=False,
                    config=get_config("tiny", budget_tokens=4096), metrics=("unigram-cos", "gzip"))
    out = tmp_path / "grid.json"
    stats = run_grid(plan, out=out, device="cpu", say=lambda m: None)
    assert stats["computed_runs"] == 2 and stats["computed_metrics"] == 8
    results = load_results(out)
    rep = grid_report(results, n_boot=200)
    assert len(rep["table"]) == 4 and set(rep["metrics"]) == {"unigram-cos", "gzip"}
    for t in rep["table"]:
        assert 0 < t["nats_mean"] < 12
