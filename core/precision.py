"""Numeric precision of forward passes and fine-tunes: ``auto`` | ``fp32`` | ``bf16``.

``auto`` resolves to ``bf16`` where the device executes bf16 matrix products faster than fp32 (a
CUDA GPU with ``torch.cuda.is_bf16_supported()``; a CPU whose oneDNN reports bf16 support, e.g.
AVX512-BF16 or AMX, *and* where a bf16 product measures faster, see :func:`fast_bf16`), else to
``fp32``. The *resolved* precision is what is recorded with every figure and what
enters cache keys (only when it is not ``fp32``, so entries made before precision existed keep their
keys).

Under ``bf16`` the probe's forward pass runs in ``torch.autocast(dtype=torch.bfloat16)``; softmax
statistics, log-sum-exp and FIM accumulations stay in float32 (see the estimators).
"""
from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Iterator

from core.errors import AlignScopeError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16")


def check_precision(requested: str) -> str:
    """Validate a requested precision name.

    Raises:
        AlignScopeError: not one of ``auto``, ``fp32``, ``bf16``.
    """
    if requested not in PRECISIONS:
        raise AlignScopeError(f"Unknown precision {requested!r}.", fix="use --precision auto, fp32 or bf16.")
    return requested


#: bf16 counts as fast on a CPU only when its matrix products measure at least this much faster.
MIN_CPU_SPEEDUP = 1.25


@functools.lru_cache(maxsize=None)
def fast_bf16(device_type: str) -> bool:
    """Whether ``device_type`` (``"cpu"`` or ``"cuda"``) runs bf16 matrix products faster than fp32.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN must report bf16 support
    (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``, e.g. AVX512-BF16 or AMX) *and* a bf16
    matrix product of the probe network's shape must measure at least :data:`MIN_CPU_SPEEDUP` times
    faster than fp32 (:func:`cpu_bf16_speedup`). The flag alone is not enough: an Intel Xeon whose
    AVX512-BF16 runs on one port (AMX hidden by the hypervisor) reports support but multiplies bf16
    at half the fp32 rate (measured on this project's 2-core machine: 0.55x), whereas an AMD EPYC
    (Zen 4) runs it about twice as fast. ``$ALIGNSCOPE_FAST_BF16`` = ``1``/``0`` overrides the
    measurement. Memoised per process; the CPU measurement is also stored on disk per processor.
    """
    import os

    import torch

    forced = os.environ.get("ALIGNSCOPE_FAST_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        try:
            supported = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
        return supported and cpu_bf16_speedup() >= MIN_CPU_SPEEDUP
    return False


def _cpu_identity() -> str:
    """Processor model, its flags and the torch/oneDNN build: what decides the bf16 speed."""
    import platform

    import torch

    model, flags = platform.processor(), ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and not model.strip():
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}|{flags}|{torch.__version__}|{torch.backends.mkldnn.is_available()}"


def _measure_cpu_bf16_speedup(*, rows: int = 512, inner: int = 576, outer: int = 4096, reps: int = 5) -> float:
    """fp32 time / bf16 time of ``[rows, inner] x [inner, outer]`` products (CPU time, best of ``reps``
    interleaved), so another process's load slows both alike. About 0.2 s."""
    import time

    import torch

    a = torch.randn(rows, inner)
    w = torch.randn(outer, inner)
    ab, wb = a.bfloat16(), w.bfloat16()
    best = {"fp32": float("inf"), "bf16": float("inf")}
    with torch.no_grad():
        for rep in range(reps + 1):              # round 0 warms up (kernel selection)
            for name, (x, y) in (("fp32", (a, w)), ("bf16", (ab, wb))):
                t = time.process_time()
                for _ in range(3):
                    torch.nn.functional.linear(x, y)
                if rep:
                    best[name] = min(best[name], time.process_time() - t)
    return best["fp32"] / max(best["bf16"], 1e-9)


@functools.lru_cache(maxsize=None)
def cpu_bf16_speedup() -> float:
    """Measured fp32/bf16 time ratio of a matrix product on this CPU (>1: bf16 is faster).

    Stored under ``cache/precision/`` keyed by :func:`_cpu_identity`, so every process of one
    machine makes the same choice (and cache keys that contain the precision stay consistent).
    """
    import hashlib
    import json

    from core.paths import atomic_write, cache_dir

    ident = _cpu_identity()
    path = cache_dir("precision") / f"cpu-bf16-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.json"
    try:
        return float(json.loads(path.read_text())["speedup"])
    except (OSError, ValueError, KeyError):
        pass
    speedup = _measure_cpu_bf16_speedup()
    atomic_write(path, json.dumps({"speedup": speedup, "cpu": ident.split("|")[0]}))
    return speedup


def resolve_precision(requested: str, device: torch.device | str) -> str:
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
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """``torch.autocast`` to bfloat16 when ``precision == "bf16"``; a no-op for ``fp32``."""
    import torch

    if precision == "bf16":
        with torch.autocast(getattr(device, "type", str(device)).split(":")[0], dtype=torch.bfloat16):
            yield
    else:
        yield
