"""Measured embedding throughput on this machine, and the time estimates built on it.

Every embedding job records how long its computed batches took (:func:`record`, called by
``core.jobs.embed_job``) in a small history, ``cache_dir("throughput")/embed.json``: at most
:data:`KEEP` recent measurements per (probe network, estimator, precision, device setting). An
estimate (:func:`estimate`) scales the measured seconds per token (batch size × sequence length,
padding included: the probe's forward and backward passes cost the same for pad tokens) to the work
asked for and gives a range, from the fastest to the slowest recent measurement, widened by
:data:`SPREAD` on each side because other work on the machine changes the speed. With no
measurement yet it says so and uses a wide default range.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from core.settings import EmbedSettings

#: Measurements kept per key.
KEEP = 12
#: Relative widening of the measured range on each side (machine load varies).
SPREAD = 0.25
#: Seconds per token without a measurement: (fast, slow), from bench/estimators.json-like CPU runs
#: of SmolLM2-135M (about 2-8 s per 16 x 128-token batch).
DEFAULT_S_PER_TOKEN = (2.0 / 2048, 8.0 / 2048)


def _path():
    from core.paths import cache_dir

    return cache_dir("throughput") / "embed.json"


def key_of(settings: EmbedSettings, precision: str | None = None) -> str:
    """The history key: ``"model|estimator|precision|device"`` (``precision``: the resolved one)."""
    return "|".join((settings.model, settings.estimator, precision or settings.precision, settings.device))


def history() -> dict[str, list[dict]]:
    """The whole history ``{key: [{"batches", "tokens", "seconds", "s_per_token", "when"}, ...]}`` ({} when
    absent or unreadable: an estimate must never break a page)."""
    try:
        data = json.loads(_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record(settings: EmbedSettings, *, batches: int, seconds: float, precision: str | None = None) -> None:
    """Add one measurement: ``batches`` batches of ``settings.batch`` computed in ``seconds`` (wall
    seconds). Ignored when nothing was computed. Written atomically under a file lock."""
    from core.paths import atomic_write, file_lock

    if batches <= 0 or seconds <= 0:
        return
    tokens = batches * settings.batch.batch_size * settings.batch.seq_len
    path = _path()
    with file_lock(path.with_suffix(".lock")):
        data = history()
        rows = data.setdefault(key_of(settings, precision), [])
        rows.append({"batches": int(batches), "tokens": int(tokens), "seconds": round(float(seconds), 3),
                     "s_per_token": float(seconds) / tokens, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        del rows[:-KEEP]
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True))


@dataclass(frozen=True)
class Estimate:
    """Time range for some embedding work.

    Attributes:
        low_s, high_s: the range (seconds).  measured: how many measurements it rests on (0: default).
        basis: one line saying where it comes from.
    """

    low_s: float
    high_s: float
    measured: int
    basis: str

    def text(self) -> str:
        """``"about 40-90 s"`` / ``"about 2-4 min"`` (minutes from 90 s on)."""
        lo, hi = self.low_s, self.high_s
        if hi >= 90:
            return f"about {max(1, round(lo / 60))}–{max(1, round(hi / 60))} min"
        return f"about {max(1, round(lo))}–{max(1, round(hi))} s"


def estimate(settings: EmbedSettings, batches: int, *, precision: str | None = None) -> Estimate:
    """Seconds to compute ``batches`` batches of ``settings.batch`` with this probe network and
    estimator, from this machine's history (see the module docstring)."""
    tokens = batches * settings.batch.batch_size * settings.batch.seq_len
    rows = history().get(key_of(settings, precision), [])
    if not rows and precision is None:                      # any precision of the same model/estimator/device
        prefix = f"{settings.model}|{settings.estimator}|"
        rows = [r for k, rs in history().items() if k.startswith(prefix) and k.endswith("|" + settings.device)
                for r in rs]
    if not rows:
        lo, hi = DEFAULT_S_PER_TOKEN
        return Estimate(lo * tokens, hi * tokens, 0, "no measurement on this machine yet for this model and "
                                                     "estimator (wide default range)")
    rates = sorted(r["s_per_token"] for r in rows)
    lo, hi = rates[0] * (1 - SPREAD), rates[-1] * (1 + SPREAD)
    return Estimate(lo * tokens, hi * tokens, len(rows),
                    f"measured on this machine: {len(rows)} recent job{'s' if len(rows) != 1 else ''} of "
                    f"{settings.estimator} on {settings.model}")
