"""The Ranking page's sections: the ranked candidates as a table (streamlit)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.export import table_download

#: Columns shown to 3 decimals: row key -> header.
_DECIMALS = {"ci_low": "95% CI low", "ci_high": "95% CI high", "diversity": "diversity"}


def table_height(n_rows: int, *, row_px: int = 35) -> int:
    """Pixel height of a ``st.dataframe`` showing all ``n_rows`` rows and its header (no inner scroll)."""
    return (n_rows + 1) * row_px + 3


def ranking_table(rows: list[dict], *, target: str) -> None:
    """The ranking (``core.views.ranking_rows``) as a table: alignment as a bar on [0, 1], the 95% CI and
    the diversity coefficient to 3 decimals, size in tokens and batches; with its CSV download."""
    cc = st.column_config
    df = pd.DataFrame(rows)
    order = [c for c in ("ranks", "source", "domain", "alignment", "ci_low", "ci_high", "diversity", "tokens", "batches")
             if c in df]
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
    })
    table_download(df, f"ranking-{target}", key="ranking")
