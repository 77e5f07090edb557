"""Ranking: candidates ranked by alignment with the target, with 95% CIs, diversity and size."""
import time

import streamlit as st

t0 = time.perf_counter()
st.set_page_config(page_title="Ranking · AlignScope", page_icon="🔭", layout="wide")

from core import charts  # noqa: E402
from core.coefficients import rank_sources, tie_groups  # noqa: E402
from core.views import md_escape, ranking_rows, settings_caption  # noqa: E402
from ui import drill  # noqa: E402
from ui.data import alignment_matrix, cached_token_counts  # noqa: E402
from ui.embed import embedding_gate  # noqa: E402
from ui.export import figure_downloads, show_figure  # noqa: E402
from ui.ranking import ranking_table  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402
from ui.state import corpus_picker, domains  # noqa: E402
from ui.validation import verdict_caption  # noqa: E402

settings = settings_sidebar()
slides.presenting("ranking", settings)
st.title("Ranking of candidate sources")
view = corpus_picker(compact=True)
names = view.corpora()
if len(names) < 2:
    st.info("Pick a target and at least one candidate corpus above (or on the Corpora page).")
    st.stop()

status = embedding_gate(view, settings, names, key="rank")
ready = {n: s for n, s in status.items() if s.ready}
if view.target not in ready or len(ready) < 2:
    st.info(f"The ranking appears here once {md_escape(view.target)} and at least one candidate have embeddings.")
    st.stop()
matrix, _ = alignment_matrix(ready)
if len(ready) < len(names):
    st.caption(f"Showing {len(ready) - 1} of {len(names) - 1} candidates; the others appear when their embeddings are ready.")

ranking = rank_sources(matrix, view.target)
rows = ranking_rows(ranking, tokens=cached_token_counts(list(ready)), domains=domains(),
                    groups=tie_groups(matrix, view.target, ranking))
caption = settings_caption(settings)
fig = charts.ranking_figure(rows, target=view.target, subtitle=caption)
drill.remember(drill.pair_from_event(show_figure(fig, key="ranking", select=True), target=view.target))
figure_downloads(fig, f"ranking-{view.target}", key="ranking")
verdict_caption()
drill.drill_down(matrix, settings, names=list(ready), key="rank")

tdiv = matrix.diversity[view.target]
st.caption(f"Target {md_escape(view.target)}: diversity coefficient {tdiv.value:.3f}"
           + (f" (95% CI {tdiv.ci_low:.3f}-{tdiv.ci_high:.3f})" if tdiv.ci_low == tdiv.ci_low else "")
           + f", {len(rows)} candidates.")
ranking_table(rows, target=view.target)
st.caption(f"{md_escape(caption)}. Alignment = 1 - mean Task2Vec distance over all batch pairs; 95% CI by delete-one-batch "
           f"jackknife. Page {time.perf_counter() - t0:.2f} s (server).")
