"""Background job kind ``select``: one window selection (the Select page runs it off the UI thread).

Params (JSON): ``method``, ``target``, ``pool`` (corpus names), ``max_windows``, ``seq_len``,
``budget``, ``seed``, ``max_share`` (or None), ``settings`` (:meth:`EmbedSettings.to_dict`). The
result is :meth:`core.selection.select.SelectionResult.to_dict` with each window's ``text``.
"""
from __future__ import annotations

from core.jobs import JobContext, register_job_kind

SELECT_KIND = "select"


def select_job(params: dict, ctx: JobContext) -> dict:
    """Job target: :func:`core.selection.select.run_selection` with progress (per-window embeddings)."""
    from core.settings import EmbedSettings
    from core.probe import load_probe
    from core.selection.pool import PoolConfig, load_pool
    from core.selection.select import run_selection, with_texts

    settings = EmbedSettings.from_dict(params.get("settings"))
    cfg = PoolConfig(corpora=tuple(params["pool"]), target=params["target"], max_windows=int(params["max_windows"]),
                     seq_len=int(params.get("seq_len", 128)))
    probe = load_probe(settings.model, device=settings.device, progress=False)
    ctx.progress(0, 1, "sampling the pool's windows")
    pool = load_pool(cfg, probe)
    ctx.log(f"pool: {len(pool)} windows, {int(pool.tokens.sum())} tokens")
    res = run_selection(method=params["method"], target=params["target"], pool_config=cfg, budget=int(params["budget"]),
                        settings=settings, seed=int(params.get("seed", 0)), max_share=params.get("max_share"), pool=pool,
                        progress=lambda d, n, m: ctx.progress(d, n, m), should_stop=ctx.should_stop)
    ctx.progress(1, 1, f"{len(res.windows)} windows selected")
    return with_texts(res, pool, probe.tokenizer).to_dict()


register_job_kind(SELECT_KIND, "core.selection.jobs:select_job")
