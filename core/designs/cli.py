"""``python -m core design plan|run|report kinds|budget``: the lab's other designs on the command line.

  design plan kinds  --source S [options]        the variants, the runs, what is done, the expected time
  design run kinds   --source S [--out F]        run what is missing (resumable), write F after every run
  design report kinds --source S | --results F   the summary with CIs (and --figure F.html)
  design plan|run|report budget [--sources A,B,C] [--budgets ...]   the same for budget curves

Bad input exits with code 2 and one line naming the input and the fix (:class:`core.errors.AlignScopeError`).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from core.clikit.common import positive_int, split
from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.designs.plan import BudgetDesign, KindsDesign

EXAMPLES = """
  python -m core design plan kinds --source proofnet-valid
  python -m core design run kinds --source proofnet-valid --seeds 0 --budget 1000 --kinds paired,unpaired --no-icl
  python -m core design report kinds --source proofnet-valid --figure cache/designs/kinds.html
  python -m core design plan budget --sources proofnet-valid,metamath,wikipedia --budgets 1000,2000,4000,8000,16000
  python -m core design report budget --reference proofnet-valid --tokens 4000 --against wikipedia --json
"""


def _ints(value: str, flag: str, *, low: int = 0) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in split(value))
    except ValueError:
        raise AlignScopeError(f"{flag} {value!r} is not a comma-separated list of integers.",
                              fix=f"write e.g. {flag} 0,1,2") from None
    if not out or any(x < low for x in out):
        raise AlignScopeError(f"{flag} {value!r} needs integers >= {low}.", fix=f"write e.g. {flag} 0,1,2")
    return out


def _common(p: argparse.ArgumentParser) -> None:
    from core.precision import PRECISIONS
    from core.probe import DEFAULT_MODEL

    g = p.add_argument_group("design")
    g.add_argument("--target", default="proofnet", help="target benchmark; its held-out (test) split is evaluated (default proofnet)")
    g.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    g.add_argument("--outcomes", default="text-ppl,af-nll", help="outcomes measured after each fine-tune (default text-ppl,af-nll)")
    g.add_argument("--metrics", default=None,
                   help="comma-separated alignment metrics, or 'all' (default: t2v-head and the probe-forward/model-free metrics)")
    g.add_argument("--epochs", type=float, default=2.0, help="epochs over each run's tokens (default 2)")
    g.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    g.add_argument("--batch-size", type=positive_int, default=8, help="sequences per optimiser step (default 8)")
    g.add_argument("--seq-len", type=positive_int, default=128, help="tokens per training sequence (default 128)")
    g.add_argument("--model", default=DEFAULT_MODEL, help=f"causal LM to fine-tune and probe (default {DEFAULT_MODEL})")
    g.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto (default), fp32 or bf16")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _kinds_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("kinds")
    g.add_argument("--source", required=True, help="the pair-format corpus (proofnet-valid, metamath, a JSONL with a template)")
    g.add_argument("--budget", type=positive_int, default=4000, help="training tokens of every variant (default 4000)")
    g.add_argument("--kinds", default="paired,unpaired,formal-only,informal-only", help="which variants (default all four)")
    g.add_argument("--perm-seed", type=int, default=0, help="seed of the unpaired derangement (default 0)")
    g.add_argument("--max-pairs", type=int, default=None, help="at most this many pairs, a seeded sample (default all)")
    g.add_argument("--splitter", default="auto", help="auto (default), format, template or metamath")
    g.add_argument("--informal-field", default=None, help="template corpora: the field holding the informal half")
    g.add_argument("--no-finetune", action="store_true", help="only the in-context condition")
    g.add_argument("--no-icl", action="store_true", help="only the fine-tunes")
    g.add_argument("--icl-k", type=positive_int, default=4, help="demonstrations per prompt (default 4)")
    g.add_argument("--icl-selector", default="random", help="demonstration selector (default random)")
    g.add_argument("--icl-budget", type=positive_int, default=512, help="demonstration tokens per prompt (default 512)")
    g.add_argument("--icl-problems", type=positive_int, default=None, help="a seeded subsample of the target's problems (default all)")


def _budget_args(p: argparse.ArgumentParser) -> None:
    from core.designs.plan import DEFAULT_BUDGET_SOURCES, DEFAULT_BUDGETS

    g = p.add_argument_group("budget curves")
    g.add_argument("--sources", default=",".join(DEFAULT_BUDGET_SOURCES),
                   help=f"comma-separated sources spanning the alignment range (default {','.join(DEFAULT_BUDGET_SOURCES)})")
    g.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)),
                   help="comma-separated training-token budgets (default 1000,2000,4000,8000,16000; never beyond a source's size)")
    g.add_argument("--reference", default=None, help="source A of 'how many tokens of B match N of A' (default: the most aligned)")
    g.add_argument("--reference-tokens", type=positive_int, default=4000, help="N, tokens of A (default 4000)")


def _run_args(p: argparse.ArgumentParser) -> None:
    from core.clikit.common import FINETUNE_THREADS_HELP

    p.add_argument("--out", default=None, help="results file (default cache/designs/<design>[-<source>].json)")
    p.add_argument("--limit", type=positive_int, default=None, help="run at most N new runs, then stop (resume later)")
    p.add_argument("--no-metrics", action="store_true", help="skip the alignment metrics")
    p.add_argument("--threads", type=positive_int, default=None, help=FINETUNE_THREADS_HELP)


def _report_args(p: argparse.ArgumentParser, design: str) -> None:
    p.add_argument("--results", default=None, help="results file (default: the design's default --out)")
    p.add_argument("--figure", default=None, metavar="F.html", help="also write the plotly figure as HTML")
    if design == "kinds":
        p.add_argument("--source", default=None, help="the design's source (finds the default results file)")
    else:
        p.add_argument("--reference", default=None, help="source A (default: the design's, else the most aligned)")
        p.add_argument("--tokens", type=float, default=None, help="N, tokens of A (default the design's, 4000)")
        p.add_argument("--against", default=None, help="comma-separated B sources (default: every other source)")
        p.add_argument("--outcome", default=None, help="the outcome the figure plots (default the first)")
        p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``design`` and its subcommands to the ``python -m core`` parser."""
    from core.clikit.common import HelpFormatter

    p = subparsers.add_parser("design", help="the lab's other designs: data kinds, budget curves", description=__doc__,
                              epilog="examples:" + EXAMPLES, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="design_cmd", metavar="plan|run|report")
    for cmd, what in (("plan", "list a design's runs and the expected wall time"),
                      ("run", "run what is missing (resumable), write the results after every run"),
                      ("report", "the summary with 95%% CIs from a results file")):
        c = sub.add_parser(cmd, help=what, epilog="examples:" + EXAMPLES, formatter_class=HelpFormatter)
        ds = c.add_subparsers(dest="design_name", metavar="kinds|budget")
        for name, helptext in (("kinds", "paired / unpaired / formal-only / informal-only from one pair corpus"),
                               ("budget", "outcome vs training tokens per source")):
            d = ds.add_parser(name, help=helptext, description=helptext, epilog="examples:" + EXAMPLES,
                              formatter_class=HelpFormatter)
            if cmd == "report":
                _report_args(d, name)
                d.set_defaults(func=cmd_report)
                continue
            _common(d)
            (_kinds_args if name == "kinds" else _budget_args)(d)
            if cmd == "run":
                _run_args(d)
            d.set_defaults(func=cmd_plan if cmd == "plan" else cmd_run)
        c.set_defaults(func=lambda a, c=c: (c.print_help(), 2)[1])
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def design_from_args(args: argparse.Namespace) -> KindsDesign | BudgetDesign:
    """A :class:`~core.designs.plan.KindsDesign` or :class:`~core.designs.plan.BudgetDesign` from the flags.

    Raises:
        AlignScopeError: malformed lists, unknown outcomes or metrics (the design's own checks come later).
    """
    from core.designs.plan import DEFAULT_METRICS, BudgetDesign, IclSettings, KindsDesign
    from core.outcomes.measure import parse_names
    from core.validation.plan import Regime

    seeds = _ints(args.seeds, "--seeds")
    outcomes = tuple(parse_names(args.outcomes)) if args.outcomes.strip() else ()
    if args.metrics is None:
        metrics = DEFAULT_METRICS
    elif args.metrics.strip().lower() == "all":
        from core.metrics import METRICS

        metrics = tuple(METRICS.names())
    else:
        metrics = tuple(split(args.metrics))
    if not (0 < args.lr < 1) or not args.epochs > 0:
        raise AlignScopeError(f"--lr {args.lr} / --epochs {args.epochs} out of range.", fix="use e.g. --lr 1e-4 --epochs 2")
    common = dict(target=args.target, outcomes=outcomes, metrics=metrics, model=args.model, precision=args.precision)
    if args.design_name == "kinds":
        regime = Regime("kinds", args.budget, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                        seq_len=args.seq_len, seeds=seeds)
        icl = None if args.no_icl else IclSettings(k=args.icl_k, selector=args.icl_selector, budget_tokens=args.icl_budget,
                                                   problems=args.icl_problems)
        return KindsDesign(source=args.source, regime=regime, kinds=tuple(split(args.kinds)), perm_seed=args.perm_seed,
                           max_pairs=args.max_pairs, splitter=args.splitter, informal_field=args.informal_field,
                           finetune=not args.no_finetune, icl=icl, **common)
    regime = Regime("budget", 4000, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                    seq_len=args.seq_len, seeds=seeds)
    return BudgetDesign(sources=tuple(split(args.sources)), budgets=_ints(args.budgets, "--budgets", low=1), regime=regime,
                        reference=args.reference, reference_tokens=args.reference_tokens, **common)


