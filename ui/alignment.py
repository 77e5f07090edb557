"""The Alignment page's heatmap section (app_pages/2_Alignment.py calls it once the embeddings are ready):
the order control, the heatmap with its downloads, the drill-down of a clicked cell, and the tabs
(matrix, pairs with 95% CIs, embedding map).

It is a fragment (``st.fragment``): changing the order, clicking a cell or switching tabs reruns
only this section, not the sidebar, the corpus picker and the embedding gate above it. The chosen
tab is in the URL (``align_tab``) and only its content runs.
"""
from __future__ import annotations

import time

import streamlit as st

from core import charts
from core.settings import EmbedSettings
from core.views import ORDERS, ViewState, md_escape, settings_caption
from ui import drill
from ui.data import alignment_matrix
from ui.export import figure_downloads, show_figure, table_download
from ui.state import bind, get_view
from ui.validation import verdict_caption

TABS = ("Matrix", "Pairs with 95% CI", "Embedding map")
ORDER_LABELS = {"clustered": "clustered (similar together)", "selection": "as selected", "alphabetical": "alphabetical"}


@st.fragment
def heatmap_section(ready: dict, settings: EmbedSettings) -> None:
    """Draw the section for the corpora in ``ready`` (name -> :class:`ui.data.CorpusStatus`, all cached)."""
    t0 = time.perf_counter()
    view: ViewState = get_view()
    matrix, seconds = alignment_matrix(ready)
    order = st.segmented_control("Order", ORDERS, required=True, **bind("w_order", "order"),
                                 format_func=ORDER_LABELS.get,
                                 help="clustered: average-linkage hierarchical clustering on 1 - alignment; "
                                      "the target always comes first") or "clustered"
    caption = settings_caption(settings)
    fig = charts.heatmap_figure(matrix, order=order, target=view.target, subtitle=caption)
    drill.remember(drill.pair_from_event(show_figure(fig, key="heatmap", stretch=False, select=True)))
    figure_downloads(fig, f"alignment-{view.target}", key="heatmap")
    verdict_caption(target=view.target)
    drill.drill_down(matrix, settings, names=list(ready), key="align")

    ordered = charts.order_names(matrix.names, matrix.values(), order, target=view.target)
    tab_m, tab_p, tab_e = st.tabs(list(TABS), key="align_tab", bind="query-params")
    if tab_m.open:
        with tab_m:
            square = charts.matrix_frame(matrix, ordered)
            st.table(square.style.format("{:.3f}"))          # a static table: lighter than the data grid
            table_download(square, f"alignment-matrix-{view.target}", key="square")
    if tab_p.open:
        with tab_p:
            pairs = charts.matrix_records_frame(matrix, ordered)
            st.dataframe(pairs, width="stretch", hide_index=True,
                         column_config={c: st.column_config.NumberColumn(format="%.3f")
                                        for c in ("value", "ci_low", "ci_high", "se")})
            table_download(pairs, f"alignment-pairs-{view.target}", key="pairs")
    if tab_e.open:
        with tab_e:
            drill.embedding_map_section(matrix, target=view.target, subtitle=caption)
    st.caption(f"{md_escape(caption)}. Diagonal: diversity coefficient. 95% CIs: delete-one-batch jackknife. "
               f"Matrix {seconds:.2f} s, section {time.perf_counter() - t0:.2f} s (server).")
