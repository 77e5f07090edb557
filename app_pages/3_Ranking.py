"""Ranking: candidates ranked by alignment with the target, with 95% CIs, diversity and size."""
import streamlit as st

st.set_page_config(page_title="Ranking · AlignScope", page_icon="🔭", layout="wide")

from core.views import md_escape  # noqa: E402
from ui import slides  # noqa: E402
from ui.embed import embedding_gate  # noqa: E402
from ui.ranking import ranking_section  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui.state import corpus_picker  # noqa: E402

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
if len(ready) < len(names):
    st.caption(f"Showing {len(ready) - 1} of {len(names) - 1} candidates; the others appear when their embeddings are ready.")

ranking_section(ready, settings, target=view.target)
