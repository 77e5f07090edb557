"""The Mix page's sections (app_pages/4_Mix.py stays a short list of them): cached embeddings with the
embedding gate, weight sliders with the live prediction, the optimiser, verification on real mixed
batches, save/export and saved mixtures. Widget keys are ``mix_*``.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core.errors import AlignScopeError
from core.settings import EmbedSettings
from core.jobs import get_job
from core.mixture import (MissingEmbeddingsError, Mixture, SourceSet, list_mixtures, load_mixture, load_source_set,
                          materialize_with_report, mixtures_dir, predict_mixture, save_mixture,
                          single_source_alignments, suggest_mix)
from core.mixture.charts import contribution_figure, verify_figure
from core.mixture.jobs import submit_verify
from core.mixture.sampling import write_jsonl
from core.paths import cache_root
from core.probe import load_probe
from core.views import md_escape
from ui.embed import embedding_gate
from ui.export import show_figure
from ui.jobs import job_panel
from ui.state import get_view

CAPTION = ("Weight each source with a slider: the mixture's alignment with the target and its diversity are "
           "predicted at once from the cached per-source Task2Vec embeddings (a token-weighted combination, "
           "exact in expectation for the closed-form head estimator), then verified on real mixed batches.")


def _settings_key(settings: EmbedSettings) -> str:
    """How Streamlit's cache keys an :class:`EmbedSettings` argument: the fingerprint of its ``to_dict``,
    the same form every cache and job id uses (so a default made explicit is the same entry)."""
    from core.fingerprint import fingerprint

    return fingerprint(settings.to_dict())


@st.cache_data(max_entries=4, show_spinner="Loading cached embeddings...", hash_funcs={EmbedSettings: _settings_key})
def _cached_source_set(target: str, sources: tuple, settings: EmbedSettings, cache_folder: str):
    ss = load_source_set(target, list(sources), settings)
    return ss, single_source_alignments(ss)


def source_set(target: str, sources: list[str] | tuple, settings: EmbedSettings) -> tuple[SourceSet, list[dict]]:
    """The :class:`~core.mixture.SourceSet` and single-source alignments, read once per (target, sources,
    settings, cache folder) and kept in Streamlit's cache (cleared with the sidebar's cache button).

    Raises:
        MissingEmbeddingsError: a corpus has no cached embeddings under ``settings``.
        AlignScopeError: a bad corpus name or settings.
    """
    return _cached_source_set(target, tuple(sources), settings, str(cache_root()))


def cached_sources(target: str, sources: list[str], settings: EmbedSettings) -> tuple[SourceSet, list[dict]]:
    """The :class:`~core.mixture.SourceSet` and single-source alignments; when embeddings are missing,
    the embedding gate (button, jobs) and ``st.stop()``."""
    try:
        return source_set(target, sources, settings)
    except MissingEmbeddingsError as exc:
        st.warning(str(exc.what))
        embedding_gate(get_view(), settings, [target, *sources], key="mix")
        st.info("The sliders appear once every source and the target have cached embeddings.")
        st.stop()
    except AlignScopeError as exc:
        st.error(str(exc), icon="⚠️")
        st.stop()


def default_budget() -> int:
    """The token budget both the Mix and the Fine-tune page start from (tokens, probe tokenizer):
    :data:`core.finetune.config.DEFAULT_BUDGET`, so a mix is fine-tuned at the budget it was built for."""
    from core.finetune.config import DEFAULT_BUDGET

    return int(DEFAULT_BUDGET)


#: URL query parameters of the Mix page: ``?mix=coq-stdlib:0.6,metamath:0.4&budget=4000``.
MIX_PARAM, BUDGET_PARAM = "mix", "budget"


def _weights_from_url(ss: SourceSet) -> None:
    """On the session's first Mix run, put the URL's weights and budget on the sliders (bad values
    are ignored: a link never breaks the page)."""
    if st.session_state.get("mix_url_read"):
        return
    st.session_state["mix_url_read"] = True
    for part in (st.query_params.get(MIX_PARAM) or "").split(","):
        name, _, value = part.rpartition(":")
        try:
            if name in ss.sources and 0.0 <= float(value) <= 1.0:
                st.session_state[f"mix_w_{name}"] = round(float(value), 3)
        except ValueError:
            continue
    try:
        budget = int(st.query_params.get(BUDGET_PARAM) or 0)
        if 1_000 <= budget <= 10 ** 10:
            st.session_state["mix_budget"] = budget
    except ValueError:
        pass


def _weights_to_url(weights: dict[str, float], budget: int) -> None:
    """Keep the sliders and the budget in the URL, so a link or a reload reopens the same mix."""
    wanted = {MIX_PARAM: ",".join(f"{s}:{w:g}" for s, w in weights.items()), BUDGET_PARAM: str(int(budget))}
    try:
        changed = {k: v for k, v in wanted.items() if st.query_params.get(k) != v}
        if changed:
            st.query_params.update(changed)
    except Exception:  # bare script runs without a browser session
        pass


def current_weights(ss: SourceSet) -> dict[str, float]:
    """The sliders' weights (not normalised), by source."""
    return {s: float(st.session_state.get(f"mix_w_{s}", 0.0)) for s in ss.sources}


