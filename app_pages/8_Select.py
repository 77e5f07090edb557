"""Select: the windows of a pool most useful for a target within a token budget (Task2Vec, DSIR, ZIP-FIT,
unigram cosine, random, best single source), exported, saved as a corpus and fine-tuned."""
import streamlit as st

st.set_page_config(page_title="Select · AlignScope", page_icon="🔭", layout="wide")

from core.corpora import list_corpora  # noqa: E402
from core.finetune.experiment import benchmark_targets  # noqa: E402
from ui import select as sel  # noqa: E402
from ui import slides  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402

settings = settings_sidebar()
slides.presenting("select", settings)      # presenter mode: the selection methods head to head (ui.slides.select)
st.title("Select windows for a target")
st.markdown(sel.INTRO)
targets = benchmark_targets()
if not targets:
    st.error("No target benchmark is installed (ProofNet's test split is needed). Run: python -m core corpora install")
    st.stop()
corpora = [c.name for c in list_corpora() if c.available() and c.spec.domain != "target benchmark"]
params = sel.inputs(targets, corpora)
if params is not None:
    sel.launch(params, settings)
result = sel.job_result()
if result is not None:
    sel.show_result(result)
    sel.export_and_finetune(result, settings)
sel.comparison()
