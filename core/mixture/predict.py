r"""Predicting a mixture's Task2Vec embeddings, alignment and diversity from cached per-source embeddings.

The derivation, the measurements behind the choice of model and its limits are in
``docs/mixture_prediction.md``. In short: the closed-form head embedding of a batch is the token-weighted
mean of per-position terms, so a mixed batch's embedding is exactly ``sum_s w_s e(B_s)`` with ``w_s``
the token share of source ``s`` (M1). The k-th predicted mixed batch is

    ê_k = sum_s w_s E_s[k]                                                                    (M2)

(``noise="linear"``, the default, and what the optimiser maximises) and the sub-batch model

    ê_k = sum_s w_s mu_s + sum_s w_s sqrt(B / m_s) (E_s[k] - mean_k E_s[k]),  clipped at 0      (M3)

(``noise="subbatch"``) brackets the batch-to-batch variation of real mixed batches: alignment lies in
``[align_M3, align_M2]`` and diversity in ``[div_M2, div_M3]``. Predicted alignment and diversity with
95% CIs are :func:`core.coefficients.alignment_coefficient` and
:func:`core.coefficients.diversity_coefficient` of the predicted batches (numpy only, no forward pass).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from core.coefficients import Coefficient, alignment_coefficient, diversity_coefficient
from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.corpora.memory import InMemoryCorpus
    from core.corpora.registry import Corpus
    from core.settings import EmbedSettings
    from core.store import EmbeddingStore

NOISE_MODES = ("linear", "subbatch")
DEFAULT_NOISE = "linear"


class MissingEmbeddingsError(AlignScopeError):
    """Some sources' (or the target's) batch embeddings are not in the cache yet.

    Attributes:
        missing: corpus names whose embeddings are (partly) missing.
        unavailable: ``name -> install hint`` of corpora that are not installed at all.
    """

    def __init__(self, missing: list[str], unavailable: dict[str, str] | None = None, *,
                 settings: EmbedSettings | None = None) -> None:
        self.missing = list(missing)
        self.unavailable = dict(unavailable or {})
        parts = []
        if self.missing:
            parts.append(f"Batch embeddings not computed yet for: {', '.join(self.missing)}.")
        if self.unavailable:
            parts.append("Not installed: " + "; ".join(f"{n} ({h})" for n, h in self.unavailable.items()) + ".")
        fix = []
        if self.missing:
            fix.append(f"compute them with: python -m core embed --corpus {','.join(self.missing)}"
                       + _settings_flags(settings) + ", or pass --compute-missing to python -m core mix predict/suggest")
        if self.unavailable:
            fix.append("install the corpora listed")
        super().__init__(" ".join(parts), fix="; ".join(fix) + ".")


def _settings_flags(settings) -> str:
    if settings is None:
        return ""
    from core.pipeline import EmbedSettings

    d, out = EmbedSettings(), []
    if settings.model != d.model:
        out.append(f"--model {settings.model}")
    if settings.estimator != d.estimator:
        out.append(f"--estimator {settings.estimator}")
    for k, v in settings.estimator_params:
        out.append(f"--estimator-param {k}={v}")
    for name, flag in (("batch_size", "--batch-size"), ("seq_len", "--seq-len"), ("num_batches", "--num-batches"),
                       ("seed", "--seed")):
        if getattr(settings.batch, name) != getattr(d.batch, name):
            out.append(f"{flag} {getattr(settings.batch, name)}")
    return (" " + " ".join(out)) if out else ""


def resolve_corpus(name: str, corpora: Mapping[str, Any] | None = None) -> Corpus | InMemoryCorpus:
    """``corpora[name]`` when given (tests, in-memory corpora), else the registry's corpus."""
    if corpora is not None and name in corpora:
        return corpora[name]
    from core.corpora import get_corpus

    return get_corpus(name)


# -- reading the cache ------------------------------------------------------------------------------------

