"""Numeric precision of forward passes and fine-tunes: ``auto`` | ``fp32`` | ``bf16``.

``auto`` resolves to ``bf16`` where bf16 makes the default estimator's own work faster: on a CUDA
GPU with ``torch.cuda.is_bf16_supported()``; on a CPU whose oneDNN reports bf16 support (e.g.
AVX512-BF16 or AMX) *and* where one real ``closed_form_head`` step (the probe network's forward pass
plus the closed-form head FIM on a small real batch) measures at least :data:`MIN_STEP_SPEEDUP`
times faster in bf16 than in fp32 (:func:`auto_decision`), else to ``fp32``. The decision is
measured once per (device, CPU model and flags, torch/oneDNN build, probe network fingerprint) and
stored under ``cache/precision/``. ``$ALIGNSCOPE_FAST_BF16`` = ``1``/``0`` pins it (tests, CI).

The *resolved* precision is what is recorded with every figure and what enters cache keys (only
when it is not ``fp32``, so entries made before precision existed keep their keys).

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

    from core.batches import TokenBatch
    from core.probe import ProbeNetwork

PRECISIONS = ("auto", "fp32", "bf16")


def check_precision(requested: str) -> str:
    """Validate a requested precision name.

    Raises:
        AlignScopeError: not one of ``auto``, ``fp32``, ``bf16``.
    """
    if requested not in PRECISIONS:
        raise AlignScopeError(f"Unknown precision {requested!r}.", fix="use --precision auto, fp32 or bf16.")
    return requested


#: ``auto`` picks bf16 on a CPU only when the default estimator's step measures at least this much faster.
MIN_STEP_SPEEDUP = 1.25
#: The former name (the matrix-product microbenchmark's threshold); the same value.
MIN_CPU_SPEEDUP = MIN_STEP_SPEEDUP


@functools.lru_cache(maxsize=None)
def fast_bf16(device_type: str) -> bool:
    """Whether ``auto`` runs bf16 on ``device_type`` (``"cpu"`` or ``"cuda"``) for the default probe network.

    ``$ALIGNSCOPE_FAST_BF16`` = ``1``/``0`` decides first (nothing is measured then). CUDA:
    ``torch.cuda.is_bf16_supported()``. CPU: :func:`auto_decision` for the default probe network
    (oneDNN must report bf16 support, and one real ``closed_form_head`` step must measure at least
    :data:`MIN_STEP_SPEEDUP` times faster in bf16). The flag alone is not enough: an Intel Xeon whose
    AVX512-BF16 runs on one port reports support but multiplies bf16 at half the fp32 rate, whereas an
    AMD EPYC (Zen 4) multiplies it about twice as fast; and a faster matrix product alone is not
    enough either, since the step also runs element-wise work that bf16 does not speed up.
    Memoised per process; the CPU decision is also stored on disk (:func:`auto_decision`).
    Any other device type: False.
    """
    forced = _forced()
    if forced is not None:
        return forced
    if device_type == "cuda":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        return auto_decision("cpu")["precision"] == "bf16"
    return False


def _forced() -> bool | None:
    """``$ALIGNSCOPE_FAST_BF16``: ``1`` -> True, ``0`` -> False, anything else -> None (measure)."""
    import os

    forced = os.environ.get("ALIGNSCOPE_FAST_BF16", "").strip()
    return forced == "1" if forced in ("0", "1") else None


def _cpu_bf16_flag() -> bool:
    """oneDNN reports bf16 support on this CPU (AVX512-BF16, AMX, ...)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
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

    Informational only (benchmarks report it beside the step's own ratio); ``auto`` is decided by
    :func:`auto_decision`, which times the estimator's real step.

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


def resolve_precision(requested: str, device: torch.device | str, *, probe: ProbeNetwork | None = None) -> str:
    """The precision actually used on ``device`` (a ``torch.device`` or its type string).

    ``auto`` -> ``bf16`` if bf16 is faster there (:func:`fast_bf16`; with ``probe``, a CPU decision
    measured on that probe network's own step, :func:`auto_decision`), else ``fp32``;
    ``fp32``/``bf16`` are kept as asked. ``$ALIGNSCOPE_FAST_BF16`` = ``1``/``0`` pins ``auto``.

    Raises:
        AlignScopeError: unknown precision name.
    """
    check_precision(requested)
    if requested != "auto":
        return requested
    dtype = getattr(device, "type", str(device)).split(":")[0]
    if probe is not None and dtype == "cpu" and _forced() is None:
        return auto_decision("cpu", probe)["precision"]
    return "bf16" if fast_bf16(dtype) else "fp32"


#: The estimator whose ``embed`` step ``auto`` is timed on (the default, ``closed_form_head``), named
#: as ``"module:class"`` and loaded on first use, as the engines are (:data:`core.execution.ENGINES`):
#: the estimators sit above this file (they run under its :func:`autocast`), so it never imports them.
TIMED_STEP = "core.estimators.closed_form:ClosedFormHeadEstimator"

#: The real batch ``auto`` is timed on: windows of this text, tokenised by the probe's tokenizer.
_STEP_TEXT = (
    "Theorem add_comm : forall n m : nat, n + m = m + n. Proof. intros n m. induction n as [| n IH]; simpl. "
    "- rewrite <- plus_n_O. reflexivity. - rewrite IH. rewrite plus_n_Sm. reflexivity. Qed. "
    "Let G be a finite group and H a subgroup of G. Then the order of H divides the order of G. "
    "def merge(a, b):\n    out = []\n    while a and b:\n        out.append(a.pop(0) if a[0] <= b[0] else b.pop(0))\n"
    "    return out + a + b\n"
    "The river rose through the night, and by morning the low fields east of the village were under water; "
    "the farmers moved their animals to the ridge and waited for the rain to stop. ")


def step_batch(probe: ProbeNetwork, *, batch_size: int = 2, seq_len: int = 128) -> TokenBatch:
    """The small real batch ``auto`` is timed on: ``batch_size`` full windows of ``seq_len`` tokens of
    a fixed mixed text (Coq, maths, Python, prose), int64 [batch_size, seq_len], no padding."""
    import numpy as np

    from core.batches import TokenBatch

    ids = probe.tokenizer(_STEP_TEXT, add_special_tokens=False)["input_ids"]
    need = batch_size * seq_len
    ids = (ids * (need // max(len(ids), 1) + 1))[:need]
    arr = np.asarray(ids, dtype=np.int64).reshape(batch_size, seq_len)
    return TokenBatch("precision-step", 0, arr, np.ones_like(arr), tuple(f"step-{i}" for i in range(batch_size)),
                      tuple(i * seq_len for i in range(batch_size)))


def _time_steps(probe: ProbeNetwork, batch: TokenBatch, repeats: int) -> dict[str, list[float]]:
    """Wall seconds of ``repeats`` ``closed_form_head`` steps per precision, alternated
    (fp32, bf16, fp32, ...) after one untimed warm-up step of each (kernel selection, weight casts)."""
    import importlib
    import time

    module, _, name = TIMED_STEP.partition(":")
    est = getattr(importlib.import_module(module), name)()
    out: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for rep in range(repeats + 1):
        for prec in ("fp32", "bf16"):
            t = time.perf_counter()
            est.embed(probe, batch, precision=prec)
            if rep:
                out[prec].append(time.perf_counter() - t)
    return out


def measure_step_speedup(probe: ProbeNetwork, *, repeats: int = 5, batch_size: int = 2, seq_len: int = 128) -> dict:
    """Time the default estimator's step (``closed_form_head.embed``: forward pass + head FIM) on
    :func:`step_batch` in fp32 and bf16, alternated, ``repeats`` times each.

    Returns:
        ``{"fp32_s": [...], "bf16_s": [...]`` (wall seconds per step), ``"fp32_median_s"``,
        ``"bf16_median_s"``, ``"speedup"`` (fp32 median / bf16 median; > 1: bf16 faster),
        ``"paired_speedup_median"`` (median of fp32_i / bf16_i), ``"repeats"``, ``"tokens"``}.
    """
    import statistics

    batch = step_batch(probe, batch_size=batch_size, seq_len=seq_len)
    times = _time_steps(probe, batch, repeats)
    f, b = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    return {"fp32_s": times["fp32"], "bf16_s": times["bf16"], "fp32_median_s": f, "bf16_median_s": b,
            "speedup": f / max(b, 1e-12),
            "paired_speedup_median": statistics.median([x / max(y, 1e-12) for x, y in zip(times["fp32"], times["bf16"])]),
            "repeats": repeats, "tokens": batch.num_tokens}


def decision_key(device_type: str, model_fingerprint: str) -> dict:
    """What the stored ``auto`` decision depends on: device type, CPU model and flags, torch version
    and oneDNN availability, and the probe network's weights fingerprint (a JSON-able dict)."""
    import torch

    model, flags, _, _ = (_cpu_identity().split("|") + ["", "", "", ""])[:4]
    return {"device": device_type, "cpu_model": model, "cpu_flags": flags, "torch": torch.__version__,
            "mkldnn": bool(torch.backends.mkldnn.is_available()), "model_fingerprint": model_fingerprint}


_DECISIONS: dict[str, dict] = {}


def auto_decision(device_type: str = "cpu", probe: ProbeNetwork | None = None) -> dict:
    """What ``auto`` resolves to on a CPU for ``probe`` (None: the default probe network), and why.

    Without oneDNN bf16 support: ``fp32``, nothing measured. Otherwise one real ``closed_form_head``
    step is timed in both precisions (:func:`measure_step_speedup`) and ``bf16`` is chosen when
    ``speedup >= MIN_STEP_SPEEDUP``. Stored as JSON in ``cache/precision/auto-<hash>.json`` under
    :func:`decision_key`, so every process of a machine decides alike; a different CPU, torch build
    or model fingerprint measures again. Memoised per process (``auto_decision.cache_clear()``).
    ``$ALIGNSCOPE_FAST_BF16`` is *not* consulted here (callers check it first).

    Returns:
        dict with ``precision`` (``"fp32"`` | ``"bf16"``), ``reason`` (a sentence), ``key``
        (:func:`decision_key`), ``threshold`` and, when measured, ``measurement``.

    Raises:
        ValueError: ``device_type`` other than ``"cpu"``.
    """
    import hashlib
    import json

    from core.paths import atomic_write, cache_dir

    if device_type != "cpu":
        raise ValueError(f"auto_decision measures CPUs only (got {device_type!r})")
    if not _cpu_bf16_flag():             # nothing to measure: no probe network is loaded, nothing stored
        return {"precision": "fp32", "reason": "oneDNN reports no bf16 support on this CPU (nothing measured)",
                "key": decision_key(device_type, getattr(probe, "fingerprint", "")), "threshold": MIN_STEP_SPEEDUP}
    if probe is None:
        from core.probe import DEFAULT_MODEL, load_probe

        probe = load_probe(DEFAULT_MODEL, device="cpu", progress=False)
    key = decision_key(device_type, probe.fingerprint)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    if digest in _DECISIONS:
        return _DECISIONS[digest]
    path = cache_dir("precision") / f"auto-{digest}.json"
    try:
        found = json.loads(path.read_text())
        if found.get("key") == key and found.get("precision") in ("fp32", "bf16"):
            _DECISIONS[digest] = found
            return found
    except (OSError, ValueError, AttributeError):
        pass
    m = measure_step_speedup(probe)
    fast = m["speedup"] >= MIN_STEP_SPEEDUP
    decision = {"precision": "bf16" if fast else "fp32",
                "reason": (f"closed_form_head step: bf16 {m['bf16_median_s']:.3f} s vs fp32 {m['fp32_median_s']:.3f} s "
                           f"(median of {m['repeats']} alternated repeats, {m['tokens']} tokens): "
                           f"{m['speedup']:.2f}x {'>=' if fast else '<'} {MIN_STEP_SPEEDUP}x"),
                "key": key, "threshold": MIN_STEP_SPEEDUP, "measurement": m}
    atomic_write(path, json.dumps(decision, indent=1))
    _DECISIONS[digest] = decision
    return decision


auto_decision.cache_clear = _DECISIONS.clear  # type: ignore[attr-defined]  (tests/conftest.py clears every memo)


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """``torch.autocast`` to bfloat16 when ``precision == "bf16"``; a no-op for ``fp32``."""
    import torch

    if precision == "bf16":
        with torch.autocast(getattr(device, "type", str(device)).split(":")[0], dtype=torch.bfloat16):
            yield
    else:
        yield
