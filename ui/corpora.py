"""Widgets of the Corpora page: registry table, token-count job, add-a-corpus forms, plain-text preview."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AlignScopeError
from core.jobs import get_job, job_id_for, submit
from core.views import corpus_rows, md_escape
from ui.data import cached_token_counts
from ui.export import table_download
from ui.jobs import job_panel
from ui.state import corpus_catalog, get_view, refresh_catalog, set_view


#: The add-a-corpus forms' words for the options errors name (:func:`core.errors.opt`).
UI_WORDS = {"field": "'Text field'", "template": "'or template over fields'", "path": "'Path, folder or glob'",
            "hf_id": "'Dataset id or local dataset folder'", "hf_config": "'Config'", "split": "'Split'",
            "domain": "'Domain'", "max_documents": "'Max documents'", "overwrite": "(the dashboard never replaces "
            "a corpus: remove it with python -m core corpora remove NAME first)",
            "add_corpus": "the 'Add a corpus' form below", "list_corpora": "the Registry table",
            "kind": "the 'Local file or folder' or 'Hugging Face dataset' tab"}


def registry_table() -> None:
    """The registry as a table, with a button that counts missing token counts in the background."""
    from core.probe import DEFAULT_MODEL
    from ui.tasks import STATS_KIND

    view = get_view()
    catalog = corpus_catalog()
    installed = [c["name"] for c in catalog if c["available"]]
    tokens = cached_token_counts(installed)
    df = pd.DataFrame(corpus_rows(catalog, tokens=tokens, target=view.target, candidates=view.candidates))
    df = df[["corpus", "role", "domain", "kind", "installed", "documents", "tokens", "license", "source", "install"]]
    df.insert(3, "test-split overlap", _contamination_column(installed, list(df["corpus"])))
    st.dataframe(df, width="stretch", hide_index=True, placeholder="", height=min(36 * len(df) + 40, 760),
                 column_config={
        "corpus": st.column_config.TextColumn("corpus", width="medium"),
        "domain": st.column_config.TextColumn("domain", width="medium"),
        "role": st.column_config.TextColumn("role", width="small"),
        "installed": st.column_config.CheckboxColumn("installed", width="small"),
        "documents": st.column_config.NumberColumn("documents", format="localized"),
        "tokens": st.column_config.NumberColumn("tokens", format="localized",
                                                help="All documents, default probe tokenizer; empty: not counted yet"),
        "source": st.column_config.TextColumn("source", width="large"),
        "install": st.column_config.TextColumn("install command", help="Run it in the repository to install"),
        "test-split overlap": st.column_config.TextColumn(
            "test-split overlap", width="medium",
            help="Content check against every benchmark's held-out split (exact normalised matches and 13-gram "
                 "near-duplicates; fine-tunes and mixtures refuse a CONTAMINATED source). Empty: clean; "
                 "'not checked': press the button below"),
    })
    c1, c2, c3 = st.columns([1, 3, 3], vertical_alignment="center")
    with c1:
        table_download(df, "corpora", key="corpora")
    uncounted = [n for n in installed if tokens.get(n) is None]
    selected = [n for n in view.corpora() if n in uncounted]
    job_id = st.session_state.get("stats_job")
    todo = None
    if selected and c2.button(f"Count tokens of the {len(selected)} selected corpora (background job)",
                              key="count_selected"):
        todo = selected
    if len(uncounted) > len(selected) and c3.button(f"Count tokens of all {len(uncounted)} uncounted corpora",
                                                    key="count_all", help="Large corpora take a minute or more"):
        todo = uncounted
    if todo:
        params = {"corpora": todo, "model": DEFAULT_MODEL}
        job = submit(STATS_KIND, params, restart=get_job(job_id_for(STATS_KIND, params)) is not None)
        st.session_state["stats_job"] = job.job_id
        st.session_state.get("_job_final_seen", {}).pop(job.job_id, None)
        st.rerun()
    if not job_id:                           # e.g. after a reload: show a count already running
        from core.jobs import list_jobs

        running = [j for j in list_jobs(STATS_KIND) if j.status().get("state") in ("queued", "running")]
        job_id = running[0].job_id if running else None
    if job_id:
        job_panel(job_id, key="stats", title="Token counts")


def _contamination_column(installed: list[str], names: list[str]) -> list[str]:
    """The registry table's overlap note per corpus (cached reports only; a button checks the rest)."""
    from core.corpora.contamination import contamination_notes

    notes = contamination_notes([n for n in names if n in installed])
    missing = [n for n, v in notes.items() if v is None]
    if missing and st.button(f"Check {len(missing)} corpora against the benchmarks' test splits",
                             key="check_contamination", help="13-gram overlap; a few seconds per large corpus"):
        with st.spinner("Comparing documents with the held-out splits..."):
            notes.update(contamination_notes(missing, compute=True))
    return [("not checked" if notes.get(n) is None else notes[n]) if n in installed else "" for n in names]


