"""The validation lab's report: read a results file, rebuild the leaderboard, the dose-response
summary and the one-line verdict (no fine-tuning, no model).

``python -m core validate report --results docs/results/validation.json --json`` prints
:func:`report`'s dict. The results file format is in ``/work/coord/VALIDATION_CONTRACT.md``
(written by the lab runner, ``core.validation.lab``); :func:`load_results` checks it and names
the file and the missing or malformed field on error.

The dashboard's verdict line (Ranking and Alignment pages) and the "Which metric predicts?" page
read the file named by ``$ALIGNSCOPE_VALIDATION_RESULTS`` when that is set, else the committed lab
result ``docs/results/validation.json``, else the lab's output in the cache (:func:`results_path`).
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

from core.errors import AlignScopeError
from core.paths import REPO_ROOT
from core.validation import stats

RESULTS_FILE = REPO_ROOT / "docs" / "results" / "validation.json"
#: The committed in-context lab (``bench/icl_lab.py``): the ``icl`` condition's results file.
ICL_RESULTS_FILE = REPO_ROOT / "docs" / "results" / "validation_icl_cpu.json"
#: The committed fine-tune lab with the AF outcome (``validate run --outcomes af-nll``): ``finetune``/``af-nll``.
AF_RESULTS_FILE = REPO_ROOT / "docs" / "results" / "validation_af_cpu.json"
#: The committed docstring -> code lab (target ``humaneval``, ``validate run --target humaneval``).
CODE_RESULTS_FILE = REPO_ROOT / "docs" / "results" / "validation_code_cpu.json"
#: The target benchmark of a results file that names none (the files before targets were recorded).
DEFAULT_LAB_TARGET = "proofnet"
RESULTS_ENV = "ALIGNSCOPE_VALIDATION_RESULTS"
SUPPORTED_VERSIONS = (1,)
RUN_STATES = ("done", "failed", "killed", "cancelled", "running", "queued")
PRODUCE_HINT = "run `python -m core validate run --out docs/results/validation.json`"


class ResultsError(AlignScopeError):
    """A validation results file is missing, unreadable or malformed."""


def lab_output_file() -> Path:
    """Where ``python -m core validate run`` writes by default: ``<cache>/validation/results.json``."""
    from core.paths import cache_root

    return cache_root() / "validation" / "results.json"


def results_path() -> Path | None:
    """The validation results file the dashboard reads, or None when there is none.

    ``$ALIGNSCOPE_VALIDATION_RESULTS`` when set (even if the file is missing, so that a typo is
    reported rather than silently replaced), else the committed ``docs/results/validation.json``
    when present, else the lab's own output in the cache (:func:`lab_output_file`) when present.
    """
    env = os.environ.get(RESULTS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    for path in (RESULTS_FILE, lab_output_file()):
        if path.is_file():
            return path
    return None


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def lab_files() -> list[Path]:
    """The lab results files the dashboard reads, in order: :func:`results_path` (when there is one),
    then the committed in-context lab (:data:`ICL_RESULTS_FILE`), the committed fine-tune lab with
    the AF outcome (:data:`AF_RESULTS_FILE`) and the docstring -> code lab (:data:`CODE_RESULTS_FILE`);
    duplicates dropped."""
    paths = [p for p in (results_path(), ICL_RESULTS_FILE, AF_RESULTS_FILE, CODE_RESULTS_FILE) if p is not None]
    return list(dict.fromkeys(paths))


def lab_axes() -> list[dict]:
    """``[{"target", "condition", "outcome", "path"}]``: every (target benchmark, condition, outcome)
    with measured runs in the files of :func:`lab_files`, each from the first file that has it;
    :data:`DEFAULT_LAB_TARGET` first, then the other targets by name, each in
    :data:`core.validation.axes.CONDITIONS` then :data:`~core.validation.axes.LAB_OUTCOMES` order. The
    dashboard's file gives ``finetune``/``text-ppl`` even when it cannot be read (the page then shows
    its error); another file that cannot be read is skipped."""
    from core.validation.axes import CONDITIONS, LAB_OUTCOMES, axes_of

    main = results_path()
    out, seen = [], set()
    for path in lab_files():
        try:
            results = load_results(path)
            target, pairs = _target_of(results) or DEFAULT_LAB_TARGET, axes_of(results)
        except (OSError, AlignScopeError):
            target, pairs = DEFAULT_LAB_TARGET, ([("finetune", "text-ppl")] if path == main else [])
        for condition, outcome in pairs:
            if (target, condition, outcome) not in seen:
                seen.add((target, condition, outcome))
                out.append({"target": target, "condition": condition, "outcome": outcome, "path": Path(path)})
    return sorted(out, key=lambda a: (a["target"] != DEFAULT_LAB_TARGET, a["target"],
                                      CONDITIONS.index(a["condition"]), LAB_OUTCOMES.index(a["outcome"])))


def load_results(path: str | Path) -> dict:
    """Read and check a validation results file.

    Args:
        path: a JSON file in the results format of the validation contract.

    Returns:
        The parsed dict (unchanged).

    Raises:
        ResultsError: the file is missing or not JSON, or a required field is missing or has the
            wrong type; the message names the file and the field (e.g. ``runs[3].ppl_after``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ResultsError(f"Validation results file {path} does not exist.",
                           fix=f"{PRODUCE_HINT}, or pass --results PATH / set ${RESULTS_ENV} to an existing file.")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"Validation results file {path} is not readable JSON ({e}).",
                           fix=f"{PRODUCE_HINT} to rewrite it.") from e
    validate_results(results, source=str(path))
    return results


