"""The lab's two axes beside the regime: the **condition** (how the source is used) and the **outcome**
(what is measured on the target benchmark).

- condition ``finetune``: the model is fine-tuned on the source (every run of a results file made
  before the axes existed is one);
- condition ``icl``: the in-context (few-shot) condition, demonstrations drawn from the source are put
  in the prompt of every target problem, nothing is trained (``core.icl``).

Outcomes are the names of ``core.outcomes.OUTCOMES`` (``text-ppl``, ``af-nll``, ...). A run row
records them in ``run["outcomes"][name]`` as ``{"value", "ci_low", "ci_high", "before", ...}``; a run
without that mapping (a file from before the axes) has ``text-ppl`` = its ``ppl_after`` and no other
outcome.

:func:`axis_view` turns a results dict into the results dict of one (condition, outcome): its runs
are those of the condition, each carrying the outcome's value as ``ppl_after`` (and a run without
that outcome is left out). Every statistic of :mod:`core.validation.stats` (points, leaderboard,
bootstrap, dose) then applies unchanged to any axis pair; the leaderboard's "perplexity" is the
outcome's value. All lab outcomes are lower-is-better (NLL in nats per token, perplexity), which
the verdict's orientation (higher alignment, lower outcome) assumes.
"""
from __future__ import annotations

import math
from typing import Mapping

from core.errors import AlignScopeError

#: The conditions of the lab, in display order.
CONDITIONS = ("finetune", "icl")
DEFAULT_CONDITION = "finetune"
DEFAULT_OUTCOME = "text-ppl"
#: Outcomes a lab leaderboard may rank on: lower is better for each.
LAB_OUTCOMES = ("text-ppl", "af-nll", "af-ppl")
#: Outcomes a verdict line leaves out: af-ppl is exp(af-nll), the same ranking of sources.
VERDICT_SKIP = ("af-ppl",)
#: How a condition and an outcome read in a verdict, a selector or a page title.
CONDITION_WORDS = {"finetune": "after fine-tuning", "icl": "in context (few-shot)"}
OUTCOME_WORDS = {"text-ppl": "held-out perplexity", "af-nll": "AF NLL (formal | informal)",
                 "af-ppl": "AF perplexity (formal | informal)"}
#: A pair outcome on another target benchmark reads in that benchmark's words (the outcome is the same
#: code: the completion's NLL given the condition, in the target's pair format).
TARGET_OUTCOME_WORDS = {"humaneval": {"af-nll": "code NLL (solution | docstring prompt)",
                                      "af-ppl": "code perplexity (solution | docstring prompt)"}}


def outcome_unit(outcome: str | None) -> str:
    """The unit of an outcome's values (and of a leaderboard's leave-one-out error): ``"nats/token"``
    for an NLL outcome (``af-nll``), else ``"ppl"`` (perplexity; None is ``text-ppl``)."""
    return "nats/token" if (outcome or DEFAULT_OUTCOME).endswith("nll") else "ppl"


def axis_label(condition: str | None, outcome: str | None, *, target: str | None = None) -> str:
    """How one (condition, outcome) reads: ``"AF NLL (formal | informal) in context (few-shot)"``;
    ``None`` for either means the default (``finetune``, ``text-ppl``). ``target`` names the target
    benchmark when it has its own words (:data:`TARGET_OUTCOME_WORDS`: HumanEval's ``af-nll`` is
    ``"code NLL (solution | docstring prompt)"``)."""
    condition, outcome = condition or DEFAULT_CONDITION, outcome or DEFAULT_OUTCOME
    words = TARGET_OUTCOME_WORDS.get(target or "", {}).get(outcome) or OUTCOME_WORDS.get(outcome, outcome)
    return f"{words} {CONDITION_WORDS.get(condition, condition)}"


def run_condition(run: Mapping) -> str:
    """The condition of a run row (``finetune`` when the row predates the axes)."""
    return str(run.get("condition") or DEFAULT_CONDITION)


