"""One slide per page in presenter mode (:mod:`ui.present`). Every slide reads caches only (embedding
store, results database, lab results file): nothing here submits a job, computes an embedding or
loads model weights; what is missing is said in words, with where to get it.
"""
from __future__ import annotations

import streamlit as st

from core import charts
from core.errors import AlignScopeError
from core.views import ViewState, md_escape, settings_caption
from ui import present


def _missing(view: ViewState, status: dict, need: str) -> None:
    lacking = [n for n, s in status.items() if not s.ready]
    errors = [f"- {md_escape(n)}: {md_escape(s.error)}" for n, s in status.items() if s.error]
    present.message(
        f"{need}\n\nNot cached yet with these settings: **{md_escape(', '.join(lacking))}**.\n\n"
        + ("\n".join(errors) + "\n\n" if errors else "")
        + "Presenter mode never computes: press Esc and use **Compute missing embeddings** on the Alignment page.",
        heading="Embeddings missing")


def alignment(view: ViewState, settings) -> None:
    """The cross-alignment heatmap of the view's corpora (cached embeddings only)."""
    from ui.data import alignment_matrix, statuses

    status = statuses(view.corpora(), settings)
    ready = {n: s for n, s in status.items() if s.ready}
    present.title("Alignment between corpora")
    if len(ready) < 2 or len(ready) < len(status):
        _missing(view, status, "The heatmap needs every chosen corpus' embeddings.")
    else:
        matrix, _ = alignment_matrix(ready)
        present.slide(charts.heatmap_figure(matrix, order=view.order, target=view.target, title=" "), key="heatmap")
    present.footer(settings_caption(settings) + " · diagonal: diversity · 95% CIs: delete-one-batch jackknife")


def ranking_data(view: ViewState, settings, status: dict | None = None):
    """``(rows, matrix)`` of the ranking from cached embeddings, or ``(None, status)`` when some are
    missing. Rows carry tie groups (:func:`core.coefficients.tie_groups`)."""
    from core.coefficients import rank_sources, tie_groups
    from core.views import ranking_rows
    from ui.data import alignment_matrix, cached_token_counts, statuses
    from ui.state import domains

    status = status or statuses(view.corpora(), settings)
    ready = {n: s for n, s in status.items() if s.ready}
    if view.target not in ready or len(ready) < 2:
        return None, status
    matrix, _ = alignment_matrix(ready)
    ranking = rank_sources(matrix, view.target)
    rows = ranking_rows(ranking, tokens=cached_token_counts(list(ready)), domains=domains(),
                        groups=tie_groups(matrix, view.target, ranking))
    return rows, matrix


def ranking(view: ViewState, settings) -> None:
    """The ranking bars with CIs and tie groups."""
    present.title(f"Which candidate is most aligned with {view.target}?")
    rows, extra = ranking_data(view, settings)
    if rows is None:
        _missing(view, extra, f"The ranking needs {md_escape(view.target)} and at least one candidate.")
    else:
        present.slide(charts.ranking_figure(rows, target=view.target, title=" "), key="ranking")
    present.footer(settings_caption(settings) + " · dashed boxes: not significantly different (paired jackknife)")


def corpora(view: ViewState, settings) -> None:
    """The target and candidates as a table (documents, tokens, licence)."""
    from core.views import corpus_rows
    from ui.data import cached_token_counts
    from ui.state import corpus_catalog

    names = view.corpora()
    cat = {c["name"]: c for c in corpus_catalog()}
    rows = corpus_rows([cat[n] for n in names if n in cat], tokens=cached_token_counts(names), target=view.target,
                       candidates=view.candidates)
    present.title("Corpora compared")
    present.slide(charts.corpora_figure(rows, title=" "), key="corpora")
    present.footer(f"{len(view.candidates)} candidates · tokens: default probe tokenizer (blank: not counted yet)")


