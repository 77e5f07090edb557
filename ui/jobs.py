"""Streamlit panel showing a background job (core.jobs): progress, ETA, cancel, result, log."""
from __future__ import annotations

import streamlit as st

from core.jobs import FINAL_STATES, Job, get_job
from core.views import md_escape as md


def _eta(seconds, job: Job | None = None, status: dict | None = None) -> str:
    """The time left: extrapolated from the job's own progress once it has some, before that (embed
    jobs) the range measured on this machine (:func:`core.throughput.estimate`)."""
    if seconds is None:
        spec = (job.spec if job is not None else {}) or {}
        params = spec.get("params") or {}
        if spec.get("kind") == "embed" and params.get("settings"):
            from core.settings import EmbedSettings
            from core.throughput import estimate

            settings = EmbedSettings.from_dict(params["settings"])
            left = max(0, int((status or {}).get("total") or settings.batch.num_batches * len(params.get("corpora") or []))
                       - int((status or {}).get("done") or 0))
            return estimate(settings, left).text()
        return "estimating..."
    seconds = int(seconds)
    lo, hi = int(seconds * 0.8), int(seconds * 1.25) + 1      # the extrapolation is rough: a range
    fmt = (lambda x: f"{x // 60} min {x % 60:02d} s") if seconds >= 60 else (lambda x: f"{x} s")
    return f"{fmt(lo)} – {fmt(hi)}"


def progress_counter(status: dict) -> str:
    """``"3/10"`` (units done of the job's total; the total is known from submission on for the kinds
    that declare it, :func:`core.jobs.planned_total`), or ``"starting"`` / ``"queued"`` while a kind
    without a declared total has not reported yet (never ``"0/0"``)."""
    done, total = int(status.get("done") or 0), int(status.get("total") or 0)
    if total:
        return f"{done}/{total}"
    return "queued" if status.get("state") == "queued" else "starting"


def job_panel(job_id: str, *, key: str, title: str = "Job", poll_seconds: float = 1.0) -> dict | None:
    """Draw a self-refreshing job panel (``st.fragment`` polling every ``poll_seconds`` while running).

    Returns the job's status dict as last read (``None`` when the job does not exist). When the job
    finishes, the whole page reruns once so that results depending on it are drawn.
    """

    @st.fragment(run_every=poll_seconds)
    def _panel():
        job: Job | None = get_job(job_id)
        if job is None:
            st.warning(f"Job {job_id} not found (the cache may have been cleared).")
            return
        status = job.status()
        state = status.get("state", "queued")
        done, total = int(status.get("done") or 0), int(status.get("total") or 0)
        frac = done / total if total else 0.0
        st.markdown(f"**{md(title)}** · `{job_id}` · state **{state}**")
        if state not in FINAL_STATES:
            st.progress(frac, text=f"{progress_counter(status)} · ETA {_eta(status.get('eta_s'), job, status)} · "
                                    f"{md(status.get('message', ''))}")
            if st.button("Cancel", key=f"{key}_cancel"):
                job.cancel()
                st.toast("Cancel requested: the job stops after the current step.")
        elif state == "done":
            st.success(f"Done: {done}/{total}. {md(status.get('message', ''))}")
        elif state == "failed":
            st.error(f"Job failed: {md(status.get('error'))}")
        else:
            st.warning(f"Job {state}: {md(status.get('error') or status.get('message', ''))}. Finished steps are kept.")
        with st.expander("Log"):
            st.code(job.log() or "(empty)", language=None)
        seen = st.session_state.setdefault("_job_final_seen", {})
        if state in FINAL_STATES and not seen.get(job_id):
            seen[job_id] = True
            st.rerun(scope="app")
        st.session_state[f"{key}_status"] = status

    _panel()
    return st.session_state.get(f"{key}_status")
