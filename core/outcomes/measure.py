"""Measure several outcomes of a model on a target, and the base model's outcomes once, cached on disk.

:func:`measure_outcomes` runs the named outcomes on a given model (e.g. a fine-tuned one);
:func:`base_outcomes` does the same for a probe network's base weights and stores each
:class:`~core.outcomes.base.OutcomeResult` as atomic JSON under ``cache/outcomes/`` (below the
fine-tune layer), keyed by :func:`outcome_key`, so every fine-tune of that model on that target
reuses them. The fine-tune runner calls, in one line each::

    before = base_outcomes(probe, target, ("text-ppl", "af-nll"), precision=precision)
    after = measure_outcomes(model, probe.tokenizer, target, ("text-ppl", "af-nll"), precision=precision)
    deltas = {n: after[n].paired_difference(before[n]) for n in after}
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Callable, Sequence

from core.outcomes.base import OutcomeResult, get_outcome

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from core.probe import ProbeNetwork

log = logging.getLogger(__name__)

#: Outcomes a fine-tune records before and after.
DEFAULT_OUTCOMES = ("text-ppl", "af-nll")


def parse_names(names: str | Sequence[str]) -> list[str]:
    """Canonical outcome names of ``names`` (a comma-separated string or a sequence), duplicates removed.

    Raises:
        RegistryError: an unknown name (the message lists the known ones).  OutcomeError: no name.
    """
    from core.outcomes.base import OUTCOMES, OutcomeError

    raw = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n and n.strip()]
    if not raw:
        raise OutcomeError("No outcome named.", fix=f"name some of: {', '.join(OUTCOMES.names())}.")
    out: list[str] = []
    for n in raw:
        c = OUTCOMES.canonical(n)
        if c not in out:
            out.append(c)
    return out


def measure_outcomes(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, target: str,
                     names: str | Sequence[str] = DEFAULT_OUTCOMES, *, precision: str = "fp32", batch_size: int = 8,
                     should_stop: Callable[[], bool] | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     problem_ids: Sequence[str] | None = None) -> dict[str, OutcomeResult]:
    """Each named outcome of ``model`` on ``target`` (:meth:`core.outcomes.base.Outcome.measure`).

    Every name and the target are validated for every outcome before the first is measured.
    ``progress(done, total)`` counts batches within the outcome being measured.

    Returns:
        ``{canonical name: OutcomeResult}`` in the order given.

    Raises:
        RegistryError: unknown outcome.  CorpusError: bad target (or no pair format for a pair outcome).
        OutcomeError / AlignScopeError: bad precision or problem ids.  InterruptedError: stopped.
    """
    outcomes = {n: get_outcome(n) for n in parse_names(names)}
    for o in outcomes.values():
        o.check(target)
    return {n: o.measure(model, tokenizer, target, precision=precision, batch_size=batch_size, should_stop=should_stop,
                         progress=progress, problem_ids=problem_ids) for n, o in outcomes.items()}


def outcome_key(*, model_fingerprint: str, tokenizer_fingerprint: str, outcome_fingerprint: str, content: str,
                precision: str = "fp32", problem_ids: Sequence[str] | None = None) -> str:
    """Cache key of a base model's outcome (:func:`core.fingerprint.fingerprint` of its parts; the
    precision only when not ``fp32``, the problem ids only for a subsample)."""
    from core.fingerprint import fingerprint

    d = {"what": "outcome", "model": model_fingerprint, "tok": tokenizer_fingerprint, "outcome": outcome_fingerprint,
         "content": content}
    if precision != "fp32":
        d["precision"] = precision
    if problem_ids is not None:
        d["problems"] = list(problem_ids)
    return fingerprint(d)


def base_outcomes(probe: ProbeNetwork, target: str, names: str | Sequence[str] = DEFAULT_OUTCOMES, *,
                  precision: str = "auto", batch_size: int = 8, should_stop: Callable[[], bool] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  problem_ids: Sequence[str] | None = None,
                  model: torch.nn.Module | None = None) -> dict[str, OutcomeResult]:
    """The base weights' outcomes on ``target``, each computed once and cached under ``cache/outcomes/``.

    Keyed by :func:`outcome_key` (probe fingerprint, tokenizer fingerprint, outcome fingerprint, the
    problems' content, the resolved precision when not ``fp32``, the problem ids of a subsample).
    Weights are loaded (``probe.model``) only when an outcome is missing. A cached result has
    ``extra["cached"] = True``; its ``extra["seconds"]`` is the time it took when computed.

    Args:
        precision: ``auto`` | ``fp32`` | ``bf16`` (``auto`` resolved on the probe's device).
        model: a copy of the probe's base weights already in memory (e.g. the fine-tune runner's
            float32 copy before training) to measure instead of loading ``probe.model``; the
            cache key is the probe's, so it must hold the same weights.

    Raises:
        as :func:`measure_outcomes`.
    """
    from core.paths import atomic_write, cache_dir
    from core.precision import check_precision, resolve_precision

    resolved = resolve_precision(check_precision(precision), probe.device)
    outcomes = {n: get_outcome(n) for n in parse_names(names)}
    for o in outcomes.values():
        o.check(target)
    folder = cache_dir("outcomes")
    out: dict[str, OutcomeResult] = {}
    for n, o in outcomes.items():
        key = outcome_key(model_fingerprint=probe.fingerprint, tokenizer_fingerprint=probe.tokenizer_fingerprint,
                          outcome_fingerprint=o.fingerprint(target), content=o.content_key(probe.tokenizer, target),
                          precision=resolved, problem_ids=problem_ids)
        path = folder / f"{key}.json"
        hit = _read(path)
        if hit is not None:
            hit.extra["cached"] = True
            out[n] = hit
            continue
        res = o.measure(model if model is not None else probe.model, probe.tokenizer, target, precision=resolved, batch_size=batch_size,
                        should_stop=should_stop, progress=progress, problem_ids=problem_ids)
        atomic_write(path, json.dumps(res.to_dict()))
        res.extra["cached"] = False
        out[n] = res
    return out


def _read(path) -> OutcomeResult | None:
    """The cached result at ``path``, or None (missing; unreadable files are logged and removed)."""
    if not path.is_file():
        return None
    try:
        return OutcomeResult.from_dict(json.loads(path.read_text()))
    except (ValueError, OSError) as exc:
        log.warning("dropping unreadable outcome cache file %s: %s", path, exc)
        path.unlink(missing_ok=True)
        return None
