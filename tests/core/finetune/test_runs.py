"""Runs end to end on the tiny model: the results store, the experiment preset, jobs and the CLI."""
import os
import signal
import time

import pytest

from core import jobs
from core.cli import main
from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.experiment import run_experiment
from core.finetune.jobs import submit_experiment, submit_finetune
from core.finetune.runner import run_finetune
from core.finetune.identity import run_id_for


def test_a_run_records_every_measurement(corpora, tiny_config, tiny_settings):
    cfg = tiny_config("maths")
    row = run_finetune(cfg, tiny_settings)
    assert row["status"] == "done" and row["run_id"] == run_id_for(cfg, tiny_settings)
    assert row["tokens_trained"] == 256 and row["tokens_seen"] == 512 and row["eval_corpus"] == "bench"
    assert 0 <= row["align_ci_low"] <= row["alignment"] <= row["align_ci_high"] <= 1
    for k in ("ppl_before", "ppl_after", "familiarity", "wall_seconds", "train_loss_first", "train_loss_last"):
        assert row[k] is not None and row[k] > 0, k
    assert row["ppl_after"] < row["ppl_before"]        # training on maths helps on the maths benchmark
    assert row["hparams"]["learning_rate"] == cfg.learning_rate and row["align_settings"]["batch"]["batch_size"] == 4
    # the base-model perplexity is cached: a second source reuses it exactly
    other = run_finetune(tiny_config("prose"), tiny_settings)
    assert other["ppl_before"] == row["ppl_before"] and other["familiarity"] != row["familiarity"]
    assert {r["label"] for r in results.list_runs(target="bench")} == {"maths", "prose"}
    assert len(results.groups(results.list_runs())) == 1


def test_bad_input_is_refused_before_anything_is_queued(corpora, tiny_config, tiny_settings):
    with pytest.raises(AlignScopeError, match="evaluation split"):
        submit_finetune(tiny_config("bench"), tiny_settings)
    with pytest.raises(AlignScopeError, match="no held-out split"):
        submit_finetune(tiny_config("maths", target="prose"), tiny_settings)
    with pytest.raises(AlignScopeError, match="Unknown corpus|not"):
        submit_finetune(tiny_config("no-such-corpus"), tiny_settings)
    with pytest.raises(AlignScopeError, match="cannot start.*bench"):
        submit_experiment("bench", ["maths", "bench"], tiny_config().to_dict(), tiny_settings)
    assert results.list_runs() == [] and jobs.list_jobs("finetune") == []
    assert main(["finetune", "--source", "proofnet", "--target", "proofnet"]) == 2


def test_experiment_runs_sources_in_turn_and_one_failure_spares_the_others(corpora, tiny_config, tiny_settings,
                                                                          monkeypatch):
    import core.finetune.train as train_mod

    real_train = train_mod.train

    def flaky(model, sequences, config, **kw):
        if config.source == "prose":
            raise train_mod.TrainingError("The training loss became NaN/inf at step 1.", fix="lower the learning rate")
        return real_train(model, sequences, config, **kw)

    monkeypatch.setattr(train_mod, "train", flaky)
    base = tiny_config().to_dict()
    sub = submit_experiment("bench", ["maths", "prose", "wiki-ish"], base, tiny_settings, wait=True)
    rows = {r["label"]: r for r in results.list_runs(experiment_id=sub.job_id)}
    assert rows["maths"]["status"] == rows["wiki-ish"]["status"] == "done"
    assert rows["prose"]["status"] == "failed" and "NaN" in rows["prose"]["error"]
    assert jobs.get_job(sub.job_id).result()["failed"] == 1
    # all runs share the hyperparameters: one group, fit over the done runs
    assert len({r["group_key"] for r in rows.values()}) == 1
    # submitting again retries only what is not done
    monkeypatch.setattr(train_mod, "train", real_train)
    again = submit_experiment("bench", ["maths", "prose", "wiki-ish"], base, tiny_settings, wait=True)
    assert again.job_id == sub.job_id
    assert jobs.get_job(sub.job_id).result()["runs"]["maths"].get("reused") is True
    assert results.get_run(rows["prose"]["run_id"])["status"] == "done"


def test_cancelling_an_experiment_marks_the_runs_not_started(corpora, tiny_config, tiny_settings):
    from core.finetune.experiment import experiment_params

    params = experiment_params("bench", ["maths", "prose"], tiny_config().to_dict(), tiny_settings)
    ids = [run_id_for(c, tiny_settings) for c in
           [tiny_config("maths"), tiny_config("prose")]]
    for rid, label in zip(ids, ["maths", "prose"]):
        results.upsert_run(rid, job_id="experiment-x", experiment_id="experiment-x", label=label, target="bench",
                           model="m", method="full", status="queued")
    steps = []

    def stop():
        return bool(steps) and steps[-1] >= 100           # once the first run has finished

    with pytest.raises(InterruptedError):
        run_experiment(params, job_id="experiment-x", progress=lambda d, t, m: steps.append(d), should_stop=stop)
    assert results.get_run(ids[0], reconcile_first=False)["status"] == "done"
    assert results.get_run(ids[1], reconcile_first=False)["status"] == "cancelled"


