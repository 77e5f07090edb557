"""Corpora: the registry, choosing the target and candidates, adding a corpus, previewing documents."""
import streamlit as st

st.set_page_config(page_title="Corpora · AlignScope", page_icon="🔭", layout="wide")

from core.views import view_to_params  # noqa: E402
from ui.corpora import add_corpus_forms, preview, registry_table  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402
from ui.state import corpus_picker  # noqa: E402

settings = settings_sidebar()
slides.presenting("corpora", settings)
st.title("Corpora")
st.subheader("Target and candidates")
view = corpus_picker()
c1, c2 = st.columns(2)
c1.page_link("app_pages/2_Alignment.py", label="Open the alignment heatmap", icon=":material/grid_on:", query_params=view_to_params(view))
c2.page_link("app_pages/3_Ranking.py", label="Open the ranking", icon=":material/bar_chart:", query_params=view_to_params(view))

st.subheader("Registry")
registry_table()

st.subheader("Add a corpus")
add_corpus_forms()

st.subheader("Preview")
preview(default=view.target)