def _plan_payload(plan, state: dict, expected: dict) -> dict:
    return {"design": plan.design.to_dict(),
            "finetunes": [{"point": r.point, "corpus": r.config.source, "budget_tokens": r.config.budget_tokens,
                           "seed": r.seed, "run_id": r.run_id, "status": state[r.run_id]} for r in plan.finetunes],
            "icl": [{"point": p.point, "corpus": p.corpus, "seed": p.seed} for p in plan.icl],
            "points": plan.points, "skipped": plan.skipped, "sizes": plan.sizes,
            "derived": None if plan.derived is None else {k: v for k, v in plan.derived.to_dict().items() if k != "permutation"},
            "to_run": len([r for r in plan.finetunes if state[r.run_id] != "done"]), "expected_seconds": expected}


def cmd_plan(args: argparse.Namespace) -> int:
    """``design plan kinds|budget``: the runs, their status and the expected time (derives the kinds' corpora)."""
    from core.clikit.common import emit
    from core.designs.plan import expected_seconds, fmt_seconds, plan_design
    from core.designs.run import default_out, finetune_status, prior_icl

    design = design_from_args(args)
    plan = plan_design(design)
    state = finetune_status(plan)
    todo = [r for r in plan.finetunes if state[r.run_id] != "done"]
    done_icl = prior_icl(plan, default_out(design))
    todo_icl = [p for p in plan.icl if (p.point, p.seed) not in done_icl]
    exp = expected_seconds(plan, todo_finetunes=todo, todo_icl=todo_icl)
    lines = [f"design {design.name}: {len(plan.finetunes)} fine-tunes ({len(todo)} to run), {len(plan.icl)} in-context "
             f"points ({len(todo_icl)} to run), metrics {', '.join(design.metrics) or 'none'} on {len(plan.points)} corpora"]
    if plan.derived is not None:
        lines += [f"  {k}: {plan.derived.corpora[k]} ({plan.derived.tokens[k]:,} tokens, {plan.derived.documents[k]} documents)"
                  for k in design.kinds]
    for sk in plan.skipped:
        lines.append(f"  skipped {sk['source']} at {sk['budget']:,} tokens (the source has {sk['tokens']:,})")
    lines += [f"  {r.point:14s} {r.config.budget_tokens:>6,} tok seed {r.seed}  {state[r.run_id]}" for r in plan.finetunes]
    lines.append("expected: " + ", ".join(f"{k} {fmt_seconds(v)}" for k, v in exp.items()))
    emit(args, _plan_payload(plan, state, exp), "\n".join(lines))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``design run kinds|budget``: run what is missing; exit 0 when every planned run is done."""
    import json
    import sys

    from core.designs.run import run_design

    design = design_from_args(args)
    if args.threads:
        os.environ["ALIGNSCOPE_TORCH_THREADS"] = str(args.threads)
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    res = run_design(design, out=Path(args.out) if args.out else None, say=say, limit=args.limit,
                     metrics=not args.no_metrics)
    failed = [r for r in res["runs"] if r["status"] != "done"] + [e for e in res["icl"] if e["status"] != "done"]
    if args.json:
        print(json.dumps({"runs": len(res["runs"]), "icl": len(res["icl"]), "failed": len(failed),
                          "wall_seconds": res["wall_seconds"]}, indent=2))
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    """``design report kinds|budget``: the summary of a results file (no fine-tuning)."""
    from core.clikit.common import emit
    from core.designs import report
    from core.designs.run import default_out

    if args.results:
        path = Path(args.results)
    elif args.design_name == "kinds":
        if not args.source:
            raise AlignScopeError("design report kinds needs the results file or the design's source.",
                                  fix="give --results F or --source S.")
        from core.designs.plan import KindsDesign

        path = default_out(KindsDesign(source=args.source))
    else:
        from core.designs.plan import BudgetDesign

        path = default_out(BudgetDesign())
    res = report.load_results(path)
    if res["design"] != args.design_name:
        raise AlignScopeError(f"{str(path)!r} holds a {res['design']} design, not {args.design_name}.",
                              fix=f"use design report {res['design']}, or another --results file.")
    if args.design_name == "budget":
        if args.n_boot < 0:
            raise AlignScopeError(f"--n-boot {args.n_boot} must be >= 0.", fix="give --n-boot 2000")
        s = report.budget_summary(res, reference=args.reference, tokens=args.tokens,
                                  others=split(args.against) or None, n_boot=args.n_boot)
    else:
        s = report.kinds_summary(res)
    if args.figure:
        from core.paths import atomic_write

        fig = report.figure(s, **({"outcome": args.outcome} if args.design_name == "budget" else {}))
        atomic_write(Path(args.figure), fig.to_html(include_plotlyjs="cdn", full_html=True))
    emit(args, s, "\n".join(report.summary_lines(s)))
    return 0
