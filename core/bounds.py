"""Ranged fields of a component's frozen ``Config`` dataclass: :func:`bounded` declares a field's
range, :class:`BoundedConfig` checks every such field when the config is built.

The alignment metrics (:mod:`core.metrics`), outcomes (:mod:`core.outcomes`) and demonstration
selectors (:mod:`core.icl.selectors`) declare their hyperparameters this way; ``key=False`` marks an
execution-only field that never enters a cache key.
"""
from __future__ import annotations

from dataclasses import field, fields
from typing import Any


def bounded(default: int, *, low: int | None = None, high: int | None = None, key: bool = True) -> Any:
    """A ``Config`` field with a range: ``low <= value <= high`` (None: unbounded), checked by
    :class:`BoundedConfig`. ``key=False``: the field does not enter the cache key (execution only)."""
    return field(default=default, metadata={"low": low, "high": high, "key": key})


class BoundedConfig:
    """Base of a metric's frozen ``Config`` dataclass: checks the ranges of its :func:`bounded` fields.

    Raises:
        ValueError: naming the first field out of range, its range and its value (``build_config``
            turns it into a :class:`MetricError`).
    """

    def __post_init__(self) -> None:
        for f in fields(self):
            low, high, value = f.metadata.get("low"), f.metadata.get("high"), getattr(self, f.name)
            if (low is not None and value < low) or (high is not None and value > high):
                span = " and ".join(x for x in (low is not None and f">= {low}", high is not None and f"<= {high}") if x)
                raise ValueError(f"{f.name} must be {span} (got {value!r})")
