"""The validation lab: which alignment metric predicts fine-tuning outcomes?

A lab is a :class:`~core.validation.plan.LabPlan` (:mod:`core.validation.plan`: a target benchmark,
candidate sources, fine-tune regimes, dose-response pairs and the alignment metrics to compare, expanded
by :func:`~core.validation.plan.plan_runs` into one fine-tune per (regime, point, seed)); :func:`run_lab` performs the missing ones through the
product's own fine-tune launcher (:func:`core.finetune.runner.run_finetune`, rows in the results
database), then measures every metric on every point and writes the results file that
:mod:`core.validation.report` turns into the leaderboard.

Design (Chawla et al., "Quantifying the Importance of Data Alignment in Downstream Model
Performance", Sec. 4; replicated with seeds):

- Observational points: each source is fine-tuned with identical hyperparameters, once per seed. The
  seed changes which documents fill the budget (seeded document permutation and chunk rotation in
  :mod:`core.finetune.data`) and the training order (Trainer ``seed``/``data_seed``).
- Interventional dose-response: an aligned source A and an unaligned source B are mixed at a fixed
  total budget with token share ``f`` of A (a saved :class:`core.mixture.Mixture` per fraction and
  seed, so the seed also changes the mixture's documents). Fractions 0 and 1 are the pure-source runs
  of the same budget. Metrics are measured on the real mixed data (the materialised mixture of seed
  0), not on a prediction.
- Resumable: a finished run is a ``done`` row in the results database; rerunning skips it. A run
  killed mid-way (even ``kill -9``) is simply run again. One lab runs at a time per cache (a
  ``filelock`` that the OS releases if the process dies).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.errors import AlignScopeError
from core.validation.plan import LabPlan, PlannedRun, estimate_seconds, plan_runs, regime_sources, validate_plan

if TYPE_CHECKING:
    from core.settings import EmbedSettings

RESULTS_VERSION = 1

Progress = Callable[[str], None]


# -- cost model ------------------------------------------------------------------------------------


# -- execution -------------------------------------------------------------------------------------
def status_of(runs: list[PlannedRun]) -> dict[str, str]:
    """run_id -> status in the results database (``missing`` when never started)."""
    from core.finetune import results

    return {r.run_id: ((results.get_run(r.run_id) or {}).get("status") or "missing") for r in runs}


def run_lab(plan: LabPlan, *, out: Path, settings: EmbedSettings | None = None, say: Progress = print, limit: int | None = None,
            metrics: bool = True, should_stop: Callable[[], bool] | None = None,
            resume_from: Path | None = None) -> dict:
    """Perform the plan's missing fine-tunes, measure the metrics, write the results file.

    Args:
        plan: the lab.  out: results file (JSON, written atomically after every run).
        settings: Task2Vec settings of the runner's own alignment column (default settings).
        say: receives one progress line per event (with the ETA).
        limit: stop after this many new runs (for staged execution); None = all.
        metrics: also measure every metric on every point (cached) at the end.
        resume_from: a results file of an earlier (possibly other machine's) run of the same plan:
            its finished runs are imported first (:func:`import_runs`) and not run again.

    Returns:
        The results dict (also written to ``out``).

    Raises:
        AlignScopeError: a bad plan (:func:`validate_plan`), another lab running on this cache.
    """
    from core.finetune.runner import run_finetune
    from core.mixture import save_mixture
    from core.paths import cache_dir, exclusive_run
    from core.pipeline import EmbedSettings

    settings = settings or EmbedSettings(model=plan.model)
    validate_plan(plan)
    runs = plan_runs(plan, settings)
    stop = should_stop or (lambda: False)
    with exclusive_run(cache_dir("validation") / "lab.lock", busy="Another validation lab is running on this cache.",
                       fix="wait for it to finish (it continues where it stops), or stop it first."):
        t0 = time.time()
        if resume_from is not None:
            say(f"imported {import_runs(Path(resume_from), runs)} finished runs from {resume_from}")
        state = status_of(runs)
        todo = [r for r in runs if state[r.run_id] != "done"]
        if limit is not None:
            todo = todo[:limit]
        say(f"validation lab: {len(runs)} fine-tunes planned, {len(runs) - len(todo)} already done, "
            f"{len(todo)} to run; expected {_fmt_s(estimate_seconds(todo, plan.model))}")
        from core.execution import current_engine

        if current_engine().distributed:      # --engine ray: one Ray task per run, rows recorded here
            _run_on_engine(plan, runs, todo, settings, out=out, t0=t0, say=say, stop=stop)
            todo = []
        for k, r in enumerate(todo):
            if stop():
                raise InterruptedError("stopped by request")
            left = todo[k:]
            eta = estimate_seconds(left, plan.model)
            say(f"[{k + 1}/{len(todo)}] {r.regime} {r.point} seed {r.seed}: fine-tuning (ETA {_fmt_s(eta)} for the rest)")
            if r.mixture is not None:
                save_mixture(r.mixture)
            t1 = time.time()
            try:
                row = run_finetune(r.config, settings, run_id=r.run_id, should_stop=stop,
                                   progress=_throttled(say, eta - estimate_seconds(todo[k + 1:], plan.model), t1))
                say(f"  perplexity {row['ppl_before']:.3f} -> {row['ppl_after']:.3f} in {time.time() - t1:.0f} s")
            except InterruptedError:
                raise
            except Exception as exc:   # recorded as failed in its row; the lab goes on
                say(f"  FAILED: {exc}")
            write_results(plan, runs, out, wall=time.time() - t0)
        if metrics:
            measure_metrics(plan, runs, say=say, should_stop=stop)
        res = write_results(plan, runs, out, wall=time.time() - t0)
        say(f"validation lab: results written to {out}")
        return res


def _run_on_engine(plan: LabPlan, runs: list[PlannedRun], todo: list[PlannedRun], settings, *, out: Path, t0: float,
                   say: Progress, stop: Callable[[], bool]) -> None:
    """The lab's missing runs on a distributed engine (:meth:`core.engine.Engine.run_finetunes`): the
    dose points' mixtures are saved first, every run is sent at once (one task per run), and the
    results file is rewritten as each run's row arrives."""
    from core.execution import RunRequest, current_engine
    from core.mixture import save_mixture

    for r in todo:
        if r.mixture is not None:
            save_mixture(r.mixture)
    requests = [RunRequest(r.config, settings, r.run_id, label=f"{r.regime} {r.point} seed {r.seed}") for r in todo]
    for o in current_engine().run_finetunes(requests, should_stop=stop, log=say):
        row = o.row or {}
        if o.ok and row.get("ppl_before") is not None and row.get("ppl_after") is not None:
            say(f"  {requests[o.index].label}: perplexity {row['ppl_before']:.3f} -> {row['ppl_after']:.3f}")
        write_results(plan, runs, out, wall=time.time() - t0)


def _throttled(say: Progress, expected: float, t_start: float, every: float = 20.0) -> Callable[[int, int, str], None]:
    """A run's progress callback ``(percent, 100, message)`` that passes one line at most every
    ``every`` seconds to ``say``, with the time left in this run (``expected`` s from the cost model,
    corrected by the progress made so far)."""
    last = [0.0]

    def report(done: int, total: int, message: str) -> None:
        now = time.time()
        if now - last[0] < every:
            return
        last[0] = now
        frac = done / max(total, 1)
        spent = now - t_start
        left = spent * (1 - frac) / frac if frac > 0.05 else max(expected - spent, 0.0)
        say(f"    {100 * frac:3.0f}% {message} (about {_fmt_s(left)} left in this run)")

    return report


def _fmt_s(s: float) -> str:
    return f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


# -- metrics ---------------------------------------------------------------------------------------
def point_corpora(plan: LabPlan, runs: list[PlannedRun]) -> dict[str, object]:
    """point name -> the data its metrics are measured on: a source's registry name, or for a dose
    point the materialised mixture (its lowest seed) cut into ``seq_len``-token pieces, as an
    in-memory corpus.

    The pieces are what the fine-tune packs (a 4,000-token mixture may hold only a few whole
    documents, fewer than one Task2Vec batch), the same cut :func:`core.finetune.runner.compute_alignment`
    makes for a mixture's alignment.
    """
    from core.corpora.memory import InMemoryCorpus
    from core.mixture import materialize
    from core.probe import load_probe

    out: dict[str, object] = {s: s for r in plan.regimes for s in regime_sources(plan, r)}
    tok = None
    for r in sorted((r for r in runs if r.mixture is not None), key=lambda r: r.seed):
        if r.point in out:
            continue
        tok = tok or load_probe(plan.model, progress=False).tokenizer
        rows = materialize(r.mixture, tokenizer=tok)
        L = r.config.seq_len
        pieces = []
        for ids in tok([str(x["text"]) for x in rows], add_special_tokens=False)["input_ids"]:
            pieces += [tok.decode(ids[k:k + L]) for k in range(0, len(ids), L)]
        out[r.point] = InMemoryCorpus(f"dose:{r.point}", [p for p in pieces if p.strip()])
    return out


def metric_names(plan: LabPlan) -> list[str]:
    """The plan's metrics, or every registered metric."""
    from core.metrics import METRICS

    return list(plan.metrics) or METRICS.names()


def _metrics_path(plan: LabPlan) -> Path:
    from core.fingerprint import fingerprint
    from core.paths import cache_dir

    return cache_dir("validation") / f"metrics-{fingerprint(plan.to_dict())[:16]}.json"


def measure_metrics(plan: LabPlan, runs: list[PlannedRun], *, say: Progress = print,
                    should_stop: Callable[[], bool] | None = None, names: list[str] | None = None,
                    params: dict[str, dict] | None = None, points: list[str] | None = None) -> list[dict]:
    """Every metric on every point against the target (each value cached by the metrics package).

    Metric by metric, cheapest first (the registry's leaderboard order), so an interrupted
    measurement already holds the cheap metrics; the rows are merged into the plan's metrics file
    after each metric, so several processes may measure different metrics of one plan. A metric
    that fails (missing package, model) is reported and skipped; the others go on.

    Args:
        names: metrics to measure (default :func:`metric_names` of the plan).
        params: optional ``{metric: {parameter: value}}`` (e.g. fewer batches for ``t2v-reference``).
        points: only these points (default every point of the plan).

    Returns rows ``{"metric", "point", "value", "ci_low", "ci_high", "seconds", "cached"}`` of the
    metrics measured by this call.
    """
    from core.metrics import score_all

    names = list(names or metric_names(plan))
    corpora = point_corpora(plan, runs)
    if points is not None:
        unknown = sorted(set(points) - set(corpora))
        if unknown:
            raise AlignScopeError(f"Unknown lab point(s) {', '.join(unknown)}.", fix=f"use some of: {', '.join(corpora)}.")
        corpora = {p: c for p, c in corpora.items() if p in points}
    rows: list[dict] = []
    for name in names:
        got_rows, error = [], None
        for k, (point, corpus) in enumerate(corpora.items()):
            if should_stop and should_stop():
                raise InterruptedError("stopped while measuring metrics")
            p = {name: params[name]} if params and name in params else None
            v = score_all([name], corpus, plan.target, params=p)[_canonical(name)]
            if isinstance(v, Exception):   # this point only; the metric goes on with the others
                error = f"{point}: {v}"
                say(f"  metric {name} unavailable on {point}: {v}")
                continue
            d = v.to_dict()
            got_rows.append({"metric": _canonical(name), "point": point,
                             **{k2: d[k2] for k2 in ("value", "ci_low", "ci_high", "seconds", "cached")}})
            say(f"metric {name} [{k + 1}/{len(corpora)}] {point}: {d['value']:.4f} ({d['seconds']:.1f} s)")
        rows += got_rows
        _merge_metric_rows(plan, got_rows, {name: error} if error else {})
    return rows


def _canonical(name: str) -> str:
    from core.metrics import METRICS

    return METRICS.canonical(name)


def _merge_metric_rows(plan: LabPlan, rows: list[dict], broken: dict[str, str]) -> None:
    """Merge ``rows`` into the plan's metrics file (a later value of a (metric, point) replaces the
    earlier one), under a file lock, written atomically."""
    from core.paths import atomic_write, file_lock

    path = _metrics_path(plan)
    with file_lock(str(path) + ".lock"):
        old = json.loads(path.read_text()) if path.is_file() else {"rows": [], "broken": {}}
        merged = {(r["metric"], r["point"]): r for r in old["rows"]}
        merged.update({(r["metric"], r["point"]): r for r in rows})
        data = {"rows": list(merged.values()), "broken": {**old.get("broken", {}), **broken}}
        atomic_write(path, json.dumps(data, indent=1))


def derived_from_target(name: str, target: str) -> bool:
    """Whether corpus ``name`` is derived from the target benchmark (another split or view of it).

    Read from the corpus registry: a corpus spec's ``derived_from`` names the benchmark it comes
    from (the demo pack marks ``proofnet-valid``, ``proofnet-informal`` and ``proofnet-af``), merged
    with the content check of :func:`core.corpora.contamination.derived_from` (13-gram overlap).
    """
    from core.corpora import get_corpus
    from core.corpora.contamination import derived_from
    from core.corpora.benchmarks import BENCHMARKS

    family = {target, *(BENCHMARKS.get(target, (target, ()))[1])}
    try:
        get_corpus(name)
    except AlignScopeError:
        return False
    return bool(derived_from(name) & family) or name in family     # declared or by content


# -- the results file ------------------------------------------------------------------------------
def write_results(plan: LabPlan, runs: list[PlannedRun], out: Path, *, wall: float = 0.0) -> dict:
    """Assemble the lab's results file and write it atomically; returns it as a dict.

    Format (read by :func:`core.validation.report.load_results`): ``version, target, model,
    precision, created, wall_seconds (s), plan, regimes, base, sources ({name: {derived_from_target}}),
    runs`` (one per planned run that has a row: regime, point, seed, status, perplexities, seconds and
    the row itself under ``record``, see :func:`import_runs`), ``metrics`` (rows merged by
    :func:`measure_metrics`) and ``metric_info``.
    """
    from core.finetune import results as db

    rows = []
    base = None
    for r in runs:
        row = db.get_run(r.run_id, reconcile_first=False) or {}
        status = row.get("status") or "missing"
        if status == "missing":
            continue
        if base is None and row.get("ppl_before"):
            base = {"perplexity": row["ppl_before"], "nll": row.get("nll_before"), "tokens": row.get("eval_tokens")}
        rows.append({"run_id": r.run_id, "regime": r.regime, "point": r.point,
                     "source": r.config.source, "pair": list(r.pair) if r.pair else None, "fraction": r.fraction,
                     "seed": r.seed, "status": status, "error": row.get("error"),
                     "ppl_before": row.get("ppl_before"), "ppl_after": row.get("ppl_after"),
                     "nll_after": row.get("nll_after"), "tokens_trained": row.get("tokens_trained"),
                     "wall_seconds": row.get("wall_seconds"), "train_seconds": row.get("train_seconds"),
                     "precision": row.get("precision"), "alignment": row.get("alignment"),
                     "familiarity": row.get("familiarity"), "outcomes": row.get("outcomes"),
                     "record": {k: v for k, v in row.items() if k in _RECORD_FIELDS}})
    metrics_file = _metrics_path(plan)
    metric_rows = json.loads(metrics_file.read_text())["rows"] if metrics_file.is_file() else []
    info = {}
    try:
        from core.metrics import list_metrics

        info = {m["name"]: {"description": m["description"], "cost": m["cost"]} for m in list_metrics()}
    except Exception:   # the leaderboard still works without descriptions
        info = {}
    every = sorted({s for r in plan.regimes for s in regime_sources(plan, r)} | {s for p in plan.dose_pairs for s in p})
    res = {"version": RESULTS_VERSION, "target": plan.target, "model": plan.model, "precision": plan.precision,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_seconds": wall,
           "plan": plan.to_dict(),
           "regimes": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in plan.regimes},
           "base": base, "sources": {s: {"derived_from_target": derived_from_target(s, plan.target)} for s in every},
           "runs": rows, "metrics": metric_rows, "metric_info": info}
    res["regimes"]["dose"] = {**res["regimes"][plan.regimes[0].name], "seeds": list(plan.dose_seeds),
                              "pairs": [list(p) for p in plan.dose_pairs], "fractions": list(plan.dose_fractions)}
    from core.paths import atomic_write, json_default

    atomic_write(out, json.dumps(res, indent=1, default=json_default))
    return res