def run_outcome(run: Mapping, outcome: str) -> float | None:
    """The value of ``outcome`` of a run row, or None when it was not measured (or is not finite).

    ``text-ppl`` of a fine-tune row falls back to its ``ppl_after`` (the only outcome before the axes
    existed; an in-context row's ``ppl_after`` is its af-ppl);
    ``af-ppl`` is ``exp`` of ``af-nll`` when only the latter is recorded.
    """
    rec = (run.get("outcomes") or {}).get(outcome)
    value = rec.get("value") if isinstance(rec, Mapping) else rec
    if value is None and outcome == "text-ppl" and run_condition(run) == "finetune":
        value = run.get("ppl_after")      # an in-context row's ppl_after is its af-ppl, not held-out text
    if value is None and outcome == "af-ppl":
        nll = run_outcome(run, "af-nll")
        value = math.exp(nll) if nll is not None and nll < 700 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _recorded(run: Mapping, outcome: str) -> bool:
    """Whether the run row has an entry for ``outcome`` at all (a non-finite value is recorded, and a
    failure of that run; a missing entry means it was never measured)."""
    if outcome in (run.get("outcomes") or {}):
        return True
    return (outcome == "text-ppl" and "ppl_after" in run and run_condition(run) == "finetune") or (outcome == "af-ppl" and _recorded(run, "af-nll"))


def axes_of(results: Mapping) -> list[tuple[str, str]]:
    """The (condition, outcome) pairs with at least one measured run, in :data:`CONDITIONS` then
    :data:`LAB_OUTCOMES` order."""
    runs = results.get("runs") or []
    have = []
    for condition in CONDITIONS:
        rows = [r for r in runs if run_condition(r) == condition]
        for outcome in LAB_OUTCOMES:
            if any(run_outcome(r, outcome) is not None for r in rows):
                have.append((condition, outcome))
    return have


def check_axes(results: Mapping, condition: str, outcome: str) -> None:
    """Raise unless the results hold runs of ``condition`` with ``outcome`` measured.

    Raises:
        AlignScopeError: unknown condition or outcome, or none measured in these results (the fix
            names the pairs that are).
    """
    if condition not in CONDITIONS:
        raise AlignScopeError(f"Unknown condition {condition!r}.", fix=f"use one of {', '.join(CONDITIONS)}.")
    if outcome not in LAB_OUTCOMES:
        raise AlignScopeError(f"Outcome {outcome!r} is not a lab outcome.",
                              fix=f"use one of {', '.join(LAB_OUTCOMES)} (lower is better for each).")
    have = axes_of(results)
    if (condition, outcome) not in have:
        pairs = ", ".join(f"{c}/{o}" for c, o in have) or "none"
        raise AlignScopeError(f"These lab results have no {condition} run with outcome {outcome}.",
                              fix=f"choose one of the measured condition/outcome pairs: {pairs}.")


def axis_view(results: Mapping, condition: str = DEFAULT_CONDITION, outcome: str = DEFAULT_OUTCOME) -> dict:
    """The results dict of one (condition, outcome): the runs of ``condition``, each with the outcome's
    value as ``ppl_after``; everything else shared. A finished run that did not record the outcome
    (made before it existed) is left out, not counted as failed; failed and unfinished runs are kept
    (they count as failed or pending as before).

    Raises:
        AlignScopeError: see :func:`check_axes`.
    """
    check_axes(results, condition, outcome)
    runs = []
    for r in results.get("runs") or []:
        if run_condition(r) != condition:
            continue
        row = dict(r)
        row["ppl_after"] = run_outcome(r, outcome)
        if row.get("status") == "done" and row["ppl_after"] is None and not _recorded(r, outcome):
            continue
        runs.append(row)
    return {**results, "runs": runs, "axes": {"condition": condition, "outcome": outcome}}
