"""Verify a predicted mixture on real mixed batches: embed them and compare measured with predicted.

:func:`verify_mixture` draws ``num_batches`` real mixed batches (:func:`core.mixture.sampling.mixed_batches`,
fresh windows, seeded), embeds each with the current estimator (cached in the
:class:`~core.store.EmbeddingStore` under the same kind of key as :func:`core.pipeline.embed_corpus`, so
re-verifying the same mix computes nothing), and reports the measured alignment with the target and
diversity next to the prediction (eq. M2 of :mod:`core.mixture.predict`) at the realised token shares
and sequence counts, with 95% CIs. The dashboard runs it as the background job ``mix_verify``
(:func:`core.mixture.jobs.verify_job`); the CLI runs it in-process (``python -m core mix verify``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from core.coefficients import alignment_coefficient, diversity_coefficient
from core.mixture.predict import DEFAULT_NOISE, load_source_set, predict_mixture
from core.mixture.sampling import mixed_batches, realised_token_shares

if TYPE_CHECKING:
    from core.settings import EmbedSettings
    from core.store import EmbeddingStore


def _agree(pred: dict, meas: dict) -> dict:
    """Agreement of two coefficients: CI overlap, and whether the prediction lies in the measured CI."""
    pl, ph, ml, mh = pred.get("ci_low"), pred.get("ci_high"), meas.get("ci_low"), meas.get("ci_high")
    if None in (pl, ph, ml, mh):
        return {"overlap": None, "predicted_in_measured_ci": None, "difference": pred["value"] - meas["value"]}
    return {"overlap": bool(pl <= mh and ml <= ph), "predicted_in_measured_ci": bool(ml <= pred["value"] <= mh),
            "difference": pred["value"] - meas["value"]}


def _source_set(target: str, sources: list[str], settings: EmbedSettings, *, store, corpora, compute_missing: bool,
                say: Callable[[str], None], should_stop: Callable[[], bool] | None):
    """The mixture's :class:`SourceSet`, embedding the sources and target not cached yet when
    ``compute_missing`` (else :class:`~core.mixture.predict.MissingEmbeddingsError` is raised)."""
    from core.mixture.predict import MissingEmbeddingsError, resolve_corpus
    from core.pipeline import embed_corpus

    try:
        return load_source_set(target, sources, settings, store=store, corpora=corpora)
    except MissingEmbeddingsError as exc:
        if not compute_missing or exc.unavailable:
            raise
        for name in exc.missing:
            say(f"embedding {name} (not cached yet)")
            embed_corpus(resolve_corpus(name, corpora), settings, store=store, progress=False, should_stop=should_stop)
    return load_source_set(target, sources, settings, store=store, corpora=corpora)


def verify_mixture(weights: dict[str, float], target: str, settings: EmbedSettings, *, seed: int = 0,
                   noise: str = DEFAULT_NOISE, compute_missing: bool = True, store: EmbeddingStore | None = None,
                   corpora: Mapping[str, Any] | None = None, progress: Callable[[int, int, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Measured vs predicted alignment and diversity of a mixture.

    Args:
        weights: ``source -> token share``.  target: target corpus.  settings: :class:`EmbedSettings`.
        seed: verification sampling seed (batches differ from the cached per-source batches).
        compute_missing: embed sources/target whose embeddings are not cached yet (else raise
            :class:`~core.mixture.predict.MissingEmbeddingsError`).
        progress: ``callable(done, total, message)``.  should_stop: polled between batches
            (returning True raises ``InterruptedError``; finished batches stay cached).

    Returns:
        JSON-able dict: ``weights``, ``realised_weights``, ``sequences`` per source, ``predicted``
        (``{"alignment", "diversity"}`` Coefficient dicts at the realised shares), ``predicted_subbatch``
        (the sub-batch model M3 at the realised sequence counts), ``predicted_requested`` (at the requested weights), ``measured``,
        ``agreement``, ``computed``, ``cached``, ``seconds``, ``settings``, ``target``.
    """
    from core.estimators import get_estimator
    from core.pipeline import embed_batches
    from core.precision import resolve_precision
    from core.probe import load_probe
    from core.store import EmbeddingStore

    t0 = time.perf_counter()
    store = store or EmbeddingStore()
    say = log or (lambda m: None)
    ss = _source_set(target, [s for s, w in weights.items() if w > 0], settings, store=store, corpora=corpora,
                     compute_missing=compute_missing, say=say, should_stop=should_stop)
    w_req = ss.weight_vector(weights)
    probe = load_probe(settings.model, device=settings.device)
    batches, counts = mixed_batches(dict(zip(ss.sources, w_req)), settings.batch, probe.tokenizer,
                                    tokens_per_seq=dict(zip(ss.sources, ss.tokens_per_seq)), seed=seed,
                                    corpora=corpora, name="mix:" + "+".join(ss.sources))
    estimator = get_estimator(settings.estimator, **dict(settings.estimator_params))
    total = len(batches)
    if progress:
        progress(0, total, "mixed batches drawn")

    def on_batch(k: int, _computed: bool) -> None:
        say(f"mixed batch {k + 1}/{total}: {batches[k].num_tokens} tokens")
        if progress:
            progress(k + 1, total, f"mixed batch {k + 1}/{total}")

    try:
        rows, computed = embed_batches(batches, probe, estimator, store=store, should_stop=should_stop,
                                       on_batch=on_batch, precision=resolve_precision(settings.precision, probe.device))
    except InterruptedError:
        raise InterruptedError(f"stopped before all {total} mixed batches were embedded (finished ones are cached)") from None
    cached = total - computed
    M = np.stack(rows).astype(np.float64)
    realised = realised_token_shares(batches, ss.sources)
    r_vec = np.array([realised[s] for s in ss.sources])
    m_vec = np.array([counts.get(s, 0) for s in ss.sources])
    pred = predict_mixture(ss, r_vec, noise=noise, counts=m_vec, bracket=False)
    pred_sub = predict_mixture(ss, r_vec, noise="subbatch", counts=m_vec)
    pred_req = predict_mixture(ss, w_req, noise=noise)
    meas = {"alignment": alignment_coefficient(M, ss.T).to_dict(),
            "diversity": diversity_coefficient(M).to_dict() if len(M) >= 2 else None}
    p = {"alignment": pred.alignment.to_dict(), "diversity": pred.diversity.to_dict()}
    agreement = {"alignment": _agree(p["alignment"], meas["alignment"])}
    if meas["diversity"] is not None:
        agreement["diversity"] = _agree(p["diversity"], meas["diversity"])
    return {"target": target, "weights": dict(zip(ss.sources, map(float, w_req))), "realised_weights": realised,
            "sequences": {s: int(c) for s, c in counts.items()}, "noise": noise, "predicted": p,
            "predicted_subbatch": {"alignment": pred_sub.alignment.to_dict(), "diversity": pred_sub.diversity.to_dict()},
            "predicted_requested": {"alignment": pred_req.alignment.to_dict(), "diversity": pred_req.diversity.to_dict()},
            "measured": meas, "agreement": agreement, "computed": computed, "cached": cached,
            "tokens": int(sum(b.num_tokens for b in batches)), "seconds": round(time.perf_counter() - t0, 3),
            "settings": settings.to_dict(), "seed": seed}
