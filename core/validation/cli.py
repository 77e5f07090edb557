"""``python -m core validate plan|run|report|metrics``: the validation lab on the command line.

  validate plan    [plan options]              the fine-tunes, what is done, the expected wall time
  validate run     [plan options] [--out F]    run what is missing (resumable), measure metrics, write F
  validate report  --results F                 the leaderboard from a results file (no fine-tuning)
  validate metrics                             the registered alignment metrics
  validate export  [plan options] --out P      the plan's fine-tunes as token ids, to run on a GPU box
  validate import  [plan options] --remote R --out F   a results file from a GPU box's outcomes

On a machine with only torch and transformers (e.g. a GPU box), run an exported payload with
  python -m core.validation.remote run P --model SmolLM2-135M-Instruct.Q4_1.gguf --out O
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.validation.plan import LabPlan, Regime

EPILOG = """examples:
  python -m core validate plan
  python -m core validate run --out docs/results/validation.json
  python -m core validate run --regime 4k=4000:0,1,2 --sources coq-stdlib,wikipedia,news --dose-pairs none
  python -m core validate report --results docs/results/validation.json --json
"""


def _split(value: str | None, flag: str = "the list") -> list[str]:
    """The items of a comma-separated flag (:func:`core.clikit.args.parse_list`: empty items and
    duplicates refused, naming ``flag``)."""
    from core.clikit.args import parse_list

    return parse_list(value, option=flag)


def _metric_names(value: str | None) -> tuple[str, ...]:
    """``--metrics``: registered alignment metrics (aliases resolved); None -> ``()`` (all).

    Raises:
        AlignScopeError: an empty list or item, a duplicate, or an unknown metric, naming ``--metrics``.
    """
    from core.metrics import METRICS

    names = []
    for m in _split(value, "--metrics"):
        try:
            names.append(METRICS.canonical(m))
        except AlignScopeError:
            raise AlignScopeError(f"--metrics names {m!r}, which is not an alignment metric.",
                                  fix=f"use some of: {', '.join(METRICS.names())} (python -m core validate metrics).") from None
    if len(set(names)) != len(names):
        raise AlignScopeError(f"--metrics {value!r} names a metric twice (an alias and its name).", fix="give each once.")
    return tuple(names)


def _ints(value: str, flag: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in _split(value, flag))
    except ValueError:
        raise AlignScopeError(f"{flag} {value!r} is not a comma-separated list of integers.",
                              fix=f"write e.g. {flag} 0,1,2") from None
    if any(x < 0 for x in out):
        raise AlignScopeError(f"{flag} {value!r} has a negative seed.", fix="use seeds >= 0.")
    return out


def parse_regime(text: str) -> Regime:
    """``NAME=BUDGET[:SEEDS][:EPOCHS]`` -> :class:`core.validation.plan.Regime` (e.g. ``long=16000:0``).

    Raises:
        AlignScopeError: malformed text, non-positive budget or epochs.
    """
    from core.validation.plan import Regime

    name, eq, rest = text.partition("=")
    parts = rest.split(":")
    if not eq or not name.strip() or not parts[0].strip():
        raise AlignScopeError(f"--regime {text!r} is not of the form NAME=BUDGET[:SEEDS][:EPOCHS].",
                              fix="write e.g. --regime 4k=4000:0,1,2 or --regime long=16000:0:2")
    try:
        budget = int(parts[0])
        epochs = float(parts[2]) if len(parts) > 2 and parts[2] else 2.0
    except ValueError:
        raise AlignScopeError(f"--regime {text!r}: the budget must be an integer and epochs a number.",
                              fix="write e.g. --regime long=16000:0:2") from None
    if budget <= 0 or not epochs > 0:
        raise AlignScopeError(f"--regime {text!r}: budget and epochs must be positive.", fix="write e.g. --regime 4k=4000:0,1,2")
    seeds = _ints(parts[1], "--regime SEEDS") if len(parts) > 1 and parts[1] else (0, 1, 2)
    return Regime(name.strip(), budget, epochs=epochs, seeds=seeds)


def plan_from_args(args: argparse.Namespace) -> LabPlan:
    """A :class:`core.validation.plan.LabPlan` from the plan options."""
    from core.outcomes.measure import parse_names
    from core.precision import check_precision
    from core.validation.plan import DEFAULT_DOSE_FRACTIONS, DEFAULT_DOSE_PAIRS, DEFAULT_SOURCES, LabPlan, REGIME_4K, REGIME_LONG

    regimes = tuple(parse_regime(r) for r in args.regime) if args.regime else (REGIME_4K, REGIME_LONG)
    if len({r.name for r in regimes}) != len(regimes):
        raise AlignScopeError("Two --regime options share a name.", fix="give each regime its own NAME.")
    if args.dose_pairs is None:
        pairs = DEFAULT_DOSE_PAIRS
    elif args.dose_pairs.strip().lower() in ("", "none"):
        pairs = ()
    else:
        pairs = []
        for p in _split(args.dose_pairs, "--dose-pairs"):
            a, plus, b = p.partition("+")
            if not plus or not a or not b:
                raise AlignScopeError(f"--dose-pairs item {p!r} is not of the form ALIGNED+UNALIGNED.",
                                      fix="write e.g. --dose-pairs proofnet-valid+wikipedia,coq-stdlib+news")
            pairs.append((a, b))
        pairs = tuple(pairs)
    try:
        fractions = tuple(float(x) for x in _split(args.dose_fractions, "--dose-fractions")) if args.dose_fractions is not None else DEFAULT_DOSE_FRACTIONS
    except ValueError:
        raise AlignScopeError(f"--dose-fractions {args.dose_fractions!r} is not a list of numbers.",
                              fix="write e.g. --dose-fractions 0.125,0.25,0.5,0.75") from None
    sources = tuple(_split(args.sources, "--sources")) if args.sources is not None else DEFAULT_SOURCES
    if args.target in sources:
        raise AlignScopeError(f"--sources names the target {args.target!r}: its held-out split is what the lab "
                              "evaluates on.", fix="leave it out of --sources.")
    return LabPlan(target=args.target, sources=sources,
                   regimes=regimes, dose_pairs=pairs, dose_fractions=fractions,
                   dose_seeds=_ints(args.dose_seeds, "--dose-seeds") if args.dose_seeds is not None else (0, 1, 2),
                   metrics=_metric_names(args.metrics), model=args.model, precision=check_precision(args.precision),
                   outcomes=tuple(parse_names(args.outcomes)) if args.outcomes.strip() else ())


def _plan_args(p: argparse.ArgumentParser) -> None:
    from core.probe import DEFAULT_MODEL

    g = p.add_argument_group("lab plan")
    g.add_argument("--target", default="proofnet", help="target benchmark; its held-out split is evaluated (default proofnet)")
    g.add_argument("--sources", default=None, help="comma-separated training sources (default: the 9 sources of the committed experiment)")
    g.add_argument("--outcomes", default="", metavar="NAMES",
                   help="target outcomes each run measures before and after, beside held-out perplexity (e.g. af-nll; default none)")
    g.add_argument("--regime", action="append", default=[], metavar="NAME=BUDGET[:SEEDS][:EPOCHS]",
                   help="a fine-tune regime, repeatable (default: 4k=4000:0,1,2 and long=16000:0)")
    g.add_argument("--dose-pairs", default=None, metavar="A+B,...",
                   help="aligned+unaligned source pairs for dose-response, or 'none' (default proofnet-valid+wikipedia,coq-stdlib+news)")
    g.add_argument("--dose-fractions", default=None, help="interior token shares of the aligned source (default 0.25,0.5,0.75)")
    g.add_argument("--dose-seeds", default=None, help="seeds per dose point (default 0,1,2)")
    g.add_argument("--metrics", default=None, help="comma-separated alignment metrics (default: all; see validate metrics)")
    g.add_argument("--model", default=DEFAULT_MODEL, help=f"causal LM to fine-tune and probe (default {DEFAULT_MODEL})")
    g.add_argument("--precision", default="auto", help="auto (bf16 where the CPU/GPU has it), fp32 or bf16")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``validate`` and its subcommands to the ``python -m core`` parser."""
    p = subparsers.add_parser("validate", help="validation lab: which alignment metric predicts fine-tuning?",
                              description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="validate_cmd", metavar="plan|run|report|metrics|export|import")
    sp = sub.add_parser("plan", help="list the lab's fine-tunes and the expected wall time", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    _plan_args(sp)
    sp.set_defaults(func=cmd_plan)
    from core.clikit.common import engine_parent

    sr = sub.add_parser("run", help="run the missing fine-tunes (resumable), measure metrics, write the results",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[engine_parent()])
    _plan_args(sr)
    sr.add_argument("--out", default=None, help="results file (default cache/validation/results.json)")
    sr.add_argument("--limit", type=int, default=None, help="run at most N new fine-tunes, then stop (resume later)")
    sr.add_argument("--no-metrics", action="store_true", help="skip measuring the metrics (fine-tunes only)")
    sr.add_argument("--resume-from", default=None, metavar="FILE",
                    help="a results file of an earlier run of the same plan (e.g. docs/results/validation.json): "
                         "its finished fine-tunes are imported and not run again")
    sr.add_argument("--metrics-only", action="store_true",
                    help="measure the metrics and write the results file, without fine-tuning")
    sr.set_defaults(func=cmd_run)
    ex = sub.add_parser("export", help="write the plan's fine-tunes as token ids for python -m core.validation.remote",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _plan_args(ex)
    ex.add_argument("--out", required=True, help="payload file to write (JSON)")
    ex.set_defaults(func=cmd_export)
    im = sub.add_parser("import", help="a results file from the outcomes of python -m core.validation.remote run",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _plan_args(im)
    im.add_argument("--remote", required=True, metavar="R", help="the --out file of python -m core.validation.remote run")
    im.add_argument("--out", required=True, help="results file to write")
    im.add_argument("--metrics-from", default=None, metavar="FILE",
                    help="take the metric rows from this results file of the same plan (default: this machine's "
                         "measured metrics of the plan)")
    im.set_defaults(func=cmd_import)
    rp = sub.add_parser("report", help="the leaderboard from a results file (no fine-tuning)", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("--regime", default=None, help="only this regime (default all)")
    rp.add_argument("--figures", default=None, metavar="DIR",
                    help="also write the figures (scatters per regime, dose-response) as PNG files into DIR")
    rp.add_argument("--results", default=None, help="results file (default docs/results/validation.json)")
    rp.add_argument("--condition", default=None, choices=("finetune", "icl"),
                    help="the lab's condition to report (default: the file's runs as they are; finetune for a "
                         "fine-tune lab)")
    rp.add_argument("--outcome", default=None, metavar="NAME",
                    help="the outcome the metrics are fitted to: text-ppl (default), af-nll, af-ppl ... "
                         "(a measured one; the error names the pairs a file holds)")
    rp.add_argument("--json", action="store_true", help="print JSON instead of text")
    rp.add_argument("--markdown", action="store_true", help="print the leaderboards as Markdown tables")
    rp.set_defaults(func=cmd_report)
    mp = sub.add_parser("metrics", help="the registered alignment metrics", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    mp.add_argument("--json", action="store_true", help="print JSON instead of text")
    mp.set_defaults(func=cmd_metrics)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _default_out() -> Path:
    from core.paths import cache_dir

    return cache_dir("validation") / "results.json"


def cmd_plan(args: argparse.Namespace) -> int:
    from core.validation.lab import status_of
    from core.validation.plan import cost_model, estimate_seconds, plan_runs, validate_plan

    plan = plan_from_args(args)
    validate_plan(plan)
    runs = plan_runs(plan)
    state = status_of(runs)
    todo = [r for r in runs if state[r.run_id] != "done"]
    a, b, n = cost_model(plan.model)
    secs = estimate_seconds(todo, plan.model)
    if args.json:
        print(json.dumps({"runs": [{"regime": r.regime, "point": r.point, "seed": r.seed, "run_id": r.run_id,
                                    "status": state[r.run_id]} for r in runs],
                          "to_run": len(todo), "expected_seconds": secs,
                          "cost_model": {"intercept_s": a, "s_per_token_seen": b, "timed_runs": n}}, indent=1))
        return 0
    for r in runs:
        print(f"  {r.regime:5s} {r.point:38s} seed {r.seed}  {state[r.run_id]}")
    print(f"{len(runs)} fine-tunes, {len(runs) - len(todo)} done, {len(todo)} to run; expected wall time "
          f"{secs / 60:.0f} min (cost model: {a:.0f} s + {b * 1000:.1f} s per 1,000 tokens seen, from {n} timed runs)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from core.validation.lab import run_lab

    plan = plan_from_args(args)
    if args.limit is not None and args.limit < 1:
        raise AlignScopeError(f"--limit {args.limit} is not positive.", fix="give --limit 1 or more, or leave it out.")
    from core.clikit.args import check_output

    out = check_output(args.out, option="--out") if args.out is not None else _default_out()
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    if args.resume_from and not Path(args.resume_from).is_file():
        raise AlignScopeError(f"--resume-from {args.resume_from!r} does not exist.", fix="give the path of a results file.")
    if args.metrics_only and args.no_metrics:
        raise AlignScopeError("--metrics-only and --no-metrics exclude each other.", fix="give one of them.")
    if args.metrics_only:
        from core.validation.lab import measure_metrics, write_results
        from core.validation.plan import plan_runs, validate_plan

        validate_plan(plan)
        runs = plan_runs(plan)
        measure_metrics(plan, runs, say=say)
        res = write_results(plan, runs, out)
    else:
        res = run_lab(plan, out=out, say=say, limit=args.limit, metrics=not args.no_metrics,
                      resume_from=Path(args.resume_from) if args.resume_from else None)
    if args.json:
        print(json.dumps({"out": str(out), "runs": len(res["runs"]), "metrics": len(res["metrics"])}, indent=1))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.validation.remote import export_payload

    from core.clikit.args import check_output

    plan = plan_from_args(args)
    summary = export_payload(plan, check_output(args.out, option="--out"))
    print(json.dumps({"out": args.out, **summary}) if args.json else
          f"wrote {summary['runs']} fine-tunes ({summary['bytes']:,} bytes) to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from core.validation.lab import write_results
    from core.validation.plan import plan_runs
    from core.validation.remote import import_outcomes

    from core.clikit.args import check_output

    plan = plan_from_args(args)
    check_output(args.out, option="--out")
    if not Path(args.remote).is_file():
        raise AlignScopeError(f"--remote {args.remote!r} does not exist.", fix="give the --out file of the remote run.")
    if args.metrics_from:
        if not Path(args.metrics_from).is_file():
            raise AlignScopeError(f"--metrics-from {args.metrics_from!r} does not exist.", fix="give a results file.")
        local = json.loads(Path(args.metrics_from).read_text())
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            local = write_results(plan, plan_runs(plan), Path(d) / "local.json")
    res = import_outcomes(plan, Path(args.remote), Path(args.out), local_results=local)
    print(json.dumps({"out": args.out, "runs": len(res["runs"]), "metrics": len(res["metrics"])}) if args.json else
          f"wrote {len(res['runs'])} runs and {len(res['metrics'])} metric values to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from core.validation.report import format_report, load_results, report

    path = Path(args.results or "docs/results/validation.json")
    if not path.is_file():
        raise AlignScopeError(f"--results {str(path)!r} does not exist.",
                              fix="give a results file (python -m core validate run writes one).")
    if args.figures is not None:
        _check_figures_dir(args.figures)
    results = load_results(path)
    if args.condition or args.outcome:          # one (condition, outcome) of the lab (core.validation.axes)
        from core.validation.axes import DEFAULT_CONDITION, DEFAULT_OUTCOME, axis_view

        results = axis_view(results, args.condition or DEFAULT_CONDITION, args.outcome or DEFAULT_OUTCOME)
    res = report(results, regimes=[args.regime] if args.regime else None)
    if args.figures:
        res["figures"] = write_figures(res, Path(args.figures))
    if args.json:
        print(json.dumps(res, indent=1, default=str))
    elif args.markdown:
        print(format_markdown(res))
    else:
        print(format_report(res))
    return 0


def _check_figures_dir(folder: str) -> None:
    """``--figures DIR``: an existing, writable folder, or one whose parent is (it is created then).

    Raises:
        AlignScopeError: empty, a file, or a parent that does not exist or cannot be written.
    """
    import os

    from core.clikit.args import check_output

    if not folder.strip():
        raise AlignScopeError("--figures '' is empty.", fix="pass --figures DIR (a folder).")
    p = Path(folder).expanduser()
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise AlignScopeError(f"--figures {folder}: the folder is not writable.", fix="pass a folder you can write to.")
        return
    if p.exists():
        raise AlignScopeError(f"--figures {folder} is a file, not a folder.", fix="pass --figures DIR.")
    check_output(str(p), option="--figures")             # its parent exists and is writable


def _ci(v, ci, digits: int = 2) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _wrong_sign(row: dict) -> bool:
    """A metric whose values rise with perplexity (higher alignment, worse outcome)."""
    return row.get("pearson") is not None and row["pearson"] > 0


def _rank_key(row: dict) -> tuple:
    """Right-sign metrics by r² (best first), then wrong-sign ones, then rows without a fit."""
    r2 = row.get("r2")
    return (r2 is None, _wrong_sign(row), -(r2 or 0.0))


def format_markdown(rep: dict) -> str:
    """The report's leaderboards as Markdown tables (one per regime and source set), best r² first
    among metrics that correlate the right way (higher alignment, lower perplexity), then the
    wrong-sign ones, marked:
    metric | cost per source (s) | r² [95% CI] | Spearman [95% CI] | Kendall | LOO error | p | Δr² vs default."""
    from core.validation.axes import outcome_unit

    unit = outcome_unit(((rep.get("summary") or {}).get("axes") or {}).get("outcome"))
    out = [rep["verdict"], ""]
    keys = list(dict.fromkeys((r["regime"], r["exclude_derived"]) for r in rep["leaderboard"]))
    for regime, excl in keys:
        rows = [r for r in rep["leaderboard"] if r["regime"] == regime and r["exclude_derived"] == excl]
        rows.sort(key=_rank_key)
        n = max((r.get("n_sources") or 0) for r in rows)
        seeds = max((r.get("n_seeds_max") or 0) for r in rows)
        out += [f"**{regime}**, {'without' if excl else 'with'} target-derived sources ({n} points x {seeds} seeds)", "",
                f"| metric | cost/source (s) | r² [95% CI] | Spearman [95% CI] | Kendall [95% CI] | LOO error ({unit}) | p (perm.) | Δr² vs t2v-head [95% CI] |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            name = r["metric"] + (" (default)" if r.get("is_default") else "")
            if _wrong_sign(r):
                name += " (wrong sign)"
            note = f" ({r['n_sources']} pts)" if r.get("n_sources") and r["n_sources"] != n else ""
            cost = "–" if r.get("cost_s") is None else f"{r['cost_s']:.1f}"
            p = "–" if r.get("p_perm") is None else f"{r['p_perm']:.2g}"
            loo = "–" if r.get("loo_error") is None else f"{r['loo_error']:.2f}"
            diff = "–" if r.get("is_default") else _ci(r.get("r2_diff_vs_default"), r.get("r2_diff_ci"))
            out.append(f"| {name}{note} | {cost} | {_ci(r.get('r2'), r.get('r2_ci'))} | "
                       f"{_ci(r.get('spearman'), r.get('spearman_ci'))} | {_ci(r.get('kendall'), r.get('kendall_ci'))} | "
                       f"{loo} | {p} | {diff} |")
        out.append("")
    return "\n".join(out)


def write_figures(rep: dict, folder: Path) -> list[str]:
    """The report's figures as PNG files (kaleido + Chromium) in ``folder``:
    ``validation_<regime>.png`` (small multiples, target-derived sources included and excluded)
    and ``dose_response.png`` / ``dose_metrics.png``. Returns the paths written.

    Raises:
        AlignScopeError: no static image export (Chromium missing); the dashboard page still shows them.
    """
    from core.charts import save_figure
    from core.validation.figures import dose_metric_figure, dose_ppl_figure, scatter_figure

    folder.mkdir(parents=True, exist_ok=True)
    base = (rep.get("summary") or {}).get("base") or {}
    base_ppl = base.get("perplexity")
    figs = {}
    for regime, points in rep["points"].items():
        for excl in (False, True):
            rows = [r for r in rep["leaderboard"] if r["regime"] == regime and bool(r.get("exclude_derived")) == excl]
            if rows:
                tag = "_without_derived" if excl else ""
                what = "without" if excl else "with"
                figs[f"validation_{regime}{tag}"] = scatter_figure(
                    rows, points, base_ppl=base_ppl,
                    title=f"Regime {regime}: perplexity after fine-tuning vs each metric ({what} target-derived sources)")
    if rep.get("dose") and rep["dose"].get("pairs"):
        figs["dose_response"] = dose_ppl_figure(rep["dose"], base_ppl=base_ppl,
                                                title="Dose-response: perplexity vs share of the aligned source")
        figs["dose_metrics"] = dose_metric_figure(rep["dose"], title="Each metric on the real mixed data vs share")
    out = []
    for name, fig in figs.items():
        for ext in ("png",):
            path = folder / f"{name}.{ext}"
            save_figure(fig, path)
            out.append(str(path))
    return out


def cmd_metrics(args: argparse.Namespace) -> int:
    from core.metrics import list_metrics

    rows = list_metrics()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for m in rows:
        print(f"  {m['name']:14s} {m['cost']:24s} {m['description'].splitlines()[0]}")
    return 0