def validate_results(results: dict, *, source: str = "results") -> None:
    """Check the structure of a results dict (see :func:`load_results`).

    Checks: ``version`` (1), ``target`` (str), ``regimes`` (object), ``sources`` (object of
    ``{"derived_from_target": bool}``), ``runs`` (list; each with ``run_id``, ``regime``,
    ``point``, ``seed`` (int), ``status`` (one of done/failed/killed/cancelled/running/queued); a done run
    has a ``ppl_after``; a dose run has ``pair`` [A, B] and ``fraction`` in [0, 1]; every source a
    run names is in ``sources``), ``metrics`` (list of ``{"metric", "point", "value"}``).

    Raises:
        ResultsError: naming ``source`` and the first offending field.
    """
    def bad(field: str, problem: str) -> ResultsError:
        return ResultsError(f"Validation results {source}: field {field} {problem}.",
                            fix=f"{PRODUCE_HINT} to regenerate it, or correct {field} by hand.")

    if not isinstance(results, dict):
        raise bad("(top level)", "must be a JSON object")
    for key, typ, name in (("version", int, "an integer"), ("target", str, "a string"), ("regimes", dict, "an object"),
                           ("sources", dict, "an object"), ("runs", list, "a list"), ("metrics", list, "a list")):
        if key not in results:
            raise bad(key, "is missing")
        if not isinstance(results[key], typ) or (typ is int and isinstance(results[key], bool)):
            raise bad(key, f"must be {name}, got {type(results[key]).__name__}")
    if results["version"] not in SUPPORTED_VERSIONS:
        raise bad("version", f"is {results['version']}; this AlignScope reads version(s) "
                             f"{', '.join(map(str, SUPPORTED_VERSIONS))}")
    sources = results["sources"]
    for name, info in sources.items():
        if not isinstance(info, dict) or "derived_from_target" not in info:
            raise bad(f'sources["{name}"].derived_from_target', "is missing")
        if not isinstance(info["derived_from_target"], bool):
            raise bad(f'sources["{name}"].derived_from_target', "must be true or false")
    for i, run in enumerate(results["runs"]):
        where = f"runs[{i}]"
        if not isinstance(run, dict):
            raise bad(where, "must be an object")
        for key in ("run_id", "regime", "point", "seed", "status"):
            if run.get(key) is None:
                raise bad(f"{where}.{key}", "is missing")
        where = f"runs[{i}] (run_id {run['run_id']})"
        if not isinstance(run["seed"], int) or isinstance(run["seed"], bool):
            raise bad(f"{where}.seed", "must be an integer")
        if run["status"] not in RUN_STATES:
            raise bad(f"{where}.status", f"is {run['status']!r}; expected one of {', '.join(RUN_STATES)}")
        if run["status"] == "done" and "ppl_after" not in run:
            raise bad(f"{where}.ppl_after", "is missing (the run is marked done)")
        if run["regime"] == stats.DOSE_REGIME:
            pair = run.get("pair")
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
                raise bad(f"{where}.pair", "must be [A, B] (two source names) for a dose run")
            if not _num(run.get("fraction")) or not 0.0 <= float(run["fraction"]) <= 1.0:
                raise bad(f"{where}.fraction", "must be a number in [0, 1] for a dose run")
            named = list(pair)
        else:
            named = [str(run.get("source") or run["point"])]
        for s in named:
            if s not in sources:
                raise bad(f'sources["{s}"]', f"is missing (named by {where})")
    for i, m in enumerate(results["metrics"]):
        if not isinstance(m, dict):
            raise bad(f"metrics[{i}]", "must be an object")
        for key in ("metric", "point"):
            if not isinstance(m.get(key), str) or not m.get(key):
                raise bad(f"metrics[{i}].{key}", "is missing")
        if "value" not in m:
            raise bad(f"metrics[{i}].value", f"is missing (metric {m['metric']}, point {m['point']})")
        if m["value"] is not None and not isinstance(m["value"], (int, float)):
            raise bad(f"metrics[{i}].value", "must be a number or null")


