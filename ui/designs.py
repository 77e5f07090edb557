"""The Which-metric page's "Other designs" tab: the lab's other designs from their committed results
(data kinds, size vs alignment, the pre-training grid), each with its summary and figure.

Reads only (:func:`core.report.designs.design_sections`, a few seconds of bootstraps, memoised per
version of the results files). The design shown lives in the URL (``?lab_tab=Other+designs&design=kinds``),
so a deck slide reopens the same chart.
"""
from __future__ import annotations

import streamlit as st

from core.report import designs as core_designs
from core.report.designs import DESIGN_COMMANDS, DESIGN_FILES, DesignSection
from core.views import md_escape
from ui.export import figure_downloads, show_figure

DESIGN_PARAM = "design"


@st.cache_data(max_entries=4, show_spinner="Summarising the designs' committed results...")
def _sections(version: tuple) -> list[DesignSection]:
    return core_designs.design_sections(version[0])


def sections() -> list[DesignSection]:
    """:func:`core.report.designs.design_sections` of ``docs/results/``, memoised per file version."""
    return _sections(core_designs.results_version())


def designs_tab() -> None:
    """The tab: a design picker bound to the URL, then the chosen design's summary, figure and file."""
    found = sections()
    if not found:
        st.info("No design has committed results yet. Each is a terminal command that resumes if interrupted:")
        st.code("\n".join(DESIGN_COMMANDS.values()), language="bash")
        return
    names = [d.name for d in found]
    wanted = st.query_params.get(DESIGN_PARAM)
    index = names.index(wanted) if wanted in names else 0
    titles = {d.name: d.title for d in found}
    name = st.radio("Design", names, index=index, format_func=titles.get, horizontal=True, key="wv_design")
    if st.query_params.get(DESIGN_PARAM) != name:
        st.query_params[DESIGN_PARAM] = name
    show_section(next(d for d in found if d.name == name))
    missing = [n for n, _, _ in DESIGN_FILES if n not in names]
    if missing:
        st.caption(md_escape("Not committed yet: " + "; ".join(f"{n} ({DESIGN_COMMANDS[n]})" for n in missing)))


def show_section(d: DesignSection) -> None:
    """One design: its error, or its figure with downloads and its summary lines."""
    if d.error:
        st.error(md_escape(d.error))
        return
    if d.figure is not None:
        show_figure(d.figure, key=f"wv_design_{d.name}")
        figure_downloads(d.figure, f"design-{d.name}", key=f"wv_design_{d.name}")
    if d.note:
        st.info(md_escape(d.note))
    st.code("\n".join(d.lines), language=None)
    lean = "" if d.name == "pretrain" else " The outcomes are likelihoods: no Lean type-check runs here."
    st.caption(md_escape(f"From docs/results/{d.path.name} ({d.runs} finished runs).{lean}"))
