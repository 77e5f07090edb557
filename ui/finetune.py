"""The Fine-tune page's sections (app_pages/5_Fine-tune.py lists them): hyperparameters, the experiment
preset and single runs, the jobs, and the runs table. Widget keys are ``ft_*``; every control that
changes what is shown (hyperparameters, tab, sources) is bound to the URL under its key
(``bind="query-params"``), so a reload or a shared link reopens the same settings. The launch
confirmation is not: a link never pre-confirms a long run.
"""
from __future__ import annotations

import streamlit as st

from core.errors import AlignScopeError
from core.finetune import config as C
from core.finetune import results
from core.finetune import jobs as ftjobs
from core.finetune.experiment import default_sources
from core.settings import EmbedSettings
from core.mixture import list_mixtures
from ui.jobs import job_panel

INTRO = ("Fine-tune a small causal LM on each candidate source with the **same token budget and hyperparameters**, "
         "then measure its **perplexity on the target's held-out split** (for ProofNet: the test split; "
         "training sources come from the valid split only). The alignment coefficient (Task2Vec, sidebar settings) "
         "and the **familiarity** (base-model perplexity on the source) are recorded beside it. Runs go one after "
         "another in the background; they survive a page reload or an app restart.")


def hyperparameters(target: str, settings: EmbedSettings) -> dict:
    """The hyperparameter widgets; returns the :class:`~core.finetune.config.FinetuneConfig` fields
    shared by every run (device and precision from the sidebar), and the "Quick (live)" toggle: on,
    the runs are quick (``eval_subsample_tokens``: :data:`core.finetune.config.QUICK_EVAL_TOKENS`); it is
    on by default where no GPU is present."""
    from core.probe import resolve_device

    _seed("ft_quick", resolve_device(settings.device).type != "cuda")
    quick = st.toggle("Quick (live)", key="ft_quick", bind="query-params",
                      help=f"Same training; evaluated on a fixed seeded subsample of about {C.QUICK_EVAL_TOKENS:,} "
                           "held-out tokens with a 95% bootstrap CI over its documents, in bf16 where that is faster "
                           "(about a minute on 2 CPU cores). Quick runs are their own group, marked 'quick', and never "
                           "fitted with full runs. Off: every held-out token (several minutes on a CPU).")
    with st.expander("Hyperparameters (identical for every run of an experiment)", expanded=False):
        c1, c2, c3, c4 = st.columns(4)
        model_in = c1.text_input("Model to fine-tune", key="ft_model", bind="query-params", placeholder=f"probe network: {settings.model}",
                                 help="empty: the sidebar's probe network (default: the embedded SmolLM2-135M)")
        method = c2.selectbox("Method", ["full", "lora"], key="ft_method", bind="query-params",
                              help="full fine-tuning, or LoRA adapters (peft) on the attention and MLP projections")
        budget = c3.number_input("Token budget per source", 16, 10_000_000, C.DEFAULT_BUDGET, step=500, key="ft_budget", bind="query-params")
        epochs = c4.number_input("Epochs", 0.25, 50.0, float(C.DEFAULT_EPOCHS), step=0.5, key="ft_epochs", bind="query-params")
        c1, c2, c3, c4 = st.columns(4)
        lr = c1.number_input("Learning rate", 1e-7, 0.5, C.DEFAULT_LR if method == "full" else 1e-3, format="%.1e",
                             key=f"ft_lr_{method}", bind="query-params")
        seq_len = c2.number_input("Sequence length", 8, 4096, C.DEFAULT_SEQ_LEN, step=32, key="ft_seq_len", bind="query-params")
        batch_size = c3.number_input("Training batch size", 1, 256, C.DEFAULT_BATCH_SIZE, key="ft_batch_size", bind="query-params")
        seed = c4.number_input("Seed", 0, 10 ** 6, 0, key="ft_seed", bind="query-params")
        if method == "lora":
            c1, c2, _, _ = st.columns(4)
            lora_r = c1.number_input("LoRA r", 1, 256, 8, key="ft_lora_r", bind="query-params")
            lora_alpha = c2.number_input("LoRA alpha", 1, 512, 16, key="ft_lora_alpha", bind="query-params")
        else:
            lora_r, lora_alpha = 8, 16
        st.caption("Device: the sidebar's (CUDA when present). Full fine-tuned weights are not saved; LoRA adapters are "
                   "kept under cache/finetune/adapters.")

    return dict(target=target, model=(model_in or "").strip() or settings.model, budget_tokens=int(budget),
                epochs=float(epochs), learning_rate=float(lr), seq_len=int(seq_len), batch_size=int(batch_size),
                seed=int(seed), method=method, lora_r=int(lora_r), lora_alpha=int(lora_alpha),
                device=settings.device, precision=settings.precision,
                **({"eval_subsample_tokens": C.QUICK_EVAL_TOKENS} if quick else {}))