@dataclass
class CachedCorpus:
    """Cached batch embeddings of one corpus (nothing computed).

    Attributes:
        name: corpus name.  embeddings: float32 [n, D] or None when some batch is missing.
        missing_batches: how many of the n batches are not cached.
        tokens_per_seq: mean real tokens per sequence of its batches.  tokens: real tokens in all batches.
    """

    name: str
    embeddings: np.ndarray | None
    missing_batches: int
    tokens_per_seq: float
    tokens: int


def cached_corpus(name: str, settings: EmbedSettings, *, store: EmbeddingStore | None = None,
                  corpora: Mapping[str, Any] | None = None) -> CachedCorpus:
    """Look up the batch embeddings of ``name`` under ``settings`` without computing any.

    Only the tokenizer is loaded (the batches are drawn, or read from the store, exactly as
    :func:`core.pipeline.embed_corpus` draws them, so the keys match).

    Raises:
        CorpusError: unknown or not installed corpus, too few documents.
    """
    from core.pipeline import cached_embeddings

    look = cached_embeddings(resolve_corpus(name, corpora), settings, store=store)
    masks = np.stack([b.attention_mask for b in look.batches])
    tokens = int(masks.sum())
    emb = look.embeddings() if look.complete else None
    return CachedCorpus(str(name), emb, len(look.missing), tokens / max(1, masks.shape[0] * masks.shape[1]), tokens)


@dataclass
class SourceSet:
    """Everything a prediction needs, loaded once (the page keeps it in ``st.cache_resource``).

    Attributes:
        target: target corpus name.  sources: source names (order of ``E``).
        E: float [S, n, D] source batch embeddings (n = fewest batches over sources and target).
        T: float [m, D] target batch embeddings.  (float64; :meth:`as_float32` gives a faster copy
        for the optimiser.)
        tokens_per_seq: float64 [S] mean real tokens per sequence of each source's batches.
        batch_size: sequences per batch of the cached batches.  settings: EmbedSettings dict.
    """

    target: str
    sources: list[str]
    E: np.ndarray
    T: np.ndarray
    tokens_per_seq: np.ndarray
    batch_size: int
    settings: dict = field(default_factory=dict)

    def as_float32(self) -> "SourceSet":
        """A copy with float32 ``E`` and ``T`` (the optimiser's objective runs about twice as fast)."""
        from dataclasses import replace

        return replace(self, E=self.E.astype(np.float32), T=self.T.astype(np.float32))

    def weight_vector(self, weights: dict[str, float]) -> np.ndarray:
        """Weights as an array in ``sources`` order, normalised (unknown names -> error)."""
        extra = [s for s in weights if s not in self.sources and weights[s] > 0]
        if extra:
            raise AlignScopeError(f"Sources {', '.join(extra)} are not in the loaded set ({', '.join(self.sources)}).",
                                  fix="add them to the chosen sources first.")
        w = np.array([float(weights.get(s, 0.0)) for s in self.sources])
        return check_weights(w, self.sources)


