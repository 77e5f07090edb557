"""Alignment: cross-alignment heatmap of the target and candidates (diversity on the diagonal)."""
import streamlit as st

st.set_page_config(page_title="Alignment · AlignScope", page_icon="🔭", layout="wide")

from ui import slides  # noqa: E402
from ui.alignment import heatmap_section  # noqa: E402
from ui.embed import embedding_gate  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui.state import corpus_picker  # noqa: E402

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
if len(ready) < len(names):
    st.caption(f"Showing {len(ready)} of {len(names)} corpora; the others appear when their embeddings are ready.")

heatmap_section(ready, settings)