def sliders(ss: SourceSet, singles: list[dict], settings: EmbedSettings, target: str) -> dict[str, float]:
    """Weight sliders, token budget and the live prediction; returns the current weights."""
    pending = st.session_state.pop("mix_pending", None)
    if pending is not None:                      # suggested / loaded weights, applied before the sliders exist
        for s in ss.sources:
            st.session_state[f"mix_w_{s}"] = round(float(pending["weights"].get(s, 0.0)), 3)
        if pending.get("budget"):
            st.session_state["mix_budget"] = int(pending["budget"])
    _weights_from_url(ss)
    for s in ss.sources:
        st.session_state.setdefault(f"mix_w_{s}", round(1.0 / len(ss.sources), 3))
    st.session_state.setdefault("mix_budget", default_budget())
    _live(ss, singles, settings, target)
    return current_weights(ss)


@st.fragment
def _live(ss, singles, settings: EmbedSettings, target: str) -> None:
    best = singles[0]
    single_align = {r["source"]: r["alignment"] for r in singles}
    t0 = time.perf_counter()
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Weights")
        for s in ss.sources:
            st.slider(s, 0.0, 1.0, step=0.01, key=f"mix_w_{s}",
                      help=f"Relative weight (normalised to token shares). {s} alone: alignment {single_align[s]:.3f}")
        st.number_input("Token budget", min_value=1_000, max_value=10 ** 10, step=100_000, key="mix_budget",
                        help="Total tokens of the fine-tuning dataset (probe tokenizer, no special tokens)")
    raw = current_weights(ss)
    _weights_to_url(raw, int(st.session_state["mix_budget"]))
    with left:
        feasibility_notes(raw, int(st.session_state["mix_budget"]), target)
    with right:
        if sum(raw.values()) <= 0:
            st.error("All weights are zero: move at least one slider above 0.")
            return
        pred = predict_mixture(ss, raw)
        ms = (time.perf_counter() - t0) * 1000
        a, d = pred.alignment, pred.diversity
        c1, c2, c3 = st.columns(3)
        c1.metric("Predicted alignment", f"{a.value:.4f}", delta=f"{a.value - best['alignment']:+.4f} vs best single",
                  help=f"Alignment with {target}: 1 - mean Task2Vec distance between the predicted mixed batches "
                       "and the target's batches")
        c1.caption(f"95% CI [{a.ci_low:.4f}, {a.ci_high:.4f}]")
        c2.metric("Predicted diversity", f"{d.value:.4f}",
                  help="Diversity coefficient of the predicted mixed batches (a lower bound: real mixed batches vary more)")
        c2.caption(f"95% CI [{d.ci_low:.4f}, {d.ci_high:.4f}]")
        c3.metric(f"Best single: {best['source']}", f"{best['alignment']:.4f}",
                  help=f"The source with the highest alignment with {target} on its own, for comparison")
        c3.caption(f"95% CI [{best['ci_low']:.4f}, {best['ci_high']:.4f}]")
        if pred.bracket:
            c3.caption(f"Real mixed batches measure between the linear and the sub-batch model: alignment ≥ "
                       f"{pred.bracket['alignment']:.3f}, diversity ≤ {pred.bracket['diversity']:.3f}.")
        show_figure(contribution_figure(pred.weights, int(st.session_state["mix_budget"]), alignment=single_align),
                    key="mix_contrib")
        st.caption(f"Prediction from cache in {ms:.0f} ms (server). Settings: {settings.estimator}, {settings.model}, "
                   f"{settings.batch.num_batches} x {settings.batch.batch_size} x {settings.batch.seq_len} tokens.")
    st.session_state["mix_last_ms"] = ms


def _tokens(sources: list[str]) -> dict[str, int | None]:
    from ui.data import cached_token_counts

    return cached_token_counts(list(sources))


