"""Alignment vs perplexity: the alignment paper's central figure from the fine-tune runs (plus familiarity)."""
import streamlit as st

st.set_page_config(page_title="Alignment vs perplexity · AlignScope", page_icon="🔭", layout="wide")

from core import charts  # noqa: E402
from core.finetune import plots, results  # noqa: E402
from ui.export import figure_downloads  # noqa: E402
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
choice = st.selectbox("Runs compared (same target, model and hyperparameters)", range(len(groups)),
                      format_func=lambda i: groups[i]["title"], key="avp_group")
group_key = groups[choice]["group_key"]
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
    base = plots.base_perplexity(rows)
    tab_a, tab_f, tab_t = st.tabs(["Alignment vs perplexity", "Familiarity vs perplexity", "Table"])
    with tab_a:
        fig, fit = plots.alignment_figure_styled(rows, target=target), plots.fit_rows(rows)
        c = st.columns(4)
        c[0].metric("r²", "-" if fit is None else f"{fit.r2:.3f}")
        c[1].metric("slope", "-" if fit is None else f"{fit.slope:.3g}",
                    help="perplexity per unit of alignment")
        c[2].metric("slope 95% CI", "-" if fit is None or not fit.slope_ci else
                    f"[{fit.slope_ci[0]:.3g}, {fit.slope_ci[1]:.3g}]")
        c[3].metric("base-model perplexity", "-" if base is None else f"{base:.3f}")
        if fit is None:
            st.caption("The fit appears once two runs with different alignment are done.")
        st.plotly_chart(fig, theme=None, width="stretch", key="avp_fig")
        figure_downloads(fig, f"alignment-vs-perplexity-{target}", key="avp", size=plots.EXPORT_SIZE)
        skipped = [r["label"] for r in done if r.get("alignment") is None]
        if skipped:
            st.warning(f"Not plotted (no alignment coefficient): {', '.join(skipped)}; see their notes in the table.")
    with tab_f:
        ffig, ffit = plots.familiarity_figure(rows, target=target, base=base)
        st.caption("Familiarity (Ren et al., arXiv 2402.11192): the base model's perplexity on the source before "
                   "training; lower means the model already knows that kind of text. " + plots.fit_text(ffit))
        st.plotly_chart(ffig, theme=None, width="stretch", key="avp_fam_fig")
        figure_downloads(ffig, f"familiarity-vs-perplexity-{target}", key="fam", size=plots.EXPORT_SIZE)
    with tab_t:
        df = results.to_frame(rows)
        st.dataframe(df, hide_index=True, width="stretch")
        st.download_button("⬇ CSV", df.to_csv(index=False).encode(), file_name=f"finetune-runs-{target}.csv",
                           mime="text/csv", key="avp_csv", on_click="ignore")


_view()
