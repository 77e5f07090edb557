"""Task2Vec alignment metrics: the alignment coefficient under each estimator, and a cosine variant.

All four go through :func:`core.pipeline.embed_corpus` with ``EmbedSettings(estimator=...)``, so
their batch embeddings are the product's cached Task2Vec embeddings (computed once, shared with
``python -m core align``, the dashboard and the mixture tools).

- ``t2v-head`` (``closed_form_head``, the product default), ``t2v-blocks``
  (``closed_form_blocks``) and ``t2v-reference`` (the reference estimator with small settings):
  the alignment coefficient of Chawla, Miranda et al. ("Quantifying the Importance of Data
  Alignment in Downstream Model Performance", eq. 1),
  ``align(S, T) = 1 - mean_{i in S, j in T} d(f(B_i), f(B_j))`` with d the symmetric Task2Vec
  distance (:mod:`core.distance`, Achille et al. Sec. 3.1), via
  :func:`core.coefficients.alignment_coefficient`.
- ``t2v-head-cos``: the same cached ``closed_form_head`` embeddings compared by plain cosine
  similarity instead of Task2Vec's symmetric normalisation e0/(e0+e1):
  ``mean_{i, j} cos(f(B_i), f(B_j))`` (issue 11 measured it as a better predictor on its own 9
  runs, a hint to be tested).

CI: the delete-one-batch jackknife t-interval of :mod:`core.coefficients` (over source and
target batches separately); ``t2v-head-cos`` feeds ``1 - cos`` to the same
:func:`core.coefficients.alignment_from_distances`. Identical corpora do not give 1: their value
is 1 - the diversity coefficient (distinct batches differ).

Cost: ``MetricValue.seconds`` is the recorded compute time of every source and target batch
embedding (each batch's own time, measured when it was computed, now or earlier), plus this
call's wall time outside embedding, so the cost does not vanish because the embeddings were
cached by another tool. ``details`` has ``computed_batches``, ``cached_batches``, ``computed_by_other_batches`` and
``wall_seconds``. Measured on this 2-core machine (SmolLM2-135M, 16 x 128-token batches, 1 torch
thread, machine shared with a fine-tune): ``closed_form_head`` about 5.6 s per batch,
``closed_form_blocks`` about 15 s, ``reference`` (1 epoch) about 53 s (about 16 s per batch and
epoch on an idle machine with 2 threads).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from core.metrics.base import AlignmentMetric, MetricValue, Progress, check_stop
from core.probe import DEFAULT_MODEL


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` [n, D] with every row of ``b`` [m, D]: float64 [n, m]
    (0 where a row is all zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1)[:, None]
    nb = np.linalg.norm(b, axis=1)[None, :]
    den = na * nb
    return np.where(den > 0, (a @ b.T) / np.where(den > 0, den, 1.0), 0.0)


class _Task2VecMetric(AlignmentMetric):
    """Shared settings and embedding of the Task2Vec metrics (module docstring)."""

    estimator: ClassVar[str]
    default_estimator_params: ClassVar[tuple] = ()
    cost = "probe forward"
    symmetric = True
    units = "alignment coefficient (dimensionless, 0..1)"
    version = 1

    @dataclass(frozen=True)
    class Config:
        """Parameters (the batch settings and estimator of :class:`core.pipeline.EmbedSettings`).

        Attributes:
            model: probe network.  batch_size, seq_len, num_batches, seed: :class:`core.batches.BatchConfig`.
            estimator_params: estimator hyperparameters as ``(key, value)`` pairs, merged over the
                metric's defaults.
            precision: ``auto`` | ``fp32`` | ``bf16`` (resolved on the device; enters the key resolved).
            device: ``auto``, ``cpu``, ``cuda`` (execution only).
        """

        model: str = DEFAULT_MODEL
        batch_size: int = 16
        seq_len: int = 128
        num_batches: int = 5
        seed: int = 0
        estimator_params: tuple = ()
        precision: str = field(default="auto", metadata={"key": False})
        device: str = field(default="auto", metadata={"key": False})

    def __init__(self, **params) -> None:
        if "estimator_params" in params and isinstance(params["estimator_params"], dict):
            params["estimator_params"] = tuple(sorted(params["estimator_params"].items()))
        super().__init__(**params)

    def settings(self):
        """The :class:`core.pipeline.EmbedSettings` of this metric.

        Raises:
            MetricError: bad batch settings.  AlignScopeError: unknown precision.
        """
        from core.batches import BatchConfig
        from core.metrics.base import MetricError
        from core.pipeline import EmbedSettings

        cfg = self.config
        params = dict(self.default_estimator_params)
        params.update(dict(cfg.estimator_params))
        try:
            batch = BatchConfig(batch_size=cfg.batch_size, seq_len=cfg.seq_len, num_batches=cfg.num_batches,
                                seed=cfg.seed)
        except ValueError as exc:
            raise MetricError(f"Bad batch settings for metric {self.name!r}: {exc}",
                              fix="use positive batch_size, num_batches and seq_len >= 2.") from exc
        return EmbedSettings(model=cfg.model, estimator=self.estimator,
                             estimator_params=tuple(sorted(params.items())), batch=batch, device=cfg.device,
                             precision=cfg.precision)

    def fingerprint(self) -> dict:
        from core.estimators import get_estimator

        s = self.settings()
        fp = super().fingerprint()
        fp["estimator"] = get_estimator(s.estimator, **dict(s.estimator_params)).fingerprint()
        return fp

    def key_extras(self) -> dict:
        from core.precision import resolve_precision
        from core.probe import load_probe

        s = self.settings()
        probe = load_probe(s.model, device=s.device)
        return {"model": probe.fingerprint, "tokenizer": probe.tokenizer_fingerprint,
                "precision": resolve_precision(s.precision, probe.device, probe=probe)}

    def _embed(self, source, target, progress: Progress | None, should_stop: Callable[[], bool] | None):
        from core.pipeline import cached_embeddings, embed_corpus
        from core.store import EmbeddingStore

        s = self.settings()
        store = EmbeddingStore()
        out, recorded, counts = [], 0.0, {"computed_batches": 0, "cached_batches": 0,
                                        "computed_by_other_batches": 0}
        t_embed = time.perf_counter()
        for k, corpus in enumerate((source, target)):
            check_stop(should_stop, f"{self.name} of {source.name!r}")
            n = s.batch.num_batches

            def report(done, total, msg, k=k, n=n):
                if progress:
                    progress(k * n + done, 2 * n, msg)

            emb = embed_corpus(corpus, s, store=store, progress=report, should_stop=should_stop)
            counts["computed_batches"] += emb.computed
            counts["cached_batches"] += emb.cached
            counts["computed_by_other_batches"] += emb.computed_by_other
            look = cached_embeddings(corpus, s, store=store)
            for key in look.keys:
                hit = store.get(key)
                recorded += float(hit[1].get("seconds", 0.0)) if hit is not None else 0.0
            out.append(emb.embeddings)
        embed_wall = time.perf_counter() - t_embed
        return out[0], out[1], recorded, embed_wall, counts

    def _coefficient(self, ea: np.ndarray, eb: np.ndarray):
        from core.coefficients import alignment_coefficient

        return alignment_coefficient(ea, eb)

    def _compute(self, source, target, *, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> MetricValue:
        t0 = time.perf_counter()
        ea, eb, recorded, embed_wall, counts = self._embed(source, target, progress, should_stop)
        c = self._coefficient(ea, eb)
        wall = time.perf_counter() - t0
        lo, hi = (c.ci_low, c.ci_high) if np.isfinite(c.ci_low) and np.isfinite(c.ci_high) else (None, None)
        return MetricValue(value=float(c.value), ci_low=lo, ci_high=hi, seconds=recorded + max(0.0, wall - embed_wall),
                           n=int(c.num_batches[0]),
                           details={"ci_method": c.method, "unit": "batch", "n_target": int(c.num_batches[1]),
                                    "se": c.se, "settings": self.settings().to_dict(), **counts,
                                    "embedding_seconds_recorded": recorded, "wall_seconds": wall})


class Task2VecHead(_Task2VecMetric):
    """``t2v-head``: Task2Vec alignment coefficient with ``closed_form_head`` (module docstring)."""

    name = "t2v-head"
    estimator = "closed_form_head"
    description = ("Task2Vec alignment coefficient 1 - mean Task2Vec distance over (source batch, target batch) "
                   "pairs (Chawla et al. eq. 1; Achille et al. symmetric distance) with the closed-form LM-head FIM "
                   "(closed_form_head, the product default). CI: delete-one-batch jackknife.")


class Task2VecHeadCosine(_Task2VecMetric):
    """``t2v-head-cos``: mean plain cosine similarity of ``closed_form_head`` embeddings (module docstring)."""

    name = "t2v-head-cos"
    estimator = "closed_form_head"
    units = "cosine (dimensionless, 0..1)"
    description = ("Mean plain cosine similarity over (source batch, target batch) pairs of the cached "
                   "closed_form_head Task2Vec embeddings, without Task2Vec's e0/(e0+e1) normalisation. "
                   "CI: delete-one-batch jackknife.")

    def _coefficient(self, ea: np.ndarray, eb: np.ndarray):
        from core.coefficients import alignment_from_distances

        return alignment_from_distances(1.0 - cosine_matrix(ea, eb))


class Task2VecBlocks(_Task2VecMetric):
    """``t2v-blocks``: Task2Vec alignment coefficient with ``closed_form_blocks`` (module docstring)."""

    name = "t2v-blocks"
    estimator = "closed_form_blocks"
    cost = "probe forward+backward"
    description = ("Task2Vec alignment coefficient (Chawla et al. eq. 1) with closed_form_blocks: closed-form "
                   "LM-head FIM plus a Monte-Carlo FIM of the last transformer blocks. CI: delete-one-batch "
                   "jackknife.")


class Task2VecReference(_Task2VecMetric):
    """``t2v-reference``: Task2Vec alignment coefficient with the reference estimator, small settings.

    Expensive: about 16 s per batch and epoch on this machine's 2 idle CPU cores (53 s measured at
    1 thread on the loaded machine), so the defaults are 1 fine-tuning epoch and 3 batches per
    corpus: 6 batch embeddings for a new source and target (2 to 5 minutes), 3 per further source.
    """

    name = "t2v-reference"
    estimator = "reference"
    default_estimator_params = (("epochs", 1),)
    cost = "probe forward+backward"
    description = ("Task2Vec alignment coefficient (Chawla et al. eq. 1) with the reference estimator (head "
                   "fine-tuning then Monte-Carlo FIM of every weight; Achille et al. Sec. 3) at small settings: "
                   "1 epoch, 3 batches per corpus (16-53 s per batch on this 2-core CPU). CI: jackknife.")

    @dataclass(frozen=True)
    class Config(_Task2VecMetric.Config):
        """As the other Task2Vec metrics, with 3 batches per corpus by default (cost)."""

        num_batches: int = 3
