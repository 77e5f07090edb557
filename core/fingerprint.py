"""Identity of everything AlignScope caches: one hasher and every key builder.

Modelled on HF datasets' ``fingerprint.py``: one function (:func:`fingerprint`, sha256 of canonical
JSON) makes every key, and a key covers the *values* that determine the cached thing, so making a
default explicit never changes a key and a new option changes a key only when set to a non-default
value (precision: only a resolved precision other than ``fp32`` enters an embedding key).

Keys (prefix, then the fingerprint of the fields listed):

- ``emb:``      one batch's Task2Vec embedding: key version, probe network (weights hash or hub
                revision), tokenizer, estimator name + hyperparameters, batch token content
                [+ resolved precision when not ``fp32``]  (:func:`embedding_key`)
- ``batches:``  a corpus's drawn batches: corpus content, tokenizer, batch config  (:func:`batches_key`)
- ``stats:``    a corpus's size statistics: corpus content, tokenizer  (:func:`stats_key`)
- ``dist:v1:``  a distance block between two embedding matrices, by content  (:func:`distance_block_key`)
- ``contam-``   a source's contamination report: corpus content, held-out splits, parameters
                (:func:`contamination_key`)
- job ids       ``<kind>-<16 hex>`` of kind + params  (:func:`job_id`)
- corpus fingerprints  (:func:`corpus_fingerprint`, ``legacy_spacing``: see below)

Two separator styles exist for historical reasons: embedding/batch/stats keys and job ids were made
with compact JSON (``","``/``":"``), corpus fingerprints with :func:`json.dumps`'s default
(``", "``/``": "``). Both are kept byte-identical so that no existing cache entry is orphaned;
``tests/core/test_fingerprint.py`` pins known keys of both styles.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np

#: Version of the embedding key layout (bump to invalidate every cached embedding).
KEY_VERSION = 1
_COMPACT = (",", ":")
_SPACED = (", ", ": ")


def canonical_json(obj: Any, *, legacy_spacing: bool = False) -> str:
    """Canonical JSON of ``obj``: sorted keys, compact separators (``legacy_spacing``: ``", "``/``": "``),
    non-JSON values through ``str``."""
    return json.dumps(obj, sort_keys=True, separators=_SPACED if legacy_spacing else _COMPACT, default=str)


def fingerprint(obj: Any, *, legacy_spacing: bool = False) -> str:
    """sha256 hex (64 characters) of :func:`canonical_json` of ``obj``.

    Args:
        obj: any JSON-able value (dict keys are sorted; other values are turned into ``str``).
        legacy_spacing: hash the JSON with the default ``", "``/``": "`` separators, as corpus
            fingerprints always have (keeps their values, and the keys built on them, unchanged).
    """
    return hashlib.sha256(canonical_json(obj, legacy_spacing=legacy_spacing).encode("utf-8")).hexdigest()


def array_digest(arr: np.ndarray) -> str:
    """32-hex content digest of a float32 array (shape and bytes), e.g. a corpus's embedding matrix."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return hashlib.sha256(str(arr.shape).encode() + b"\0" + arr.tobytes()).hexdigest()[:32]


# -- key builders ---------------------------------------------------------------------------------

def embedding_key(*, model_fingerprint: str, tokenizer_fingerprint: str, estimator: dict, batch_hash: str,
                  precision: str = "fp32") -> str:
    """Store key of one batch's Task2Vec embedding.

    Args:
        model_fingerprint, tokenizer_fingerprint: the probe network's identities (:mod:`core.probe`).
        estimator: the estimator's fingerprint dict (name, version, hyperparameters).
        batch_hash: :meth:`core.batches.TokenBatch.content_hash`.
        precision: the *resolved* precision (``fp32`` or ``bf16``); ``fp32`` leaves the key as it
            was before precision existed.
    """
    ident = {"v": KEY_VERSION, "model": model_fingerprint, "tokenizer": tokenizer_fingerprint,
             "estimator": estimator, "batch": batch_hash}
    if precision != "fp32":
        ident["precision"] = precision
    return "emb:" + fingerprint(ident)


def batches_key(*, corpus_fingerprint: str, tokenizer_fingerprint: str, batch: Mapping[str, Any]) -> str:
    """Store key of a corpus's drawn batches (corpus content, tokenizer, batch config).

    Args:
        batch: the batch config as plain data (:meth:`core.batches.BatchConfig.to_dict`), or any
            object with that ``to_dict()`` (the key is the same).
    """
    plain = batch.to_dict() if hasattr(batch, "to_dict") else dict(batch)
    return "batches:" + fingerprint({"corpus": corpus_fingerprint, "tok": tokenizer_fingerprint, "batch": plain})


def stats_key(*, corpus_fingerprint: str, tokenizer_fingerprint: str) -> str:
    """Store key of a corpus's size statistics (corpus content, tokenizer)."""
    return "stats:" + fingerprint({"corpus": corpus_fingerprint, "tok": tokenizer_fingerprint})


def distance_block_key(digest_a: str, digest_b: str) -> str:
    """Store key of the Task2Vec distance block between two embedding matrices (:func:`array_digest`)."""
    return f"dist:v1:{digest_a}:{digest_b}"


def contamination_key(*, corpus_fingerprint: str, heldout: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """Cache key of a source's contamination report (:mod:`core.corpora.contamination`): the source's
    content, the held-out splits' fingerprints per benchmark, and the measure's parameters."""
    return "contam-" + fingerprint({"corpus": corpus_fingerprint, "heldout": heldout, "params": params})[:40]


def job_id(kind: str, params: Mapping[str, Any]) -> str:
    """Deterministic job id: ``<kind>-<first 16 hex of the fingerprint of kind and params>``."""
    return f"{kind}-{fingerprint({'kind': kind, 'params': params})[:16]}"


def corpus_fingerprint(identity: Any) -> str:
    """Fingerprint of a corpus's (or a demo source's) content identity (legacy spacing, see module doc)."""
    return fingerprint(identity, legacy_spacing=True)
