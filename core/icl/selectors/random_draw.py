"""``random``: one seeded draw of demonstrations, the same for every problem (the in-context baseline).

The ranking is a permutation of the pool drawn with ``numpy.random.default_rng([seed, 0xD3A])``;
it does not depend on the problem, so every prompt of a run holds the same demonstrations and the
scorer computes their key-value cache once (:mod:`core.icl.run`). Different seeds give different
draws (the variance of random few-shot prompts, e.g. Zhao et al. 2021, "Calibrate Before Use", Sec. 3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from core.icl.selectors.base import DemoSelector, RankEnv


class RandomDemos(DemoSelector):
    """``random``: a seeded permutation of the candidates, shared by every problem."""

    name: ClassVar[str] = "random"
    description: ClassVar[str] = ("One seeded random draw of the candidates (numpy default_rng([seed, 0xD3A]) "
                                  "permutation), the same demonstrations for every problem: their key-value cache "
                                  "is computed once per run.")
    shared: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Config(DemoSelector.Config):
        pass

    def _rank(self, pool, queries, depth, seed, env: RankEnv) -> list[np.ndarray]:
        order = np.random.default_rng([seed, 0xD3A]).permutation(len(pool))[:depth].astype(np.int64)
        return [order for _ in queries]
