"""Issue 24: fine-tune checkpoints and resumption after an interruption (tiny model, fp32, CPU).

A run stopped after step k resumes from its checkpoint and ends with the same weights, losses and
held-out perplexity as an uninterrupted run; an incomplete checkpoint is ignored; the checkpoints are
removed once the run is done; the resume/restart line is said."""
from __future__ import annotations

import json
import math

import pytest

from core.finetune import train as train_mod
from core.finetune.data import build_training_data
from core.finetune.perplexity import perplexity
from core.finetune.train import (CHECKPOINT_MARKER, checkpoint_problem, latest_checkpoint, load_causal_lm,
                                 lora_wrap, train)
from core.probe import load_probe


@pytest.fixture
def setup(corpora, tiny_config, tiny_model_dir):
    probe = load_probe(tiny_model_dir, device="cpu")
    cfg = tiny_config(budget_tokens=256, epochs=3, learning_rate=5e-3, precision="fp32")
    data = build_training_data(cfg, probe.tokenizer)
    return probe, cfg, data


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _uninterrupted(probe, cfg, data, **kw):
    model = load_causal_lm(probe)
    res = train(model, data.sequences, cfg, pad_id=0, **kw)
    return model, res


def _steps(folder):
    return sorted(int(d.name.split("-")[1]) for d in folder.iterdir() if d.name.startswith("checkpoint-"))


