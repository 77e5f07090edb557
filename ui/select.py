"""The Select page's sections (app_pages/8_Select.py lists them): inputs, the selection job, the selected
windows (text as escaped plain text), composition, alignment, export, save + fine-tune, and the
head-to-head comparison chart. Widget keys are ``sel_*``.
"""
from __future__ import annotations


import streamlit as st

from core.errors import AlignScopeError
from core.settings import EmbedSettings
from core.paths import REPO_ROOT
from core.selection import jobs as seljobs   # registers the "select" job kind
from core.views import md_escape
from ui.jobs import job_panel

INTRO = ("Pick a **pool** of corpora and a **token budget**: AlignScope cuts the pool into windows of the sidebar's "
         "sequence length, scores them against the target and selects the windows that fit the budget. "
         "Task2Vec methods embed every window once (cached; about 2 s per window on 2 CPU cores), the "
         "rivals (DSIR, ZIP-FIT, unigram cosine, random) need no forward pass. The selection's Task2Vec alignment is "
         "computed from its windows' embeddings without another pass.")
COMPARE_RESULTS = REPO_ROOT / "docs" / "results" / "selection_compare.json"
#: How errors name the inputs on this page (:meth:`core.errors.AlignScopeError.render`).
UI_WORDS = {"budget": "'Budget (tokens)'", "pool": "'Pool corpora'", "max_windows": "'Pool windows (cap)'",
            "method": "'Method'", "include_derived": "including derived corpora", "seq_len": "the sidebar's 'Seq. length'"}


def inputs(targets: list[str], corpora: list[str]) -> dict | None:
    """The input widgets; returns the job parameters (without settings) or None while the pool is empty."""
    from core.selection.base import SELECTION_METHODS
    from core.selection.pool import DEFAULT_MAX_WINDOWS

    c1, c2 = st.columns([1, 3])
    target = c1.selectbox("Target benchmark", targets, key="sel_target", bind="query-params")
    pool = c2.multiselect("Pool corpora", [c for c in corpora if c != target], key="sel_pool", bind="query-params",
                          help="corpora derived from the target benchmark are left out when the pool is built")
    c1, c2, c3, c4 = st.columns(4)
    budget = c1.slider("Budget (tokens)", 256, 65_536, 4000, step=128, key="sel_budget", bind="query-params")
    names = SELECTION_METHODS.names()
    method = c2.selectbox("Method", names, index=names.index("t2v-greedy"), key="sel_method", bind="query-params",
                          format_func=lambda n: f"{n} ({SELECTION_METHODS.get(n).needs})")
    max_windows = c3.number_input("Pool windows (cap)", 16, 200_000, DEFAULT_MAX_WINDOWS, step=100, key="sel_max_windows", bind="query-params")
    seed = c4.number_input("Seed", 0, 10 ** 6, 0, key="sel_seed", bind="query-params")
    st.caption(SELECTION_METHODS.get(method).description)
    if not pool:
        st.info("Choose at least one pool corpus.")
        return None
    return {"method": method, "target": target, "pool": list(pool), "max_windows": int(max_windows),
            "budget": int(budget), "seed": int(seed), "max_share": None}


def launch(params: dict, settings: EmbedSettings) -> None:
    """Validate the inputs at once (clear errors in the widgets' words), then queue the selection job."""
    from core.jobs import submit
    from core.selection.pool import PoolConfig
    from core.selection.select import validate_request

    if not st.button("Select windows", type="primary", key="sel_go"):
        return
    try:
        validate_request(method=params["method"], budget=params["budget"],
                         pool_config=PoolConfig(corpora=tuple(params["pool"]), target=params["target"],
                                                max_windows=params["max_windows"]))
        full = {**params, "seq_len": settings.batch.seq_len, "settings": settings.to_dict()}
        st.session_state["sel_job"] = submit(seljobs.SELECT_KIND, full).job_id
    except AlignScopeError as exc:
        st.error(md_escape(exc.render("ui", UI_WORDS)))


