"""The shared sidebar: probe network, estimator, batch settings, device, precision, execution engine, cache status."""
from __future__ import annotations

import streamlit as st

from core.estimators import REGISTRY
from core.settings import EmbedSettings
from core.precision import PRECISIONS
from core.probe import DEFAULT_MODEL
from core.views import DEVICES, INT_PARAMS, md_escape
from ui.state import PENDING_KEY, bind, bind_guarded, get_view, set_view, sync_url


#: Small layout tweaks for a projector: less empty space above the title, larger tab labels.
STYLE = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; }
[data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
button[data-baseweb="tab"] p { font-size: 1.05rem; }
</style>"""


def settings_sidebar() -> EmbedSettings:
    """Draw the shared sidebar and return the :class:`EmbedSettings` it describes.

    Values persist across pages in the session's view (``ui.state``) and in the URL query
    parameters (``?model=...&num_batches=...``), so a link or a reload reopens the same settings.
    Widget keys are ``sb_*``.
    """
    view = get_view()
    if view.present:                     # presenter mode (ui.present): no sidebar, no controls
        from ui.present import style

        style()
        return view.settings()
    st.html(STYLE)
    sb = st.sidebar
    sb.toggle("Presenter mode", help="For a projector: one chart per screen, high contrast, no controls; ← → or a "
              "clicker change page, Esc leaves (kept in the URL as present=1)", **bind("sb_present", "present"))
    sb.header("Probe network")
    b = view.settings().batch
    summary = (f"**{md_escape(view.model)}** · {view.estimator} · {b.num_batches} × {b.batch_size} × {b.seq_len} tokens · "
               f"seed {b.seed} · {view.device} · {view.precision}")
    if st.session_state.get(PENDING_KEY):
        st.session_state["sb_settings"] = True           # a pending change is shown (and decided) inside
    settings_box = sb.expander(summary, key="sb_settings", on_change="rerun")
    if settings_box.open:                # lazy: the widgets are built only when the box is open
        _settings_widgets(settings_box, view)
    pending_change(sb)
    _deck_control(sb)
    _engine_settings(sb)
    cache = sb.expander("Cache", key="sb_cache", on_change="rerun")      # lazy: the store is read only when open
    if cache.open:
        with cache:
            from core.store import EmbeddingStore

            store = EmbeddingStore()
            stats = store.stats()
            st.caption(f"{stats['entries']} entries, {stats['bytes'] / 2 ** 20:.1f} MiB in `{stats['directory']}`")
            _clear_cache_button(store, stats)

    view = get_view()
    sync_url(view)
    return view.settings()


def _settings_widgets(sb, view) -> None:
    """The probe network, estimator, batch, device and precision widgets, bound to the view."""
    names = sorted(REGISTRY)
    devices = list(DEVICES) if view.device in DEVICES else [*DEVICES, view.device]
    sb.text_input("Model", help=f"{DEFAULT_MODEL} is embedded (offline); a Hugging Face id (gpt2) or a local folder "
                                "also works", **bind_guarded("sb_model", "model", to_view=lambda v: (v or "").strip() or DEFAULT_MODEL))
    sb.selectbox("Task2Vec estimator", names,
                 help="closed_form_head: exact softmax-head FIM, one forward pass per batch (default)",
                 **bind_guarded("sb_estimator", "estimator"))
    bounds = {name: (lo, hi) for name, lo, hi in INT_PARAMS}
    labels = {"batch_size": ("Batch size", None), "seq_len": ("Seq. length", None),
              "num_batches": ("Batches", "Batches per corpus; 95% CIs need at least 3"), "seed": ("Seed", None)}
    cols = sb.columns(2)
    for k, (name, _, _) in enumerate(INT_PARAMS):
        label, help_ = labels[name]
        cols[k % 2].number_input(label, *bounds[name], step=1, help=help_,
                                 **bind_guarded(f"sb_{name}", name, to_view=int, from_view=int))
    sb.selectbox("Device", devices, **bind("sb_device", "device"))
    sb.selectbox("Precision", PRECISIONS, **bind_guarded("sb_precision", "precision"),
                 help="Forward-pass precision: auto uses bf16 where the device runs it natively, else fp32; "
                      "results record the precision actually used")


def _apply_pending() -> None:
    set_view(**st.session_state.pop(PENDING_KEY, {}))


def _keep_view() -> None:
    st.session_state.pop(PENDING_KEY, None)


def pending_change(where) -> None:
    """A pending change of an embedding setting (:func:`ui.state.bind_guarded`): applied at once when
    every corpus of the view is cached under the new settings; otherwise say which corpora would need
    embeddings (and about how long, measured on this machine) and offer "Apply" or "Keep the current view"."""
    pending = st.session_state.get(PENDING_KEY) or {}
    if not pending:
        return
    from dataclasses import replace

    from core.throughput import estimate
    from core.views import md_escape
    from ui.data import statuses

    view = get_view()
    new = replace(view, **pending).settings()
    status = statuses(view.corpora(), new)
    lacking = [n for n, s in status.items() if not s.ready]
    if not lacking:
        _apply_pending()
        st.rerun()
    batches = sum(s.missing or new.batch.num_batches for n, s in status.items() if n in lacking)
    what = ", ".join(f"{k} → {v}" for k, v in pending.items())
    with where.container(border=True):
        st.warning(f"**{md_escape(what)}** changes the embeddings: {len(lacking)} of {len(status)} corpora have none "
                   f"with it yet ({md_escape(', '.join(lacking))}; {batches} batches, "
                   f"{estimate(new, batches).text()} to compute). The heatmap and ranking would wait for them.")
        c1, c2 = st.columns(2)
        c1.button("Apply", key="sb_apply", type="primary", on_click=_apply_pending, width="stretch")
        c2.button("Keep current view", key="sb_keep", on_click=_keep_view, width="stretch")


def _deck_control(sb) -> None:
    """"Add this view to a deck" (:func:`ui.deck.deck_control`) for the page calling :func:`settings_sidebar`."""
    import sys

    from ui.deck import deck_control, page_of

    frame = sys._getframe(2)                 # settings_sidebar's caller: the page script (or ui/home.py)
    deck_control(sb, page=page_of(frame.f_code.co_filename))


#: The dashboard's words for the engine options in error messages (core.errors.opt placeholders).
ENGINE_WIDGETS = {"engine": "Execution engine", "ray_address": "Ray address", "ray_actors": "Ray actors"}


def _engine_settings(sb) -> None:
    """"Execution engine" (local | ray) and "Ray address": where the dashboard's jobs compute
    (:mod:`core.engine`). Not part of the view or the URL: an execution knob that never changes a
    result or a cache key. The choice is exported to the environment, so job workers started from
    now on use it; a Ray address is checked at once (seconds, nothing started)."""
    from core.engine import ENGINES, EngineConfig, EngineError, current_engine, use_engine

    try:
        now = current_engine().config
    except EngineError:
        now = EngineConfig()
    st.session_state.setdefault("sb_engine", now.name)
    st.session_state.setdefault("sb_ray_address", now.address)
    engine = sb.expander("Execution engine", expanded=now.name != "local", key="sb_engine_open", on_change="rerun")
    if not engine.open:                  # lazy: closed, the engine in use stays as it is
        return
    with engine:
        name = st.selectbox("Execution engine", ENGINES.names(), key="sb_engine",
                            help="local: this machine's job workers (default). ray: Ray Data actors for embeddings "
                                 "and Ray tasks for fine-tunes, on the cluster named below. Results and the cache "
                                 "are the same either way.")
        address = "local"
        if name == "ray":
            address = st.text_input("Ray address", key="sb_ray_address",
                                    help="local: an in-process Ray on this machine; auto: the cluster started here "
                                         "with 'ray start --head'; HEAD:6379 or ray://HEAD:10001 for a remote head")
        try:
            config = EngineConfig(name, (address or "").strip() or "local")
            ENGINES.get(config.name)(config).check()
        except EngineError as exc:
            st.error(exc.render("ui", ENGINE_WIDGETS))
            return
        if config != now:
            use_engine(config, connect=False)      # job workers started from now on inherit it
        if name == "ray":
            st.caption(f"Jobs compute on Ray at `{config.address}`; the cache stays on this machine.")


def _clear_cache_button(store, stats: dict) -> None:
    """"Clear embedding cache" in two steps: the button asks, "Yes, delete" clears, "Cancel" backs out.

    Clearing removes every entry and orphaned value file of the embedding store only (never
    registered corpora, mixtures or results)."""
    if "sb_cleared" in st.session_state:
        st.toast(f"Cleared {st.session_state.pop('sb_cleared')} entries")
    if not st.session_state.get("sb_clear_confirm"):
        if st.button("Clear embedding cache", key="sb_clear", help="Deletes every cached batch embedding "
                     "(asks first)"):
            st.session_state["sb_clear_confirm"] = True
            st.rerun()
        return
    st.warning(f"Delete all {stats['entries']} cached entries ({stats['bytes'] / 2 ** 20:.1f} MiB)? Every "
               "embedding will be recomputed when next needed. Corpora, mixtures and results are kept.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete", key="sb_clear_yes", type="primary"):
        st.session_state["sb_clear_confirm"] = False
        st.session_state["sb_cleared"] = store.clear()
        st.cache_data.clear()
        st.rerun()
    if no.button("Cancel", key="sb_clear_no"):
        st.session_state["sb_clear_confirm"] = False
        st.rerun()
