"""Everything that determines a Task2Vec embedding besides the corpus: :class:`EmbedSettings`.

It names the defaults of the batch config (:mod:`core.batches`), the estimator
(:mod:`core.estimators`), the precision (:mod:`core.precision`) and the probe network
(:mod:`core.probe`), so it sits above them; the keys it feeds are built by :mod:`core.fingerprint`,
which sits at the ground. ``to_dict`` is the form that job ids and caches are keyed on: a default
left implicit and the same default made explicit give the same dict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from core.batches import BatchConfig
from core.errors import AlignScopeError
from core.estimators import DEFAULT_ESTIMATOR
from core.precision import check_precision
from core.probe import DEFAULT_MODEL


@dataclass(frozen=True)
class EmbedSettings:
    """Everything that determines a Task2Vec embedding besides the corpus.

    Attributes:
        model: probe network name (``smollm2-135m``, a hub id or a folder).
        estimator: registered estimator name (``closed_form_head``, ``reference``, ...).
        estimator_params: hyperparameters as sorted ``(key, value)`` pairs (hashable).
        batch: :class:`~core.batches.BatchConfig`.
        device: ``auto``, ``cpu``, ``cuda``...
        precision: requested forward-pass precision, ``auto`` | ``fp32`` | ``bf16``
            (:mod:`core.precision`); resolved against the probe's device before use.

    Raises (constructor):
        AlignScopeError: unknown precision.
    """

    model: str = DEFAULT_MODEL
    estimator: str = DEFAULT_ESTIMATOR
    estimator_params: tuple = ()
    batch: BatchConfig = field(default_factory=BatchConfig)
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_precision(self.precision)

    def to_dict(self) -> dict:
        """JSON-able form; ``precision`` is left out while it is the default ``auto`` (so the dicts,
        and the job ids made from them, are the same as before precision existed)."""
        d = asdict(self)
        d["estimator_params"] = dict(self.estimator_params)
        if self.precision == "auto":
            d.pop("precision")
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "EmbedSettings":
        """Inverse of :meth:`to_dict` (None or ``{}`` -> defaults; missing keys -> defaults).

        Raises:
            AlignScopeError: unknown keys, or bad batch / precision values.
        """
        if not d:
            return cls()
        s = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(s) - known)
        if unknown:
            raise AlignScopeError(f"Unknown embedding settings: {', '.join(unknown)}.",
                                  fix=f"use only: {', '.join(sorted(known))}.")
        try:
            batch = BatchConfig(**dict(s.get("batch") or {}))
        except (TypeError, ValueError) as exc:
            raise AlignScopeError(f"Bad batch settings {s.get('batch')!r}: {exc}",
                                  fix="use positive batch_size, seq_len (>= 2), num_batches and an int seed.") from exc
        return cls(model=s.get("model") or DEFAULT_MODEL, estimator=s.get("estimator") or DEFAULT_ESTIMATOR,
                   estimator_params=tuple(sorted(dict(s.get("estimator_params") or {}).items())),
                   batch=batch, device=s.get("device") or "auto", precision=s.get("precision") or "auto")
