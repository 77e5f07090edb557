"""The dashboard's view (target, candidates, settings, order, job) in session state and the URL.

The canonical view is a :class:`core.views.ViewState` in ``st.session_state["view"]``; it is read
from the URL query parameters once per browser session (so a shared link or a reload reopens the
same view) and written back to the URL after every change (only the view's own parameters are
touched, so other pages may keep theirs). Widgets are seeded from the view when their key is absent,
never through ``value=``, so pages can share widget keys without Streamlit warnings.
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.views import ViewState, md_escape, params_diff, view_from_params, view_to_params

VIEW_KEY = "view"


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def _catalog(key: tuple) -> list[dict]:
    from core.corpora import list_corpora

    out = []
    for c in list_corpora():
        try:
            avail = c.available()
            docs = c.document_count() if avail else None
        except Exception:  # an unreadable corpus must not break the listing
            avail, docs = False, None
        out.append({**c.spec.to_dict(), "available": avail, "documents": docs,
                    "install_hint": None if avail else c.install_hint()})
    return out


def corpus_catalog() -> list[dict]:
    """Every registered corpus as a dict (spec fields, ``available``, ``install_hint``, ``documents``).

    Memoised per cache root and registry file version (a corpus registered from the CLI shows up at
    once) and for at most 60 s (availability of demo corpora installed meanwhile; an hf corpus'
    availability check may take seconds when offline).
    """
    from core.corpora import registry_path

    path = registry_path()
    try:
        version = path.stat().st_mtime_ns
    except OSError:
        version = 0
    return _catalog((str(path), version))


def refresh_catalog() -> None:
    """Forget the memoised corpus catalogue (after registering or removing a corpus)."""
    _catalog.clear()


def catalog_names(*, available_only: bool = False) -> list[str]:
    """Names of the registered corpora (only the installed ones with ``available_only``)."""
    return [c["name"] for c in corpus_catalog() if c["available"] or not available_only]


def domains() -> dict[str, str]:
    """``corpus name -> domain`` of the catalogue."""
    return {c["name"]: c.get("domain", "") for c in corpus_catalog()}


def get_view() -> ViewState:
    """The session's view, initialised from the URL query parameters on the session's first run."""
    view = st.session_state.get(VIEW_KEY)
    if view is None:
        from core.estimators import REGISTRY

        try:
            params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
        except Exception:
            params = {}
        view = view_from_params(params, known=catalog_names(), available=catalog_names(available_only=True),
                                estimators=REGISTRY)
        st.session_state[VIEW_KEY] = view
    return view


def set_view(**changes) -> ViewState:
    """Update the view (and the URL); returns the new view."""
    view = replace(get_view(), **changes)
    if "target" in changes or "candidates" in changes:
        view = replace(view, candidates=tuple(c for c in view.candidates if c != view.target), job="")
    st.session_state[VIEW_KEY] = view
    sync_url(view)
    return view


def sync_url(view: ViewState | None = None) -> None:
    """Write the view's query parameters into the URL (only those that changed)."""
    view = view or get_view()
    try:
        current = {k: st.query_params.get(k) for k in st.query_params.keys()}
        to_set, to_delete = params_diff(current, view_to_params(view))
        for k in to_delete:
            del st.query_params[k]
        if to_set:
            st.query_params.update(to_set)
    except Exception:  # e.g. bare script runs without a browser session
        pass


def bind(key: str, field: str, *, to_view=None, from_view=None) -> dict:
    """Bind widget ``key`` to view attribute ``field``: the widget shows the view's value (set before
    it is drawn, on every run, so a page switch or a URL change never shows a stale value) and a user
    change updates the view (and the URL) in the widget's ``on_change`` callback.

    Returns:
        ``{"key": key, "on_change": callback}`` to splat into the widget call.
    """
    value = getattr(get_view(), field)
    st.session_state[key] = from_view(value) if from_view else value

    def changed():
        new = st.session_state.get(key)
        set_view(**{field: to_view(new) if to_view else new})

    return {"key": key, "on_change": changed}


def corpus_picker(*, where=None, compact: bool = False) -> ViewState:
    """Target + candidate selectors bound to the view (used by Corpora, Alignment and Ranking).

    Args:
        where: a container to draw in (default: the main area).
        compact: inside a collapsed expander summarising the selection (Alignment/Ranking, so the
            chart sits high on the screen) instead of the Corpora page's open layout. The expander
            is lazy: its selectors are built only while it is open (less to draw on a fresh page).
    """
    view = get_view()
    if compact and where is None:
        n = len(view.candidates)
        md = md_escape
        summary = (f"Target **{md(view.target or '(none)')}** · {n} candidate{'s' if n != 1 else ''}"
                   + (f": {', '.join(md(c) for c in view.candidates[:6])}{', ...' if n > 6 else ''}" if n else "")
                   + " (change)")
        if not view.candidates or not view.target:
            st.session_state["w_picker"] = True               # nothing chosen yet: open
        where = st.expander(summary, key="w_picker", on_change="rerun")
        if not where.open:               # lazy: the selectors are built only when the box is open
            return view
    where = where or st.container()
    names = catalog_names()
    avail = set(catalog_names(available_only=True))
    label = {c["name"]: c["name"] + ("" if c["available"] else " (not installed)") for c in corpus_catalog()}
    if view.target and view.target not in names:
        names = [view.target, *names]
    cols = [where, where]
    target = cols[0].selectbox("Target benchmark", names, format_func=lambda n: label.get(n, n),
                               help="The corpus every candidate is compared with (default proofnet).",
                               **bind("w_target", "target", to_view=lambda v: v or ""))
    options = [n for n in names if n != target]
    cands = cols[1].multiselect("Candidate corpora", options, format_func=lambda n: label.get(n, n),
                                placeholder="choose candidate sources",
                                help="Sources to rank by alignment with the target.",
                                **bind("w_candidates", "candidates", to_view=tuple,
                                       from_view=lambda v: [c for c in v if c in options]))
    missing = [c for c in [target, *cands] if c not in avail]
    if missing:
        where.warning("Not installed: " + md_escape(", ".join(missing)) + ". See the Corpora page for the install command.")
    return get_view()


#: View fields whose change gives new embedding cache keys (the embeddings must be recomputed).
EMBED_FIELDS = ("model", "estimator", "batch_size", "seq_len", "num_batches", "seed", "precision")
PENDING_KEY = "sb_pending"


def bind_guarded(key: str, field: str, *, to_view=None, from_view=None) -> dict:
    """Like :func:`bind`, but a change of an embedding setting (:data:`EMBED_FIELDS`) is not applied at
    once: it is kept as pending (``st.session_state["sb_pending"]``; the widget shows the pending value
    while the view keeps the current one), so that :func:`ui.sidebar.pending_change` can first say
    what it invalidates and offer to keep the current view."""
    value = getattr(get_view(), field)
    pending = st.session_state.get(PENDING_KEY) or {}
    shown = pending.get(field, value)
    st.session_state[key] = from_view(shown) if from_view else shown

    def changed():
        new = st.session_state.get(key)
        new = to_view(new) if to_view else new
        if new == getattr(get_view(), field):
            (st.session_state.get(PENDING_KEY) or {}).pop(field, None)
            return
        st.session_state.setdefault(PENDING_KEY, {})[field] = new

    return {"key": key, "on_change": changed}
