"""Task2Vec estimators: the abstract interface, the registry and the built-in implementations.

Built-ins: ``reference`` (head fine-tuning + Monte-Carlo FIM, Lee, Miranda et al. 2023),
``closed_form_head`` (exact expected FIM of the LM head, one forward pass) and
``closed_form_blocks`` (closed-form head + Monte-Carlo FIM of the last k blocks).
"""
from core.estimators.base import (REGISTRY, Segment, Task2VecEstimator, check_embedding, get_estimator,
                                  register_estimator)
from core.estimators import reference as _reference  # noqa: F401  registers "reference"
from core.estimators import closed_form as _closed_form  # noqa: F401  registers the closed forms

DEFAULT_ESTIMATOR = "closed_form_head"

__all__ = ["REGISTRY", "Segment", "Task2VecEstimator", "check_embedding", "get_estimator",
           "register_estimator", "DEFAULT_ESTIMATOR"]
