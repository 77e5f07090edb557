"""Run a design: the missing fine-tunes and in-context points, the metrics, an atomic results file after each.

:func:`run_design` plans (:func:`core.designs.plan.plan_design`), then in the plan's order:

- a fine-tune whose row in the results database is ``done`` is skipped (its run id is its
  configuration and data, :func:`core.finetune.identity.run_id_for`); the others run through
  :func:`core.finetune.runner.run_finetune` with the design's outcomes, their per-problem results
  captured (:func:`core.designs.outcomes.capture_outcomes`) and stored under ``cache/designs/outcomes``;
- an in-context point found in the previous results file with the same demonstration corpus content
  is reused; the others run through :func:`core.icl.run.run_icl` (itself cached by its key, so a
  rerun computes nothing);
- the results file is rewritten atomically (:func:`core.paths.atomic_write`) after every run, so an
  interrupted design (even ``kill -9``) loses at most the run in progress and resumes where it stopped;
- at the end every metric of the plan is measured on every point against the target
  (:func:`core.metrics.score_all`, each value cached under ``cache/metrics``; one failing metric is
  reported and skipped).

One design runs at a time per cache (``cache/designs/design.lock``, released by the OS if the
process dies); fine-tunes also take the machine's training slot (one training at a time).
Runs execute locally (the ``--engine ray`` path of the lab is not wired here).

Results file (:func:`write_results`): ``version, design, created, wall_seconds, plan`` (the design's
dict), ``target, model, precision, expected_seconds, derived`` (kinds: the derivation), ``sizes``,
``skipped`` (budget), ``sources`` ({corpus: {derived_from_target, point}}), ``runs`` (one per planned
fine-tune with a row: point, corpus, budget, seed, status, perplexities, alignment, ``outcomes`` (the
row's summary) and ``per_problem`` ({outcome: OutcomeResult dict} or None), the row under ``record``),
``icl`` (one per in-context point: point, corpus, seed, status, ``result`` = ``IclResult.to_dict()``),
``metrics`` (rows ``metric, point, corpus, value, ci_low, ci_high, seconds, cached``), ``broken``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.designs.plan import BudgetDesign, DesignPlan, IclPoint, KindsDesign
    from core.settings import EmbedSettings

RESULTS_VERSION = 1
Progress = Callable[[str], None]


def default_out(design: KindsDesign | BudgetDesign) -> Path:
    """``cache/designs/<name>[-<source>].json``: where results go by default (never ``docs/results``)."""
    from core.paths import cache_dir

    tail = f"-{design.source}" if design.name == "kinds" else ""
    return cache_dir("designs") / f"{design.name}{tail}.json"


def finetune_status(plan: DesignPlan) -> dict[str, str]:
    """run_id -> status in the results database (``missing`` when never started)."""
    from core.validation.lab import status_of

    return status_of(plan.finetunes)


def _prior(out: Path) -> dict:
    try:
        return json.loads(Path(out).read_text()) if Path(out).is_file() else {}
    except (OSError, ValueError):
        return {}


def prior_icl(plan: DesignPlan, out: Path) -> dict[tuple[str, int], dict]:
    """``(point, seed) -> entry`` of the in-context points of the previous results file ``out`` that are
    done and whose demonstration corpus still has the same content fingerprint."""
    from core.corpora import get_corpus

    prior = _prior(out)
    if prior.get("design") != plan.design.name:
        return {}
    fps: dict[str, str] = {}
    got = {}
    for e in prior.get("icl") or []:
        if e.get("status") != "done" or not e.get("result"):
            continue
        corpus = e.get("corpus")
        if corpus not in fps:
            try:
                fps[corpus] = get_corpus(corpus).fingerprint()
            except AlignScopeError:
                fps[corpus] = ""
        if fps[corpus] and e.get("corpus_fingerprint") == fps[corpus] and e.get("settings") == _icl_settings(plan):
            got[(e["point"], int(e["seed"]))] = e
    return got


def _icl_settings(plan: DesignPlan) -> dict | None:
    from dataclasses import asdict

    icl = getattr(plan.design, "icl", None)
    if icl is None:
        return None
    return json.loads(json.dumps({**asdict(icl), "model": plan.design.model, "precision": plan.design.precision}))


def run_design(design: KindsDesign | BudgetDesign, *, out: Path | None = None, settings: EmbedSettings | None = None,
               say: Progress = print, limit: int | None = None, metrics: bool = True,
               should_stop: Callable[[], bool] | None = None) -> dict:
    """Perform the design's missing work and write its results file (module docstring).

    Args:
        design: a :class:`~core.designs.plan.KindsDesign` or :class:`~core.designs.plan.BudgetDesign`.
        out: results file (default :func:`default_out`).  settings: the runner's alignment settings.
        say: one progress line per event.  limit: stop after this many new runs (fine-tunes and
            in-context points; resume later).  metrics: measure the metrics at the end.
        should_stop: polled between and inside runs (``InterruptedError``).

    Returns:
        The results dict (also written to ``out``).

    Raises:
        AlignScopeError: a bad design (:func:`core.designs.plan.plan_design`); another design running on this cache.
        InterruptedError: stopped (the results file holds what finished).
    """
    from core.designs.plan import expected_seconds, fmt_seconds, plan_design
    from core.paths import cache_dir, exclusive_run
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings(model=design.model)
    out = Path(out) if out is not None else default_out(design)
    plan = plan_design(design, settings)
    stop = should_stop or (lambda: False)
    with exclusive_run(cache_dir("designs") / "design.lock", busy="Another design is running on this cache.",
                       fix="wait for it to finish (it resumes where it stops), or stop it first."):
        t0 = time.time()
        state = finetune_status(plan)
        icl_done = prior_icl(plan, out)
        todo_ft = [r for r in plan.finetunes if state[r.run_id] != "done"]
        todo_icl = [p for p in plan.icl if (p.point, p.seed) not in icl_done]
        expected = expected_seconds(plan, todo_finetunes=todo_ft, todo_icl=todo_icl, metrics=metrics)
        say(f"design {design.name}: {len(plan.finetunes)} fine-tunes ({len(plan.finetunes) - len(todo_ft)} done, "
            f"{len(todo_ft)} to run), {len(plan.icl)} in-context points ({len(plan.icl) - len(todo_icl)} done); "
            f"expected {fmt_seconds(expected['total'])}")
        icl_results: dict[tuple[str, int], dict] = dict(icl_done)
        write_results(plan, out, icl_results, wall=0.0, expected=expected)
        new = 0
        for what, k in plan.order:
            if stop():
                raise InterruptedError("stopped by request")
            if limit is not None and new >= limit:
                say(f"stopping after {new} new runs (--limit); rerun to continue")
                break
            if what == "ft":
                r = plan.finetunes[k]
                if state[r.run_id] == "done":
                    continue
                new += 1
                _one_finetune(plan, r, settings, say=say, stop=stop, left=len([x for x in todo_ft if state[x.run_id] != "done"]))
                state[r.run_id] = "done"
            else:
                p = plan.icl[k]
                if (p.point, p.seed) in icl_results:
                    continue
                new += 1
                icl_results[(p.point, p.seed)] = _one_icl(plan, p, say=say, stop=stop)
            write_results(plan, out, icl_results, wall=time.time() - t0, expected=expected)
        if metrics and (limit is None or new < limit):
            measure_point_metrics(plan, out, say=say, should_stop=stop)
        res = write_results(plan, out, icl_results, wall=time.time() - t0, expected=expected)
        say(f"design {design.name}: results written to {out}")
        return res


def _one_finetune(plan: DesignPlan, r, settings, *, say: Progress, stop, left: int) -> None:
    """One fine-tune with its per-problem outcomes captured and stored; a failure is recorded in its
    row (and reported), and the design goes on."""
    from core.designs.outcomes import capture_outcomes, save_run_outcomes
    from core.finetune.runner import run_finetune

    say(f"fine-tune {r.point} {r.config.budget_tokens:,} tokens seed {r.seed} ({r.config.source}); {left} fine-tunes left")
    t1 = time.time()
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        if time.time() - last[0] >= 30:
            last[0] = time.time()
            say(f"    {done:3d}% {message}")

    try:
        with capture_outcomes() as got:
            row = run_finetune(r.config, settings, run_id=r.run_id, should_stop=stop, progress=progress)
        if got.get("after"):
            save_run_outcomes(r.run_id, got["after"])
        outs = "; ".join(f"{n} {v['value']:.4f}" for n, v in (row.get("outcomes") or {}).items())
        say(f"  perplexity {row['ppl_before']:.3f} -> {row['ppl_after']:.3f}" + (f"; {outs}" if outs else "")
            + f" in {time.time() - t1:.0f} s")
    except InterruptedError:
        raise
    except Exception as exc:     # recorded as failed in its row; the design goes on
        say(f"  FAILED: {exc}")


def _one_icl(plan: DesignPlan, p: IclPoint, *, say: Progress, stop) -> dict:
    """One in-context point (:func:`core.icl.run.run_icl`) as a results entry; a failure is an entry
    with ``status: failed``."""
    from core.corpora import get_corpus
    from core.icl.run import run_icl

    d, i = plan.design, plan.design.icl
    say(f"in-context {p.point} seed {p.seed} ({p.corpus}): k={i.k} {i.selector}, {i.budget_tokens} tokens")
    entry = {"point": p.point, "corpus": p.corpus, "seed": p.seed, "settings": _icl_settings(plan),
             "corpus_fingerprint": get_corpus(p.corpus).fingerprint()}
    t1 = time.time()
    try:
        res = run_icl(d.target, p.corpus, k=i.k, selector=i.selector, seed=p.seed, budget_tokens=i.budget_tokens,
                      model=d.model, precision=d.precision,
                      problems=list(i.problems) if isinstance(i.problems, tuple) else i.problems, batch_size=i.batch_size,
                      should_stop=stop)
    except InterruptedError:
        raise
    except Exception as exc:
        say(f"  FAILED: {exc}")
        return {**entry, "status": "failed", "error": str(exc), "result": None}
    say(f"  af-nll {res.af_nll:.4f} (zero-shot {res.zero_shot_af_nll:.4f}) in {time.time() - t1:.0f} s"
        + (" (cached)" if res.cached else ""))
    return {**entry, "status": "done", "error": None, "result": res.to_dict()}


def _metrics_path(plan: DesignPlan, out: Path) -> Path:
    return Path(out).with_suffix(".metrics.json")


def measure_point_metrics(plan: DesignPlan, out: Path, *, say: Progress = print,
                          should_stop: Callable[[], bool] | None = None) -> list[dict]:
    """Every metric of the design on every point's corpus against the target (cached by the metrics
    package); rows kept in ``<out>.metrics.json`` (merged, written atomically after each metric).

    Returns rows ``{"metric", "point", "corpus", "value", "ci_low", "ci_high", "seconds", "cached"}``.
    """
    from core.metrics import METRICS, score_all
    from core.paths import atomic_write

    path = _metrics_path(plan, out)
    old = _prior(path)
    merged = {(r["metric"], r["point"]): r for r in old.get("rows", [])}
    broken = dict(old.get("broken", {}))
    for name in plan.design.metrics:
        canon = METRICS.canonical(name)
        for point, corpus in plan.points.items():
            if should_stop and should_stop():
                raise InterruptedError("stopped while measuring metrics")
            v = score_all([canon], corpus, plan.design.target)[canon]
            if isinstance(v, Exception):
                broken[canon] = f"{point}: {v}"
                say(f"  metric {canon} unavailable on {point}: {v}")
                continue
            d = v.to_dict()
            merged[(canon, point)] = {"metric": canon, "point": point, "corpus": corpus,
                                      **{k: d[k] for k in ("value", "ci_low", "ci_high", "seconds", "cached")}}
            say(f"metric {canon} {point}: {d['value']:.4f} ({d['seconds']:.1f} s{', cached' if d['cached'] else ''})")
        atomic_write(path, json.dumps({"rows": list(merged.values()), "broken": broken}, indent=1))
    return list(merged.values())


#: Results-database columns kept with each run (enough to re-create the row elsewhere, as the lab does).
_RECORD_FIELDS = ("group_key", "label", "source", "target", "eval_corpus", "model", "method", "alignment",
                  "align_ci_low", "align_ci_high", "align_settings", "budget_tokens", "tokens_trained", "tokens_seen",
                  "documents_used", "hparams", "ppl_before", "ppl_after", "nll_before", "nll_after", "eval_tokens",
                  "familiarity", "train_loss_first", "train_loss_last", "train_steps", "train_seconds", "wall_seconds",
                  "device", "precision", "status", "error", "notes", "started", "finished", "outcomes")


def write_results(plan: DesignPlan, out: Path, icl_results: dict[tuple[str, int], dict], *, wall: float = 0.0,
                  expected: dict | None = None) -> dict:
    """Assemble the design's results file (module docstring) and write it atomically; returns it."""
    from core.designs.outcomes import load_run_outcomes
    from core.finetune import results as db
    from core.paths import atomic_write, json_default
    from core.validation.lab import derived_from_target

    d = plan.design
    rows = []
    for r in plan.finetunes:
        row = db.get_run(r.run_id, reconcile_first=False) or {}
        status = row.get("status") or "missing"
        if status == "missing":
            continue
        rows.append({"run_id": r.run_id, "condition": "finetune", "point": r.point, "corpus": r.config.source,
                     "budget_tokens": r.config.budget_tokens, "seed": r.seed, "status": status, "error": row.get("error"),
                     "ppl_before": row.get("ppl_before"), "ppl_after": row.get("ppl_after"),
                     "nll_before": row.get("nll_before"), "nll_after": row.get("nll_after"),
                     "tokens_trained": row.get("tokens_trained"), "wall_seconds": row.get("wall_seconds"),
                     "alignment": row.get("alignment"), "align_ci_low": row.get("align_ci_low"),
                     "align_ci_high": row.get("align_ci_high"), "outcomes": row.get("outcomes"),
                     "per_problem": load_run_outcomes(r.run_id) if status == "done" else None,
                     "record": {k: v for k, v in row.items() if k in _RECORD_FIELDS}})
    icl = [icl_results[(p.point, p.seed)] for p in plan.icl if (p.point, p.seed) in icl_results]
    mfile = _prior(_metrics_path(plan, out))
    sources = {c: {"point": p, "derived_from_target": derived_from_target(c, d.target)} for p, c in plan.points.items()}
    res = {"version": RESULTS_VERSION, "design": d.name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "wall_seconds": wall, "plan": d.to_dict(), "target": d.target, "model": d.model, "precision": d.precision,
           "expected_seconds": expected, "derived": plan.derived.to_dict() if plan.derived else None,
           "sizes": plan.sizes, "skipped": plan.skipped, "sources": sources, "runs": rows, "icl": icl,
           "metrics": mfile.get("rows", []), "broken": mfile.get("broken", {})}
    atomic_write(out, json.dumps(res, indent=1, default=json_default))
    return res