def _register(spec_kwargs: dict) -> None:
    from core.corpora import CorpusSpec, register_corpus

    try:
        spec_kwargs = {k: (v.strip() if isinstance(v, str) else v) for k, v in spec_kwargs.items()}
        spec_kwargs = {k: (None if v == "" and k in ("field", "template", "hf_config", "split", "path", "hf_id")
                           else v) for k, v in spec_kwargs.items()}
        with st.spinner(f"Reading {spec_kwargs.get('path') or spec_kwargs.get('hf_id')}..."):
            corpus = register_corpus(CorpusSpec(**spec_kwargs))
    except AlignScopeError as exc:
        st.error(md_escape(f"Could not add corpus {spec_kwargs.get('name')!r}: {exc.render('ui', UI_WORDS)}"), icon="⚠️")
        return
    except TypeError as exc:  # unexpected field combination
        st.error(md_escape(f"Could not add corpus: {exc}"), icon="⚠️")
        return
    refresh_catalog()
    docs = corpus.documents()
    view = get_view()
    if corpus.name != view.target and corpus.name not in view.candidates:
        set_view(candidates=(*view.candidates, corpus.name))
    st.session_state["_corpus_flash"] = (f"Registered {corpus.name!r}: {len(docs)} documents; added to the candidates.",
                                         list(corpus.warnings[:5]))
    st.rerun()                      # redraw the selection and the table with the new corpus


def _common_fields(domains: list[str], prefix: str) -> dict:
    """Domain, license and document cap of an add-corpus form (widget keys ``<prefix>_domain`` ...)."""
    c1, c2, c3 = st.columns(3)
    domain = c1.selectbox("Domain", domains, index=domains.index("custom"), key=f"{prefix}_domain")
    license_ = c2.text_input("License", value="unknown", key=f"{prefix}_license")
    max_docs = c3.number_input("Max documents (0: all)", 0, 10 ** 7, 0, key=f"{prefix}_max")
    return {"domain": domain, "license": license_, "max_documents": int(max_docs) or None}


def add_corpus_forms() -> None:
    """Forms registering a corpus from local files or a Hugging Face dataset."""
    from core.corpora import DOMAINS

    domains = [d for d in DOMAINS if d != "target benchmark"] + ["target benchmark"]
    flash = st.session_state.pop("_corpus_flash", None)
    if flash:
        st.success(md_escape(flash[0]))
        for w in flash[1]:
            st.warning(md_escape(w))
    tab_files, tab_hf = st.tabs(["Local file or folder", "Hugging Face dataset"], key="add_tab", bind="query-params")
    if tab_files.open:
        _files_form(tab_files, domains)
    if tab_hf.open:
        _hf_form(tab_hf, domains)


def _files_form(tab, domains: list[str]) -> None:
    with tab, st.form("add_files", border=False):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="af_name", placeholder="my-notes", help="letters, digits, . _ -")
        path = c2.text_input("Path, folder or glob", key="af_path", placeholder="/data/notes/**/*.md",
                             help="Text, Markdown, source code, HTML, .jsonl/.json/.csv/.parquet (also .gz)")
        c3, c4 = st.columns(2)
        field = c3.text_input("Text field (row formats)", key="af_field", placeholder="text")
        template = c4.text_input("or template over fields", key="af_template",
                                 placeholder="informal statement {nl_statement} formal statement {formal_statement}")
        common = _common_fields(domains, "af")
        if st.form_submit_button("Add corpus", type="primary"):
            _register({"name": name, "kind": "files", "path": path, "field": field, "template": template,
                       "source": path, **common})


def _hf_form(tab, domains: list[str]) -> None:
    with tab, st.form("add_hf", border=False):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="ah_name", placeholder="proofnet-hf")
        hf_id = c2.text_input("Dataset id or local dataset folder", key="ah_id", placeholder="hoskinson-center/proofnet")
        c3, c4, c5 = st.columns(3)
        config = c3.text_input("Config", key="ah_config")
        split = c4.text_input("Split", key="ah_split", placeholder="train")
        field = c5.text_input("Text field", key="ah_field", placeholder="text")
        template = st.text_input("or template over fields", key="ah_template")
        common = _common_fields(domains, "ah")
        if st.form_submit_button("Add dataset", type="primary"):
            _register({"name": name, "kind": "hf", "hf_id": hf_id, "hf_config": config, "split": split,
                       "field": field, "template": template, "source": f"Hugging Face {hf_id}", **common})


def preview(default: str | None = None) -> None:
    """A few documents of a corpus, as plain text (never rendered as Markdown/HTML)."""
    from core.corpora import get_corpus

    names = [c["name"] for c in corpus_catalog() if c["available"]]
    if not names:
        st.info("No corpus is installed yet.")
        return
    c1, c2 = st.columns([3, 1])
    idx = names.index(default) if default in names else 0
    name = c1.selectbox("Corpus to preview", names, index=idx, key="pv_name", bind="query-params")
    count = c2.number_input("Documents", 1, 20, 3, key="pv_count", bind="query-params")
    try:
        with st.spinner(f"Reading {name}..."):
            docs = get_corpus(name).documents()
    except AlignScopeError as exc:
        st.error(md_escape(exc), icon="⚠️")
        return
    st.caption(f"{len(docs):,} documents; showing the first {min(count, len(docs))} (up to 1,500 characters each).")
    for d in docs[:count]:
        st.text(d.doc_id)
        text = d.text if len(d.text) <= 1500 else d.text[:1500] + " [...]"
        st.code(text, language=None, wrap_lines=True)
