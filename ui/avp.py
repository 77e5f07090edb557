"""The Alignment vs perplexity page's logic (app_pages/6_Alignment_vs_perplexity.py calls :func:`page`):
the group selector (live runs of the results database, and the committed lab's regimes from
``docs/results/validation.json``, :func:`core.validation.committed.plot_groups`), then three tabs: the
fit of perplexity after fine-tuning on alignment, familiarity against perplexity, and the runs table.

The chosen group (``avp_group``) and tab (``avp_tab``) are in the URL; only the chosen tab's content
runs (Streamlit's lazy tabs). A committed-lab group is labelled as such and never merged with live runs.
"""
from __future__ import annotations

import streamlit as st

from core.finetune import plots, results
from core.validation.committed import LabGroup, PlotGroup, find_group, plot_groups
from core.views import md_escape
from ui.export import figure_downloads

TABS = ("Alignment vs perplexity", "Familiarity vs perplexity", "Table")
LAB_POINTS = "committed lab: mean over seeds"


def page() -> None:
    """Everything below the page's title and introduction: the group selector and the chosen group's
    tabs; with neither live runs nor a readable committed lab, how to get runs."""
    from ui.state import get_view

    groups, note = plot_groups(get_view().target)
    if note:
        st.warning(md_escape(note))
    if not groups:
        st.info("No fine-tune runs yet: launch the experiment preset on the Fine-tune page.")
        st.page_link("app_pages/5_Fine-tune.py", label="Go to Fine-tune", icon=":material/model_training:")
        return
    titles = {g.key: g.title for g in groups}
    key = st.selectbox("Runs compared (same target, model and hyperparameters)", list(titles),
                       format_func=titles.get, key="avp_group", bind="query-params")
    group = find_group(groups, key) or groups[0]
    if group.lab is not None:
        lab_view(group.lab)
    else:
        live_view(group)


def lab_view(lab: LabGroup) -> None:
    """A committed-lab group: its label, what the points and bars are, the tabs."""
    st.info(md_escape(f"Showing the {lab.label} (no live run is needed). Live runs appear as their own groups "
                      "in the selector above."), icon=":material/science:")
    st.caption(md_escape(lab.caption))
    if lab.skipped:
        st.caption(md_escape("Not plotted: " + "; ".join(f"{s} ({why})" for s, why in lab.skipped)))
    tabs(list(lab.rows), target=lab.target, lab=lab)


def live_view(group: PlotGroup) -> None:
    """A group of live runs, refreshed every 5 s while some of them are queued or running."""
    @st.fragment(run_every=5 if group.live else None)
    def _view():
        rows = group.rows()
        target = rows[0]["target"] if rows else group.target
        done = [r for r in rows if r["status"] == "done"]
        pending = [r for r in rows if r["status"] in ("queued", "running")]
        if pending:
            st.info(f"{len(done)} of {len(rows)} runs done; the plot fills in as the others finish "
                    f"(running: {', '.join(r['label'] for r in pending if r['status'] == 'running') or 'none yet'}).")
        tabs(rows, target=target)

    _view()


def tabs(rows: list[dict], *, target: str, lab: LabGroup | None = None) -> None:
    """Draw the three tabs for ``rows`` (one group: same target, model and hyperparameters; the
    points of ``lab`` when given)."""
    tab_a, tab_f, tab_t = st.tabs(list(TABS), key="avp_tab", bind="query-params")
    base = plots.base_perplexity(rows)
    if tab_a.open:
        with tab_a:
            _alignment(rows, target=target, base=base, lab=lab)
    if tab_f.open:
        with tab_f:
            _familiarity(rows, target=target, base=base, lab=lab)
    if tab_t.open:
        with tab_t:
            _table(rows, target=target, lab=lab)


def _alignment(rows: list[dict], *, target: str, base: float | None, lab: LabGroup | None = None) -> None:
    if lab is not None:
        fig = plots.alignment_figure_styled(rows, target=target, provenance=lab.label, points_name=LAB_POINTS)
    else:
        fig = plots.alignment_figure_styled(rows, target=target)
    fit = plots.fit_rows(rows)
    c = st.columns(4)
    c[0].metric("r²", "-" if fit is None else f"{fit.r2:.3f}")
    c[1].metric("slope", "-" if fit is None else f"{fit.slope:.3g}", help="perplexity per unit of alignment")
    c[2].metric("slope 95% CI", "-" if fit is None or not fit.slope_ci else
                f"[{fit.slope_ci[0]:.3g}, {fit.slope_ci[1]:.3g}]")
    c[3].metric("base-model perplexity", "-" if base is None else f"{base:.3f}")
    if fit is None:
        st.caption("The fit appears once two runs with different alignment are done.")
    st.plotly_chart(fig, theme=None, width="stretch", key="avp_fig")
    name = f"alignment-vs-perplexity-{target}" + (f"-lab-{lab.regime}" if lab is not None else "")
    figure_downloads(fig, name, key="avp", size=plots.EXPORT_SIZE)
    skipped = [r["label"] for r in rows if r["status"] == "done" and r.get("alignment") is None]
    if skipped:
        st.warning(f"Not plotted (no alignment coefficient): {', '.join(skipped)}; see their notes in the table.")


def _familiarity(rows: list[dict], *, target: str, base: float | None, lab: LabGroup | None = None) -> None:
    ffig, ffit = plots.familiarity_figure(rows, target=target, base=base,
                                          points_name=LAB_POINTS if lab is not None else "fine-tuned runs")
    st.caption("Familiarity (Ren et al., arXiv 2402.11192): the base model's perplexity on the source before "
               "training; lower means the model already knows that kind of text. " + plots.fit_text(ffit)
               + (f" · {lab.label}" if lab is not None else ""))
    st.plotly_chart(ffig, theme=None, width="stretch", key="avp_fam_fig")
    figure_downloads(ffig, f"familiarity-vs-perplexity-{target}", key="fam", size=plots.EXPORT_SIZE)


#: Columns of the committed lab's table (one row per source).
LAB_COLUMNS = ("label", "derived", "alignment", "align_ci_low", "align_ci_high", "ppl_after", "ppl_low", "ppl_high",
               "n_seeds", "seeds", "n_failed", "ppl_before", "familiarity")


def _table(rows: list[dict], *, target: str, lab: LabGroup | None = None) -> None:
    if lab is not None:
        import pandas as pd

        df = pd.DataFrame([{k: r.get(k) for k in LAB_COLUMNS} for r in rows], columns=list(LAB_COLUMNS))
        df = df.rename(columns={"label": "source", "derived": "derived from target", "ppl_after": "ppl after (mean)",
                                "ppl_low": "ppl min over seeds", "ppl_high": "ppl max over seeds"})
        name = f"lab-{lab.regime}-points-{target}.csv"
    else:
        df = results.to_frame(rows)
        name = f"finetune-runs-{target}.csv"
    st.dataframe(df, hide_index=True, width="stretch")
    st.download_button("⬇ CSV", df.to_csv(index=False).encode(), file_name=name,
                       mime="text/csv", key="avp_csv", on_click="ignore")