def _wait(pred, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_killed_worker_leaves_a_row_marked_killed(corpora, tiny_config, tiny_settings):
    cfg = tiny_config("maths", epochs=400)          # long enough to be killed while training
    sub = submit_finetune(cfg, tiny_settings)
    rid = sub.run_ids[0]
    assert results.get_run(rid)["status"] in ("queued", "running")
    row = _wait(lambda: (r := results.get_run(rid)) and r["phase"] == "training" and r)
    assert row["status"] == "running" and row["ppl_before"] is not None    # finished phases are already stored
    os.killpg(jobs.get_job(sub.job_id).status()["pid"], signal.SIGKILL)
    row = _wait(lambda: (r := results.get_run(rid)) and r["status"] != "running" and r)
    assert row["status"] == "killed" and "killed" in row["error"]
    assert row["ppl_before"] is not None and row["familiarity"] is not None   # nothing finished was lost
    assert [r["status"] for r in results.list_runs()] == ["killed"]
    # the CLI lists it, and a new submission restarts it
    assert main(["results"]) == 0
    again = submit_finetune(cfg, tiny_settings)
    assert not again.reused and results.get_run(rid)["status"] in ("queued", "running")
    jobs.get_job(again.job_id).cancel(kill_after=30)
    row = _wait(lambda: (r := results.get_run(rid)) and r["status"] not in ("queued", "running") and r)
    assert row["status"] in ("cancelled", "killed")


def test_queued_runs_of_a_killed_experiment_are_marked_killed(corpora):
    dead = 2 ** 22 + 12345                       # the experiment's worker, gone without reporting
    results.upsert_run("r1", job_id="experiment-dead", label="a", target="bench", model="m", method="full",
                       status="queued", worker_pid=dead)
    results.upsert_run("r2", job_id="experiment-dead", label="b", target="bench", model="m", method="full",
                       status="running", phase="training", started=time.time(), worker_pid=dead)
    rows = {r["run_id"]: r for r in results.list_runs()}
    assert rows["r1"]["status"] == rows["r2"]["status"] == "killed"
    assert "before this run started" in rows["r1"]["error"] and "while running" in rows["r2"]["error"]


def test_cli_perplexity_results_export_and_plot(corpora, tiny_config, tiny_settings, tiny_model_dir, tmp_path, capsys):
    assert main(["perplexity", "--model", tiny_model_dir, "--target", "bench", "--seq-len", "32", "--json"]) == 0
    first = capsys.readouterr().out
    assert '"perplexity"' in first and '"cached": false' in first
    assert main(["perplexity", "--model", tiny_model_dir, "--target", "bench", "--seq-len", "32"]) == 0
    assert "cached" in capsys.readouterr().out
    run_finetune(tiny_config("maths"), tiny_settings)
    run_finetune(tiny_config("prose"), tiny_settings)
    csv = tmp_path / "runs.csv"
    html = tmp_path / "fig.html"
    assert main(["results", "export", "--out", str(csv)]) == 0
    assert main(["results", "plot", "--out", str(html)]) == 0
    out = capsys.readouterr().out
    assert "alignment vs perplexity: r² = 1.000" in out          # two points: an exact line
    import pandas as pd

    df = pd.read_csv(csv)
    assert set(df["label"]) == {"maths", "prose"} and {"alignment", "ppl_after", "familiarity"} <= set(df.columns)
    assert "plotly" in html.read_text()[:5000].lower()


def test_out_of_memory_is_a_clear_failure(corpora, tiny_config, tiny_settings, monkeypatch):
    import core.finetune.perplexity as ppl

    def oom(*a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ppl, "perplexity", oom)
    cfg = tiny_config("maths")
    with pytest.raises(AlignScopeError, match="Out of memory"):
        run_finetune(cfg, tiny_settings)
    row = results.get_run(run_id_for(cfg, tiny_settings))
    assert row["status"] == "failed" and "Out of memory" in row["error"] and "lower the batch size" in row["error"]
    assert row["alignment"] is not None          # what finished before the failure is kept


def test_a_saved_mixture_is_fine_tuned_and_aligned(corpora, tiny_config, tiny_settings):
    from core import mixture

    mixture.save_mixture(mixture.Mixture("half-half", {"maths": 0.5, "prose": 0.5}, budget_tokens=256, seed=0))
    cfg = tiny_config(source=None, mixture="half-half")
    row = run_finetune(cfg, tiny_settings)
    assert row["status"] == "done" and row["label"] == "mixture:half-half" and row["mixture"] == "half-half"
    assert 200 <= row["tokens_trained"] <= 256 and row["alignment"] is not None and row["ppl_after"] > 0
    mixture.save_mixture(mixture.Mixture("leaky", {"maths": 0.5, "bench": 0.5}, budget_tokens=256))
    with pytest.raises(AlignScopeError, match="evaluation split"):     # a mixture containing the test split
        submit_finetune(tiny_config(source=None, mixture="leaky"), tiny_settings)
