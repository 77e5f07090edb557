"""Alignment metrics behind one interface and registry (issue 11): the rivals the validation lab
compares by how well they predict fine-tuned perplexity.

``get_metric(name, **params).score(source, target)`` -> :class:`MetricValue` (higher = more
aligned, 95% CI, cost in seconds, cached); ``score_all`` runs several, one failure not stopping
the others; ``list_metrics`` / ``metrics_table`` describe them without importing a model library.
Names: t2v-head, t2v-head-cos, t2v-blocks, t2v-reference, gzip, unigram-cos, unigram-js, dsir,
sbert, familiarity (see :mod:`core.metrics.base`).
"""
from core.metrics.base import (COSTS, DEFAULT_ORDER, METRICS, AlignmentMetric, MetricError, MetricValue, get_metric,
                               list_metrics, metrics_table, score_all)

__all__ = ["COSTS", "DEFAULT_ORDER", "METRICS", "AlignmentMetric", "MetricError", "MetricValue", "get_metric",
           "list_metrics", "metrics_table", "score_all"]