def report(results: Mapping, *, regimes: Sequence[str] | None = None, n_boot: int = 2000,
           n_permutations: int = 9999, confidence: float = stats.CONFIDENCE, seed: int = 0,
           default_metric: str = stats.DEFAULT_METRIC) -> dict:
    """The validation report of a results dict: leaderboard (with and without target-derived
    sources), per-regime points, dose-response and the verdict.

    Args:
        results: a results dict (checked with :func:`validate_results`).
        regimes, n_boot, n_permutations, confidence, seed, default_metric: see
            :func:`core.validation.stats.build_leaderboard`.

    Returns:
        JSON-able dict ``{"leaderboard": rows (all sources, then target-derived excluded; each row
        has ``exclude_derived``), "points": {regime: point records}, "dose": dose-response summary,
        "verdict": str, "summary": {target, model, precision, created, wall_seconds, base, regimes,
        n_runs, n_runs_done, n_runs_failed, n_runs_pending, metrics, metric_info, settings}}``.

    Raises:
        ResultsError: a malformed results dict. AlignScopeError: bad options.
    """
    validate_results(results)
    stats.validate_options(n_boot=n_boot, n_permutations=n_permutations, confidence=confidence, seed=seed)
    regimes = list(regimes) if regimes is not None else stats.regime_names(results)
    known = stats.regime_names(results)
    for r in regimes:
        if r not in known:
            raise AlignScopeError(f"Regime {r!r} has no runs in the results.",
                                  fix=f"choose one of {', '.join(known) or '(none: the file has no runs)'}.")
    opts = dict(regimes=regimes, n_boot=n_boot, n_permutations=n_permutations, confidence=confidence, seed=seed,
                default_metric=default_metric)
    rows = (stats.build_leaderboard(results, exclude_derived=False, **opts)
            + stats.build_leaderboard(results, exclude_derived=True, **opts))
    runs = results.get("runs") or []
    status = [r.get("status") for r in runs]
    bad = nonfinite_runs(results)
    return _jsonable({
        "leaderboard": rows,
        "points": {r: stats.point_records(results, r, confidence=confidence) for r in regimes},
        "dose": stats.dose_response(results, confidence=confidence),
        "verdict": verdict(rows, default_metric=default_metric, target=_target_of(results), **_axis_of(results)),
        "summary": {"target": results.get("target"), "model": results.get("model"),
                    "precision": results.get("precision"), "created": results.get("created"),
                    "wall_seconds": results.get("wall_seconds"), "base": results.get("base"),
                    "regimes": {r: (results.get("regimes") or {}).get(r, {}) for r in regimes},
                    "n_runs": len(runs), "n_runs_done": status.count("done") - len(bad),
                    "n_runs_nonfinite": len(bad), "nonfinite_runs": bad,
                    "n_runs_failed": sum(s in stats.FAILED_STATES for s in status),
                    "n_runs_pending": sum(s in stats.PENDING_STATES for s in status),
                    "metrics": stats.metric_names(results, default_metric=default_metric),
                    "metric_info": results.get("metric_info") or {},
                    "axes": _axis_of(results),
                    "settings": {"n_boot": n_boot, "n_permutations": n_permutations, "confidence": confidence,
                                 "seed": seed, "default_metric": default_metric,
                                 "reported": datetime.now(timezone.utc).isoformat(timespec="seconds")}},
    })