#: Results-database columns kept with each run in the results file, enough to re-create the row on
#: another machine (:func:`import_runs`), so a lab can continue where a previous machine stopped.
_RECORD_FIELDS = ("group_key", "label", "source", "mixture", "target", "eval_corpus", "model", "method", "alignment",
                  "align_ci_low", "align_ci_high", "align_settings", "budget_tokens", "tokens_trained", "tokens_seen",
                  "documents_used", "hparams", "ppl_before", "ppl_after", "nll_before", "nll_after", "eval_tokens",
                  "familiarity", "train_loss_first", "train_loss_last", "train_steps", "train_seconds", "wall_seconds",
                  "device", "precision", "status", "error", "notes", "started", "finished", "outcomes")


def import_runs(path: Path, runs: list[PlannedRun]) -> int:
    """Re-create, in this machine's results database, the finished runs of ``runs`` that the results
    file ``path`` holds (rows written by :func:`write_results`) and the database lacks.

    Only runs of the plan are imported (same run id: same configuration, data and settings), so a
    lab can continue on a fresh machine from the committed results file. Returns how many rows
    were imported.

    Raises:
        AlignScopeError: the file is missing or is not a results file.
    """
    from core.finetune import results as db

    path = Path(path)
    try:
        saved = json.loads(path.read_text())
        rows = {r["run_id"]: r for r in saved["runs"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AlignScopeError(f"Cannot read lab results from {str(path)!r}: {exc}",
                              fix="give a results file written by python -m core validate run (--resume-from).") from None
    n = 0
    for r in runs:
        rec = (rows.get(r.run_id) or {}).get("record")
        if not rec or rec.get("status") != "done":
            continue
        have = db.get_run(r.run_id, reconcile_first=False)
        if have and have.get("status") == "done":
            continue
        note = f"imported from {path.name}"
        db.upsert_run(r.run_id, **{**rec, "notes": "; ".join(x for x in (rec.get("notes"), note) if x)})
        n += 1
    return n
