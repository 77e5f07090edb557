"""Streamlit panel showing a background job (core.jobs): progress, ETA, cancel, result, log."""
from __future__ import annotations

import streamlit as st

from core.jobs import FINAL_STATES, Job, get_job
from core.views import md_escape as md


def _eta(seconds) -> str:
    if seconds is None:
        return "estimating..."
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


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
            st.progress(frac, text=f"{done}/{total} · ETA {_eta(status.get('eta_s'))} · {md(status.get('message', ''))}")
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
