"""The "Which metric predicts?" page's logic and the validation verdict line of Ranking/Alignment.

Nothing here fine-tunes or scores anything: the page reads the validation lab's results file
(``docs/results/validation.json``, or ``$ALIGNSCOPE_VALIDATION_RESULTS``; see
:func:`core.validation.report.results_path`) and rebuilds the leaderboard from it
(:func:`core.validation.report.report`, about a second, memoised per file version). The regime and
the "exclude target-derived sources" toggle live in the URL (``?regime=long&derived=exclude``), so a
link reopens the same view.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import AlignScopeError
from core.validation import figures, report
from core.validation.axes import VERDICT_SKIP, axis_label
from core.views import md_escape
from ui.export import figure_downloads, show_figure, table_download

REGIME_PARAM = "regime"
DERIVED_PARAM = "derived"
DERIVED_VALUES = {"include": False, "exclude": True}
NO_RESULTS = ("No validation results yet. The lab fine-tunes every source with several seeds and scores every "
              "metric; run it from a terminal (it takes up to two hours on CPU and resumes if interrupted):")
PRODUCE_COMMAND = "python -m core validate run --out docs/results/validation.json"


def _version(path: Path) -> tuple[str, int, int]:
    st_ = path.stat()
    return str(path.resolve()), st_.st_mtime_ns, st_.st_size


@st.cache_data(max_entries=8, show_spinner="Rebuilding the leaderboard from the lab results...")
def _report(path: str, mtime_ns: int, size: int, condition: str = "finetune", outcome: str = "text-ppl") -> dict:
    from core.validation.axes import axis_view

    results = report.load_results(path)
    if (condition, outcome) != ("finetune", "text-ppl"):
        results = axis_view(results, condition, outcome)
    return report.report(results)


AXIS_PARAM = "axis"
@st.cache_data(max_entries=8, show_spinner=False)
def _cached_axes(versions: tuple) -> list[dict]:
    return report.lab_axes()


def _axes() -> list[dict]:
    """:func:`core.validation.report.lab_axes`, memoised per version of the files it reads."""
    paths = report.lab_files()
    return _cached_axes(tuple((str(p), *(_version(p)[1:] if p.is_file() else (0, 0))) for p in paths))


def axis_key(axis: dict) -> str:
    """The URL key of an axis: ``"icl/af-nll"`` on the default target, ``"humaneval:finetune/af-nll"``
    on another target benchmark."""
    key = f"{axis['condition']}/{axis['outcome']}"
    return key if axis.get("target", report.DEFAULT_LAB_TARGET) == report.DEFAULT_LAB_TARGET else f"{axis['target']}:{key}"


def axis_title(axis: dict) -> str:
    """How an axis reads in the selector and the title: its (condition, outcome) words, and the target
    benchmark when it is not the default (``"code NLL (solution | docstring prompt) after fine-tuning
    · target humaneval"``)."""
    target = axis.get("target", report.DEFAULT_LAB_TARGET)
    label = axis_label(axis["condition"], axis["outcome"], target=target)
    return label if target == report.DEFAULT_LAB_TARGET else f"{label} · target {target}"


def axis_control() -> dict | None:
    """The (target, condition, outcome) selector, in the URL (``?axis=icl/af-nll``,
    ``?axis=humaneval:finetune/af-nll``): ``{"target", "condition", "outcome", "path"}`` of the chosen
    axis, or None when no lab file has runs."""
    axes = _axes()
    if not axes:
        return None
    by_key = {axis_key(a): a for a in axes}
    keys = list(by_key)
    _url_choice(AXIS_PARAM, "wv_axis", keys, keys[0])
    key = st.selectbox("Condition and outcome", keys, key="wv_axis",
                       format_func=lambda k: axis_title(by_key[k]),
                       help="How the source is used (fine-tuned on, or shown as demonstrations in the prompt) and "
                            "what is measured on the target benchmark; each from its committed lab file.")
    _write_url(AXIS_PARAM, "wv_axis", key)
    return by_key[key]


@st.cache_data(max_entries=16, show_spinner=False)
def _verdict(path: str, mtime_ns: int, size: int, condition: str | None = None, outcome: str | None = None) -> str:
    return report.verdict_for_file(path, condition=condition, outcome=outcome)


def load_report(axis: dict | None = None) -> tuple[dict | None, Path | None, str | None]:
    """The report of the current results file, or of ``axis`` (:func:`axis_control`): ``(report, path, error)``.

    ``(None, None, None)`` when there is no results file; ``(None, path, message)`` when it cannot
    be read (the message names the file and the field)."""
    path = axis["path"] if axis else report.results_path()
    if path is None:
        return None, None, None
    try:
        extra = (axis["condition"], axis["outcome"]) if axis else ()
        return _report(*_version(path), *extra), path, None
    except OSError:
        return None, path, (f"Validation results file {path} does not exist (set by ${report.RESULTS_ENV})."
                            f" Fix: point ${report.RESULTS_ENV} at an existing file, or unset it.")
    except AlignScopeError as e:
        return None, path, str(e)


def verdict_caption(where=None, target: str = report.DEFAULT_LAB_TARGET) -> None:
    """The validation lab's verdict (which metric predicts the outcome best), one caption line per
    (condition, outcome) of the lab files on ``target``, or on the default target when no lab has
    ``target`` (:func:`core.validation.report.lab_axes`; af-ppl left out, as it ranks like af-nll);
    nothing when there is no results file. Used by the Ranking and Alignment pages, with their target
    benchmark."""
    if report.results_path() is None:
        return
    shown = [a for a in _axes() if a["outcome"] not in VERDICT_SKIP]
    axes = [a for a in shown if a["target"] == target]
    if not axes:                      # no lab on this target: the default target's labs, as before targets
        target = report.DEFAULT_LAB_TARGET
        axes = [a for a in shown if a["target"] == target]
    for axis in axes or [None]:
        path = axis["path"] if axis else report.results_path()
        extra = (axis["condition"], axis["outcome"]) if axis and (
            (axis["condition"], axis["outcome"]) != ("finetune", "text-ppl") or target != report.DEFAULT_LAB_TARGET) else ()
        try:
            text = _verdict(*_version(path), *extra)
        except OSError:
            text = f"results file {path} not found (${report.RESULTS_ENV})."
        except AlignScopeError as e:
            text = str(e)
        label = axis_label(*extra, target=target) if extra else "fine-tuning"
        (where or st).caption(f"Which metric predicts {md_escape(label)}? {md_escape(text)}",
                              help=f"From the validation lab (page 'Which metric predicts?', file {path.name}): the "
                                   "outcome on the target against each alignment metric, nested-bootstrap 95% CIs.")


def no_results() -> None:
    """What the page shows without a results file: how to produce one."""
    st.info(NO_RESULTS)
    st.code(PRODUCE_COMMAND + "\n" + "python -m core validate report --results docs/results/validation.json",
            language="bash")
    st.caption(f"The page reads ${report.RESULTS_ENV} when set, else docs/results/validation.json, else the lab's "
               f"default output {report.lab_output_file()}.")


def _url_choice(param: str, key: str, options: list[str], default: str) -> None:
    """Seed widget ``key`` from URL parameter ``param`` when the URL holds a value this page did
    not write (a shared link, back/forward), else keep the user's choice."""
    url = st.query_params.get(param)
    if url in options and url != st.session_state.get(f"_{key}_url"):
        st.session_state[key] = url
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def _write_url(param: str, key: str, value: str) -> None:
    st.session_state[f"_{key}_url"] = value
    try:
        if st.query_params.get(param) != value:
            st.query_params[param] = value
    except Exception:  # a bare script run without a browser session
        pass


def _regime_label(summary: dict, regime: str) -> str:
    info = (summary.get("regimes") or {}).get(regime) or {}
    budget = info.get("budget_tokens")
    if regime == "dose":
        return "dose (mixtures)"
    return f"{regime}" + (f" ({budget:,} tokens)" if budget else "")


def controls(rep: dict) -> tuple[str, bool]:
    """Regime selector and the target-derived toggle, both in the URL; returns ``(regime, exclude)``."""
    regimes = list(dict.fromkeys(r["regime"] for r in rep["leaderboard"]))
    if not regimes:
        return "", False
    default = "4k" if "4k" in regimes else regimes[0]
    _url_choice(REGIME_PARAM, "wv_regime", regimes, default)
    url_derived = st.query_params.get(DERIVED_PARAM)
    if url_derived in DERIVED_VALUES and url_derived != st.session_state.get("_wv_derived_url"):
        st.session_state["wv_derived"] = DERIVED_VALUES[url_derived]
    st.session_state.setdefault("wv_derived", False)
    c1, c2 = st.columns([1, 1])
    regime = c1.segmented_control("Regime", regimes, required=True, key="wv_regime",
                                  format_func=lambda r: _regime_label(rep["summary"], r),
                                  help="4k: the paper's 4,000-token budget; long: a longer budget; dose: the "
                                       "dose-response mixtures pooled over both pairs (fractions 0 and 1 reuse the "
                                       "4k runs of the pure sources)")
    exclude = c2.toggle("Exclude sources derived from the target benchmark", key="wv_derived",
                        help="Leave out points whose training text comes from the target benchmark itself "
                             "(e.g. proofnet-valid for proofnet): they are high-leverage points.")
    regime = regime or default
    _write_url(REGIME_PARAM, "wv_regime", regime)
    _write_url(DERIVED_PARAM, "wv_derived", "exclude" if exclude else "include")
    return regime, bool(exclude)


def selected_rows(rep: dict, regime: str, exclude: bool) -> list[dict]:
    """The leaderboard rows of one regime and target-derived setting (ordered by r^2)."""
    return [r for r in rep["leaderboard"] if r["regime"] == regime and r["exclude_derived"] == exclude]


def header(rep: dict, path: Path) -> None:
    """One caption naming the results file, target, probe, runs done/failed and the lab's wall time,
    and a warning naming the runs marked done whose outcome is not finite (left out of every fit)."""
    s = rep["summary"]
    if s.get("n_runs_nonfinite"):
        bad = s.get("nonfinite_runs") or []
        st.warning(md_escape(
            f"{s['n_runs_nonfinite']} run(s) marked done have a non-finite outcome and are left out of every fit: "
            + ", ".join(f"{b.get('regime')}/{b.get('point')} seed {b.get('seed')} ({b.get('ppl_after')})" for b in bad[:10])
            + (f" and {len(bad) - 10} more" if len(bad) > 10 else "") + "."), icon="⚠️")
    wall = s.get("wall_seconds")
    st.caption(md_escape(
        f"Lab result {path}: target {s.get('target')}, probe {s.get('model')} ({s.get('precision')}), "
        f"{s['n_runs_done']} fine-tunes done, {s['n_runs_failed']} failed"
        + (f", {s['n_runs_pending']} running" if s.get("n_runs_pending") else "")
        + (f", lab wall time {wall / 3600:.2f} h" if isinstance(wall, (int, float)) else "")
        + (f", created {s.get('created')}" if s.get("created") else "") + "."))


def leaderboard(rep: dict, rows: list[dict], regime: str, exclude: bool) -> None:
    """The verdict line, the leaderboard table and its CSV export."""
    from core.validation.axes import outcome_unit

    axis = rep["summary"].get("axes") or {}
    st.markdown("**" + md_escape(report.verdict(rows, regime=regime, exclude_derived=exclude,
                                                target=rep["summary"].get("target"), **axis)) + "**")
    unit = outcome_unit(axis.get("outcome"))
    table = figures.leaderboard_table(rows, unit=unit)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "metric": st.column_config.TextColumn("metric", pinned=True),
        "cost per source (s)": st.column_config.TextColumn(help="mean seconds to score one source against the target"),
        "r² [95% CI]": st.column_config.TextColumn(help="squared Pearson correlation of metric and mean perplexity; "
                                                         "nested bootstrap (sources, then seeds), percentile CI"),
        f"LOO error ({unit})": st.column_config.TextColumn(help="leave-one-source-out: mean |outcome - prediction of "
                                                                 "the line fitted on the other sources|, in the outcome's unit"),
        "p": st.column_config.TextColumn(help="two-sided permutation p-value of Pearson r"),
    })
    suffix = f"{regime}-{'without' if exclude else 'with'}-derived"
    table_download(figures.leaderboard_frame(rows), f"validation-leaderboard-{suffix}", key="wv_board")
    excluded = sorted({p for r in rows for p in r.get("excluded", [])})
    n_boot = rep["summary"]["settings"]["n_boot"]
    st.caption(md_escape(
        f"y = perplexity on the target after fine-tuning (mean over a point's successful seeds); x = the metric "
        f"(higher = more aligned). 95% CIs: nested bootstrap, {n_boot} resamples of sources then seeds within a source "
        f"(percentile); p: permutation test; Δr²: paired bootstrap against the default. Failed or killed seeds are "
        f"excluded and counted." + (f" Excluded as target-derived: {', '.join(excluded)}." if excluded else "")))


