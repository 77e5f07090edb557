"""Per-problem outcomes of a design's fine-tunes: captured from the runner, stored, pooled over seeds.

The fine-tune runner measures each outcome per problem (:class:`core.outcomes.base.OutcomeResult`:
``arrays`` ``[n]`` per target problem) but keeps only the summary in the run row's ``outcomes``
column (:func:`core.finetune.runner.outcome_record`). A paired bootstrap over problems between two
runs (``paired - unpaired``) and a problem-level bootstrap of budget curves need the arrays, so
:func:`capture_outcomes` wraps ``runner.outcome_record`` for the duration of one local run (the runner
calls it once, in its ``finish`` step, with the fine-tuned and the base weights' results) and the
arrays are stored as atomic JSON under ``cache/designs/outcomes/<run_id>.json``. A run finished
elsewhere (another process, the Ray engine) has only its summary: the design's report then uses
the summary and says so. (Proposed runner hook, so this wrapper can go: the runner writes
``OutcomeResult.to_dict()`` of each after-outcome next to the row.)

Pooling (:func:`pool_seeds`): the seeds of one point are pooled problem by problem, ``nll_i =
sum_s nll_si``, ``tokens_i = sum_s tokens_si``, so the pooled ratio ``sum_i nll_i / sum_i tokens_i``
is the mean over seeds of the token-weighted NLL (each seed scores the same completion tokens), and
its bootstrap over problems (:meth:`OutcomeResult.build`, :meth:`~OutcomeResult.paired_difference`)
treats the seeds as fixed. Seed-to-seed spread is reported beside it (:func:`core.validation.stats.seed_ci`).
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.outcomes.base import OutcomeResult

log = logging.getLogger(__name__)


def outcomes_dir() -> Path:
    """``cache/designs/outcomes`` (created on demand)."""
    from core.paths import cache_dir

    return cache_dir("designs", "outcomes")


@contextlib.contextmanager
def capture_outcomes() -> Iterator[dict]:
    """While active, every ``runner.outcome_record(after, before)`` call of this process also puts
    ``after`` (``{name: OutcomeResult}``) into the yielded dict under ``"after"`` and ``before`` under
    ``"before"`` (the last call wins). Restores the runner's function on exit."""
    from core.finetune import runner

    original = runner.outcome_record
    got: dict = {}

    def record(after: dict, before: dict) -> dict:
        got["after"], got["before"] = dict(after), dict(before)
        return original(after, before)

    runner.outcome_record = record
    try:
        yield got
    finally:
        runner.outcome_record = original


def save_run_outcomes(run_id: str, after: dict) -> None:
    """Store the per-problem results ``{name: OutcomeResult}`` of a finished run (atomic JSON)."""
    from core.paths import atomic_write

    atomic_write(outcomes_dir() / f"{run_id}.json", json.dumps({n: r.to_dict() for n, r in after.items()}))


def load_run_outcomes(run_id: str) -> dict[str, dict] | None:
    """The stored per-problem results of a run as ``{name: OutcomeResult.to_dict()}``, or None."""
    path = outcomes_dir() / f"{run_id}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        log.warning("dropping unreadable design outcome file %s: %s", path, exc)
        path.unlink(missing_ok=True)
        return None


def pool_seeds(results: Sequence[OutcomeResult]) -> OutcomeResult:
    """One result of the seeds of a point, pooled problem by problem over their common problems
    (module docstring); a ``mean`` statistic averages the per-problem scores instead of summing.

    Raises:
        AlignScopeError: no result, results of different outcomes/targets/statistics, no common problem.
    """
    from core.outcomes.base import OutcomeResult

    if not results:
        raise AlignScopeError("No result to pool.", fix="pool at least one seed's result.")
    first = results[0]
    if any((r.outcome, r.target, r.statistic) != (first.outcome, first.target, first.statistic) for r in results):
        raise AlignScopeError("Cannot pool results of different outcomes, targets or statistics.",
                              fix="pool the seeds of one outcome.")
    common = [p for p in first.problem_ids if all(p in set(r.problem_ids) for r in results[1:])]
    if not common:
        raise AlignScopeError(f"The seeds of outcome {first.outcome!r} share no problem.", fix="measure the same problems.")
    arrays: dict[str, np.ndarray] = {}
    for r in results:
        pos = {p: i for i, p in enumerate(r.problem_ids)}
        idx = np.array([pos[p] for p in common])
        for k, v in r.arrays.items():
            a = np.asarray(v, dtype=np.float64)[idx]
            arrays[k] = arrays.get(k, 0.0) + a
    if first.statistic.kind == "mean":
        arrays = {k: v / len(results) for k, v in arrays.items()}
    return OutcomeResult.build(outcome=first.outcome, target=first.target, fingerprint=first.fingerprint,
                               problem_ids=common, arrays=arrays, statistic=first.statistic,
                               direction=first.direction, unit=first.unit,
                               extra={"pooled_seeds": len(results)})


def problem_indices(n: int, *, n_boot: int, seed: int = 0) -> np.ndarray:
    """int64 ``[B, n]``: ``n_boot`` resamples of ``n`` problems with replacement (shared by every run)."""
    return np.random.default_rng([int(seed), 0x9B0]).integers(0, n, size=(n_boot, n))


def problem_draws(result: OutcomeResult, idx: np.ndarray, problem_ids: Sequence[str]) -> np.ndarray:
    """float64 ``[B]``: the result's statistic on each problem resample ``idx`` (``[B, n]`` indices into
    ``problem_ids``, the common problem order of every run).

    Raises:
        AlignScopeError: the result lacks one of ``problem_ids``.
    """
    pos = {p: i for i, p in enumerate(result.problem_ids)}
    missing = [p for p in problem_ids if p not in pos]
    if missing:
        raise AlignScopeError(f"Outcome {result.outcome!r} lacks problems {missing[:3]}.", fix="measure every problem.")
    order = np.array([pos[p] for p in problem_ids])
    cols = result.statistic.data(result.arrays, order)
    return np.asarray(result.statistic(*(c[idx] for c in cols), axis=-1), dtype=np.float64)