def nonfinite_runs(results: Mapping) -> list[dict]:
    """The runs marked done whose ``ppl_after`` is not a finite number (NaN, inf, null, a string):
    every fit leaves them out, so the report names and counts them instead of dropping them silently.

    Returns:
        ``[{"run_id", "regime", "point", "seed", "ppl_after"}]`` with ``ppl_after`` as text (``"nan"``).
    """
    out = []
    for run in results.get("runs") or []:
        if isinstance(run, Mapping) and run.get("status") == "done" and not _num(run.get("ppl_after")):
            out.append({"run_id": run.get("run_id"), "regime": run.get("regime"), "point": run.get("point"),
                        "seed": run.get("seed"), "ppl_after": repr(run.get("ppl_after"))})
    return out


def _jsonable(obj):
    """Replace non-finite floats by None (strict JSON) recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _ci_text(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "[CI n/a]"


def _r2_text(row: Mapping) -> str:
    return f"r² {row['r2']:.2f} {_ci_text(row.get('r2_ci'))}"


def pick_regime(rows: Sequence[Mapping], preferred: str = "4k") -> str | None:
    """The regime the verdict speaks about: ``preferred`` when it has a fit, else the regime whose
    fitted rows use the most runs (None when no row has a fit)."""
    fitted = [r for r in rows if r.get("r2") is not None]
    if any(r["regime"] == preferred for r in fitted):
        return preferred
    if not fitted:
        return None
    return max(fitted, key=lambda r: r["n_runs_used"])["regime"]


def _axis_of(results: Mapping) -> dict:
    """``{"condition", "outcome"}`` of a results dict made by :func:`core.validation.axes.axis_view`
    (empty for a plain file: the default fine-tune / held-out perplexity)."""
    axes = results.get("axes") if isinstance(results.get("axes"), Mapping) else {}
    return {k: axes[k] for k in ("condition", "outcome") if isinstance(axes.get(k), str)}


def _target_of(results: Mapping) -> str | None:
    return results["target"] if isinstance(results.get("target"), str) else None


def verdict(rows: Sequence[Mapping], *, regime: str | None = None, exclude_derived: bool = False,
            default_metric: str = stats.DEFAULT_METRIC, condition: str | None = None,
            outcome: str | None = None, target: str | None = None) -> str:
    """One line saying which metric predicts the lab's outcome best (by default held-out perplexity
    after fine-tuning; ``condition``/``outcome`` name another axis, :mod:`core.validation.axes`).

    The best metric is the one with the highest r^2 among those whose Pearson r is negative (higher
    alignment, lower perplexity, the orientation every metric promises); a metric correlated the
    wrong way would rank sources backwards, whatever its r^2. Speaks about ``regime`` (default: 4k,
    see :func:`pick_regime`) with all sources, and adds the best metric without target-derived
    sources when that one differs.

    Args:
        rows: leaderboard rows (:func:`core.validation.stats.build_leaderboard`, either or both
            settings of ``exclude_derived``).
        regime: the regime to speak about (default: :func:`pick_regime`).
        exclude_derived: speak about the rows without target-derived sources (then no addendum).
        condition, outcome: the (condition, outcome) the rows were fitted on, named in the line
            (:func:`core.validation.axes.axis_label`); None: fine-tune, held-out perplexity.
        target: the target benchmark, for its own outcome words (HumanEval: "code NLL").

    Returns:
        e.g. ``"On 27 runs (9 sources × 3 seeds, regime 4k), unigram-cos predicts held-out perplexity
        after fine-tuning best (r² 0.90 [0.71, 0.97]); the default t2v-head has r² 0.68 [0.20, 0.91] (difference 0.22
        [-0.05, 0.61], not separable at 95%)."``; a sentence saying why there is no verdict when no
        metric has a fit.
    """
    regime = regime or pick_regime(rows)
    if regime is None:
        return ("No verdict yet: no regime has at least 3 sources with finished runs and metric values "
                f"({PRODUCE_HINT}).")
    from core.validation.axes import axis_label

    line = _verdict_part(rows, regime=regime, exclude_derived=exclude_derived, default_metric=default_metric,
                         what=axis_label(condition, outcome, target=target))
    if exclude_derived:
        return line
    alt = [r for r in rows if r["regime"] == regime and r.get("exclude_derived")]
    if alt:
        best_all = _best(rows, regime, False)
        best_ex = _best(rows, regime, True)
        if best_ex is not None and (best_all is None or best_ex["metric"] != best_all["metric"]):
            line += (f" Without target-derived sources ({best_ex['n_sources']} sources), {best_ex['metric']} "
                     f"is best ({_r2_text(best_ex)}).")
    return line


def _best(rows, regime, exclude_derived):
    cands = [r for r in rows if r["regime"] == regime and bool(r.get("exclude_derived")) == exclude_derived
             and r.get("r2") is not None and (r.get("pearson") or 0.0) < 0]
    return max(cands, key=lambda r: r["r2"]) if cands else None


def _verdict_part(rows, *, regime, exclude_derived, default_metric, what) -> str:
    sel = [r for r in rows if r["regime"] == regime and bool(r.get("exclude_derived")) == exclude_derived]
    fitted = [r for r in sel if r.get("r2") is not None]
    if not fitted:
        msg = next((r["message"] for r in sel if r.get("message")), "no metric has a fit")
        return f"No verdict for regime {regime}: {msg}"
    best = _best(rows, regime, exclude_derived)
    if best is None:
        return (f"In regime {regime}, no metric correlates negatively with {what} (higher alignment, "
                f"lower outcome); none can be trusted to rank sources.")
    lo, hi = best.get("n_seeds_min"), best.get("n_seeds_max")
    seeds_txt = f"{lo}" if lo == hi else f"{lo}-{hi}"
    unit = "points" if regime == stats.DOSE_REGIME else "sources"
    head = (f"On {best['n_runs_used']} runs ({best['n_sources']} {unit} × {seeds_txt} seeds, regime {regime}"
            f"{', target-derived sources excluded' if exclude_derived else ''}), ")
    default = next((r for r in fitted if r["metric"] == default_metric), None)
    if best["metric"] == default_metric:
        others = sorted((r for r in fitted if r["metric"] != default_metric and (r.get("pearson") or 0.0) < 0),
                        key=lambda r: -r["r2"])
        tail = (f"; the next, {others[0]['metric']}, has {_r2_text(others[0])}." if others else ".")
        return head + f"the default {default_metric} predicts {what} best ({_r2_text(best)})" + tail
    line = head + f"{best['metric']} predicts {what} best ({_r2_text(best)})"
    if default is None:
        return line + f"; the default {default_metric} has no fit here."
    line += f"; the default {default_metric} has {_r2_text(default)}"
    ci = best.get("r2_diff_ci")
    if best.get("r2_diff_vs_default") is not None and ci:
        sep = "not separable at 95%" if ci[0] <= 0 <= ci[1] else "separable at 95%"
        line += f" (difference {best['r2_diff_vs_default']:+.2f} {_ci_text(ci)}, {sep})"
    return line + "."


def verdict_for_file(path: str | Path, *, regime: str | None = None, n_boot: int = 2000, seed: int = 0,
                     condition: str | None = None, outcome: str | None = None) -> str:
    """The verdict of a results file (only the verdict's regime is evaluated, so it is cheap), of one
    (condition, outcome) of it when either is given (:func:`core.validation.axes.axis_view`).

    Raises:
        ResultsError: the file is missing or malformed. AlignScopeError: the file has no run of
            that (condition, outcome).
    """
    results = load_results(path)
    if condition or outcome:
        from core.validation.axes import DEFAULT_CONDITION, DEFAULT_OUTCOME, axis_view

        results = axis_view(results, condition or DEFAULT_CONDITION, outcome or DEFAULT_OUTCOME)
    axis = {**_axis_of(results), "target": _target_of(results)}
    names = stats.regime_names(results)
    first = [regime] if regime else (["4k"] if "4k" in names else names)
    first = [r for r in first if r in names]
    rows_all = stats.build_leaderboard(results, exclude_derived=False, regimes=first, n_boot=n_boot, seed=seed)
    chosen = pick_regime(rows_all)
    if chosen is None and not regime and first != names:
        rows_all = stats.build_leaderboard(results, exclude_derived=False, n_boot=n_boot, seed=seed)
        chosen = pick_regime(rows_all)
    if chosen is None:
        return verdict(rows_all, **axis)
    rows_ex = stats.build_leaderboard(results, exclude_derived=True, regimes=[chosen], n_boot=n_boot, seed=seed)
    return verdict(rows_all + rows_ex, regime=chosen, **axis)


def format_report(rep: Mapping) -> str:
    """Plain-text rendering of :func:`report`'s dict (``python -m core validate report``): the
    verdict, then one leaderboard table per regime, with and without target-derived sources, then
    the dose-response Spearman correlations per pair."""
    from core.validation.axes import outcome_unit
    from core.validation.figures import leaderboard_table

    out = [rep["verdict"], ""]
    s = rep.get("summary") or {}
    out.append(f"target {s.get('target')} · probe {s.get('model')} · {s.get('n_runs_done')} runs done, "
               f"{s.get('n_runs_failed')} failed, {s.get('n_runs_pending')} pending"
               + (f", {s['n_runs_nonfinite']} finished with a non-finite ppl_after" if s.get("n_runs_nonfinite") else "")
               + f" · {(s.get('settings') or {}).get('n_boot')} nested-bootstrap resamples")
    if s.get("n_runs_nonfinite"):
        bad = s.get("nonfinite_runs") or []
        out.append(f"warning: {len(bad)} run(s) marked done have a non-finite ppl_after and are left out of every fit: "
                   + ", ".join(f"{b['run_id']} ({b['regime']}/{b['point']}, seed {b['seed']}: {b['ppl_after']})"
                               for b in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))
    keys = list(dict.fromkeys((r["regime"], r["exclude_derived"]) for r in rep["leaderboard"]))
    for regime, excl in keys:
        rows = [r for r in rep["leaderboard"] if r["regime"] == regime and r["exclude_derived"] == excl]
        out += ["", f"== regime {regime}, {'without' if excl else 'with'} target-derived sources =="]
        table = leaderboard_table(rows, unit=outcome_unit((s.get("axes") or {}).get("outcome")))
        out.append(table.drop(columns=["note"]).to_string(index=False))
        out += [f"  note: {r['metric']}: {r['message']}" for r in rows if r.get("message")]
    pairs = (rep.get("dose") or {}).get("pairs") or []
    if pairs:
        out += ["", "== dose-response (Spearman vs share of the aligned source) =="]
        for pr in pairs:
            sp = pr["spearman_ppl"]
            parts = [f"perplexity {_rho(sp)}"] + [f"{m} {_rho(v)}" for m, v in pr["spearman_metric"].items()]
            out.append(f"{pr['label']}: " + ", ".join(parts))
    return "\n".join(out)


def _rho(sp: Mapping) -> str:
    return "n/a" if sp.get("rho") is None else f"{sp['rho']:+.2f}"
