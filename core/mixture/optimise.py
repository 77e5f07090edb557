"""Suggest a mix: token shares maximising predicted alignment with the target.

Problem: maximise ``align(w)`` (the predicted alignment coefficient of eq. M2 in
:mod:`core.mixture.predict`) over the simplex ``sum_s w_s = 1``, ``0 <= w_s <= cap_s``, optionally
subject to ``div(w) >= floor`` (predicted diversity). With the closed-form head estimator the
predicted batches are affine in ``w`` and the Task2Vec distance is smooth where embeddings are
positive, so ``align`` is a smooth (not concave) function of ``w``; SLSQP with the analytic gradient
(:func:`core.mixture.predict.objective`) is run from the uniform mix,
the two best single sources and a few seeded Dirichlet draws, and the best feasible result is kept.

The optimiser works on the linear model (M2) ``ê_k = sum_s w_s E_s[k]`` (smooth on the whole simplex;
the sub-batch model M3 has an infinite slope at ``w_s = 0``). Since (M2) under-estimates diversity, a
diversity floor met by (M2) is met by real mixed batches too (conservative).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import AlignScopeError
from core.mixture.predict import DEFAULT_NOISE, MixturePrediction, SourceSet, objective, predict_mixture


@dataclass
class Suggestion:
    """Result of :func:`suggest_mix`.

    Attributes:
        weights: ``source -> share`` (shares below 1e-4 set to 0, renormalised).
        prediction: predicted coefficients of that mix (requested noise model).
        objective: the optimised alignment (plain linear model).  starts: SLSQP runs.
        feasible: False when no start met the diversity floor (the best-diversity result is returned).
        message: a human-readable summary.
    """

    weights: dict[str, float]
    prediction: MixturePrediction
    objective: float
    starts: int
    feasible: bool
    message: str

    def to_dict(self) -> dict:
        """JSON-able dict of the suggestion."""
        return {"weights": self.weights, "prediction": self.prediction.to_dict(), "objective": self.objective,
                "starts": self.starts, "feasible": self.feasible, "message": self.message}


def _caps(ss: SourceSet, cap) -> np.ndarray:
    S = len(ss.sources)
    if cap is None:
        caps = np.ones(S)
    elif isinstance(cap, dict):
        caps = np.array([float(cap.get(s, 1.0)) for s in ss.sources])
    else:
        caps = np.full(S, float(cap))
    if np.any(~np.isfinite(caps)) or np.any(caps < 0) or np.any(caps > 1):
        raise AlignScopeError(f"Per-source caps must lie in [0, 1], got {caps.tolist()}.", fix="use e.g. --cap 0.5.")
    if caps.sum() < 1 - 1e-9:
        raise AlignScopeError(f"Caps {dict(zip(ss.sources, caps.round(3).tolist()))} sum to {caps.sum():.3f} < 1: "
                              "no mix can satisfy them.", fix="raise the caps or add sources.")
    return caps


def _starts(S: int, caps: np.ndarray, restarts: int, seed: int, order) -> list[np.ndarray]:
    def project(x):  # onto {sum 1, 0 <= x <= caps} by bisection on a shift
        lo, hi = -1.0, 1.0
        for _ in range(60):
            t = (lo + hi) / 2
            if np.clip(x - t, 0, caps).sum() > 1:
                lo = t
            else:
                hi = t
        return np.clip(x - hi, 0, caps)

    out = [project(np.full(S, 1.0 / S))]
    out += [project(np.eye(S)[i] * 2) for i in order[:2]]          # the two best single sources
    rng = np.random.default_rng(seed)
    out += [project(rng.dirichlet(np.ones(S))) for _ in range(restarts)]
    return out


def suggest_mix(ss: SourceSet, *, min_diversity: float | None = None, cap: float | None = None, restarts: int = 3,
                seed: int = 0, noise: str = DEFAULT_NOISE, maxiter: int = 200) -> Suggestion:
    """Weights maximising predicted alignment with ``ss.target``.

    Args:
        ss: loaded source set.  min_diversity: optional floor on the predicted diversity.
        cap: max share per source (a float for all, or ``{source: cap}``).
        restarts: extra random (Dirichlet) starts besides the uniform mix and one start per source.
        noise: noise model for the reported prediction.

    Raises:
        AlignScopeError: caps that cannot sum to 1, or a negative diversity floor.
    """
    from scipy.optimize import minimize

    S = len(ss.sources)
    caps = _caps(ss, cap)
    if min_diversity is not None and not 0 <= min_diversity <= 1:
        raise AlignScopeError(f"Diversity floor must lie in [0, 1], got {min_diversity}.", fix="use e.g. --min-diversity 0.05.")
    f32 = ss.as_float32()
    E, T = f32.E, f32.T

    def f(w):
        v, g = objective(w, E, T)
        return -v, -g

    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(S)}]
    if min_diversity is not None and n_batches(ss) >= 2:
        cons.append({"type": "ineq", "fun": lambda w: objective(w, E, T, diversity=True)[0] - min_diversity,
                     "jac": lambda w: objective(w, E, T, diversity=True)[1]})
    bounds = list(zip(np.zeros(S), caps))
    best, best_feasible = None, None
    singles = [objective(np.eye(S)[i], E, T)[0] for i in range(S)]
    starts = _starts(S, caps, restarts, seed, list(np.argsort(singles)[::-1]))
    seen = []
    for x0 in starts:
        if any(np.allclose(x0, s) for s in seen):
            continue
        seen.append(x0)
        if S == 1:
            res_x = np.ones(1)
        else:
            res = minimize(f, x0, jac=True, method="SLSQP", bounds=bounds, constraints=cons,
                           options={"maxiter": maxiter, "ftol": 1e-9})
            res_x = res.x
        w = np.clip(res_x, 0, caps)
        w = w / w.sum()
        val = objective(w, E, T)[0]
        div = objective(w, E, T, diversity=True)[0] if n_batches(ss) >= 2 else float("nan")
        ok = min_diversity is None or div >= min_diversity - 1e-6
        cand = (val, w, div)
        if ok and (best_feasible is None or val > best_feasible[0]):
            best_feasible = cand
        if best is None or div > best[2]:
            best = cand
    feasible = best_feasible is not None
    val, w, div = best_feasible if feasible else best
    w = np.where(w < 1e-4, 0.0, w)
    w = w / w.sum()
    pred = predict_mixture(ss, w, noise=noise)
    top = ", ".join(f"{s} {x:.1%}" for s, x in sorted(zip(ss.sources, w), key=lambda t: -t[1]) if x > 0)
    msg = (f"Best mix: {top}; predicted alignment {pred.alignment.value:.4f}, diversity {pred.diversity.value:.4f}."
           if feasible else
           f"No mix reaches predicted diversity {min_diversity}; the most diverse one found ({top}) has {div:.4f}.")
    return Suggestion({s: float(x) for s, x in zip(ss.sources, w)}, pred, float(val), len(seen), feasible, msg)


def n_batches(ss: SourceSet) -> int:
    """Batches per source in the loaded set."""
    return int(ss.E.shape[1])