def check_weights(w: ArrayLike, names: Sequence[str]) -> np.ndarray:
    """Validate a weight vector and normalise it to the simplex."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        bad = [n for n, x in zip(names, w) if not np.isfinite(x) or x < 0]
        raise AlignScopeError(f"Weights must be finite and non-negative; bad: {', '.join(bad)}.", fix="set them to 0 or more.")
    if w.sum() <= 0:
        raise AlignScopeError(f"All weights are zero ({', '.join(names)}).", fix="give at least one source a positive weight.")
    return w / w.sum()


def missing_embeddings(names: Sequence[str], settings: EmbedSettings, *, store: EmbeddingStore | None = None,
                       corpora: Mapping[str, Any] | None = None) -> tuple[list[str], dict[str, str]]:
    """``(missing, unavailable)``: corpora whose embeddings are not all cached, and corpora not installed."""
    from core.errors import CorpusError

    missing, unavailable = [], {}
    for n in dict.fromkeys(names):
        try:
            if cached_corpus(n, settings, store=store, corpora=corpora).missing_batches:
                missing.append(n)
        except CorpusError as exc:
            unavailable[n] = exc.fix or str(exc)
    return missing, unavailable


def load_source_set(target: str, sources: list[str], settings: EmbedSettings, *, store: EmbeddingStore | None = None,
                    corpora: Mapping[str, Any] | None = None) -> SourceSet:
    """Load the cached embeddings of the target and every source (never computes).

    Raises:
        AlignScopeError: no source, or the target listed among the sources.
        MissingEmbeddingsError: some embeddings are not cached (``.missing`` lists them) or a corpus
            is not installed (``.unavailable``).
    """
    from core.errors import CorpusError

    sources = [s for s in dict.fromkeys(sources) if s]
    if not sources:
        raise AlignScopeError("No source corpora chosen for the mixture.", fix="choose at least one source.")
    if target in sources:
        raise AlignScopeError(f"The target {target!r} is also a source of the mixture.", fix="remove it from the sources.")
    got, missing, unavailable = {}, [], {}
    for n in [target, *sources]:
        try:
            c = cached_corpus(n, settings, store=store, corpora=corpora)
        except CorpusError as exc:
            unavailable[n] = exc.fix or str(exc)
            continue
        if c.embeddings is None:
            missing.append(n)
        got[n] = c
    if missing or unavailable:
        raise MissingEmbeddingsError(missing, unavailable, settings=settings)
    n = min(len(got[s].embeddings) for s in sources)
    E = np.stack([got[s].embeddings[:n] for s in sources]).astype(np.float64)
    return SourceSet(target=target, sources=sources, E=E, T=got[target].embeddings.astype(np.float64),
                     tokens_per_seq=np.array([got[s].tokens_per_seq for s in sources]),
                     batch_size=settings.batch.batch_size, settings=settings.to_dict())


# -- the models (M2), (M3) -----------------------------------------------------------------------------------

def predict_embeddings(E: np.ndarray, w: ArrayLike, a: ArrayLike | None = None) -> np.ndarray:
    """Predicted mixed-batch embeddings: ``sum_s w_s mu_s + sum_s a_s (E_s[k] - mu_s)`` (M3; ``a = w``: M2).

    Args:
        E: float [S, n, D] per-source batch embeddings.  w: [S] token shares (sum 1).
        a: [S] deviation coefficients ``a_s = w_s c_s`` (None: ``a = w``, the plain linear
            combination ``sum_s w_s E_s[k]``).

    Returns:
        float64 [n, D], non-negative.
    """
    E = np.asarray(E, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if a is None:
        return np.tensordot(w, E, axes=1)
    mu = E.mean(1)                                                  # [S, D]
    out = (w @ mu)[None] + np.tensordot(np.asarray(a, dtype=np.float64), E - mu[:, None], axes=1)
    return np.maximum(out, 0.0)


@dataclass
class MixturePrediction:
    """Predicted coefficients of a mixture.

    Attributes:
        weights: ``source -> token share`` used.  alignment: predicted alignment with the target
        (Coefficient, 95% CI).  diversity: predicted diversity.  embeddings: float64 [n, D] predicted
        batches.  noise: the model, ``"linear"`` (M2) or ``"subbatch"`` (M3).
        bracket: with ``noise="linear"``, the (M3) values ``{"alignment": float, "diversity": float}``,
            the other end of the range real mixed batches were measured in (module docstring); else None.
    """

    weights: dict[str, float]
    alignment: Coefficient
    diversity: Coefficient
    embeddings: np.ndarray
    noise: str
    bracket: dict | None = None

    def to_dict(self) -> dict:
        """JSON-able dict: weights, alignment, diversity (Coefficient dicts), noise, bracket."""
        return {"weights": self.weights, "alignment": self.alignment.to_dict(), "diversity": self.diversity.to_dict(),
                "noise": self.noise, "bracket": self.bracket}


def _nan_coef(n: int) -> Coefficient:
    return Coefficient(float("nan"), float("nan"), float("nan"), float("nan"), (n,), 0)


def predict_mixture(ss: SourceSet, weights: Mapping[str, float] | ArrayLike, *, noise: str = DEFAULT_NOISE,
                    counts: ArrayLike | None = None, bracket: bool = True) -> MixturePrediction:
    """Predicted alignment with the target and diversity of the mixture ``weights`` (numpy only).

    Args:
        ss: :func:`load_source_set` output.
        weights: ``{source: share}`` or an array in ``ss.sources`` order (normalised here).
        noise: ``"linear"`` (M2, default) or ``"subbatch"`` (M3).
        counts: realised sequences per source in a mixed batch ([S], verification), for
            ``c_s = sqrt(B / m_s)`` of (M3) instead of the continuous counts implied by the shares.
        bracket: with ``noise="linear"``, also compute the (M3) point values (``.bracket``).

    Raises:
        AlignScopeError: all weights zero, a negative weight, a source not in ``ss``.
    """
    if noise not in NOISE_MODES:
        raise AlignScopeError(f"Unknown noise model {noise!r}.", fix=f"use one of {', '.join(NOISE_MODES)}.")
    w = ss.weight_vector(weights) if isinstance(weights, dict) else check_weights(weights, ss.sources)

    def embeddings(model):
        if model == "linear":
            return predict_embeddings(ss.E, w)
        if counts is not None:
            m = np.asarray(counts, dtype=np.float64)
            a = np.where(m > 0, w * np.sqrt(ss.batch_size / np.maximum(m, 1e-300)), 0.0)
        else:
            a = deviation_coefficients(w, ss.tokens_per_seq, ss.batch_size, "subbatch")[0]
        return predict_embeddings(ss.E, w, a)

    P = embeddings(noise)
    align = alignment_coefficient(P, ss.T)
    div = diversity_coefficient(P) if len(P) >= 2 else _nan_coef(len(P))
    other = None
    if bracket and noise == "linear":
        Q = embeddings("subbatch")
        other = {"alignment": alignment_coefficient(Q, ss.T).value,
                 "diversity": diversity_coefficient(Q).value if len(Q) >= 2 else float("nan")}
    return MixturePrediction({s: float(x) for s, x in zip(ss.sources, w)}, align, div, P, noise, other)


def single_source_alignments(ss: SourceSet) -> list[dict]:
    """Each source alone: ``{"source", "alignment", "ci_low", "ci_high", "diversity"}``, best first."""
    rows = []
    for i, s in enumerate(ss.sources):
        a = alignment_coefficient(ss.E[i], ss.T).to_dict()
        d = diversity_coefficient(ss.E[i]).to_dict() if ss.E.shape[1] >= 2 else {"value": None}
        rows.append({"source": s, "alignment": a["value"], "ci_low": a["ci_low"], "ci_high": a["ci_high"],
                     "diversity": d["value"]})
    return sorted(rows, key=lambda r: -r["alignment"])


# -- smooth objective with gradient (used by the optimiser) ----------------------------------------------

def distance_and_grads(a: np.ndarray, b: np.ndarray, *, grads: bool = True) -> tuple[np.ndarray, np.ndarray | None,
                       np.ndarray | None]:
    """Task2Vec distance of row pairs and its gradients.

    Args:
        a, b: float [P, D] non-negative (computed in their dtype; float32 halves the time).

    Returns:
        ``(d [P], dd/da [P, D], dd/db [P, D])`` with ``d = 1 - cos(a/(a+b), b/(a+b))`` (coordinates
        where ``a + b = 0`` left out, as :func:`core.distance.pairwise_distances`); the gradients are
        None when ``grads`` is False.
    """
    s = a + b
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    x, y = a * inv, b * inv
    xx = np.einsum("pd,pd->p", x, x)[:, None]
    yy = np.einsum("pd,pd->p", y, y)[:, None]
    xy = np.einsum("pd,pd->p", x, y)[:, None]
    den = np.maximum(np.sqrt(xx * yy), 1e-30)
    c = xy / den
    if not grads:
        return 1.0 - c[:, 0], None, None
    # dc/dx - dc/dy = (y - x)/den - c (x/xx - y/yy); times 1/s^2
    g = ((y - x) / den - c * (x / np.maximum(xx, 1e-30) - y / np.maximum(yy, 1e-30))) * inv * inv
    return 1.0 - c[:, 0], -b * g, a * g


def deviation_coefficients(w: ArrayLike, tokens_per_seq: ArrayLike | None, batch_size: int,
                           noise: str = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """Deviation coefficients ``a_s = w_s c_s`` of (M3) (``a = w`` for (M2)) and their Jacobian ``da_s / dw_t`` ([S], [S, S]).

    For ``"subbatch"``, ``c_s = sqrt(B / m_s)`` and ``a_s = sqrt(w_s L_s R)`` with ``R = sum_j w_j / L_j`` (from ``c_s = sqrt(B / m_s)``,
    ``m_s = B (w_s / L_s) / R``); its slope is infinite at ``w_s = 0`` and is capped there.
    """
    w = np.asarray(w, dtype=np.float64)
    S = len(w)
    if noise not in NOISE_MODES:
        raise AlignScopeError(f"Unknown noise model {noise!r}.", fix=f"use one of {', '.join(NOISE_MODES)}.")
    if noise == "linear":
        return w.copy(), np.eye(S)
    L = np.asarray(tokens_per_seq, dtype=np.float64)
    R = float((w / L).sum())
    a = np.sqrt(np.maximum(w * L * R, 0.0))
    safe = np.maximum(a, 1e-4)
    jac = (np.diag(L * R) + np.outer(w * L, 1.0 / L)) / (2.0 * safe[:, None])
    return a, jac


def objective(w: ArrayLike, E: np.ndarray, T: np.ndarray, tokens_per_seq: ArrayLike | None = None,
              batch_size: int = 16, *, noise: str = "linear", diversity: bool = False) -> tuple[float, np.ndarray]:
    """Predicted alignment with ``T`` (or diversity) of the mixture ``w`` and its gradient in ``w``.

    Args:
        w: [S] weights on the simplex.  E: float64 [S, n, D].  T: float64 [m, D] target batches.
        tokens_per_seq, batch_size: for ``noise="subbatch"`` (see :func:`deviation_coefficients`).
        diversity: return the diversity coefficient of the predicted batches instead.

    Returns:
        ``(value, grad [S])``; the value equals :func:`predict_mixture`'s point estimate.
    """
    w = np.asarray(w, dtype=np.float64)
    S, n, D = E.shape
    L = np.ones(S) if tokens_per_seq is None else tokens_per_seq
    ft = E.dtype
    a, jac = deviation_coefficients(w, L, batch_size, noise)
    if noise == "linear":
        P = np.tensordot(w.astype(ft), E, axes=1)                       # [n, D], plain linear model
        J = E                                                           # dP/dw_s = E_s
        active = None
    else:
        mu = E.mean(1)                                                  # [S, D]
        dev = E - mu[:, None]                                           # [S, n, D]
        raw = (w.astype(ft) @ mu)[None] + np.tensordot(a.astype(ft), dev, axes=1)
        active = raw > 0
        P = np.maximum(raw, 0.0)
        J = mu[:, None] + np.einsum("st,snd->tnd", jac.astype(ft), dev)  # dP/dw_t  [S, n, D]
    if not diversity:
        m = T.shape[0]
        d, ga, _ = distance_and_grads(np.repeat(P, m, axis=0), np.tile(T.astype(ft, copy=False), (n, 1)))
        gP = ga.reshape(n, m, D).sum(1)                                 # rows are (k, j), k-major
        if active is not None:
            gP *= active
        return 1.0 - float(d.astype(np.float64).mean()), -np.einsum("snd,nd->s", J, gP).astype(np.float64) / len(d)
    ii, jj = np.triu_indices(n, 1)
    d, ga, gb = distance_and_grads(P[ii], P[jj])
    gP = np.zeros((n, D), dtype=ga.dtype)
    np.add.at(gP, ii, ga)
    np.add.at(gP, jj, gb)
    if active is not None:
        gP *= active
    return float(d.astype(np.float64).mean()), np.einsum("snd,nd->s", J, gP).astype(np.float64) / len(d)
