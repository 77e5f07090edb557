"""The Ranking page's sections: the ranking chart with its drill-down (a fragment: a click on a bar
reruns only this section), and the ranked candidates as a table (streamlit)."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.settings import EmbedSettings
from ui.export import table_download

#: Columns shown to 3 decimals: row key -> header.
_DECIMALS = {"ci_low": "95% CI low", "ci_high": "95% CI high", "diversity": "diversity"}


PREDICTED_HELP = ("Held-out perplexity the validation lab predicts after a 4k-token fine-tune on this source, with a "
                  "leave-one-source-out conformal interval (python -m core predict), from the metric the lab ranks first "
                  "(without target-derived sources); a lab source is left out of its own fit. Empty: the metric is not "
                  "cached for it yet (python -m core metrics score) or there are no lab results for this target.")


@st.cache_data(show_spinner=False, ttl=600)
def predictions(sources: tuple[str, ...], target: str) -> dict[str, str]:
    """``{source: cell}`` of the "predicted after fine-tuning" column (cached metric values only)."""
    from core.validation.predict_cli import prediction_cell, ranking_predictions

    return {s: prediction_cell(p) for s, p in ranking_predictions(list(sources), target=target).items()}


def table_height(n_rows: int, *, row_px: int = 35) -> int:
    """Pixel height of a ``st.dataframe`` showing all ``n_rows`` rows and its header (no inner scroll)."""
    return (n_rows + 1) * row_px + 3


def ranking_table(rows: list[dict], *, target: str) -> None:
    """The ranking (``core.views.ranking_rows``) as a table: alignment as a bar on [0, 1], the 95% CI and
    the diversity coefficient to 3 decimals, size in tokens and batches; with its CSV download."""
    cc = st.column_config
    df = pd.DataFrame(rows)
    order = [c for c in ("ranks", "source", "domain", "alignment", "ci_low", "ci_high", "diversity", "predicted",
                         "tokens", "batches") if c in df]
    st.dataframe(df, width="stretch", hide_index=True, placeholder="", column_order=order,
                 height=table_height(len(df)), column_config={
        "rank": cc.NumberColumn("rank", width="small"),
        "ranks": cc.TextColumn("rank", width="small", help="Sources whose alignments are not significantly different "
                               "(paired delete-one-batch jackknife, 5%) share a rank range, e.g. 2–3"),
        "alignment": cc.ProgressColumn("alignment", format="%.3f", min_value=0.0, max_value=1.0),
        **{key: cc.NumberColumn(header, format="%.3f") for key, header in _DECIMALS.items()},
        "tokens": cc.NumberColumn("tokens", format="localized",
                                  help="Whole corpus, default probe tokenizer (count on the Corpora page)"),
        "batches": cc.TextColumn("batches", help="batches of candidate x target"),
        "predicted": cc.TextColumn("predicted after fine-tuning", help=PREDICTED_HELP),
    })
    table_download(df, f"ranking-{target}", key="ranking")


@st.fragment
def ranking_section(ready: dict, settings: EmbedSettings, *, target: str) -> None:
    """The ranking of the candidates in ``ready`` (name -> :class:`ui.data.CorpusStatus`, all cached)
    against ``target``: the bar chart with 95% CIs and tie groups (click a bar: its drill-down), the
    target's diversity, the table."""
    from core import charts
    from core.coefficients import rank_sources, tie_groups
    from core.views import md_escape, ranking_rows, settings_caption
    from ui import drill
    from ui.data import alignment_matrix, cached_token_counts
    from ui.export import figure_downloads, show_figure
    from ui.state import domains
    from ui.validation import verdict_caption

    t0 = time.perf_counter()
    matrix, _ = alignment_matrix(ready)
    ranking = rank_sources(matrix, target)
    rows = ranking_rows(ranking, tokens=cached_token_counts(list(ready)), domains=domains(),
                        groups=tie_groups(matrix, target, ranking))
    cells = predictions(tuple(r["source"] for r in rows), target)
    for r in rows:
        r["predicted"] = cells.get(r["source"], "")
    caption = settings_caption(settings)
    fig = charts.ranking_figure(rows, target=target, subtitle=caption)
    drill.remember(drill.pair_from_event(show_figure(fig, key="ranking", select=True), target=target))
    figure_downloads(fig, f"ranking-{target}", key="ranking")
    verdict_caption(target=target)
    drill.drill_down(matrix, settings, names=list(ready), key="rank")

    tdiv = matrix.diversity[target]
    st.caption(f"Target {md_escape(target)}: diversity coefficient {tdiv.value:.3f}"
               + (f" (95% CI {tdiv.ci_low:.3f}-{tdiv.ci_high:.3f})" if tdiv.ci_low == tdiv.ci_low else "")
               + f", {len(rows)} candidates.")
    ranking_table(rows, target=target)
    st.caption(f"{md_escape(caption)}. Alignment = 1 - mean Task2Vec distance over all batch pairs; 95% CI by "
               f"delete-one-batch jackknife. Section {time.perf_counter() - t0:.2f} s (server).")
