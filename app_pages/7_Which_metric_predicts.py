"""Which metric predicts? The validation lab's leaderboard: how well each alignment metric predicts
the perplexity of a model fine-tuned on a source (replicate seeds, nested-bootstrap CIs, dose-response)."""
import streamlit as st

st.set_page_config(page_title="Which metric predicts? · AlignScope", page_icon="🔭", layout="wide")

from core.views import md_escape  # noqa: E402
from ui import designs, validation as v  # noqa: E402
from ui.sidebar import settings_sidebar  # noqa: E402
from ui import slides  # noqa: E402

settings = settings_sidebar()
slides.presenting("validation", settings)
axis = v.axis_control()
st.title("Which metric predicts " + (v.axis_title(axis) if axis else "fine-tuning") + "?")
st.markdown(
    "AlignScope ranks sources by an alignment metric; this page shows how well each metric **predicts the outcome**: "
    "the target benchmark's outcome (held-out perplexity, or the AF NLL of the formal statement given the informal "
    "one) for a model fine-tuned on that source, or prompted with demonstrations from it (same budget, several seeds). "
    "Rival metrics (Task2Vec variants, GZIP, SBERT, token unigrams, DSIR, familiarity) are scored on the same "
    "sources, and a dose-response experiment mixes an aligned with an unaligned source at fixed budget.")

rep, path, error = v.load_report(axis)
if error:
    st.error(md_escape(error))
    st.stop()
if rep is None:
    v.no_results()
    st.stop()
v.header(rep, path)
if not rep["leaderboard"]:
    st.info("The results file has no metric values yet (the lab measures the metrics after the fine-tunes); rerun "
            "`python -m core validate run` to continue the lab. Finished fine-tunes so far:")
    for regime in rep["points"]:
        v.points(rep, regime)
    st.stop()

regime, exclude = v.controls(rep)
rows = v.selected_rows(rep, regime, exclude)
v.leaderboard(rep, rows, regime, exclude)

tab_scatter, tab_dose, tab_points, tab_designs = st.tabs(
    ["Scatter per metric", "Dose-response", "Points and seeds", "Other designs"], key="lab_tab",
    bind="query-params")      # lazy: only the chosen tab runs
if tab_scatter.open:
    with tab_scatter:
        v.scatters(rep, rows, regime, exclude)
if tab_dose.open:
    with tab_dose:
        v.dose(rep)
if tab_points.open:
    with tab_points:
        v.points(rep, regime)
if tab_designs.open:
    with tab_designs:
        designs.designs_tab()
