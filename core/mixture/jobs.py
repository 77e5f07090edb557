"""Background job target ``mix_verify`` (declared in :data:`core.jobs.JOBS`): verify a mixture.

Params: ``{"weights": {source: share}, "target": str, "settings": EmbedSettings.to_dict(), "seed": int,
"noise": str}``. Progress counts mixed batches; the result is :func:`core.mixture.verify.verify_mixture`'s dict.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.settings import EmbedSettings

if TYPE_CHECKING:
    from core.jobs import Job, JobContext


def verify_job(params: dict, ctx: JobContext) -> dict:
    """Job target: :func:`core.mixture.verify.verify_mixture` with progress, stop requests and a log."""
    from core.mixture.predict import DEFAULT_NOISE
    from core.mixture.verify import verify_mixture

    return verify_mixture(dict(params["weights"]), params["target"], EmbedSettings.from_dict(params["settings"]),
                          seed=int(params.get("seed", 0)), noise=params.get("noise", DEFAULT_NOISE),
                          progress=ctx.progress, should_stop=ctx.should_stop, log=ctx.log)


def verify_params(weights: dict, target: str, settings: EmbedSettings, *, seed: int = 0,
                  noise: str | None = None) -> dict:
    """Canonical job params (rounded shares, sorted keys) so the same mix gives the same job id."""
    from core.mixture.predict import DEFAULT_NOISE

    w = {s: round(float(x), 6) for s, x in sorted(weights.items()) if x > 0}
    return {"weights": w, "target": target, "settings": settings.to_dict(), "seed": int(seed),
            "noise": noise or DEFAULT_NOISE}


def submit_verify(weights: dict, target: str, settings: EmbedSettings, *, seed: int = 0, noise: str | None = None,
                  wait: bool = False) -> Job:
    """Submit (or find) the ``mix_verify`` job for this mix; returns the :class:`core.jobs.Job`."""
    from core import jobs

    return jobs.submit("mix_verify", verify_params(weights, target, settings, seed=seed, noise=noise), wait=wait)
