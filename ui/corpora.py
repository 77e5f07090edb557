"""Widgets of the Corpora page: registry table, token-count job, add-a-corpus forms, plain-text preview."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AlignScopeError
from core.jobs import get_job, job_id_for, submit
from core.views import corpus_rows
from ui.data import cached_token_counts
from ui.export import table_download
from ui.jobs import job_panel
from ui.state import corpus_catalog, get_view, refresh_catalog, set_view


def registry_table() -> None:
    """The registry as a table, with a button that counts missing token counts in the background."""
    from core.probe import DEFAULT_MODEL
    from ui.tasks import STATS_KIND

    view = get_view()
    catalog = corpus_catalog()
    installed = [c["name"] for c in catalog if c["available"]]
    tokens = cached_token_counts(installed)
    df = pd.DataFrame(corpus_rows(catalog, tokens=tokens, target=view.target, candidates=view.candidates))
    st.dataframe(df, width="stretch", hide_index=True, column_config={
        "corpus": st.column_config.TextColumn("corpus", pinned=True),
        "role": st.column_config.TextColumn("role", width="small"),
        "installed": st.column_config.CheckboxColumn("installed", width="small"),
        "documents": st.column_config.NumberColumn("documents", format="localized"),
        "tokens": st.column_config.NumberColumn("tokens", format="localized",
                                                help="All documents, default probe tokenizer; empty: not counted yet"),
        "source": st.column_config.TextColumn("source", width="large"),
        "install": st.column_config.TextColumn("install command", help="Run it in the repository to install"),
    })
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    with c1:
        table_download(df, "corpora", key="corpora")
    uncounted = [n for n in installed if tokens.get(n) is None]
    job_id = st.session_state.get("stats_job")
    if uncounted:
        if c2.button(f"Count tokens of {len(uncounted)} corpora (background job)", key="count_tokens"):
            params = {"corpora": uncounted, "model": DEFAULT_MODEL}
            job = submit(STATS_KIND, params, restart=get_job(job_id_for(STATS_KIND, params)) is not None)
            st.session_state["stats_job"] = job.job_id
            st.session_state.get("_job_final_seen", {}).pop(job.job_id, None)
            st.rerun()
    if job_id:
        job_panel(job_id, key="stats", title="Token counts")


def _register(spec_kwargs: dict) -> None:
    from core.corpora import CorpusSpec, register_corpus

    try:
        spec_kwargs = {k: (v.strip() if isinstance(v, str) else v) for k, v in spec_kwargs.items()}
        spec_kwargs = {k: (None if v == "" and k in ("field", "template", "hf_config", "split", "path", "hf_id")
                           else v) for k, v in spec_kwargs.items()}
        with st.spinner(f"Reading {spec_kwargs.get('path') or spec_kwargs.get('hf_id')}..."):
            corpus = register_corpus(CorpusSpec(**spec_kwargs))
    except AlignScopeError as exc:
        st.error(f"Could not add corpus {spec_kwargs.get('name')!r}: {exc}", icon="⚠️")
        return
    except TypeError as exc:  # unexpected field combination
        st.error(f"Could not add corpus: {exc}", icon="⚠️")
        return
    refresh_catalog()
    docs = corpus.documents()
    view = get_view()
    if corpus.name != view.target and corpus.name not in view.candidates:
        set_view(candidates=(*view.candidates, corpus.name))
        st.session_state.pop("w_candidates", None)
    st.success(f"Registered {corpus.name!r}: {len(docs)} documents; added to the candidates.")
    for w in corpus.warnings[:5]:
        st.warning(w)


def add_corpus_forms() -> None:
    """Forms registering a corpus from local files or a Hugging Face dataset."""
    from core.corpora import DOMAINS

    domains = [d for d in DOMAINS if d != "target benchmark"] + ["target benchmark"]
    tab_files, tab_hf = st.tabs(["Local file or folder", "Hugging Face dataset"])
    with tab_files, st.form("add_files", border=False):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="af_name", placeholder="my-notes", help="letters, digits, . _ -")
        path = c2.text_input("Path, folder or glob", key="af_path", placeholder="/data/notes/**/*.md",
                             help="Text, Markdown, source code, HTML, .jsonl/.json/.csv/.parquet (also .gz)")
        c3, c4 = st.columns(2)
        field = c3.text_input("Text field (row formats)", key="af_field", placeholder="text")
        template = c4.text_input("or template over fields", key="af_template",
                                 placeholder="informal statement {nl_statement} formal statement {formal_statement}")
        c5, c6, c7 = st.columns(3)
        domain = c5.selectbox("Domain", domains, index=domains.index("custom"), key="af_domain")
        license_ = c6.text_input("License", value="unknown", key="af_license")
        max_docs = c7.number_input("Max documents (0: all)", 0, 10 ** 7, 0, key="af_max")
        if st.form_submit_button("Add corpus", type="primary"):
            _register({"name": name, "kind": "files", "path": path, "field": field, "template": template,
                       "domain": domain, "license": license_, "source": path, "max_documents": int(max_docs) or None})
    with tab_hf, st.form("add_hf", border=False):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="ah_name", placeholder="proofnet-hf")
        hf_id = c2.text_input("Dataset id or local dataset folder", key="ah_id", placeholder="hoskinson-center/proofnet")
        c3, c4, c5 = st.columns(3)
        config = c3.text_input("Config", key="ah_config")
        split = c4.text_input("Split", key="ah_split", placeholder="train")
        field = c5.text_input("Text field", key="ah_field", placeholder="text")
        template = st.text_input("or template over fields", key="ah_template")
        c6, c7, c8 = st.columns(3)
        domain = c6.selectbox("Domain", domains, index=domains.index("custom"), key="ah_domain")
        license_ = c7.text_input("License", value="unknown", key="ah_license")
        max_docs = c8.number_input("Max documents (0: all)", 0, 10 ** 7, 0, key="ah_max")
        if st.form_submit_button("Add dataset", type="primary"):
            _register({"name": name, "kind": "hf", "hf_id": hf_id, "hf_config": config, "split": split,
                       "field": field, "template": template, "domain": domain, "license": license_,
                       "source": f"Hugging Face {hf_id}", "max_documents": int(max_docs) or None})


def preview(default: str | None = None) -> None:
    """A few documents of a corpus, as plain text (never rendered as Markdown/HTML)."""
    from core.corpora import get_corpus

    names = [c["name"] for c in corpus_catalog() if c["available"]]
    if not names:
        st.info("No corpus is installed yet.")
        return
    c1, c2 = st.columns([3, 1])
    idx = names.index(default) if default in names else 0
    name = c1.selectbox("Corpus to preview", names, index=idx, key="pv_name")
    count = c2.number_input("Documents", 1, 20, 3, key="pv_count")
    try:
        with st.spinner(f"Reading {name}..."):
            docs = get_corpus(name).documents()
    except AlignScopeError as exc:
        st.error(str(exc), icon="⚠️")
        return
    st.caption(f"{len(docs):,} documents; showing the first {min(count, len(docs))} (up to 1,500 characters each).")
    for d in docs[:count]:
        st.text(d.doc_id)
        text = d.text if len(d.text) <= 1500 else d.text[:1500] + " [...]"
        st.code(text, language=None, wrap_lines=True)
