"""The shared sidebar: probe network, estimator, batch settings, device, cache status."""
from __future__ import annotations

import streamlit as st

from core.batches import BatchConfig
from core.estimators import DEFAULT_ESTIMATOR, REGISTRY
from core.pipeline import EmbedSettings
from core.probe import DEFAULT_MODEL
from core.store import EmbeddingStore


def settings_sidebar() -> EmbedSettings:
    """Draw the shared sidebar and return the :class:`EmbedSettings` it describes.

    Values persist across pages in ``st.session_state`` (keys ``sb_*``).
    """
    sb = st.sidebar
    sb.header("Probe network")
    model = sb.text_input("Model", value=st.session_state.get("sb_model", DEFAULT_MODEL), key="sb_model",
                          help=f"{DEFAULT_MODEL} is embedded (offline); a Hugging Face id (gpt2) or a local folder also works")
    names = sorted(REGISTRY)
    estimator = sb.selectbox("Task2Vec estimator", names, index=names.index(st.session_state.get("sb_estimator", DEFAULT_ESTIMATOR)),
                             key="sb_estimator")
    d = BatchConfig()
    c1, c2 = sb.columns(2)
    batch_size = c1.number_input("Batch size", 1, 512, d.batch_size, key="sb_batch_size")
    seq_len = c2.number_input("Seq. length", 2, 2048, d.seq_len, key="sb_seq_len")
    num_batches = c1.number_input("Batches", 1, 64, d.num_batches, key="sb_num_batches")
    seed = c2.number_input("Seed", 0, 10 ** 6, d.seed, key="sb_seed")
    device = sb.selectbox("Device", ["auto", "cpu", "cuda"], key="sb_device")
    with sb.expander("Cache"):
        store = EmbeddingStore()
        stats = store.stats()
        st.caption(f"{stats['entries']} entries, {stats['bytes'] / 2 ** 20:.1f} MiB")
        if st.button("Clear embedding cache", key="sb_clear"):
            st.toast(f"Cleared {store.clear()} entries")
    return EmbedSettings(model=model.strip() or DEFAULT_MODEL, estimator=estimator,
                         batch=BatchConfig(batch_size=int(batch_size), seq_len=int(seq_len),
                                           num_batches=int(num_batches), seed=int(seed)), device=device)
