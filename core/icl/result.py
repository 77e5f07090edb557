"""The in-context condition's result: one condition point, per problem (:class:`IclResult`), and its errors.

Written by :func:`core.icl.run.run_icl` and cached as JSON under ``cache/icl/results``;
:meth:`IclResult.to_outcome` gives the per-problem ``af-nll`` as a :class:`core.outcomes.base.OutcomeResult`
(token-weighted nats/token, its bootstrap CI, and the paired difference with the zero-shot baseline).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.outcomes.base import OutcomeResult

class IclError(AlignScopeError):
    """Bad in-context input: problems, a prompt longer than the model's positions, a damaged result."""


@dataclass
class IclResult:
    """One condition point: a source's demonstrations on a target's problems, per problem.

    Attributes:
        target, source, selector, k, budget_tokens, seed, model: what was run.  selector_config: its parameters.
        precision: the resolved precision.  pair_format: the target's format name.
        problem_ids: ``[n]``.  nll: float64 ``[n]`` summed NLL (nats) of each reference formal statement
            given its prompt.  tokens: int64 ``[n]`` completion tokens scored.
        zero_shot_nll: float64 ``[n]``: the same without demonstrations (the cached ``af-nll`` baseline).
        demo_ids: ``[n]`` lists of each prompt's demonstration ids (prompt order).
        demo_tokens: int64 ``[n]``: budget tokens the demonstrations take (separators included).
        fitted: int64 ``[n]``: demonstrations in each prompt (<= k).
        pool: :meth:`~core.icl.demos.DemoPool.describe` of the candidates.
        seconds: wall time of the run (select + score + zero-shot).  select_seconds, score_seconds: its parts.
        tokens_processed: tokens run through the model while scoring (a shared prefix counted once).
        prefix_groups: groups of problems that shared one prefix cache.
        fingerprint: :func:`icl_key`.  cached: read from the cache.
    """

    target: str
    source: str
    selector: str
    selector_config: dict
    k: int
    budget_tokens: int
    seed: int
    model: str
    precision: str
    pair_format: str
    problem_ids: list[str]
    nll: np.ndarray
    tokens: np.ndarray
    zero_shot_nll: np.ndarray
    demo_ids: list[list[str]]
    demo_tokens: np.ndarray
    fitted: np.ndarray
    pool: dict
    seconds: float
    select_seconds: float
    score_seconds: float
    tokens_processed: int
    prefix_groups: int
    fingerprint: str
    cached: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of problems."""
        return len(self.problem_ids)

    @property
    def af_nll(self) -> float:
        """Token-weighted mean NLL, nats/token: ``sum(nll) / sum(tokens)``."""
        return float(self.nll.sum() / self.tokens.sum())

    @property
    def perplexity(self) -> float:
        """``exp(af_nll)`` (eq. 2 of the alignment paper on the formal statements)."""
        return _exp(self.af_nll)

    @property
    def zero_shot_af_nll(self) -> float:
        """The zero-shot ``af-nll`` on the same problems, nats/token."""
        return float(self.zero_shot_nll.sum() / self.tokens.sum())

    @property
    def zero_shot_perplexity(self) -> float:
        """``exp(zero_shot_af_nll)``."""
        return _exp(self.zero_shot_af_nll)

    @property
    def gain(self) -> float:
        """``zero_shot_af_nll - af_nll`` (nats/token): > 0 when the demonstrations help."""
        return self.zero_shot_af_nll - self.af_nll

    def to_dict(self) -> dict:
        """JSON-safe and lossless (float64 arrays round-trip exactly through JSON)."""
        return {"target": self.target, "source": self.source, "selector": self.selector,
                "selector_config": self.selector_config, "k": self.k, "budget_tokens": self.budget_tokens,
                "seed": self.seed, "model": self.model, "precision": self.precision, "pair_format": self.pair_format,
                "n": self.n, "af_nll": self.af_nll, "perplexity": self.perplexity,
                "zero_shot_af_nll": self.zero_shot_af_nll, "zero_shot_perplexity": self.zero_shot_perplexity,
                "gain": self.gain, "fitted_mean": float(self.fitted.mean()),
                "demo_tokens_mean": float(self.demo_tokens.mean()),
                "problems": [{"problem_id": p, "nll": float(a), "tokens": int(t), "zero_shot_nll": float(z),
                              "demo_ids": list(d), "demo_tokens": int(dt), "fitted": int(f)}
                             for p, a, t, z, d, dt, f in zip(self.problem_ids, self.nll, self.tokens,
                                                             self.zero_shot_nll, self.demo_ids, self.demo_tokens,
                                                             self.fitted)],
                "pool": self.pool, "seconds": self.seconds, "select_seconds": self.select_seconds,
                "score_seconds": self.score_seconds, "tokens_processed": self.tokens_processed,
                "prefix_groups": self.prefix_groups, "fingerprint": self.fingerprint, "cached": self.cached,
                "extra": self.extra}

    @classmethod
    def from_dict(cls, d: Mapping) -> IclResult:
        """The inverse of :meth:`to_dict`.

        Raises:
            IclError: a field is missing or garbled.
        """
        try:
            rows = d["problems"]
            return cls(target=d["target"], source=d["source"], selector=d["selector"],
                       selector_config=dict(d["selector_config"]), k=int(d["k"]), budget_tokens=int(d["budget_tokens"]),
                       seed=int(d["seed"]), model=d["model"], precision=d["precision"], pair_format=d["pair_format"],
                       problem_ids=[r["problem_id"] for r in rows],
                       nll=np.array([r["nll"] for r in rows], dtype=np.float64),
                       tokens=np.array([r["tokens"] for r in rows], dtype=np.int64),
                       zero_shot_nll=np.array([r["zero_shot_nll"] for r in rows], dtype=np.float64),
                       demo_ids=[list(r["demo_ids"]) for r in rows],
                       demo_tokens=np.array([r["demo_tokens"] for r in rows], dtype=np.int64),
                       fitted=np.array([r["fitted"] for r in rows], dtype=np.int64), pool=dict(d["pool"]),
                       seconds=float(d["seconds"]), select_seconds=float(d["select_seconds"]),
                       score_seconds=float(d["score_seconds"]), tokens_processed=int(d["tokens_processed"]),
                       prefix_groups=int(d["prefix_groups"]), fingerprint=d["fingerprint"],
                       cached=bool(d.get("cached", False)), extra=dict(d.get("extra", {})))
        except (KeyError, TypeError, ValueError) as e:
            raise IclError(f"In-context result dict lacks or garbles field {e}.",
                           fix="pass a dict made by IclResult.to_dict().") from None

    def to_outcome(self, which: str = "icl") -> OutcomeResult:
        """The per-problem arrays as a :class:`core.outcomes.base.OutcomeResult` of ``af-nll`` (value,
        95% bootstrap CI over problems, ``paired_difference``): ``which="icl"`` (with the
        demonstrations) or ``"zero-shot"``. E.g. ``r.to_outcome().paired_difference(r.to_outcome("zero-shot"))``
        is the change the demonstrations make, with its paired CI.

        Raises:
            IclError: ``which`` is neither.
        """
        from core.outcomes.base import OutcomeResult, Statistic

        if which not in ("icl", "zero-shot"):
            raise IclError(f"Unknown outcome side {which!r}.", fix="use 'icl' or 'zero-shot'.")
        nll = self.nll if which == "icl" else self.zero_shot_nll
        extra = {"condition": "in-context" if which == "icl" else "zero-shot", "source": self.source,
                 "selector": self.selector, "k": self.k, "budget_tokens": self.budget_tokens, "seed": self.seed,
                 "precision": self.precision, "format": self.pair_format}
        res = OutcomeResult.build(outcome="af-nll", target=self.target, fingerprint=self.fingerprint,
                                  problem_ids=self.problem_ids, arrays={"nll": nll, "tokens": self.tokens},
                                  statistic=Statistic("ratio", "nll", "tokens"), direction="lower", unit="nats/token",
                                  extra=extra)
        res.extra["perplexity"] = _exp(res.value)
        return res


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf
