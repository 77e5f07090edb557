"""Drill-down (Alignment and Ranking pages): click a heatmap cell or a ranking bar to see the batch
pairs behind the number: their Task2Vec distances as a histogram, the source batches closest to and
farthest from the target, and sample windows of each as plain text (escaped, never rendered).

The chosen pair is kept in the URL (``?pair=source,target``), so a link reopens it. Reads the cache
only (distances from the alignment matrix, token windows from the cached batches).
"""
from __future__ import annotations

import html
import re

import streamlit as st

from core import charts
from core.views import md_escape, pair_drilldown, split_names, window_text

PARAM = "pair"
_TAGS = re.compile(r"<[^>]+>")


def _label(text) -> str:
    return html.unescape(_TAGS.sub("", str(text))).strip()


def pair_from_event(event, *, target: str | None = None) -> tuple[str, str] | None:
    """``(source, target)`` of a plotly selection event: a heatmap cell (row = source, column = target)
    or, with ``target`` given, a ranking bar (its label is the source)."""
    try:
        points = event.selection.points if hasattr(event, "selection") else event["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        return None
    if not points:
        return None
    p = points[0]
    get = p.get if isinstance(p, dict) else (lambda k, d=None: getattr(p, k, d))
    y, x = get("y"), get("x")
    if target is not None:
        return (_label(y), target) if y is not None else None
    return (_label(y), _label(x)) if x is not None and y is not None else None


def remember(pair: tuple[str, str] | None) -> None:
    """Keep the chosen pair in the session and the URL (``None`` leaves them as they are)."""
    if pair:
        st.session_state["drill_pair"] = pair
        st.query_params[PARAM] = ",".join(pair)


def current_pair(names: list[str]) -> tuple[str, str] | None:
    """The chosen pair (session, else URL), if both corpora are in ``names``."""
    pair = st.session_state.get("drill_pair")
    if not pair:
        got = split_names(st.query_params.get(PARAM))
        pair = tuple(got[:2]) if len(got) == 2 else (got[0], got[0]) if len(got) == 1 else None
    if pair and all(n in names for n in pair):
        return tuple(pair)
    return None


def _windows(name: str, settings, rows: list[int], *, per_batch: int = 2) -> dict[int, list[str]]:
    from core.pipeline import cached_embeddings

    look = cached_embeddings(name, settings, draw=False, progress=False)
    tok = look.probe.tokenizer
    out = {}
    for r in rows:
        if r < len(look.batches):
            b = look.batches[r]
            out[r] = [window_text(tok, b.input_ids[k], b.attention_mask[k]) for k in range(min(per_batch, len(b.input_ids)))]
    return out


def drill_down(matrix, settings, *, names: list[str], key: str) -> None:
    """The drill-down panel of the chosen pair (nothing when no pair is chosen)."""
    pair = current_pair(names)
    if pair is None:
        st.caption("Click a cell (or a bar) to see the batch pairs behind it.")
        return
    source, target = pair
    d = pair_drilldown(matrix, source, target)
    with st.container(border=True, key=f"{key}_drill"):
        st.markdown(f"**Behind {'the diversity of' if d['kind'] == 'diversity' else 'the alignment of'} "
                    f"{md_escape(source)}" + ("" if d["kind"] == "diversity" else f" with {md_escape(target)}") + "**")
        st.plotly_chart(charts.distance_histogram_figure(d, source=source, target=target), theme=None,
                        width="stretch", key=f"{key}_drill_hist")
        st.caption(f"Mean distance of each {md_escape(source)} batch to the {md_escape(target)} batches: "
                   + ", ".join(f"batch {k}: {v:.3f}" for k, v in enumerate(d["batch_mean"])))
        rows = list(dict.fromkeys(d["closest"] + d["farthest"]))
        texts = _windows(source, settings, rows)
        c1, c2 = st.columns(2)
        for col, label, batch_rows in ((c1, "closest to", d["closest"]), (c2, "farthest from", d["farthest"])):
            with col:
                for r in batch_rows:
                    st.markdown(f"**Batch {r}** of {md_escape(source)} ({label} {md_escape(target)}, mean distance "
                                f"{d['batch_mean'][r]:.3f})")
                    for w in texts.get(r, []):
                        st.text(w)


@st.cache_data(max_entries=8, show_spinner=False)
def _map(key: tuple, _matrix) -> dict:
    from core.views import embedding_map

    return embedding_map(_matrix)


def _spinner_text(n: int) -> str:
    """What the wait is for: UMAP's first layout in a server process compiles its numba code."""
    import sys

    from core.views import UMAP_MAX_POINTS, UMAP_MIN_POINTS

    if UMAP_MIN_POINTS <= n <= UMAP_MAX_POINTS and "umap" not in sys.modules:
        return ("Laying out the embedding map with UMAP (its first map in this server compiles numba code: "
                "about 5-10 s once, then well under a second)...")
    return "Laying out the embedding map..."


def embedding_map_section(matrix, *, target: str, subtitle: str = "") -> None:
    """The 2-D map of every batch embedding, coloured by corpus, the target highlighted; says which
    method drew it (UMAP when umap-learn is installed and there are enough batches, else PCA:
    classical MDS of the distances) and why. Memoised per server by the matrix's content."""
    from core.fingerprint import array_digest

    with st.spinner(_spinner_text(len(matrix.distances))):
        emap = _map((tuple(matrix.names), array_digest(matrix.distances)), matrix)
    st.plotly_chart(charts.embedding_map_figure(emap, target=target, subtitle=subtitle), theme=None,
                    width="stretch", key="emb_map")
    st.caption(f"Method: {md_escape(emap['note'])}. Each point is one batch; nearby points have a small Task2Vec "
               "distance. Hover for the corpus and batch.")
