"""The shared sidebar: probe network, estimator, batch settings, device, cache status."""
from __future__ import annotations

import streamlit as st

from core.estimators import REGISTRY
from core.pipeline import EmbedSettings
from core.probe import DEFAULT_MODEL
from core.views import DEVICES, INT_PARAMS
from ui.state import get_view, seed_widget, set_view, sync_url


def settings_sidebar() -> EmbedSettings:
    """Draw the shared sidebar and return the :class:`EmbedSettings` it describes.

    Values persist across pages in the session's view (``ui.state``) and in the URL query
    parameters (``?model=...&num_batches=...``), so a link or a reload reopens the same settings.
    Widget keys are ``sb_*``.
    """
    view = get_view()
    sb = st.sidebar
    sb.header("Probe network")
    names = sorted(REGISTRY)
    seed_widget("sb_model", view.model)
    seed_widget("sb_estimator", view.estimator if view.estimator in names else names[0])
    for name, _, _ in INT_PARAMS:
        seed_widget(f"sb_{name}", int(getattr(view, name)))
    devices = list(DEVICES) if view.device in DEVICES else [*DEVICES, view.device]
    seed_widget("sb_device", view.device)

    model = sb.text_input("Model", key="sb_model",
                          help=f"{DEFAULT_MODEL} is embedded (offline); a Hugging Face id (gpt2) or a local folder also works")
    estimator = sb.selectbox("Task2Vec estimator", names, key="sb_estimator",
                             help="closed_form_head: exact softmax-head FIM, one forward pass per batch (default)")
    bounds = {name: (lo, hi) for name, lo, hi in INT_PARAMS}
    c1, c2 = sb.columns(2)
    batch_size = c1.number_input("Batch size", *bounds["batch_size"], key="sb_batch_size")
    seq_len = c2.number_input("Seq. length", *bounds["seq_len"], key="sb_seq_len")
    num_batches = c1.number_input("Batches", *bounds["num_batches"], key="sb_num_batches",
                                  help="Batches per corpus; 95% CIs need at least 3")
    seed = c2.number_input("Seed", *bounds["seed"], key="sb_seed")
    device = sb.selectbox("Device", devices, key="sb_device")
    with sb.expander("Cache"):
        from core.store import EmbeddingStore

        store = EmbeddingStore()
        stats = store.stats()
        st.caption(f"{stats['entries']} entries, {stats['bytes'] / 2 ** 20:.1f} MiB in `{stats['directory']}`")
        if st.button("Clear embedding cache", key="sb_clear", help="Deletes every cached batch embedding"):
            st.toast(f"Cleared {store.clear()} entries")
            st.cache_data.clear()

    changes = {"model": model.strip() or DEFAULT_MODEL, "estimator": estimator, "batch_size": int(batch_size),
               "seq_len": int(seq_len), "num_batches": int(num_batches), "seed": int(seed), "device": device}
    if any(getattr(view, k) != v for k, v in changes.items()):
        view = set_view(**changes)
    else:
        sync_url(view)
    return view.settings()
