"""core.fingerprint: one hasher, every key builder, EmbedSettings round trip.

The pinned keys were computed with the code before core.fingerprint existed (core/store.py's compact
JSON for embedding/batches/stats keys and job ids; json.dumps's default spacing for corpus
fingerprints in core/corpora/registry.py and demo.py), so a cache made then is still found.
"""
import numpy as np
import pytest

from core.batches import BatchConfig
from core.errors import AlignScopeError
from core.fingerprint import (array_digest, batches_key, corpus_fingerprint, distance_block_key, embedding_key, fingerprint, job_id, stats_key)
from core.settings import EmbedSettings

EST = {"estimator": "closed_form_head", "version": 1, "a": 2}


def test_embedding_key_is_byte_identical_to_the_old_key():
    key = embedding_key(model_fingerprint="m" * 8, tokenizer_fingerprint="t" * 8, estimator=EST, batch_hash="b" * 8)
    assert key == "emb:1810c939835b0e6bab65904c31d806957d23c7851c819fde935d249067b9646d"


def test_fp32_leaves_the_key_unchanged_and_bf16_changes_it():
    args = dict(model_fingerprint="m" * 8, tokenizer_fingerprint="t" * 8, estimator=EST, batch_hash="b" * 8)
    assert embedding_key(**args, precision="fp32") == embedding_key(**args)
    assert embedding_key(**args, precision="bf16") != embedding_key(**args)


def test_batches_stats_and_job_keys_are_the_old_keys():
    assert batches_key(corpus_fingerprint="c1", tokenizer_fingerprint="t1", batch=BatchConfig()) == \
        "batches:18f1d12c51fe4a0d4c0a454bbc95d65f83cee12a0bdd0327978197cbe51965b2"
    assert stats_key(corpus_fingerprint="c1", tokenizer_fingerprint="t1") == \
        "stats:5355930f43b870eae4e01e44d6f1a21ac2432cddaf10312def399c39bb1067d1"
    assert job_id("embed", {"corpora": ["a"], "settings": EmbedSettings().to_dict()}) == "embed-16b172be0b4db253"


def test_corpus_fingerprints_keep_their_legacy_spacing():
    ident = {"v": 1, "spec": {"kind": "files"}, "content": [["a.txt", 3, 5]]}
    assert corpus_fingerprint(ident) == "f2675febdb1371612f31842f853273c740ae0ed2304565707cda985ddd889d6c"
    assert corpus_fingerprint([1, "train", "x", "hf/id", "abc"]) == \
        "ab7412c0e0589450c1ee96edcac18804fab57333f721f56b120511aaa444d678"
    assert corpus_fingerprint(ident) != fingerprint(ident)


def test_key_order_does_not_matter_and_values_do():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_distance_block_key_and_array_digest():
    a = np.ones((2, 3), dtype=np.float32)
    assert array_digest(a) == array_digest(a.astype(np.float64))     # content, as float32
    assert array_digest(a) != array_digest(a.reshape(3, 2))            # shape is part of it
    assert distance_block_key("x", "y") == "dist:v1:x:y"


def test_settings_round_trip_and_default_precision_is_left_out():
    s = EmbedSettings(estimator_params=(("epochs", 3),), batch=BatchConfig(batch_size=4, num_batches=2))
    assert "precision" not in s.to_dict()
    assert EmbedSettings.from_dict(s.to_dict()) == s
    b = EmbedSettings(precision="bf16")
    assert b.to_dict()["precision"] == "bf16" and EmbedSettings.from_dict(b.to_dict()) == b
    assert EmbedSettings.from_dict(None) == EmbedSettings() == EmbedSettings.from_dict({})


def test_bad_settings_are_named():
    with pytest.raises(AlignScopeError, match="precision"):
        EmbedSettings(precision="fp8")
    with pytest.raises(AlignScopeError, match="colour"):
        EmbedSettings.from_dict({"colour": "red"})
    with pytest.raises(AlignScopeError, match="batch"):
        EmbedSettings.from_dict({"batch": {"batch_size": 0}})
