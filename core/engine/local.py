"""The ``local`` execution engine (default): today's behaviour, nothing to start.

Embeddings are computed in this process by :func:`core.pipeline.embed_batches` (one batch at a time,
each under its cross-process key lock), and the per-window embeddings of a selection pool one
forward pass of windows at a time (:meth:`LocalEngine.embed_windows_missing`); fine-tunes run one
after another through :func:`core.finetune.runner.run_finetune` (which holds the machine-wide
training slot). The
dashboard's background jobs put this work in worker processes (:mod:`core.jobs`).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from core.execution import Engine, Progress, RowsDone, RunOutcome, RunRequest

if TYPE_CHECKING:
    import numpy as np

    from core.estimators.base import Task2VecEstimator
    from core.settings import EmbedSettings
    from core.pipeline import CachedEmbeddings
    from core.probe import ProbeNetwork
    from core.selection.pool import Pool
    from core.store import EmbeddingStore


class LocalEngine(Engine):
    """This machine (see the module docstring)."""

    name = "local"

    def describe(self) -> str:
        return "local engine (this machine)"

    def embed_missing(self, look: "CachedEmbeddings", settings: "EmbedSettings", *, store: "EmbeddingStore",
                      should_stop: Callable[[], bool] | None = None,
                      on_batch: Callable[[int, bool], None] | None = None) -> tuple[list["np.ndarray"], int]:
        """:func:`core.pipeline.embed_batches` over the looked-up batches (see :meth:`Engine.embed_missing`)."""
        from core.embedding import embed_batches

        return embed_batches(look.batches, look.probe, look.estimator, precision=look.precision, store=store,
                             keys=look.keys, found=look.found, should_stop=should_stop, on_batch=on_batch)

    def embed_windows_missing(self, pool: "Pool", missing: Sequence[int], settings: "EmbedSettings", *,
                              keys: Sequence[str], probe: "ProbeNetwork", estimator: "Task2VecEstimator",
                              precision: str, store: "EmbeddingStore", should_stop: Callable[[], bool] | None = None,
                              on_rows: RowsDone | None = None) -> int:
        """In this process, ``settings.batch.batch_size`` missing windows per forward pass, each pass
        under the cross-process lock of its first window's key (another process that took it first has
        stored them; they are read instead). See :meth:`Engine.embed_windows_missing`."""
        from core.batches import TokenBatch

        bsz = settings.batch.batch_size
        computed = 0
        for start in range(0, len(missing), bsz):
            if should_stop and should_stop():
                raise InterruptedError(f"stopped after {computed} new windows")
            part = list(missing[start:start + bsz])
            vecs: dict[int, "np.ndarray"] = {}
            with store.lock(keys[part[0]]):
                todo = [i for i in part if store.get(keys[i]) is None]   # another process may have done them
                for i in part:
                    if i not in todo:
                        vecs[i] = store.get(keys[i])[0]["embedding"]
                if todo:
                    batch = TokenBatch(corpus="pool", index=start // bsz, input_ids=pool.input_ids[todo],
                                       attention_mask=pool.attention_mask[todo],
                                       doc_ids=tuple(pool.windows[i].doc_id for i in todo),
                                       offsets=tuple(pool.windows[i].offset for i in todo))
                    t = time.perf_counter()
                    out = estimator.embed_rows(probe, batch, precision=precision)
                    dt = (time.perf_counter() - t) / len(todo)
                    for i, vec in zip(todo, out):
                        w = pool.windows[i]
                        store.put(keys[i], {"embedding": vec}, {"corpus": w.corpus, "doc_id": w.doc_id, "offset": w.offset,
                                                                "tokens": w.tokens, "seconds": dt, "per_sequence": True,
                                                                "model": probe.name, "precision": precision})
                        vecs[i] = vec
                    computed += len(todo)
            if on_rows:
                on_rows(part, [vecs[i] for i in part], len(todo))
        return computed

    def run_finetunes(self, requests: Sequence[RunRequest], *, progress: Progress | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      log: Callable[[str], None] | None = None) -> Iterator[RunOutcome]:
        """The runs one after another in this process (progress is each run's percent, offset by
        its place: ``(k * 100 + percent, n * 100, message)``)."""
        from core.finetune.runner import run_finetune

        n = len(requests)
        for k, req in enumerate(requests):
            if should_stop and should_stop():
                raise InterruptedError(f"stopped before {req.label or req.run_id}")
            report = (lambda d, t, m, k=k: progress(k * 100 + int(100 * d / max(t, 1)), n * 100, m)) if progress else None
            try:
                row = run_finetune(req.config, req.settings, run_id=req.run_id, job_id=req.job_id,
                                   experiment_id=req.experiment_id, progress=report, should_stop=should_stop, log=log)
                yield RunOutcome(k, req.run_id, row)
            except InterruptedError:
                raise
            except Exception as exc:   # recorded as failed in its row by run_finetune; the sweep goes on
                yield RunOutcome(k, req.run_id, None, str(exc) or type(exc).__name__)
