"""The "are the embeddings ready?" section shared by Alignment and Ranking.

Reads the cache, shows any embedding job working on the view's corpora (the watched one from the
URL/session and any other running job with the same settings, e.g. started from another tab), and
offers one button that submits the missing corpora as one background ``embed`` job. Never blocks.
"""
from __future__ import annotations

import streamlit as st

from core.jobs import FINAL_STATES, get_job, list_jobs, submit
from core.pipeline import EmbedSettings
from core.views import ViewState, md_escape
from ui.data import CorpusStatus, statuses
from ui.jobs import job_panel
from ui.state import set_view


def _job_corpora(job) -> list[str]:
    return list((job.spec.get("params") or {}).get("corpora") or [])


def related_jobs(settings: EmbedSettings, names: list[str], watched: str = "") -> list:
    """The watched job (if it exists) plus queued/running embed jobs with these settings on these corpora."""
    wanted = settings.to_dict()
    out, seen = [], set()
    if watched:
        job = get_job(watched)
        if job is not None:
            out.append(job)
            seen.add(job.job_id)
    for job in list_jobs("embed"):
        if job.job_id in seen:
            continue
        params = job.spec.get("params") or {}
        if params.get("settings") != wanted or not set(_job_corpora(job)) & set(names):
            continue
        if job.status().get("state") in ("queued", "running"):
            out.append(job)
            seen.add(job.job_id)
    return out


def _eta_text(batches: int, settings: EmbedSettings) -> str:
    """``"about 40–90 s (measured on this machine: ...)"`` from :func:`core.throughput.estimate`."""
    from core.throughput import estimate

    est = estimate(settings, batches)
    return f"{est.text()}; {est.basis}"


def embedding_gate(view: ViewState, settings: EmbedSettings, names: list[str], *,
                   key: str = "emb") -> dict[str, CorpusStatus]:
    """Show embedding status/jobs for ``names``; return their :class:`CorpusStatus` (ready ones have
    embeddings). Errors are shown as ``st.error`` boxes naming the corpus and the fix."""
    status = statuses(names, settings)
    for s in status.values():
        if s.error:
            st.error(md_escape(s.error), icon="⚠️")
    missing = [n for n, s in status.items() if s.missing]
    jobs = related_jobs(settings, names, view.job)
    active_cover: set[str] = set()
    for job in jobs:
        state = job.status().get("state")
        if job.job_id == view.job and state == "done" and not missing:
            set_view(job="")                       # finished and nothing left: stop watching it
            continue
        if state not in FINAL_STATES:
            active_cover |= set(_job_corpora(job))
        job_panel(job.job_id, key=f"{key}_{job.job_id}",
                  title="Embedding " + ", ".join(_job_corpora(job)))
    todo = [n for n in missing if n not in active_cover]
    if todo:
        batches = sum(status[n].missing for n in todo)
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.info(f"**{len(todo)} corpora need embeddings** ({batches} batches, {md_escape(_eta_text(batches, settings))}; "
                "runs in the background, you can leave this page): " + md_escape(", ".join(todo)))
        if c2.button("Compute missing embeddings", type="primary", key=f"{key}_compute", width="stretch"):
            job = submit("embed", {"corpora": todo, "settings": settings.to_dict()})
            st.session_state.get("_job_final_seen", {}).pop(job.job_id, None)
            set_view(job=job.job_id)
            st.rerun()
    return status


def ready_corpora(view: ViewState, settings: EmbedSettings, *, key: str, need_target: bool) -> dict[str, CorpusStatus]:
    """The Alignment and Ranking pages' gate: the view's corpora whose embeddings are all cached.

    Says what is missing (with :func:`embedding_gate`'s "compute missing" job) and stops the page
    run (``st.stop``) while fewer than two corpora are ready, or, with ``need_target``, while the
    target is not; says how many are shown when only some are.

    Returns:
        ``name -> CorpusStatus`` of the ready corpora, target first.
    """
    names = view.corpora()
    if len(names) < 2:
        st.info("Pick a target and at least one candidate corpus above (or on the Corpora page).")
        st.stop()
    status = embedding_gate(view, settings, names, key=key)
    ready = {n: s for n, s in status.items() if s.ready}
    if len(ready) < 2 or (need_target and view.target not in ready):
        st.info(f"The ranking appears here once {md_escape(view.target)} and at least one candidate have embeddings."
                if need_target else "The heatmap appears here once at least two of the chosen corpora have embeddings.")
        st.stop()
    if len(ready) < len(names):
        st.caption(f"Showing {len(ready)} of {len(names)} corpora; the others appear when their embeddings are ready.")
    return ready
