"""Background job kinds of the dashboard besides the built-in ``embed`` (importable without streamlit:
the job worker imports this module fresh).

- ``corpus_stats``: params ``{"corpora": [...], "model": name}``; counts each corpus' tokens with
  :func:`core.pipeline.corpus_stats` (cached in the store) so the Corpora page never blocks on a
  large corpus.
"""
from __future__ import annotations

from core.jobs import register_job_kind

STATS_KIND = "corpus_stats"


def stats_job(params: dict, ctx) -> dict:
    """Job target: token counts of ``params["corpora"]`` (one unit of progress per corpus)."""
    from core.errors import AlignScopeError
    from core.pipeline import corpus_stats
    from core.probe import DEFAULT_MODEL

    names = list(params["corpora"])
    model = params.get("model") or DEFAULT_MODEL
    out: dict[str, dict] = {}
    for k, name in enumerate(names):
        if ctx.should_stop():
            raise InterruptedError(f"stopped after {k} corpora")
        ctx.progress(k, len(names), f"counting tokens of {name}")
        try:
            out[name] = corpus_stats(name, model=model)
            ctx.log(f"{name}: {out[name]}")
        except AlignScopeError as exc:  # one bad corpus does not stop the others
            out[name] = {"error": str(exc)}
            ctx.log(f"{name}: {exc}")
    ctx.progress(len(names), len(names), "done")
    return out


register_job_kind(STATS_KIND, "ui.tasks:stats_job")
