"""Demonstration selectors of the in-context condition (:mod:`core.icl.selectors.base`).

``DEMO_SELECTORS`` (registry: ``random``, ``t2v``, ``sbert``, ``bm25``, ``unigram``), ``get_selector``,
``list_selectors``, ``select_demonstrations``. Importing this package imports no model code.
"""
from core.icl.selectors.base import (DEMO_SELECTORS, DemoSelector, RankEnv, SelectorError, get_selector,
                                     list_selectors, rank_by_score, select_demonstrations)

__all__ = ["DEMO_SELECTORS", "DemoSelector", "RankEnv", "SelectorError", "get_selector", "list_selectors",
           "rank_by_score", "select_demonstrations"]