def scatters(rep: dict, rows: list[dict], regime: str, exclude: bool) -> None:
    """Small multiples of perplexity vs each metric, with exports."""
    base = (rep["summary"].get("base") or {}).get("perplexity")
    title = (f"Perplexity after fine-tuning vs each metric · regime {regime}"
             + (" · target-derived excluded" if exclude else ""))
    fig = figures.scatter_figure(rows, rep["points"].get(regime, []), title=title, base_ppl=base)
    show_figure(fig, key="wv_scatter")
    figure_downloads(fig, f"validation-scatter-{regime}", key="wv_scatter")
    st.caption("Error bars: 95% CI of the mean over seeds (Student t). Dashed: the base model before fine-tuning. "
               "Red: least-squares line over the points used.")


def dose(rep: dict) -> None:
    """Dose-response curves (perplexity and each metric vs the share of the aligned source)."""
    d = rep.get("dose") or {}
    if not d.get("pairs"):
        st.info("No dose-response runs in this result (the lab's dose regime mixes an aligned and an unaligned "
                "source at fixed total budget).")
        return
    base = (rep["summary"].get("base") or {}).get("perplexity")
    fig = figures.dose_ppl_figure(d, base_ppl=base, title="Dose-response: perplexity vs share of the aligned source")
    show_figure(fig, key="wv_dose_ppl")
    figure_downloads(fig, "validation-dose-perplexity", key="wv_dose_ppl")
    mfig = figures.dose_metric_figure(d, title="Each metric measured on the mixed data vs share of the aligned source")
    show_figure(mfig, key="wv_dose_metric")
    figure_downloads(mfig, "validation-dose-metrics", key="wv_dose_metric")
    pts = [{**p, "pair": "+".join(p["pair"] or [])} for pr in d["pairs"] for p in pr["points"]]
    frame = figures.points_frame(pts)
    frame.insert(0, "pair", [p["pair"] for p in pts])
    st.dataframe(frame, hide_index=True, width="stretch")
    table_download(frame, "validation-dose-points", key="wv_dose_points")
    st.caption("A good metric rises with the share of the aligned source (Spearman ρ > 0 in the panel titles) while "
               "perplexity falls. Fractions 0 and 1 are the 4k runs of the pure sources.")


def points(rep: dict, regime: str) -> None:
    """Per-point table (perplexity with seed CI, metric values, failed seeds) with CSV export."""
    recs = rep["points"].get(regime, [])
    frame = figures.points_frame(recs)
    st.dataframe(frame, hide_index=True, width="stretch")
    table_download(frame, f"validation-points-{regime}", key=f"wv_points_{regime}")
    failed = [(p["point"], e) for p in recs for e in p.get("errors", [])]
    if failed:
        st.caption(md_escape("Failed or killed seeds (excluded): "
                             + "; ".join(f"{n}: {e}" for n, e in failed)))
