"""Background job kinds of the dashboard besides the built-in ``embed`` (importable without streamlit:
the job worker imports this module fresh).

- ``corpus_stats``: params ``{"corpora": [...], "model": name}``; counts each corpus' tokens exactly
  with :func:`core.pipeline.corpus_stats` (cached in the store) so the Corpora page never blocks on a
  large corpus. The kind lives in :mod:`core.corpus_counts` (the CLI's listing starts it too);
  importing this module registers it, and :func:`stats_job` stays importable for jobs submitted
  under its old target.
"""
from __future__ import annotations

from core.corpus_counts import STATS_KIND, count_job

__all__ = ["STATS_KIND", "stats_job"]

#: The job target (kind ``corpus_stats``), :func:`core.corpus_counts.count_job`.
stats_job = count_job