def _launched(sub, what: str) -> None:
    st.session_state["ft_job"] = sub.job_id
    if sub.reused:
        st.info(f"{what}: identical work is already done or under way; showing it.")
    else:
        st.toast(f"{what} queued")


def launch_tabs(target: str, sources: list[str], base: dict, settings: EmbedSettings) -> None:
    """The experiment preset and the single-run tabs. The chosen tab is in the URL (``ft_tab``) and
    only its content runs."""
    tab_exp, tab_one = st.tabs(["Experiment preset", "Single run"], key="ft_tab", bind="query-params")
    if tab_exp.open:
        with tab_exp:
            _experiment_tab(target, sources, base, settings)
    if tab_one.open:
        with tab_one:
            _single_run_tab(sources, base, settings)


def _seed(key: str, value) -> None:
    """Give URL-bound widget ``key`` a computed default, unless the URL already chose its value."""
    if key not in st.query_params:
        st.session_state[key] = value


def _experiment_tab(target: str, sources: list[str], base: dict, settings: EmbedSettings) -> None:
    from ui.state import get_view

    st.markdown("One fine-tune per selected source, all with the settings above, run **one after another**; "
                "the Alignment vs perplexity page fills in as they finish. Finished runs are reused.")
    picked = [s for s in get_view().candidates if s in sources]      # the candidates chosen on Corpora
    defaults = picked or [s for s in default_sources(target) if s in sources]
    if st.session_state.get("ft_exp_for") != (target, tuple(picked)):  # new candidates: new defaults
        first_run = "ft_exp_for" not in st.session_state
        st.session_state["ft_exp_for"] = (target, tuple(picked))
        if first_run:
            _seed("ft_exp_sources", defaults)
        else:
            st.session_state["ft_exp_sources"] = defaults
    chosen = st.multiselect("Sources", sources, key="ft_exp_sources", bind="query-params",
                            help="Defaults to the candidates chosen on the Corpora page")
    if chosen:
        st.caption("Estimate before launch: " + experiment_estimate(target, tuple(chosen), base))
    if st.button(f"Run the experiment ({len(chosen)} fine-tunes)", type="primary", key="ft_exp_go",
                 disabled=not chosen):
        try:
            _launched(ftjobs.submit_experiment(target, chosen, base, settings), "Experiment")
        except AlignScopeError as exc:
            st.error(str(exc))


def _single_run_tab(sources: list[str], base: dict, settings: EmbedSettings) -> None:
    from ui.state import get_view

    kind = st.radio("Train on", ["a source corpus", "a saved mixture"], horizontal=True, key="ft_kind",
                    bind="query-params")
    mixture = source = None
    if kind == "a source corpus":
        first = next((s for s in get_view().candidates if s in sources), None)
        if first and st.session_state.get("ft_source") not in sources:
            _seed("ft_source", first)
        source = st.selectbox("Source", sources, key="ft_source", bind="query-params")
    else:
        names = list_mixtures()
        if not names:
            st.info("No saved mixture yet: build one on the Mix page.")
        mixture = st.selectbox("Mixture", names, key="ft_mixture", bind="query-params") if names else None
    confirm = st.checkbox("Start even if the budget exceeds the source or the run takes long", key="ft_confirm",
                          help="A fine-tune above its source's size or the time limit (core.finetune.estimate) "
                               "needs this confirmation; the estimate is shown first")
    if st.button("Launch fine-tune", type="primary", key="ft_go", disabled=not (source or mixture)):
        from core.finetune.estimate import ConfirmationNeeded, check_finetune

        try:
            cfg = C.FinetuneConfig(source=source, mixture=mixture, **base)
            st.caption(f"Estimate: {check_finetune(cfg, yes=confirm).text()}")
            _launched(ftjobs.submit_finetune(cfg, settings), f"Fine-tune on {cfg.label}")
        except ConfirmationNeeded as exc:
            st.warning(exc.render("ui", {"yes": "the 'Start even if...' box", "budget_tokens": "'Token budget per source'"}))
        except AlignScopeError as exc:
            st.error(exc.render("ui", {"source": "'Source'", "seq_len": "'Sequence length'"}))


@st.cache_data(max_entries=16, show_spinner="Estimating from the measured throughput...")
def _estimates(target: str, chosen: tuple, base_json: str) -> list[dict]:
    import json

    from core.finetune.estimate import estimate_finetune

    base = json.loads(base_json)
    out = []
    for s in chosen:
        try:
            out.append(estimate_finetune(C.FinetuneConfig(source=s, **base)).to_dict())
        except AlignScopeError as exc:
            out.append({"error": str(exc), "source": s})
    return out


