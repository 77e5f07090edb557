import time

import pytest

from core.errors import ModelError
from core.probe import DEFAULT_MODEL, embedded_gguf_path, embedded_model_dir, load_probe, resolve_device


def test_embedded_default_is_converted_once_and_loads_offline():
    folder = embedded_model_dir()
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert embedded_gguf_path().suffix == ".gguf"
    p = load_probe(DEFAULT_MODEL, device="cpu")
    assert p.name == DEFAULT_MODEL and len(p.fingerprint) == 64 and p.tokenizer.pad_token is not None
    assert load_probe("default", device="cpu").fingerprint == p.fingerprint


def test_local_folder_and_fingerprints(tiny_model_dir, tiny_untied_dir):
    a, b = load_probe(tiny_model_dir, device="cpu"), load_probe(tiny_untied_dir, device="cpu")
    assert a.fingerprint != b.fingerprint
    assert a.tokenizer_fingerprint == b.tokenizer_fingerprint          # same tokenizer
    assert not a.loaded or a.model is not None                            # weights load lazily
    assert a.tied_embeddings and not b.tied_embeddings


def test_unknown_model_offline_fails_fast_with_a_clear_message():
    t = time.perf_counter()
    with pytest.raises(ModelError, match=r"'no-such-org/no-such-model'.*(unreachable|offline).*Fix: .*smollm2-135m"):
        load_probe("no-such-org/no-such-model", device="cpu")
    assert time.perf_counter() - t < 20


def test_bad_folder_and_device(tmp_path):
    with pytest.raises(ModelError, match="not a transformers checkpoint"):
        load_probe(str(tmp_path), device="cpu")
    assert str(resolve_device("auto")) in ("cpu", "cuda")
    with pytest.raises(ModelError):
        resolve_device("tpu-9000")
