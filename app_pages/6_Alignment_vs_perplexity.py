"""Alignment vs perplexity: the alignment paper's central figure from the fine-tune runs (plus familiarity)."""
import streamlit as st

st.set_page_config(page_title="Alignment vs perplexity · AlignScope", page_icon="🔭", layout="wide")

from core.finetune import results  # noqa: E402
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

all_rows = results.list_runs()
if not all_rows:
    st.info("No fine-tune runs yet: launch the experiment preset on the Fine-tune page.")
    st.page_link("app_pages/5_Fine-tune.py", label="Go to Fine-tune", icon=":material/model_training:")
    st.stop()
groups = results.groups(all_rows)
titles = {g["group_key"]: g["title"] for g in groups}
group_key = st.selectbox("Runs compared (same target, model and hyperparameters)", list(titles),
                         format_func=titles.get, key="avp_group", bind="query-params")
live = any(r["status"] in ("queued", "running") for r in all_rows if r.get("group_key") == group_key)


@st.fragment(run_every=5 if live else None)
def _view():
    rows = results.list_runs(group_key=group_key)
    target = rows[0]["target"] if rows else ""
    done = [r for r in rows if r["status"] == "done"]
    pending = [r for r in rows if r["status"] in ("queued", "running")]
    if pending:
        st.info(f"{len(done)} of {len(rows)} runs done; the plot fills in as the others finish "
                f"(running: {', '.join(r['label'] for r in pending if r['status'] == 'running') or 'none yet'}).")
    avp.tabs(rows, target=target)


_view()