def feasibility_notes(weights: dict[str, float], budget: int, target: str) -> None:
    """At once, under the sliders: sources whose share of the budget exceeds the tokens they hold
    (``w_s × budget > tokens_s``), sources not counted yet, and sources derived from the target
    benchmark (contamination)."""
    from core.views import mix_feasibility
    from ui.state import corpus_catalog

    rows = mix_feasibility(weights, budget, _tokens(list(weights)))
    bad = [r for r in rows if r["feasible"] is False and r["share"] > 0]
    if bad:
        st.error("**Infeasible at this budget**: " + "; ".join(
            f"{md_escape(r['source'])} needs {r['needed']:,.0f} tokens but holds {r['available']:,} "
            f"(at most {r['max_share']:.1%} of {budget:,})" for r in bad)
            + ". Lower its weight or the budget; *Suggest a mix* respects these limits.", icon="⚠️")
    unknown = [r["source"] for r in rows if r["feasible"] is None and r["share"] > 0]
    if unknown:
        st.caption("Token counts not known yet (Corpora page, *count tokens*), so not checked: "
                   + md_escape(", ".join(unknown)))
    derived = {c["name"]: c.get("derived_from") for c in corpus_catalog() if c.get("derived_from")}
    for r in rows:
        if r["share"] > 0 and r["source"] in derived:
            st.warning(f"**Contamination**: {md_escape(r['source'])} is derived from the benchmark "
                       f"{md_escape(derived[r['source']])}"
                       + (" (the target)" if derived[r["source"]] == target else "")
                       + ": its alignment is inflated and fine-tuning on it leaks the benchmark.", icon="🚫")


def suggest_section(ss: SourceSet) -> None:
    """The optimiser: puts the suggested weights on the sliders (applied on the next run)."""
    msg = st.session_state.pop("mix_suggest_msg", None)
    if msg:
        getattr(st, msg[0])(msg[1] + " The sliders now hold this mix.")
    with st.expander("Suggest a mix (maximise predicted alignment)", expanded=False):
        c1, c2, c3 = st.columns(3)
        use_floor = c1.checkbox("Diversity floor", key="mix_use_floor")
        floor = c1.number_input("Minimum predicted diversity", 0.0, 1.0, 0.1, 0.01, key="mix_floor", disabled=not use_floor,
                                help="Floor on the linear model's predicted diversity, a lower bound of the real one")
        cap = c2.slider("Cap per source", 0.05, 1.0, 1.0, 0.05, key="mix_cap")
        restarts = c3.number_input("Random restarts", 0, 20, 3, key="mix_restarts")
        budget = int(st.session_state.get("mix_budget", default_budget()))
        st.caption(f"Each source's share is also capped by the tokens it holds at the budget of {budget:,} tokens "
                   "(w × budget ≤ tokens).")
        if st.button("Suggest a mix", type="primary", key="mix_suggest"):
            from core.views import availability_caps

            caps = availability_caps(ss.sources, budget, _tokens(ss.sources), cap=None if cap >= 1 else cap,
                                     resolution=0.01)
            if sum(caps.values()) < 1 - 1e-9:
                st.error(f"At a budget of {budget:,} tokens these sources cannot fill the mix (their caps sum to "
                         f"{sum(caps.values()):.1%}): lower the **Token budget** or raise **Cap per source**.")
                return
            try:
                with st.spinner("Optimising (SLSQP)..."):
                    sug = suggest_mix(ss, min_diversity=floor if use_floor else None, cap=caps,
                                      restarts=int(restarts))
                st.session_state["mix_pending"] = {"weights": sug.weights}
                st.session_state["mix_suggest_msg"] = ("success" if sug.feasible else "warning", sug.message)
                st.rerun()
            except AlignScopeError as exc:
                st.error(str(exc))


def verify_section(weights: dict[str, float], target: str, settings: EmbedSettings) -> None:
    """Verify the mix on real mixed batches (background job ``mix_verify``) and show the comparison."""
    ok_weights = sum(weights.values()) > 0
    st.subheader("Verify on real mixed batches")
    st.caption(f"Draws {settings.batch.num_batches} batches of {settings.batch.batch_size} sequences, each source "
               "contributing sequences in proportion to its token share, embeds them with the current estimator in the "
               "background (cached) and compares measured with predicted alignment and diversity.")
    vseed = st.number_input("Sampling seed", 0, 10 ** 6, 0, key="mix_verify_seed")
    if st.button("Verify this mix", key="mix_verify_btn", disabled=not ok_weights):
        job = submit_verify(weights, target, settings, seed=int(vseed))
        st.session_state.get("_job_final_seen", {}).pop(job.job_id, None)
        st.session_state["mix_verify_job"] = job.job_id
    job_id = st.session_state.get("mix_verify_job")
    if job_id:
        job_panel(job_id, key="mix_verify", title="Verify mixture")
        job = get_job(job_id)
        result = job.result() if job is not None and job.status().get("state") == "done" else None
        if result:
            total = sum(weights.values()) or 1.0
            now = {s: round(w / total, 3) for s, w in weights.items() if w > 0}
            if result.get("target") != target or now != {s: round(w, 3) for s, w in result["weights"].items()}:
                st.caption("The sliders have moved since this verification: it is of the mix below.")
            st.markdown("Verified mix: " + ", ".join(f"**{s}** {w:.1%} (realised {result['realised_weights'][s]:.1%}, "
                                                     f"{result['sequences'].get(s, 0)} seq/batch)"
                                                     for s, w in result["weights"].items()))
            rows = []
            for what in ("alignment", "diversity"):
                p, m = result["predicted"][what], result["measured"].get(what)
                if not m:
                    continue
                rows.append({"coefficient": what, "predicted": p["value"], "pred. CI low": p["ci_low"],
                             "pred. CI high": p["ci_high"], "measured": m["value"], "meas. CI low": m["ci_low"],
                             "meas. CI high": m["ci_high"], "CIs overlap": result["agreement"][what]["overlap"],
                             "sub-batch model": result["predicted_subbatch"][what]["value"]})
            st.dataframe(rows, hide_index=True, width="stretch")
            show_figure(verify_figure(result), key="mix_verify_fig")
            st.caption(f"{result['computed']} mixed batches embedded, {result['cached']} from cache, {result['seconds']:.0f} s.")


