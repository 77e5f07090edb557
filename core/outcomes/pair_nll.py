"""``af-nll`` (alias ``pair-nll``): NLL of the reference completion given its condition, per problem.

For each problem of the target's pair format (:mod:`core.outcomes.problems`; ProofNet: context
``"informal statement {nl} formal statement"``, completion ``" {formal statement}"``), the summed
NLL (nats) of the **completion tokens only** under teacher forcing
(:func:`core.outcomes.nll.completion_nll`), and the number of completion tokens. The value is the
token-weighted mean NLL ``sum(nll) / sum(tokens)`` in nats/token; ``extra["perplexity"]`` is its
``exp`` (the alignment paper's eq. 2 restricted to the formal statements). This is the likelihood
side of autoformalization: how probable the model finds the reference formalization of each
informal statement; it involves no generation and no Lean type-check.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from core.outcomes.base import Outcome, OutcomeResult, Statistic, chosen_problems


class PairNLL(Outcome):
    """``af-nll``: token-weighted NLL (nats/token) of the completion tokens given the condition."""

    name: ClassVar[str] = "af-nll"
    description: ClassVar[str] = (
        "Mean NLL (nats/token, token-weighted: sum NLL / sum tokens) of the reference completion's tokens only "
        "(ProofNet: the Lean formal statement) given the condition in the target's pair format ('informal "
        "statement {nl} formal statement'), by teacher forcing; perplexity = exp of it (eq. 2 of the alignment paper).")
    direction: ClassVar[str] = "lower"
    unit: ClassVar[str] = "nats/token"

    @dataclass(frozen=True)
    class Config(Outcome.Config):
        pass

    def _measure(self, model, tokenizer, target, *, precision, batch_size, should_stop, progress, problem_ids
                 ) -> OutcomeResult:
        from core.outcomes.nll import completion_nll
        from core.outcomes.problems import encode_problem, problems_fingerprint

        fmt, chosen = chosen_problems(target, problem_ids)
        items = [encode_problem(tokenizer, fmt, p) for p in chosen]
        s = completion_nll(model, items, batch_size=batch_size, pad_id=tokenizer.pad_token_id or 0,
                           precision=precision, should_stop=should_stop, progress=progress)
        res = self._result(target, [p.problem_id for p in chosen], {"nll": s.nll, "tokens": s.tokens},
                           Statistic("ratio", "nll", "tokens"),
                           {"format": fmt.name, "problems_fingerprint": problems_fingerprint(fmt, chosen),
                            "tokens": s.total_tokens})
        res.extra["perplexity"] = math.exp(res.value) if res.value < 700 else math.inf
        res.extra["perplexity_ci"] = [math.exp(min(c, 700)) for c in res.ci]
        return res
