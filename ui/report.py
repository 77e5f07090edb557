"""The dashboard's "one-click report" (Home page): builds the self-contained HTML report of the
current view from the cache (:mod:`core.report`) and offers it, and its PDF, as downloads."""
from __future__ import annotations

import streamlit as st

from core.errors import AlignScopeError
from core.views import ViewState, md_escape


def _build(view: ViewState, settings, *, pdf: bool) -> dict:
    import tempfile
    import time
    from pathlib import Path

    from core.report import collect, html_to_pdf, render_html

    t0 = time.perf_counter()
    data = collect(view.target, list(view.candidates), settings)
    html = render_html(data)
    out = {"html": html.encode("utf-8"), "pdf": None, "notes": data.notes, "target": view.target}
    if pdf:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.html"
            path.write_text(html, encoding="utf-8")
            out["pdf"] = html_to_pdf(path, Path(tmp) / "report.pdf").read_bytes()
    out["seconds"] = time.perf_counter() - t0
    return out


def report_section(view: ViewState, settings) -> None:
    """"Build the report" (HTML, optionally PDF) and its download buttons; reads caches only."""
    st.markdown("**One-click report**")
    st.caption("Target, candidates, settings and provenance, heatmap, ranking, the saved mix (predicted and "
               "verified), alignment vs perplexity and the validation leaderboard, in one HTML file that opens "
               "offline (and a PDF). From the cache only.")
    if not view.target:
        st.info("Pick a target benchmark first (Corpora page).")
        return
    c1, c2 = st.columns(2)
    pdf = c2.checkbox("Also PDF (Chromium, ~10 s)", key="rep_pdf")
    if c1.button("Build the report", key="rep_build", type="primary"):
        try:
            with st.spinner("Reading the cache and laying out the report..."):
                st.session_state["rep_last"] = _build(view, settings, pdf=pdf)
        except AlignScopeError as exc:
            st.error(md_escape(exc))
    rep = st.session_state.get("rep_last")
    if rep and rep["target"] == view.target:
        for n in rep["notes"]:
            st.caption("Note: " + md_escape(n))
        d1, d2 = st.columns(2)
        d1.download_button("⬇ Report (HTML)", rep["html"], file_name=f"alignscope-report-{view.target}.html",
                           mime="text/html", key="rep_html", on_click="ignore", width="stretch")
        if rep["pdf"]:
            d2.download_button("⬇ Report (PDF)", rep["pdf"], file_name=f"alignscope-report-{view.target}.pdf",
                               mime="application/pdf", key="rep_pdf_dl", on_click="ignore", width="stretch")
        st.caption(f"Built in {rep['seconds']:.1f} s (server).")
