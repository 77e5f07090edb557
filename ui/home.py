"""The Home page (the ``st.navigation`` default page): the current view, the steps, the report."""
from __future__ import annotations

import streamlit as st

from core.views import md_escape, settings_caption, view_to_params


def _title_slide(view, settings) -> None:
    """The Home page in presenter mode (:func:`ui.slides.home`): the question and the cached ranking,
    or what is compared and what is missing; with ``deck=NAME`` in the URL, the deck's current slide
    (:func:`ui.deck.present_deck`, which moves to that slide's page)."""
    from ui import slides
    from ui.deck import deck_requested, present_deck

    name = deck_requested()
    if name:
        st.session_state["present_page"] = ""
        present_deck(name, "")
        return
    slides.home(view, settings)


def home() -> None:
    """Draw the Home page (presenter mode: a title slide)."""
    from ui.sidebar import settings_sidebar
    from ui.state import get_view

    settings = settings_sidebar()
    view = get_view()
    if view.present:
        _title_slide(view, settings)
        return
    st.title("AlignScope")
    st.markdown(
        "Which candidate corpus is most **aligned** with your target benchmark? AlignScope embeds batches of "
        "text with a probe network's Fisher Information (Task2Vec) and reports the **diversity** and **alignment** "
        "coefficients with 95% confidence intervals (Lee, Miranda et al. 2023; Chawla, Miranda et al.).")

    st.subheader("Current view")
    c1, c2 = st.columns([1, 3])
    c1.metric("Target benchmark", view.target or "(none)")
    c2.metric("Candidates", len(view.candidates), help=", ".join(view.candidates))
    st.caption(("Candidates: " + md_escape(", ".join(view.candidates))) if view.candidates else "No candidate chosen yet.")
    st.caption(md_escape(settings_caption(settings)))

    st.subheader("Steps")
    qp = view_to_params(view)
    c1, c2, c3 = st.columns(3)
    with c1.container(border=True):
        st.page_link("app_pages/1_Corpora.py", label="**1. Corpora**", icon=":material/library_books:", query_params=qp)
        st.caption("Pick the target and candidates, add your own files or a Hugging Face dataset, preview documents.")
    with c2.container(border=True):
        st.page_link("app_pages/2_Alignment.py", label="**2. Alignment**", icon=":material/grid_on:", query_params=qp)
        st.caption("Compute missing embeddings in the background, then read the alignment heatmap "
                   "(diversity on the diagonal).")
    with c3.container(border=True):
        st.page_link("app_pages/3_Ranking.py", label="**3. Ranking**", icon=":material/bar_chart:", query_params=qp)
        st.caption("Candidates ranked by alignment with the target, with confidence intervals, diversity and size.")
    st.caption("Every view is in the URL: copy the address bar to share exactly what you see. "
               "Charts export as PNG, SVG and interactive HTML; tables as CSV.")

    st.subheader("For a group meeting")
    c1, c2 = st.columns(2)
    with c1.container(border=True):
        st.page_link(st.session_state["_pages"]["Home"], label="**Presenter mode**", icon=":material/present_to_all:",
                     query_params={**qp, "present": "1"})
        st.caption("One chart per screen, sized to the projector, high contrast, no controls; ← → (or a clicker) "
                   "move between pages, Esc leaves. Shows cached results only, never computes.")
    with c2.container(border=True):
        from ui.report import report_section

        report_section(view, settings)

    from ui.data import warm_up

    warm_up(settings)     # after drawing: makes the first Alignment/Ranking page of this server fast
