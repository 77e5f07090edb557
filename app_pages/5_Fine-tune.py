"""Fine-tune: launch small fine-tunes on candidate sources (or the experiment preset) and follow them."""
import streamlit as st

st.set_page_config(page_title="Fine-tune · AlignScope", page_icon="🔭", layout="wide")

from core.errors import AlignScopeError  # noqa: E402
from core.finetune.experiment import benchmark_targets, candidate_sources  # noqa: E402
from ui import finetune  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402

settings = settings_sidebar()
slides.presenting("finetune", settings)
st.title("Fine-tune on candidate sources")
st.markdown(finetune.INTRO)
targets = benchmark_targets()
if not targets:
    st.error("No target benchmark is installed (ProofNet's test split is needed). Run: python -m core corpora install")
    st.stop()
target = st.selectbox("Target benchmark (evaluated on its held-out split)", targets, key="ft_target",
                      bind="query-params")
try:
    sources = candidate_sources(target)
except AlignScopeError as exc:
    st.error(str(exc))
    st.stop()
base = finetune.hyperparameters(target, settings)
finetune.launch_tabs(target, sources, base, settings)
finetune.jobs_section()
finetune.runs_table(target)
