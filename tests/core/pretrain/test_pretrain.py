"""pretrain lowers the training loss and records its config; the grid resumes (a second run computes nothing)."""
from tests.conftest import register_texts


def _register(tmp_path, prose_texts, maths_texts):
    register_texts(tmp_path, "prose", prose_texts[:80], "general prose")
    register_texts(tmp_path, "maths", maths_texts[:120], "formal maths")


def test_pretrain_lowers_loss_and_records_config(tmp_path, prose_texts, maths_texts):
    from core.pretrain.config import get_config
    from core.pretrain.run import pretrain

    _register(tmp_path, prose_texts, maths_texts)
    cfg = get_config("tiny", budget_tokens=4096)
    rec = pretrain("prose", config=cfg, seed=0, eval_corpora=["prose", "maths"], device="cpu")
    assert rec["config"] == cfg.to_dict() and rec["seed"] == 0
    assert rec["tokens_trained"] == cfg.tokens_trained == 4096
    assert rec["loss"]["last_k_mean"] < rec["loss"]["first_k_mean"] - 0.5
    assert set(rec["eval"]) == {"prose", "maths"}
    assert rec["eval"]["prose"]["nats_per_token"] < rec["eval"]["maths"]["nats_per_token"]


def test_grid_resumes(tmp_path, prose_texts, maths_texts):
    from core.pretrain.config import get_config
    from core.pretrain.grid import GridPlan, load_results, run_grid

    _register(tmp_path, prose_texts, maths_texts)
    plan = GridPlan(sources=("prose", "maths"), eval_corpora=("prose", "maths"), seeds=(0,),
                    config=get_config("tiny", budget_tokens=2048), metrics=("unigram-cos",))
    out = tmp_path / "grid.json"
    first = run_grid(plan, out=out, device="cpu", say=lambda m: None)
    assert first["computed_runs"] == 3 and first["computed_metrics"] == 6
    second = run_grid(plan, out=out, device="cpu", say=lambda m: None)
    assert second["computed_runs"] == 0 and second["computed_metrics"] == 0 and second["skipped_runs"] == 3
    assert len(load_results(out)["runs"]) == 3
