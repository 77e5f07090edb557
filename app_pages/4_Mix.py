"""Mix: a weight per source by sliders, live predicted alignment and diversity, best mix, verify, export."""
import streamlit as st

st.set_page_config(page_title="Mix · AlignScope", page_icon="🔭", layout="wide")

from ui import mix  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402
from ui.state import corpus_picker  # noqa: E402

settings = settings_sidebar()
slides.presenting("mix", settings)
st.title("Fine-tuning mix")
st.caption(mix.CAPTION)
view = corpus_picker(compact=True)
target, sources = view.target, list(view.candidates)
if not target or not sources:
    st.info("Pick a target benchmark and at least one source corpus above (or on the Corpora page).")
    st.stop()
ss, singles = mix.cached_sources(target, sources, settings)
weights = mix.sliders(ss, singles, settings, target)
mix.suggest_section(ss)
mix.verify_section(weights, target, settings)
mix.save_section(weights, target, settings)
mix.saved_section(ss)
