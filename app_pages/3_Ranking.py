"""Ranking: candidates ranked by alignment with the target, with 95% CIs, diversity and size."""
import streamlit as st

st.set_page_config(page_title="Ranking · AlignScope", page_icon="🔭", layout="wide")

from ui import slides  # noqa: E402
from ui.embed import ready_corpora  # noqa: E402
from ui.ranking import ranking_section  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui.state import corpus_picker  # noqa: E402

settings = settings_sidebar()
slides.presenting("ranking", settings)
st.title("Ranking of candidate sources")
view = corpus_picker(compact=True)
ready = ready_corpora(view, settings, key="rank", need_target=True)
ranking_section(ready, settings, target=view.target)