def test_checkpoints_every_save_steps_and_only_the_newest_complete_one_is_kept(setup, tmp_path):
    probe, cfg, data = setup
    total = train_mod.num_steps(len(data.sequences), cfg)
    seen, on_disk = [], []
    folder = tmp_path / "ck"

    def progress(step, _total, _loss):
        seen.append(step)
        on_disk.append((step, _steps(folder)))

    model = load_causal_lm(probe)
    res = train(model, data.sequences, cfg, pad_id=0, progress=progress, checkpoint_dir=folder, save_steps=2)
    assert res.save_steps == 2 and res.resumed_from == 0 and res.steps == total
    # progress is called at a step's end, before that step's save: the newest on disk is the last multiple of 2
    for step, steps in on_disk:
        last = 2 * ((step - 1) // 2)
        assert steps == ([last] if last else []), (step, steps)
    assert _steps(folder) == [total]                       # the last step is saved too, the older one removed
    ck = latest_checkpoint(folder)
    assert ck.step == total and ck.max_steps == total
    marker = json.loads((ck.path / CHECKPOINT_MARKER).read_text())
    assert {"trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"} <= set(marker["files"])


@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_a_run_stopped_after_step_k_resumes_and_ends_like_an_uninterrupted_one(setup, tmp_path, stop_after):
    probe, cfg, data = setup
    ref_model, ref = _uninterrupted(probe, cfg, data)
    ref_ppl = perplexity(ref_model, data.sequences[:8], pad_id=0).perplexity
    folder = tmp_path / "ck"

    seen = []
    first = load_causal_lm(probe)
    with pytest.raises(InterruptedError, match=f"stopped at training step {stop_after}/.*resumes from it"):
        train(first, data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=2,
              progress=lambda s, t, l: seen.append(s), should_stop=lambda: len(seen) >= stop_after)
    assert latest_checkpoint(folder).step == stop_after   # saved at the stop, not only at multiples of 2

    lines, steps = [], []
    model = load_causal_lm(probe)                          # a fresh process would load fresh weights
    res = train(model, data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=2, log=lines.append,
                progress=lambda s, t, l: steps.append(s))
    assert res.resumed_from == stop_after > 0 and steps[0] == stop_after + 1 and res.steps == ref.steps
    assert any(line.startswith(f"resuming from checkpoint step {stop_after}/{ref.steps}") for line in lines)
    assert len(res.losses) == len(ref.losses) == ref.steps
    assert res.losses == pytest.approx(ref.losses, rel=1e-5, abs=1e-6)
    got, want = _params(model), _params(ref_model)
    assert all(float((got[k] - want[k]).abs().max()) < 1e-5 for k in want)
    assert perplexity(model, data.sequences[:8], pad_id=0).perplexity == pytest.approx(ref_ppl, rel=1e-5)


def test_lora_resumes_like_an_uninterrupted_run(setup, tmp_path):
    probe, cfg, data = setup
    import torch

    cfg = type(cfg)(**{**cfg.to_dict(), "method": "lora", "learning_rate": 1e-2})

    def wrapped(seed=0):
        torch.manual_seed(seed)         # the adapters' initialisation (the resumed one is replaced)
        return lora_wrap(load_causal_lm(probe), cfg)

    ref = train(wrapped(), data.sequences, cfg, pad_id=0)
    folder, seen = tmp_path / "ck", []
    with pytest.raises(InterruptedError):
        train(wrapped(), data.sequences, cfg, pad_id=0, checkpoint_dir=folder,
              save_steps=3, progress=lambda s, t, l: seen.append(s), should_stop=lambda: len(seen) >= 4)
    model = wrapped(seed=123)           # another initialisation: the checkpoint's adapters win
    res = train(model, data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=3)
    assert res.resumed_from == 4
    assert res.losses == pytest.approx(ref.losses, rel=1e-5, abs=1e-6)


def test_an_incomplete_checkpoint_is_ignored_and_removed(setup, tmp_path):
    probe, cfg, data = setup
    folder, seen = tmp_path / "ck", []
    with pytest.raises(InterruptedError):
        train(load_causal_lm(probe), data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=2,
              progress=lambda s, t, l: seen.append(s), should_stop=lambda: len(seen) >= 4)
    good = latest_checkpoint(folder)
    assert good.step == 4
    # a kill while saving step 6: files written, no marker yet
    import shutil

    half = folder / "checkpoint-6"
    shutil.copytree(good.path, half)
    (half / CHECKPOINT_MARKER).unlink()
    assert "did not finish" in checkpoint_problem(half)
    # a kill while an older checkpoint was being deleted: marker there, a file gone
    gone = folder / "checkpoint-5"
    shutil.copytree(good.path, gone)
    marker = json.loads((gone / CHECKPOINT_MARKER).read_text())
    (gone / CHECKPOINT_MARKER).write_text(json.dumps({**marker, "step": 5}))
    (gone / "optimizer.pt").unlink()
    assert "optimizer.pt is missing" in checkpoint_problem(gone)
    # a truncated file
    cut = folder / "checkpoint-7"
    shutil.copytree(good.path, cut)
    marker = json.loads((cut / CHECKPOINT_MARKER).read_text())
    (cut / CHECKPOINT_MARKER).write_text(json.dumps({**marker, "step": 7}))
    with open(cut / "optimizer.pt", "r+b") as fh:
        fh.truncate(10)
    assert "bytes" in checkpoint_problem(cut)
    assert latest_checkpoint(folder).step == 4
    lines = []
    res = train(load_causal_lm(probe), data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=2,
                log=lines.append)
    assert res.resumed_from == 4 and res.steps == 6
    assert not (gone.exists() or cut.exists()) and _steps(folder) == [6]     # checkpoint-6: this attempt's own
    assert checkpoint_problem(half) is None


def test_no_complete_checkpoint_says_it_restarts_from_step_0(setup, tmp_path):
    probe, cfg, data = setup
    folder = tmp_path / "ck"
    (folder / "checkpoint-2").mkdir(parents=True)            # killed during the first save
    (folder / "checkpoint-2" / "model.safetensors").write_bytes(b"x" * 10)
    lines = []
    res = train(load_causal_lm(probe), data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=2,
                log=lines.append)
    assert res.resumed_from == 0
    assert any(line.startswith("restarting training from step 0: no complete checkpoint") and "checkpoint-2" in line
               for line in lines)


def test_a_checkpoint_of_another_length_is_not_used(setup, tmp_path):
    probe, cfg, data = setup
    folder, seen = tmp_path / "ck", []
    with pytest.raises(InterruptedError):
        train(load_causal_lm(probe), data.sequences, cfg, pad_id=0, checkpoint_dir=folder, save_steps=2,
              progress=lambda s, t, l: seen.append(s), should_stop=lambda: len(seen) >= 2)
    longer = type(cfg)(**{**cfg.to_dict(), "epochs": 4})
    res = train(load_causal_lm(probe), data.sequences, longer, pad_id=0, checkpoint_dir=folder, save_steps=2)
    assert res.resumed_from == 0 and res.steps == train_mod.num_steps(len(data.sequences), longer)


def test_default_save_steps(monkeypatch):
    monkeypatch.delenv("ALIGNSCOPE_FINETUNE_SAVE_STEPS", raising=False)
    assert train_mod.default_save_steps(8) == 2 and train_mod.default_save_steps(1) == 1
    assert train_mod.default_save_steps(10) == math.ceil(10 / 4)
    monkeypatch.setenv("ALIGNSCOPE_FINETUNE_SAVE_STEPS", "5")
    assert train_mod.default_save_steps(8) == 5
    with pytest.raises(ValueError):
        train_mod.checkpoint_dir("../x")
