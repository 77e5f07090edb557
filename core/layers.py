"""The layer order of AlignScope's rooms, from the ground up: the one declaration of which part may
import which (read by ``tests/core/test_imports.py`` and drawn in ``docs/ARCHITECTURE.md``).

A *room* is a top-level module of ``core/`` (``core.pipeline``), a top-level package of ``core/``
with everything under it (``core.corpora``), or the UI (``ui``). A room may import only rooms of a
lower layer; rooms of one layer never import each other. Module-level, lazy (in-function) and
``TYPE_CHECKING`` imports all count, and a name re-exported by a package's ``__init__`` counts as an
import of the module that defines it. Plug-ins loaded by name from a registry (``"module:object"``:
the engines, the command groups, the estimator that ``core.precision`` times) are not imports: the
registry names them, and they sit above what loads them.

Nothing imports this module; it is data.
"""
from __future__ import annotations

LAYERS: tuple[tuple[str, ...], ...] = (
    # 0. the ground: errors, the one hasher, pure maths, ranged config fields
    ("core", "core.errors", "core.fingerprint", "core.distance", "core.ordering", "core.bounds", "core.layers"),
    # 1. paths and registries, batching, the coefficients, resource limits
    ("core.paths", "core.registry", "core.batches", "core.coefficients", "core.limits"),
    # 2. the corpora, the probe network, the embedding store, decks of saved views, the embedding map
    ("core.corpora", "core.probe", "core.store", "core.deck", "core.embedding_map"),
    # 3. forward-pass precision
    ("core.precision",),
    # 4. Task2Vec estimators
    ("core.estimators",),
    # 5. what determines an embedding
    ("core.settings",),
    # 6. cached embeddings, the engine interface, dashboard view state, measured throughput
    ("core.embedding", "core.execution", "core.views", "core.throughput"),
    # 7. the entry points from corpus names to coefficients, figures, the command-line kit
    ("core.pipeline", "core.charts", "core.clikit"),
    # 8. background jobs, target-benchmark outcomes
    ("core.jobs", "core.outcomes"),
    # 9. mixtures, window selection, corpus token counts
    ("core.mixture", "core.selection", "core.corpus_counts"),
    # 10. fine-tuning (and the head-to-head of selections)
    ("core.finetune",),
    # 11. the alignment metrics, the engine implementations (local, ray)
    ("core.metrics", "core.engine"),
    # 12. the in-context condition, the validation lab
    ("core.icl", "core.validation"),
    # 13. the lab's other designs, the pre-training grid
    ("core.designs", "core.pretrain"),
    # 14. the one-click report (with every design's committed results)
    ("core.report",),
    # 15. a deck's slides
    ("core.deck_slides",),
    # 16. a deck's export
    ("core.deck_export",),
    # 17. the command line's dispatcher and the commands without a package of their own
    ("core.cli",),
    # 18. python -m core, and the dashboard
    ("core.__main__", "ui"),
)