def experiment_estimate(target: str, chosen: tuple, base: dict) -> str:
    """One line: the estimated time of one fine-tune per chosen source (core.finetune.estimate:
    throughput measured on this machine by finished runs, else the bench figure), in total."""
    import json

    est = _estimates(target, chosen, json.dumps(base, sort_keys=True, default=str))
    secs = [e.get("seconds") for e in est if isinstance(e.get("seconds"), (int, float))]
    bad = [e["source"] for e in est if "error" in e]
    if not secs:
        return "not available" + (f" ({', '.join(bad)}: see the single-run tab)" if bad else "")
    total = sum(secs)
    text = f"about {total / 60:.0f} min for {len(secs)} fine-tunes run one after another" if total >= 90 else \
        f"about {total:.0f} s for {len(secs)} fine-tunes"
    src = {e.get("basis") for e in est if e.get("basis")}
    return text + (f" (throughput: {', '.join(sorted(src))})" if src else "") + (f"; no estimate for {', '.join(bad)}" if bad else "")


def jobs_section() -> None:
    """Panels of the running fine-tune jobs (and the one launched last)."""
    st.subheader("Jobs")
    shown = [j.job_id for j in ftjobs.active_jobs()][:3]
    last = st.session_state.get("ft_job")
    if last and last not in shown:
        shown.insert(0, last)
    if not shown:
        st.caption("No fine-tune is running.")
    for job_id in shown:
        job_panel(job_id, key=f"ftjob_{job_id}", title="Experiment" if job_id.startswith("experiment") else "Fine-tune")


def runs_table(target: str) -> None:
    """Every run evaluated on ``target``, with a link to the alignment-vs-perplexity page."""
    st.subheader(f"Runs evaluated on {target}")
    rows = results.list_runs(target=target)
    if rows:
        df = results.to_frame(rows)
        df["quick"] = df["quick"].fillna(False).astype(bool) if "quick" in df else False
        for col in ("ppl_ci_low", "ppl_ci_high"):
            if col not in df:
                df[col] = None
        df = df[["label", "status", "quick", "alignment", "align_ci_low", "align_ci_high", "familiarity",
                 "ppl_before", "ppl_after", "ppl_ci_low", "ppl_ci_high", "tokens_trained", "method", "model",
                 "wall_seconds", "notes", "error", "run_id"]]
        st.dataframe(df, hide_index=True, width="stretch", column_config={
            "label": "source", "align_ci_low": st.column_config.NumberColumn("CI low", format="%.4f"),
            "align_ci_high": st.column_config.NumberColumn("CI high", format="%.4f"),
            "alignment": st.column_config.NumberColumn("alignment", format="%.4f"),
            "familiarity": st.column_config.NumberColumn("familiarity (base ppl on source)", format="%.2f"),
            "ppl_before": st.column_config.NumberColumn("ppl before", format="%.3f"),
            "ppl_after": st.column_config.NumberColumn("ppl after", format="%.3f"),
            "quick": st.column_config.CheckboxColumn("quick", help="evaluated on the seeded held-out subsample"),
            "ppl_ci_low": st.column_config.NumberColumn("ppl CI low (quick)", format="%.3f"),
            "ppl_ci_high": st.column_config.NumberColumn("ppl CI high (quick)", format="%.3f"),
            "wall_seconds": st.column_config.NumberColumn("wall s", format="%.0f")})
        done = [r for r in rows if r.get("status") == "done" and r.get("ppl_after") is not None]
        if done:
            from core import charts
            from core.finetune import plots

            latest = [r for r in done if r.get("group_key") == done[0].get("group_key")]
            c1, c2 = st.columns(2)
            c1.plotly_chart(charts.before_after_figure(latest, target=target), theme=None, width="stretch",
                            key="ft_before_after")
            c2.plotly_chart(plots.alignment_figure_styled(latest, target=target), theme=None, width="stretch",
                            key="ft_fit")
            quick = bool(done[0].get("quick"))
            st.caption(("Quick run: " if quick else "") + f"Latest finished run: {done[0]['label']}, perplexity "
                       f"{done[0]['ppl_before']:.2f} → {done[0]['ppl_after']:.2f} on "
                       + (f"a seeded subsample of {len(done[0].get('eval_documents') or [])} documents of "
                          f"{target}'s held-out split (95% CI {done[0]['ppl_ci_low']:.2f} to {done[0]['ppl_ci_high']:.2f})"
                          if quick and done[0].get("ppl_ci_low") is not None else f"{target}'s held-out split")
                       + (f", alignment {done[0]['alignment']:.3f}" if done[0].get("alignment") is not None else "")
                       + " (right: its point on the fit of its group).")
        st.page_link("app_pages/6_Alignment_vs_perplexity.py", label="See alignment vs perplexity", icon=":material/scatter_plot:")
    else:
        st.caption("No runs yet.")
