"""Alignment: cross-alignment heatmap of the target and candidates (diversity on the diagonal)."""
import time

import streamlit as st

t0 = time.perf_counter()
st.set_page_config(page_title="Alignment · AlignScope", page_icon="🔭", layout="wide")

from core import charts  # noqa: E402
from core.views import ORDERS, md_escape, settings_caption  # noqa: E402
from ui import drill  # noqa: E402
from ui.data import alignment_matrix  # noqa: E402
from ui.embed import embedding_gate  # noqa: E402
from ui.export import figure_downloads, show_figure, table_download  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402
from ui.state import bind, corpus_picker  # noqa: E402
from ui.validation import verdict_caption  # noqa: E402

settings = settings_sidebar()
slides.presenting("alignment", settings)
st.title("Alignment between corpora")
view = corpus_picker(compact=True)
names = view.corpora()
if len(names) < 2:
    st.info("Pick a target and at least one candidate corpus above (or on the Corpora page).")
    st.stop()

status = embedding_gate(view, settings, names, key="align")
ready = {n: s for n, s in status.items() if s.ready}
if len(ready) < 2:
    st.info("The heatmap appears here once at least two of the chosen corpora have embeddings.")
    st.stop()
matrix, seconds = alignment_matrix(ready)
if len(ready) < len(names):
    st.caption(f"Showing {len(ready)} of {len(names)} corpora; the others appear when their embeddings are ready.")

order = st.segmented_control("Order", ORDERS, required=True, **bind("w_order", "order"),
                             format_func={"clustered": "clustered (similar together)", "selection": "as selected",
                                          "alphabetical": "alphabetical"}.get,
                             help="clustered: average-linkage hierarchical clustering on 1 - alignment; "
                                  "the target always comes first")
caption = settings_caption(settings)
fig = charts.heatmap_figure(matrix, order=order or "clustered", target=view.target, subtitle=caption)
drill.remember(drill.pair_from_event(show_figure(fig, key="heatmap", stretch=False, select=True)))
figure_downloads(fig, f"alignment-{view.target}", key="heatmap")
verdict_caption()
drill.drill_down(matrix, settings, names=list(ready), key="align")

ordered = charts.order_names(matrix.names, matrix.values(), order or "clustered", target=view.target)
tab1, tab2, tab3 = st.tabs(["Matrix", "Pairs with 95% CI", "Embedding map"])
with tab1:
    square = charts.matrix_frame(matrix, ordered)
    st.dataframe(square.style.format("{:.3f}"), width="stretch")
    table_download(square, f"alignment-matrix-{view.target}", key="square")
with tab2:
    pairs = charts.matrix_records_frame(matrix, ordered)
    st.dataframe(pairs, width="stretch", hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("value", "ci_low", "ci_high", "se")})
    table_download(pairs, f"alignment-pairs-{view.target}", key="pairs")
with tab3:
    drill.embedding_map_section(matrix, target=view.target, subtitle=caption)
st.caption(f"{md_escape(caption)}. Diagonal: diversity coefficient. 95% CIs: delete-one-batch jackknife. "
           f"Matrix {seconds:.2f} s, page {time.perf_counter() - t0:.2f} s (server).")