def job_result() -> dict | None:
    """The last selection job's panel, and its result once done."""
    from core.jobs import get_job

    job_id = st.session_state.get("sel_job")
    if not job_id:
        return None
    status = job_panel(job_id, key=f"seljob_{job_id}", title="Selection") or {}
    job = get_job(job_id)
    return job.result() if job is not None and status.get("state") == "done" else None


def show_result(res: dict, *, top: int = 20) -> None:
    """Alignment, composition bar chart and the top windows (text as plain text, never markdown/HTML)."""
    import pandas as pd
    import plotly.express as px

    a = res["alignment"]
    ci = f" (95% CI {a['ci_low']:.4f} to {a['ci_high']:.4f})" if a.get("ci_low") is not None else ""
    c1, c2, c3 = st.columns(3)
    c1.metric("Predicted alignment with the target", f"{a['value']:.4f}", help="Task2Vec alignment of the selection's "
              "batches, from the windows' embeddings (token-weighted means; no forward pass)" + ci)
    c2.metric("Selected", f"{len(res['windows'])} windows", f"{res['tokens']:,} tokens", delta_color="off")
    c3.metric("Selection time", f"{res['seconds']:.1f} s", f"pool {res['pool']['windows']:,} windows", delta_color="off")
    st.caption(f"Alignment{ci}. Method {res['method']}, seed {res['seed']}, budget {res['budget']:,} tokens.")
    comp = pd.DataFrame([{"corpus": c, "tokens": t} for c, t in sorted(res["composition"].items(), key=lambda kv: -kv[1])])
    st.plotly_chart(px.bar(comp, x="corpus", y="tokens", title="Source composition of the selection"),
                    key="sel_composition")
    st.subheader(f"Top windows ({min(top, len(res['windows']))} of {len(res['windows'])})")
    for k, w in enumerate(res["windows"][:top]):
        st.text(f"{k + 1}. score {w['score']:.4f} · {w['corpus']} · {w['doc_id']} · token offset {w['offset']} · "
                f"{w['tokens']} tokens")
        st.code(w.get("text", ""), language=None)


def export_and_finetune(res: dict, settings: EmbedSettings) -> None:
    """JSONL download, save as a corpus, and a fine-tune of the saved selection as a background job."""
    from core.finetune.config import FinetuneConfig
    from core.finetune.jobs import submit_finetune
    from core.selection.export import save_selection, to_jsonl
    from core.selection.select import SelectionResult

    result = SelectionResult(**res)
    st.download_button("⬇ Export JSONL (provenance, score, text)", to_jsonl(result), file_name="selection.jsonl",
                       mime="application/json", key="sel_export")
    c1, c2 = st.columns([2, 1])
    name = c1.text_input("Save as corpus named", value=f"sel-{res['method']}-{res['budget']}", key="sel_name")
    if c2.button("Save and fine-tune", key="sel_finetune"):
        try:
            save_selection(result, name)
            sub = submit_finetune(FinetuneConfig(source=name, target=res["target"], model=settings.model,
                                                 budget_tokens=res["tokens"], device=settings.device), settings)
            st.session_state["sel_ft_job"] = sub.job_id
            st.success(f"Saved as corpus {name!r}; fine-tune queued. Its point appears on the Alignment vs perplexity page.")
        except AlignScopeError as exc:
            st.error(md_escape(exc.render("ui", {"name": "'Save as corpus named'", **UI_WORDS})))
    if st.session_state.get("sel_ft_job"):
        job_panel(st.session_state["sel_ft_job"], key="sel_ftjob", title="Fine-tune of the selection")


def comparison() -> None:
    """The head-to-head chart and table, once ``python -m core select compare`` has results."""
    from core.finetune.compare import load_results
    from core.selection.report import compare_figure, compare_rows

    st.subheader("Head-to-head: selection methods fine-tuned on the same pool and budget")
    if not COMPARE_RESULTS.exists():
        st.caption("No comparison yet: run `python -m core select compare` (resumable).")
        return
    res = load_results(COMPARE_RESULTS)
    st.plotly_chart(compare_figure(res), key="sel_compare_fig")
    st.dataframe(compare_rows(res), hide_index=True)
