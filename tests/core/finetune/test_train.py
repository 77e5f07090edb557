import math

import pytest
import torch

from core.finetune.data import build_training_data
from core.finetune.perplexity import perplexity
from core.finetune.train import TrainingError, load_causal_lm, lora_wrap, train
from core.probe import load_probe


@pytest.fixture
def setup(corpora, tiny_config, tiny_model_dir):
    probe = load_probe(tiny_model_dir, device="cpu")
    cfg = tiny_config(budget_tokens=256, epochs=4, learning_rate=5e-3)
    data = build_training_data(cfg, probe.tokenizer)
    return probe, cfg, data


def test_finetuning_lowers_the_loss_on_its_own_data(setup):
    probe, cfg, data = setup
    model = load_causal_lm(probe)
    pad = probe.tokenizer.pad_token_id
    before = perplexity(model, data.sequences, pad_id=pad).nll
    steps = []
    res = train(model, data.sequences, cfg, pad_id=pad, progress=lambda s, t, loss: steps.append((s, t)))
    after = perplexity(model, data.sequences, pad_id=pad).nll
    assert res.steps == 4 * math.ceil(len(data.sequences) / cfg.batch_size) == steps[-1][0] == steps[-1][1]
    assert after < before - 0.05 and res.last_loss < res.first_loss
    assert not model.training


def test_stop_request_ends_training_after_the_current_step(setup):
    probe, cfg, data = setup
    model = load_causal_lm(probe)
    seen = []
    with pytest.raises(InterruptedError, match="stopped at training step 2/"):
        train(model, data.sequences, cfg, pad_id=0, progress=lambda s, t, l: seen.append(s),
              should_stop=lambda: len(seen) >= 2)


def test_nan_loss_is_a_clear_error(setup):
    probe, cfg, data = setup
    model = load_causal_lm(probe)
    with torch.no_grad():
        model.get_input_embeddings().weight.fill_(float("nan"))
    with pytest.raises(TrainingError, match="NaN.*lower the learning rate"):
        train(model, data.sequences, cfg, pad_id=0)


def test_lora_trains_only_the_adapters(setup):
    probe, cfg, data = setup
    model = lora_wrap(load_causal_lm(probe), cfg)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    res = train(model, data.sequences, cfg, pad_id=0)
    assert res.steps > 0
    changed = [n for n, p in model.named_parameters() if "lora_" not in n and not torch.equal(p, base[n])]
    assert changed == []
    assert any(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)