def mix(view: ViewState, settings) -> None:
    """The current mix (the Mix page's sliders, else equal weights) with its predicted alignment."""
    from core.errors import AlignScopeError
    from core.mixture import MissingEmbeddingsError, predict_mixture
    from core.mixture.charts import contribution_figure
    from ui.mix import default_budget, source_set

    present.title("The fine-tuning mix")
    try:
        ss, singles = source_set(view.target, view.candidates, settings)
    except MissingEmbeddingsError as exc:
        present.message(md_escape(exc.what) + "\n\nPresenter mode never computes: press Esc and compute them on the "
                        "Alignment page.", heading="Embeddings missing")
        present.footer(settings_caption(settings))
        return
    except AlignScopeError as exc:
        present.message(md_escape(exc), heading="No mix to show")
        present.footer(settings_caption(settings))
        return
    weights = {s: float(st.session_state.get(f"mix_w_{s}", 1.0 / len(ss.sources))) for s in ss.sources}
    budget = int(st.session_state.get("mix_budget", default_budget()))
    pred = predict_mixture(ss, weights)
    a = pred.alignment
    title = (f"Predicted alignment {a.value:.3f} (95% CI {a.ci_low:.3f}–{a.ci_high:.3f}) · best single "
             f"{singles[0]['source']} {singles[0]['alignment']:.3f}")
    fig = contribution_figure(pred.weights, budget, alignment={r["source"]: r["alignment"] for r in singles},
                              title=title)
    present.slide(fig, key="mix")
    present.footer(f"budget {budget:,} tokens · " + settings_caption(settings))


def finetune(view: ViewState, settings) -> None:
    """Finished fine-tunes on the target: perplexity before -> after (the newest live group on the
    target, else the committed lab's 4k regime for it, labelled as such)."""
    from core.finetune import results
    from core.validation.committed import lab_groups

    groups = results.groups(results.list_runs(target=view.target))
    rows = ([r for r in results.list_runs(group_key=groups[0]["group_key"]) if r.get("status") == "done"]
            if groups else [])
    note = "perplexity on the target's held-out split · same budget and hyperparameters per group"
    if not rows:
        try:
            lab = next(iter(lab_groups(view.target)), None)
        except AlignScopeError:
            lab = None
        if lab is not None:
            rows, note = list(lab.rows), f"{lab.label} · mean over seeds · {note}"
    present.title(f"Fine-tuning on candidate sources, evaluated on {view.target}")
    if not rows:
        present.message("No finished fine-tune on this target yet. Press Esc to launch them on this page.",
                        heading="No fine-tune results")
    else:
        present.slide(charts.before_after_figure(rows, target=view.target), key="before_after")
    present.footer(note)


def alignment_vs_perplexity(view: ViewState, settings) -> None:
    """The fit of perplexity after fine-tuning on alignment: the group named by the URL's
    ``avp_group`` when there is one, else the page's default (the newest live group on the target,
    else the committed lab's 4k regime; :func:`core.validation.committed.plot_groups`)."""
    from core.finetune import plots
    from core.validation.committed import find_group, plot_groups

    present.title("Does alignment predict perplexity after fine-tuning?")
    groups, _ = plot_groups(view.target)
    if not groups:
        present.message("No fine-tune runs yet.", heading="No results")
        present.footer("")
        return
    g = find_group(groups, st.query_params.get("avp_group")) or groups[0]
    rows = g.rows()
    if g.lab is not None:
        fig = plots.alignment_figure_styled(rows, target=g.target, provenance=g.lab.label,
                                            points_name="committed lab: mean over seeds")
        note = g.lab.label + " · bars: min–max over seeds, 95% CI of the alignment"
    else:
        fig, note = plots.alignment_figure_styled(rows, target=g.target), g.title
    present.slide(fig, key="avp")
    present.footer(note)


def validation(view: ViewState, settings) -> None:
    """The validation lab's leaderboard (r² of each metric with post-fine-tune perplexity)."""
    from core.validation import report
    from ui.validation import load_report

    present.title("Which metric predicts fine-tuning?")
    rep, path, error = load_report()
    if rep is None or not rep.get("leaderboard"):
        present.message(md_escape(error or "No validation results yet (python -m core validate run)."),
                        heading="No lab results")
        present.footer("")
        return
    regime = report.pick_regime(rep["leaderboard"]) or rep["leaderboard"][0]["regime"]
    rows = [r for r in rep["leaderboard"] if r["regime"] == regime and not r["exclude_derived"]]
    present.slide(charts.leaderboard_figure(rows, title=f"r² with perplexity after fine-tuning · regime {regime}"),
                  key="leaderboard")
    present.footer(f"lab results {path.name} · nested-bootstrap 95% CIs")


def _compare_results() -> tuple[dict | None, str]:
    """The selection comparison results (``ui.select.COMPARE_RESULTS``) when they hold a finished run,
    else ``(None, why not)``."""
    from core.errors import AlignScopeError
    from core.finetune.compare import load_results
    from ui.select import COMPARE_RESULTS as path

    try:
        res = load_results(path)
    except AlignScopeError as exc:
        return None, str(exc)
    if not any(s.get("n") and s.get("ppl_after") is not None for s in res.get("summary", [])):
        return None, f"{path.name} has no finished fine-tune yet."
    return res, ""


