"""One slide per saved view of a deck (:mod:`core.deck`), from the caches only.

:func:`build_slide` turns a :class:`core.deck.DeckView` (a page and its URL parameters) into a
:class:`Slide`: the figure that page shows for that view, a title and a caption naming what produced
it, or a one-line ``problem`` saying why the slide cannot be drawn (a corpus or setting that no
longer exists, embeddings not cached with the view's settings, no lab file...). Nothing here embeds,
trains or loads model weights; a problem never stops the other slides. The deck export
(:mod:`core.deck_export`) and presenter mode's deck stepping (``ui.present``) both draw these slides.

Per page (the parameters each one reads, besides the view's own: target, candidates, settings, order):

- Home, Ranking: the ranking of the candidates (Task2Vec alignment with the target, 95% CIs, tie groups);
- Alignment: the cross-alignment heatmap (``order``);
- Corpora: the target and candidates as a table (documents, tokens: exact where counted, else the
  estimate of :mod:`core.corpus_counts`, marked ``≈``);
- Mix: the token contribution of each source (``mix=source:share,...``, ``budget``; default equal
  shares) with the predicted alignment of the mixture;
- Fine-tune: perplexity before -> after of the newest live group on the target, else the committed lab;
- Alignment_vs_perplexity: the fit (``avp_group``; ``avp_tab`` = "Familiarity vs perplexity" for that one);
- Which_metric_predicts: the leaderboard of ``regime`` (``derived=exclude`` without target-derived
  sources); with ``lab_tab`` = "Scatter per metric" the scatter (one panel: ``metric=NAME``), with
  "Dose-response" the dose-response curves, with "Other designs" one design's chart (``design=kinds|budget|pretrain``);
- Select: the selection methods head to head (``docs/results/selection_compare.json``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.deck import DeckView, page_names, param_value
from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.views import ViewState

#: The Which-metric page's tabs, as its URL parameter ``lab_tab`` names them.
LAB_SCATTER, LAB_DOSE, LAB_DESIGNS = "Scatter per metric", "Dose-response", "Other designs"
AVP_FAMILIARITY = "Familiarity vs perplexity"
#: Pages whose slide reads the corpora's content (embeddings, sizes): their corpora must be installed.
CONTENT_PAGES = ("", "Corpora", "Alignment", "Ranking", "Mix")
_REPORTS: dict[tuple, dict] = {}
_DESIGNS: dict[tuple, list] = {}
_LOCK = threading.Lock()


@dataclass
class Slide:
    """What one saved view shows.

    Attributes:
        number: 1-based place in the deck.
        page: the page's URL path (``""``: Home); ``page_title`` its name.
        url: the view's relative URL (to open it live).
        title: the slide's title line; ``caption``: what produced the figure.
        figure: the plotly figure, or None when ``problem`` is set.
        problem: one line saying why this slide cannot be drawn (``""`` when it can).
        note: the speaker's caption of the slide (:attr:`core.deck.DeckView.title`).
    """

    number: int
    page: str
    page_title: str
    url: str
    title: str = ""
    caption: str = ""
    figure: Any = None
    problem: str = ""
    note: str = ""


def view_problems(view: DeckView) -> list[str]:
    """What in ``view`` no longer exists or is invalid, one sentence each (``[]`` when all is well).

    Checks: the page exists; the target and candidates are registered (and installed, for the pages
    of :data:`CONTENT_PAGES`; the fine-tune and lab pages read results only); the estimator
    is registered; the integer settings, device, precision and order are valid values; the
    Alignment vs perplexity group (``avp_group``), the Which-metric regime (``regime``) and metric
    (``metric``) exist.
    """
    from core.views import DEVICES, INT_PARAMS, ORDERS, split_names

    p = view.params
    out: list[str] = []
    if view.page not in page_names():
        out.append(f"page /{view.page} no longer exists in the dashboard")
        return out
    try:
        from core.corpora import list_corpora

        corpora = {c.name: c for c in list_corpora()}
    except AlignScopeError as exc:
        return [f"the corpus registry cannot be read ({exc.what})"]
    names = [n for n in [param_value(p.get("target")) or "", *split_names(p.get("candidates"))] if n]
    gone = [n for n in names if n not in corpora]
    if gone:
        out.append(f"corpus {', '.join(gone)} no longer exists (not registered; python -m core corpora lists them)")
    absent = []
    for n in names if view.page in CONTENT_PAGES else ():
        if n in corpora:
            try:
                ok = corpora[n].available()
            except (AlignScopeError, OSError):
                ok = False
            if not ok:
                absent.append(n)
    if absent:
        out.append(f"corpus {', '.join(absent)} is not installed (python -m core corpora install)")
    est = param_value(p.get("estimator"))
    if est:
        from core.estimators import REGISTRY

        if est not in set(REGISTRY):
            out.append(f"estimator {est!r} no longer exists (one of {', '.join(sorted(REGISTRY))})")
    for name, lo, hi in INT_PARAMS:
        raw = param_value(p.get(name))
        if raw is None:
            continue
        try:
            v = int(raw)
        except ValueError:
            out.append(f"setting {name}={raw!r} is not an integer")
            continue
        if not lo <= v <= hi:
            out.append(f"setting {name}={v} is outside {lo}..{hi}")
    dev = param_value(p.get("device"))
    if dev and dev not in DEVICES and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        out.append(f"device {dev!r} is not one of {', '.join(DEVICES)}")
    prec = param_value(p.get("precision"))
    if prec:
        from core.precision import PRECISIONS

        if prec not in PRECISIONS:
            out.append(f"precision {prec!r} is not one of {', '.join(PRECISIONS)}")
    order = param_value(p.get("order"))
    if order and order not in ORDERS:
        out.append(f"heatmap order {order!r} is not one of {', '.join(ORDERS)}")
    out += _page_problems(view)
    return out


def _page_problems(view: DeckView) -> list[str]:
    p = view.params
    if view.page == "Alignment_vs_perplexity" and param_value(p.get("avp_group")):
        from core.validation.committed import find_group, plot_groups

        groups, _ = plot_groups(param_value(p.get("target")))
        if find_group(groups, param_value(p.get("avp_group"))) is None:
            return [f"the fine-tune group {param_value(p.get('avp_group'))[:60]!r} no longer exists"]
    if view.page == "Which_metric_predicts" and (p.get("regime") or p.get("metric")):
        try:
            rep, _ = _lab_report()
        except AlignScopeError as exc:
            return [f"the lab results cannot be read ({exc.what})"]
        if rep is None:
            return ["there is no validation lab results file any more"]
        regimes = sorted({r["regime"] for r in rep["leaderboard"]})
        regime = param_value(p.get("regime"))
        if regime and regime not in regimes:
            return [f"lab regime {regime!r} no longer exists (one of {', '.join(regimes)})"]
        metric = param_value(p.get("metric"))
        metrics = rep["summary"].get("metrics") or []
        if metric and metric not in metrics:
            return [f"lab metric {metric!r} no longer exists (one of {', '.join(metrics)})"]
    return []


def view_state(view: DeckView) -> "ViewState":
    """The :class:`core.views.ViewState` the page derives from ``view``'s parameters (as the dashboard
    does: unknown corpora dropped, bad settings replaced by the defaults)."""
    from core.corpora import list_corpora
    from core.estimators import REGISTRY
    from core.views import view_from_params

    names = [c.name for c in list_corpora()]
    return view_from_params(view.params, known=names, available=None, estimators=REGISTRY)


def build_slide(view: DeckView, *, number: int = 1) -> Slide:
    """The slide of ``view`` (see the module docstring), from the caches only.

    Never raises for a view that cannot be drawn: its :attr:`Slide.problem` says why in one line.
    """
    slide = Slide(number=number, page=view.page, page_title=view.page_title, url=view.url(), note=view.title)
    problems = view_problems(view)
    if problems:
        slide.title = view.page_title
        slide.problem = "; ".join(problems)
        return slide
    try:
        state = view_state(view)
        builder = _BUILDERS.get(view.page or "Home")
        if builder is None:
            slide.title, slide.problem = view.page_title, f"page /{view.page} has no slide view"
            return slide
        builder(slide, view, state)
    except AlignScopeError as exc:
        slide.figure, slide.problem = None, str(exc.what)
    if slide.figure is None and not slide.problem:
        slide.problem = "nothing to show for this view"
    slide.title = slide.title or view.page_title
    return slide


# -- per page -----------------------------------------------------------------------------------

def _missing_line(data) -> str:
    return (f"embeddings not cached with this view's settings for {', '.join(data.missing)} "
            "(compute them on the Alignment page or with python -m core embed)")


def _collect(state, *, lab: bool = False):
    from core.report import collect

    return collect(state.target, list(state.candidates), state.settings(), lab=lab)


def _ranking(slide: Slide, view: DeckView, state) -> None:
    from core import charts
    from core.views import settings_caption

    data = _collect(state)
    slide.title = f"Which candidate is most aligned with {state.target}?"
    if not data.ranking or data.missing:
        slide.problem = _missing_line(data) if data.missing else f"no ranking for {state.target}"
        return
    slide.figure = charts.ranking_figure(data.ranking, target=state.target, title=" ")
    slide.caption = settings_caption(state.settings()) + " · dashed boxes: not significantly different (paired jackknife)"


def _alignment(slide: Slide, view: DeckView, state) -> None:
    from core import charts
    from core.views import settings_caption

    data = _collect(state)
    slide.title = "Alignment between corpora"
    if data.matrix is None or data.missing:
        slide.problem = _missing_line(data) if data.missing else "fewer than two corpora chosen"
        return
    slide.figure = charts.heatmap_figure(data.matrix, order=state.order, target=state.target, title=" ")
    slide.caption = settings_caption(state.settings()) + " · diagonal: diversity · 95% CIs: delete-one-batch jackknife"


def _corpora(slide: Slide, view: DeckView, state) -> None:
    from core import charts
    from core.corpora import list_corpora
    from core.corpus_counts import known_counts
    from core.views import corpus_rows

    names = state.corpora()
    specs = {c.name: c for c in list_corpora()}
    counts = known_counts(names)
    cat = []
    for n in names:
        c = specs[n]
        cat.append({**c.spec.to_dict(), "available": True, "documents": (counts.get(n) or {}).get("documents"),
                    "install_hint": None})
    tokens = {n: (counts.get(n) or {}).get("tokens") for n in names}
    slide.title = "Corpora compared"
    slide.figure = charts.corpora_figure(corpus_rows(cat, tokens=tokens, target=state.target,
                                                     candidates=state.candidates), title=" ")
    est = [n for n in names if (counts.get(n) or {}).get("estimate")]
    slide.caption = (f"{len(state.candidates)} candidates · tokens: default probe tokenizer"
                     + (f" (estimated, not counted yet: {', '.join(est)})" if est else ""))


def _mix(slide: Slide, view: DeckView, state) -> None:
    from core.finetune.config import DEFAULT_BUDGET
    from core.mixture import MissingEmbeddingsError, load_source_set, predict_mixture
    from core.mixture.charts import contribution_figure
    from core.mixture.predict import single_source_alignments

    slide.title = "The fine-tuning mix"
    try:
        ss = load_source_set(state.target, list(state.candidates), state.settings())
    except MissingEmbeddingsError as exc:
        slide.problem = str(exc.what)
        return
    weights = {s: 0.0 for s in ss.sources}
    for part in (param_value(view.params.get("mix")) or "").split(","):
        name, _, value = part.rpartition(":")
        try:
            if name in weights and 0.0 <= float(value) <= 1.0:
                weights[name] = float(value)
        except ValueError:
            continue
    if sum(weights.values()) <= 0:
        weights = {s: 1.0 / len(ss.sources) for s in ss.sources}
    try:
        budget = int(param_value(view.params.get("budget")) or DEFAULT_BUDGET)
    except ValueError:
        budget = int(DEFAULT_BUDGET)
    pred = predict_mixture(ss, weights)
    singles = single_source_alignments(ss)
    a = pred.alignment
    slide.figure = contribution_figure(pred.weights, budget, alignment={r["source"]: r["alignment"] for r in singles},
                                       title=f"Predicted alignment {a.value:.3f} (95% CI {a.ci_low:.3f}–{a.ci_high:.3f})"
                                             f" · best single {singles[0]['source']} {singles[0]['alignment']:.3f}")
    slide.caption = f"budget {budget:,} tokens · mixture prediction (docs/mixture_prediction.md)"


def _finetune(slide: Slide, view: DeckView, state) -> None:
    from core import charts
    from core.finetune import results
    from core.validation.committed import lab_groups

    slide.title = f"Fine-tuning on candidate sources, evaluated on {state.target}"
    groups = results.groups(results.list_runs(target=state.target))
    rows = ([r for r in results.list_runs(group_key=groups[0]["group_key"]) if r.get("status") == "done"]
            if groups else [])
    note = "perplexity on the target's held-out split · same budget and hyperparameters per group"
    if rows:
        note = groups[0]["title"] + " · " + note
    else:
        lab = next(iter(lab_groups(state.target)), None)
        if lab is not None:
            rows, note = list(lab.rows), f"{lab.label} · mean over seeds · {note}"
    if not rows:
        slide.problem = f"no finished fine-tune on {state.target} (Fine-tune page, or python -m core experiment)"
        return
    slide.figure = charts.before_after_figure(rows, target=state.target)
    slide.caption = note


def _avp(slide: Slide, view: DeckView, state) -> None:
    from core.finetune import plots
    from core.validation.committed import find_group, plot_groups

    slide.title = "Does alignment predict perplexity after fine-tuning?"
    groups, note = plot_groups(state.target)
    if not groups:
        slide.problem = note or "no fine-tune runs and no committed lab"
        return
    g = find_group(groups, param_value(view.params.get("avp_group"))) or groups[0]
    rows = g.rows()
    name = "committed lab: mean over seeds" if g.lab is not None else "fine-tuned runs"
    if param_value(view.params.get("avp_tab")) == AVP_FAMILIARITY:
        slide.figure, _ = plots.familiarity_figure(rows, target=g.target, points_name=name)
    else:
        slide.figure = plots.alignment_figure_styled(rows, target=g.target, provenance=g.lab.label if g.lab else "",
                                                     points_name=name)
    slide.caption = (g.lab.label + " · bars: min–max over seeds, 95% CI of the alignment") if g.lab else g.title


def _lab_report() -> tuple[dict | None, str]:
    """The validation report of the current lab results file, memoised per file version."""
    from core.validation import report
    from core.validation.committed import load_committed

    loaded = load_committed()
    if loaded is None:
        return None, ""
    results, path = loaded
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _LOCK:
        rep = _REPORTS.get(key)
    if rep is None:
        rep = report.report(results)
        with _LOCK:
            _REPORTS.clear()
            _REPORTS[key] = rep
    return rep, str(path)


def _validation(slide: Slide, view: DeckView, state) -> None:
    from core import charts
    from core.validation import figures, report

    slide.title = "Which metric predicts fine-tuning?"
    if param_value(view.params.get("lab_tab")) == LAB_DESIGNS:
        _design(slide, param_value(view.params.get("design")))
        return
    rep, path = _lab_report()
    if rep is None or not rep.get("leaderboard"):
        slide.problem = "no validation results yet (python -m core validate run)"
        return
    regime = param_value(view.params.get("regime")) or report.pick_regime(rep["leaderboard"]) or rep["leaderboard"][0]["regime"]
    exclude = param_value(view.params.get("derived")) == "exclude"
    rows = [r for r in rep["leaderboard"] if r["regime"] == regime and bool(r["exclude_derived"]) == exclude]
    tab = param_value(view.params.get("lab_tab"))
    metric = param_value(view.params.get("metric"))
    base = (rep["summary"].get("base") or {}).get("perplexity")
    suffix = " · target-derived excluded" if exclude else ""
    if tab == LAB_DOSE:
        slide.figure = figures.dose_ppl_figure(rep.get("dose") or {}, base_ppl=base,
                                               title="Dose-response: perplexity vs share of the aligned source")
    elif tab == LAB_SCATTER or metric:
        chosen = [r for r in rows if r["metric"] == metric] if metric else rows
        title = (f"Perplexity after fine-tuning vs {metric or 'each metric'} · regime {regime}{suffix}")
        slide.figure = figures.scatter_figure(chosen, rep["points"].get(regime, []), title=title, base_ppl=base,
                                              cols=1 if metric else 3)
        slide.title = f"Does {metric} predict fine-tuning?" if metric else slide.title
    else:
        slide.figure = charts.leaderboard_figure(rows, title=f"r² with perplexity after fine-tuning · regime {regime}"
                                                             f"{suffix}")
    slide.caption = f"lab results {path.rsplit('/', 1)[-1]} · nested-bootstrap 95% CIs · {report.verdict(rows, regime=regime, exclude_derived=exclude)}"


def _design_sections() -> list:
    """:func:`core.report.designs.design_sections` of the committed files, memoised per file version
    (a deck with several design slides bootstraps each design once)."""
    from core.report.designs import design_sections, results_version

    key = results_version()
    with _LOCK:
        found = _DESIGNS.get(key)
    if found is None:
        found = design_sections()
        with _LOCK:
            _DESIGNS.clear()
            _DESIGNS[key] = found
    return found


def _design(slide: Slide, name: str | None) -> None:
    """One design's chart from its committed results (``design=kinds|budget|pretrain``, default the first)."""
    from core.report.designs import section_figure

    found = _design_sections()
    chosen = next((d for d in found if d.name == name), None) if name else (found[0] if found else None)
    if chosen is None:
        slide.problem = (f"no committed results of the design {name!r}" if name else
                         "no design has committed results yet (python -m core design run, pretrain grid run)")
        return
    slide.title = chosen.title
    if chosen.error or chosen.figure is None:
        slide.problem = chosen.error or chosen.note
        return
    slide.figure = section_figure(chosen)
    slide.caption = f"{chosen.path.name} · {chosen.runs} finished runs · " + (chosen.lines[0] if chosen.lines else "")


