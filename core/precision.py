"""Numeric precision of forward passes and fine-tunes: ``auto`` | ``fp32`` | ``bf16``.

``auto`` resolves to ``bf16`` where the device executes bf16 matrix products natively (a CUDA GPU
with ``torch.cuda.is_bf16_supported()``; a CPU whose oneDNN reports bf16 support, e.g. AVX512-BF16
or AMX), else to ``fp32``. The *resolved* precision is what is recorded with every figure and what
enters cache keys (only when it is not ``fp32``, so entries made before precision existed keep their
keys).

Under ``bf16`` the probe's forward pass runs in ``torch.autocast(dtype=torch.bfloat16)``; softmax
statistics, log-sum-exp and FIM accumulations stay in float32 (see the estimators).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Iterator

from core.errors import AlignScopeError

PRECISIONS = ("auto", "fp32", "bf16")


def check_precision(requested: str) -> str:
    """Validate a requested precision name.

    Raises:
        AlignScopeError: not one of ``auto``, ``fp32``, ``bf16``.
    """
    if requested not in PRECISIONS:
        raise AlignScopeError(f"Unknown precision {requested!r}.", fix="use --precision auto, fp32 or bf16.")
    return requested


@functools.lru_cache(maxsize=None)
def fast_bf16(device_type: str) -> bool:
    """Whether ``device_type`` (``"cpu"`` or ``"cuda"``) runs bf16 matrix products natively."""
    import torch

    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(requested: str, device) -> str:
    """The precision actually used on ``device`` (a ``torch.device`` or its type string).

    ``auto`` -> ``bf16`` if :func:`fast_bf16`, else ``fp32``; ``fp32``/``bf16`` are kept as asked.

    Raises:
        AlignScopeError: unknown precision name.
    """
    check_precision(requested)
    if requested != "auto":
        return requested
    dtype = getattr(device, "type", str(device)).split(":")[0]
    return "bf16" if fast_bf16(dtype) else "fp32"


@contextlib.contextmanager
def autocast(precision: str, device) -> Iterator[None]:
    """``torch.autocast`` to bfloat16 when ``precision == "bf16"``; a no-op for ``fp32``."""
    import torch

    if precision == "bf16":
        with torch.autocast(getattr(device, "type", str(device)).split(":")[0], dtype=torch.bfloat16):
            yield
    else:
        yield