def _latest_selection() -> tuple[str, dict] | None:
    """The most recently saved selection (``cache/selections/NAME.json``) as ``(name, summary)``."""
    from core.errors import AlignScopeError
    from core.selection.export import load_selection, selections_dir

    for path in sorted(selections_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            meta = load_selection(path.stem)
        except (AlignScopeError, ValueError):       # unreadable summary: try the next one
            continue
        if meta.get("composition"):
            return path.stem, meta
    return None


def select(view: ViewState, settings) -> None:
    """Selection methods head to head (``python -m core select compare`` results: perplexity after
    fine-tuning per method), else the most recently saved selection's composition, else what is
    missing. Reads files only."""
    from core.selection.report import composition_figure, method_perplexity_figure

    res, why = _compare_results()
    if res is not None:
        cfg = res.get("config", {})
        present.title(f"Which selection method helps {cfg.get('target', 'the target')} most after fine-tuning?")
        present.slide(method_perplexity_figure(res, title=" "), key="select_compare")
        present.footer(f"{cfg.get('budget', '?'):,} tokens from the same pool of {len(cfg.get('pool', []))} corpora · "
                       f"{len(cfg.get('seeds', []))} seeds per method · {cfg.get('model', '')} · "
                       "python -m core select compare")
        return
    latest = _latest_selection()
    if latest is not None:
        name, meta = latest
        present.title(f"Where the selected windows come from: {name}")
        present.slide(composition_figure(meta), key="select_composition")
        present.footer(f"saved selection {name} · no head-to-head comparison yet ({why})")
        return
    present.title("Selecting windows for a target")
    present.message(f"No selection results yet: {md_escape(why)}\n\nRun `python -m core select compare` (every "
                    "method fine-tuned on the same pool and budget; resumable), or press Esc, select windows on this "
                    "page and save them as a corpus. Presenter mode never computes.", heading="No selection results")
    present.footer("")


def home(view: ViewState, settings) -> None:
    """The Home page's slide: the question, and the ranking of the candidates when their embeddings
    are cached (:func:`ranking_data`); otherwise a title slide saying what is compared and what is
    missing. Never computes."""
    st.session_state["present_page"] = ""
    rows, extra = ranking_data(view, settings) if view.target else (None, {})
    if rows:
        present.title(f"AlignScope · which candidate is most aligned with {view.target}?")
        shown = len(rows) if len(rows) == len(view.candidates) else f"{len(rows)} of {len(view.candidates)}"
        present.slide(charts.ranking_figure(rows, target=view.target, title=f"{shown} candidates · Task2Vec "
                                            "alignment coefficient, 95% CIs (delete-one-batch jackknife)"),
                      key="home_ranking")
        present.footer(settings_caption(settings))
        return
    cands = ", ".join(view.candidates) or "(none chosen)"
    lacking = [n for n, s in (extra or {}).items() if not s.ready]
    present.message(f"**Target benchmark:** {md_escape(view.target or '(none)')}\n\n"
                    f"**Candidates ({len(view.candidates)}):** {md_escape(cands)}\n\n"
                    f"**Question:** which candidate is most aligned with the target (Task2Vec alignment coefficient, "
                    f"95% CIs), and does alignment predict the perplexity after fine-tuning?"
                    + (f"\n\nThe ranking shows here once these are cached: {md_escape(', '.join(lacking))} "
                       "(Alignment page)." if lacking else ""),
                    heading="AlignScope")
    present.footer(settings_caption(settings))


def other(title: str) -> None:
    """A page without a presenter view: its title and how to see it."""
    present.title(title)
    present.message("This page has no presenter view: press Esc to use it.", heading=title)
    present.footer("")


SLIDES = {"corpora": corpora, "alignment": alignment, "ranking": ranking, "mix": mix, "finetune": finetune,
          "alignment_vs_perplexity": alignment_vs_perplexity, "validation": validation, "select": select}


def presenting(slide: str, settings) -> None:
    """In presenter mode, draw this page's slide (one of :data:`SLIDES`, else a title-only slide
    named ``slide``) and stop the page; otherwise do nothing. Call it right after the sidebar."""
    from ui.state import get_view

    import inspect

    from ui.navigation import url_of

    view = get_view()
    if not view.present:
        return
    st.session_state["present_page"] = url_of(inspect.stack()[1].filename)   # the calling page's URL path
    from ui.deck import deck_requested, present_deck

    deck = deck_requested()
    if deck:                            # ?present=1&deck=NAME: the deck's slide, whatever the page
        present_deck(deck, st.session_state["present_page"])
        st.stop()
    if slide in SLIDES:
        SLIDES[slide](view, settings)
    else:
        other(slide)
    st.stop()