def save_section(weights: dict[str, float], target: str, settings: EmbedSettings) -> None:
    """Save the mixture, or export it as JSONL (:func:`core.mixture.sampling.write_jsonl`) with a download."""
    ok_weights = sum(weights.values()) > 0
    st.subheader("Save and export")
    c1, c2, c3 = st.columns([2, 1, 1])
    st.session_state.setdefault("mix_name", f"mix-{target}")
    name = c1.text_input("Mixture name", key="mix_name", help="letters, digits, '.', '_' or '-'")
    seed = c2.number_input("Document seed", 0, 10 ** 6, 0, key="mix_seed")
    allow_short = c3.checkbox("Use all of a short source", key="mix_allow_short",
                              help="If a source has fewer tokens than its share: use all of it (smaller dataset) "
                                   "instead of stopping with an error")
    b1, b2 = st.columns(2)
    if b1.button("Save mixture", key="mix_save", disabled=not ok_weights):
        try:
            m = Mixture(name, weights, int(st.session_state["mix_budget"]), seed=int(seed), target=target)
            path = save_mixture(m)
            st.success(f"Saved {m.name!r} to `{path}`. Fine-tune on it from the Fine-tune page, or export it: "
                       f"`python -m core mix export {m.name}`")
        except AlignScopeError as exc:
            st.error(str(exc))
    if b2.button("Export JSONL", key="mix_export", disabled=not ok_weights):
        try:
            m = Mixture(name, weights, int(st.session_state["mix_budget"]), seed=int(seed), target=target)
            with st.spinner(f"Sampling {m.budget_tokens:,} tokens..."):
                rep = materialize_with_report(m, tokenizer=load_probe(settings.model).tokenizer,
                                              on_short="use_all" if allow_short else "error")
            save_mixture(m)
            path = write_jsonl(rep.rows, mixtures_dir() / f"{m.name}.jsonl")
            st.session_state["mix_exported"] = {"path": str(path), "rows": len(rep.rows), "tokens": rep.total_tokens,
                                              "warnings": rep.warnings, "name": m.name}
        except AlignScopeError as exc:
            st.error(str(exc))
    exp = st.session_state.get("mix_exported")
    if exp:
        for w in exp["warnings"]:
            st.warning(w)
        st.success(f"Exported {exp['rows']:,} rows ({exp['tokens']:,} tokens) with provenance (source, doc_id) to "
                   f"`{exp['path']}` (mixture {exp['name']!r} saved too).")
        try:
            p = Path(exp["path"])
            if p.stat().st_size < 200 * 2 ** 20:
                st.download_button("⬇ Download JSONL", p.read_bytes(), file_name=p.name, mime="application/jsonl",
                                   key="mix_download")
        except OSError:
            pass


def saved_section(ss: SourceSet) -> None:
    """Saved mixtures, loadable onto the sliders."""
    with st.expander("Saved mixtures", expanded=bool(st.session_state.get("mix_load_msg"))):
        if st.session_state.get("mix_load_msg"):
            st.warning(st.session_state.pop("mix_load_msg"))
        saved = list_mixtures()
        if not saved:
            st.caption("None yet.")
        else:
            pick = st.selectbox("Saved mixture", saved, key="mix_saved_pick")
            if st.button("Load onto the sliders", key="mix_load"):
                try:
                    m = load_mixture(pick)
                    outside = [s for s in m.weights if s not in ss.sources]
                    if outside:
                        st.session_state["mix_load_msg"] = (f"Mixture {m.name!r} also uses {', '.join(outside)}: add them "
                                                            "to the sources above to load their weights.")
                    st.session_state["mix_pending"] = {"weights": m.weights, "budget": m.budget_tokens}
                    st.rerun()
                except AlignScopeError as exc:
                    st.error(str(exc))
