"""Alignment vs perplexity: the alignment paper's central figure from the fine-tune runs (plus familiarity)."""
import streamlit as st

st.set_page_config(page_title="Alignment vs perplexity · AlignScope", page_icon="🔭", layout="wide")

from ui import avp  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402

settings = settings_sidebar()
slides.presenting("alignment_vs_perplexity", settings)
st.title("Alignment vs perplexity")
st.markdown(
    "Each point is a model fine-tuned on one source (same budget and hyperparameters), placed at the source's "
    "**alignment coefficient** with the target (x, 95% CI bars) and the fine-tuned model's **perplexity on the "
    "target's held-out split** (y). The red line is the least-squares fit with its 95% confidence band; the dashed "
    "line is the base model before fine-tuning. The paper (Chawla, Miranda et al.) finds a strong negative "
    "correlation: better-aligned data, lower test perplexity.")

avp.page()
