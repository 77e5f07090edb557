"""Alignment: cross-alignment heatmap of the target and candidates (diversity on the diagonal)."""
import streamlit as st

st.set_page_config(page_title="Alignment · AlignScope", page_icon="🔭", layout="wide")

from ui import slides  # noqa: E402
from ui.alignment import heatmap_section  # noqa: E402
from ui.embed import ready_corpora  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui.state import corpus_picker  # noqa: E402

settings = settings_sidebar()
slides.presenting("alignment", settings)
st.title("Alignment between corpora")
view = corpus_picker(compact=True)
ready = ready_corpora(view, settings, key="align", need_target=False)
heatmap_section(ready, settings)