def _select(slide: Slide, view: DeckView, state) -> None:
    from core.paths import REPO_ROOT
    from core.finetune.compare import load_results
    from core.selection.report import method_perplexity_figure

    path = REPO_ROOT / "docs" / "results" / "selection_compare.json"
    res = load_results(path)
    if not any(s.get("n") and s.get("ppl_after") is not None for s in res.get("summary", [])):
        slide.problem = f"{path.name} has no finished fine-tune yet (python -m core select compare)"
        return
    cfg = res.get("config", {})
    slide.title = f"Which selection method helps {cfg.get('target', 'the target')} most after fine-tuning?"
    slide.figure = method_perplexity_figure(res, title=" ")
    slide.caption = (f"{cfg.get('budget', '?'):,} tokens from the same pool of {len(cfg.get('pool', []))} corpora · "
                     f"{len(cfg.get('seeds', []))} seeds per method · {cfg.get('model', '')}")


_BUILDERS = {"Home": _ranking, "Ranking": _ranking, "Alignment": _alignment, "Corpora": _corpora, "Mix": _mix,
             "Fine-tune": _finetune, "Alignment_vs_perplexity": _avp, "Which_metric_predicts": _validation,
             "Select": _select}


def build_slides(views: list[DeckView]) -> list[Slide]:
    """:func:`build_slide` of every view, numbered from 1."""
    return [build_slide(v, number=k) for k, v in enumerate(views, 1)]
