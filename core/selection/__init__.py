"""Window-level data selection (issue 13): choose the windows of a pool most useful for a target.

Modules: ``pool`` (windows with provenance), ``embed`` (per-window Task2Vec embeddings), ``score``
(window scores, selection alignment), ``index`` (faiss over reduced embeddings), ``base`` (method
interface and ``SELECTION_METHODS``), one module per method (``topk``, ``greedy``, ``dsir``, ``zipfit``,
``random_windows``, ``best_single``, ``unigram``), ``select`` (one selection end to end), ``export``
(JSONL, saved selections as corpora), ``compare`` and ``report`` (head-to-head), ``jobs`` (job kind
``select``). CLI: ``python -m core select``.
"""
