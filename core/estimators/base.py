"""The Task2Vec estimator interface and its registry of named implementations.

A Task2Vec estimator maps (probe network, batch of token windows) to a Task2Vec embedding: a
non-negative float32 vector summarising the diagonal of the Fisher Information Matrix (FIM) of the
probe's weights on that batch (Achille et al., "Task2Vec", arXiv 1902.03545, Sec. 2-3; Lee, Miranda
et al., "Beyond Scale", arXiv 2306.13840, Sec. 2). Estimators differ in which weights they cover and
how they approximate the FIM; each declares its embedding layout (named segments) and a
deterministic ``fingerprint`` of its name and hyperparameters that becomes part of the cache key.

Register an implementation with ``@register_estimator`` and get it by name with
:func:`get_estimator` (CLI ``--estimator NAME --estimator-param k=v``).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from core.errors import EstimatorError, opt
from core.registry import Registry, RegistryError

if TYPE_CHECKING:
    from core.batches import TokenBatch
    from core.probe import ProbeNetwork


@dataclass(frozen=True)
class Segment:
    """A named slice ``[start, stop)`` of an embedding: the per-filter FIM of one weight matrix."""

    name: str
    start: int
    stop: int


class Task2VecEstimator(ABC):
    """Abstract Task2Vec estimator.

    Subclasses set ``name`` (registry key), ``Config`` (a frozen dataclass of hyperparameters whose
    defaults never change a cache key: the key is built from every field's value) and implement
    :meth:`embed` and :meth:`layout`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, **params: Any) -> None:
        from core.registry import build_config

        self.config = build_config(self.Config, params, kind="Estimator", name=self.name, error=EstimatorError,
                                   fix=f"check the values of {opt('estimator_param')}.", option="estimator_param")

    def fingerprint(self) -> dict:
        """JSON-able identity: ``{"estimator": name, "version": v, **hyperparameters}``.

        Execution knobs that cannot change the embedding (declared with
        ``field(..., metadata={"key": False})``, e.g. a chunk size) are left out, so changing them
        reuses the cache.
        """
        params = {f.name: getattr(self.config, f.name) for f in fields(self.config) if f.metadata.get("key", True)}
        return {"estimator": self.name, "version": getattr(self, "version", 1), **params}

    def fingerprint_str(self) -> str:
        return json.dumps(self.fingerprint(), sort_keys=True)

    @abstractmethod
    def embed(self, probe: ProbeNetwork, batch: TokenBatch, *, precision: str = "fp32") -> np.ndarray:
        """Task2Vec embedding of one batch.

        Args:
            probe: a :class:`core.probe.ProbeNetwork`.
            batch: a :class:`core.batches.TokenBatch` (int64 [B, T] ids and mask).
            precision: the resolved forward-pass precision, ``fp32`` or ``bf16`` (:mod:`core.precision`).

        Returns:
            float32 array [D] with D = ``layout(probe)[-1].stop``, all entries >= 0 and finite.

        Raises:
            EstimatorError: the FIM is NaN/inf or all zeros.
        """

    def check_model(self, *, num_layers: int | None = None) -> None:
        """Check the hyperparameters against the probe network's limits before weights load
        (``num_layers``: its transformer blocks, None when unknown). Nothing to check by default.

        Raises:
            EstimatorError: a hyperparameter the probe network cannot satisfy.
        """

    @abstractmethod
    def layout(self, probe: ProbeNetwork) -> list[Segment]:
        """The embedding's segments, in order (depends on the probe network's architecture only)."""


def at_least(config: object, low: int, *names: str) -> None:
    """Range check of a hyperparameter dataclass: every field in ``names`` must be >= ``low``.

    Raises:
        ValueError: naming the first field below ``low`` and its value (``build_config`` turns it
            into the component's error).
    """
    for name in names:
        value = getattr(config, name)
        if value < low:
            raise ValueError(f"{name} must be >= {low} (got {value!r})")


def check_embedding(vec: np.ndarray, *, where: str) -> np.ndarray:
    """Validate an embedding (finite, non-negative, not all zero) and return it as float32 [D].

    Raises:
        EstimatorError: naming ``where`` (corpus and batch) and the fix.
    """
    vec = np.asarray(vec, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(vec)):
        raise EstimatorError(f"The FIM of {where} has NaN or infinite entries.",
                             fix="the probe network diverged on this batch: try --device cpu, float32, or another seed.")
    if not np.any(vec > 0):
        raise EstimatorError(f"The FIM of {where} is all zeros (no gradient signal).",
                             fix="check that the batch has real tokens and the probe network's weights are not frozen.")
    return np.clip(vec, 0.0, None)


ESTIMATORS = Registry("Task2Vec estimator", fix_hint="(CLI: --estimator NAME)")
REGISTRY = ESTIMATORS  # the name it had when it was a dict
ESTIMATORS.register("reference", "core.estimators.reference:ReferenceEstimator")        # built-ins, imported
ESTIMATORS.register("closed_form_head", "core.estimators.closed_form:ClosedFormHeadEstimator")   # on first use
ESTIMATORS.register("closed_form_blocks", "core.estimators.closed_form:ClosedFormBlocksEstimator")


def register_estimator(cls: type[Task2VecEstimator]) -> type[Task2VecEstimator]:
    """Class decorator adding an estimator to :data:`ESTIMATORS` under ``cls.name``."""
    ESTIMATORS.register(cls.name, cls)
    return cls


def get_estimator(name: str, **params: Any) -> Task2VecEstimator:
    """Instantiate the estimator registered as ``name`` with hyperparameters ``params``.

    Raises:
        EstimatorError: unknown name (the message lists the known ones) or bad parameters.
    """
    try:
        cls = ESTIMATORS.get(name)
    except RegistryError as exc:
        raise EstimatorError(exc.raw_what, fix=exc.raw_fix) from None
    return cls(**params)
