"""Target-benchmark outcomes, per problem (:mod:`core.outcomes.base`; see docs/outcomes.md).

``OUTCOMES`` (registry), ``get_outcome``, ``list_outcomes``, ``OutcomeResult``; the scoring kernel
:func:`core.outcomes.nll.completion_nll`; the pair-format problems :mod:`core.outcomes.problems`;
:func:`core.outcomes.measure.measure_outcomes` / :func:`core.outcomes.measure.base_outcomes`.
Importing this package does not import torch.
"""
from core.outcomes.base import OUTCOMES, Outcome, OutcomeResult, PairedDifference, get_outcome, list_outcomes

__all__ = ["OUTCOMES", "Outcome", "OutcomeResult", "PairedDifference", "get_outcome", "list_outcomes"]
