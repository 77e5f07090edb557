"""AlignScope dashboard home page: ``streamlit run app.py`` (or ./run.sh)."""
import streamlit as st

from ui.sidebar import settings_sidebar

st.set_page_config(page_title="AlignScope", page_icon="🔭", layout="wide")
st.title("AlignScope")
st.markdown(
    "Which candidate corpus is most **aligned** with your target benchmark? AlignScope embeds batches of "
    "text with a probe network's Fisher Information (Task2Vec) and reports the diversity and alignment "
    "coefficients (Lee, Miranda et al. 2023; Chawla et al.). Use the pages on the left: **Corpora** to pick "
    "a target and candidates, **Alignment** for the heatmap, **Ranking** for the sources ranked by alignment.")
settings = settings_sidebar()
st.caption(f"Probe network: `{settings.model}` · estimator: `{settings.estimator}` · "
           f"{settings.batch.num_batches} batches × {settings.batch.batch_size} × {settings.batch.seq_len} tokens")
