"""The Alignment vs perplexity page's tabs (app_pages/6_Alignment_vs_perplexity.py lists them): the fit of
perplexity after fine-tuning on alignment, familiarity against perplexity, and the runs table.

The chosen tab is in the URL (``avp_tab``) and only its content runs (Streamlit's lazy tabs).
"""
from __future__ import annotations

import streamlit as st

from core.finetune import plots, results
from ui.export import figure_downloads

TABS = ("Alignment vs perplexity", "Familiarity vs perplexity", "Table")


def tabs(rows: list[dict], *, target: str) -> None:
    """Draw the three tabs for the runs ``rows`` (one group: same target, model and hyperparameters)."""
    tab_a, tab_f, tab_t = st.tabs(list(TABS), key="avp_tab", bind="query-params")
    base = plots.base_perplexity(rows)
    if tab_a.open:
        with tab_a:
            _alignment(rows, target=target, base=base)
    if tab_f.open:
        with tab_f:
            _familiarity(rows, target=target, base=base)
    if tab_t.open:
        with tab_t:
            _table(rows, target=target)


def _alignment(rows: list[dict], *, target: str, base: float | None) -> None:
    fig, fit = plots.alignment_figure_styled(rows, target=target), plots.fit_rows(rows)
    c = st.columns(4)
    c[0].metric("r²", "-" if fit is None else f"{fit.r2:.3f}")
    c[1].metric("slope", "-" if fit is None else f"{fit.slope:.3g}", help="perplexity per unit of alignment")
    c[2].metric("slope 95% CI", "-" if fit is None or not fit.slope_ci else
                f"[{fit.slope_ci[0]:.3g}, {fit.slope_ci[1]:.3g}]")
    c[3].metric("base-model perplexity", "-" if base is None else f"{base:.3f}")
    if fit is None:
        st.caption("The fit appears once two runs with different alignment are done.")
    st.plotly_chart(fig, theme=None, width="stretch", key="avp_fig")
    figure_downloads(fig, f"alignment-vs-perplexity-{target}", key="avp", size=plots.EXPORT_SIZE)
    skipped = [r["label"] for r in rows if r["status"] == "done" and r.get("alignment") is None]
    if skipped:
        st.warning(f"Not plotted (no alignment coefficient): {', '.join(skipped)}; see their notes in the table.")


def _familiarity(rows: list[dict], *, target: str, base: float | None) -> None:
    ffig, ffit = plots.familiarity_figure(rows, target=target, base=base)
    st.caption("Familiarity (Ren et al., arXiv 2402.11192): the base model's perplexity on the source before "
               "training; lower means the model already knows that kind of text. " + plots.fit_text(ffit))
    st.plotly_chart(ffig, theme=None, width="stretch", key="avp_fam_fig")
    figure_downloads(ffig, f"familiarity-vs-perplexity-{target}", key="fam", size=plots.EXPORT_SIZE)


def _table(rows: list[dict], *, target: str) -> None:
    df = results.to_frame(rows)
    st.dataframe(df, hide_index=True, width="stretch")
    st.download_button("⬇ CSV", df.to_csv(index=False).encode(), file_name=f"finetune-runs-{target}.csv",
                       mime="text/csv", key="avp_csv", on_click="ignore")
