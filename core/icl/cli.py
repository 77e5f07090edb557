"""``python -m core icl run|export|selectors``: the in-context (few-shot) condition."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from core.clikit.args import seed
from core.clikit.common import (command_parser, device_parent, emit, json_parent, key_values, model_parent,
                             positive_int, precision_parent, table)

RUN_EPILOG = """
  python -m core icl run --target proofnet --source proofnet-valid --k 4 --selector random --seed 0
  python -m core icl run --target proofnet --source wikipedia --k 4 --selector t2v --seed 0 --problems 20 --json
  python -m core icl run --target proofnet --source metamath --k 8 --selector sbert --budget 1024
  python -m core icl run --target proofnet --source champ --k 4 --selector bm25 --selector-param k1=1.2
"""
EXPORT_EPILOG = """
  python -m core icl export --target proofnet --source proofnet-valid --k 4 --selector sbert --out prompts.jsonl
  python -m core icl export --target proofnet --source coq-stdlib --k 4 --selector random --seed 1 --problems 20 --out p.jsonl
"""
SELECTORS_EPILOG = """
  python -m core icl selectors
  python -m core icl selectors --json
"""


def _progress(args: argparse.Namespace):
    """A ``progress(done, total, message)`` printing one line per new message on stderr."""
    last = [""]

    def report(done: int, total: int, message: str) -> None:
        if message != last[0]:
            last[0] = message
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    return report


def _common(args: argparse.Namespace) -> dict:
    return dict(k=args.k, selector=args.selector, seed=args.seed, budget_tokens=args.budget, model=args.model,
                precision=args.precision, problems=args.problems, selector_params=key_values(args.selector_param, option="--selector-param", example="k1=1.2"),
                max_candidates=args.max_candidates, window_tokens=args.window_tokens, pool_seed=args.pool_seed,
                device=args.device)


def cmd_run(args: argparse.Namespace) -> int:
    """Score one condition point (cached); returns 0."""
    from core.icl.run import run_icl

    res = run_icl(args.target, args.source, batch_size=args.batch_size, progress=_progress(args), **_common(args))
    diff = res.to_outcome().paired_difference(res.to_outcome("zero-shot"))
    payload = {**res.to_dict(), "vs_zero_shot": diff.to_dict()}
    lines = [f"target {res.target}, source {res.source} ({res.pool['kind']} demonstrations, {res.pool['candidates']} "
             f"candidates), selector {res.selector}, k {res.k}, budget {res.budget_tokens} tokens, seed {res.seed}, "
             f"{res.n} problems, precision {res.precision}" + (" (cached)" if res.cached else ""),
             f"af-nll     {res.af_nll:.4f} nats/token (perplexity {res.perplexity:.3f})",
             f"zero-shot  {res.zero_shot_af_nll:.4f} nats/token (perplexity {res.zero_shot_perplexity:.3f})",
             f"difference {diff.difference:+.4f} [{diff.ci[0]:+.4f}, {diff.ci[1]:+.4f}] nats/token (95% paired bootstrap "
             f"CI; negative: the demonstrations help)",
             f"demonstrations per prompt {res.fitted.mean():.2f} (of k = {res.k}), {res.demo_tokens.mean():.0f} tokens on "
             f"average; {res.seconds:.1f} s, {res.tokens_processed} tokens scored, {res.prefix_groups} shared prefix cache(s)"]
    emit(args, payload, "\n".join(lines))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the chosen prompts and references as JSONL; returns 0."""
    from core.icl.export import check_out_path, write_prompts
    from core.icl.run import plan_icl
    from core.probe import load_probe

    out = check_out_path(args.out)                        # before any work
    plan = plan_icl(args.target, args.source, progress=_progress(args), **_common(args))
    n = write_prompts(plan, out, tokenizer_fingerprint=load_probe(args.model, device=args.device,
                                                                  progress=False).tokenizer_fingerprint)
    fitted = sum(len(p.rows) for p in plan.prompts) / max(1, len(plan.prompts))
    payload = {"out": str(out), "rows": n, "target": plan.target, "source": plan.source, "selector": plan.selector.name,
               "k": plan.k, "budget_tokens": plan.budget_tokens, "seed": plan.seed, "fitted_mean": fitted,
               "pool": plan.pool.describe()}
    emit(args, payload, f"wrote {n} prompts to {out} ({plan.source}, {plan.selector.name}, k {plan.k}, "
                        f"{fitted:.2f} demonstrations each, budget {plan.budget_tokens} tokens)")
    return 0


def cmd_selectors(args: argparse.Namespace) -> int:
    """List the demonstration selectors; returns 0."""
    from core.icl.selectors.base import list_selectors

    rows = list_selectors()
    emit(args, rows, table(rows, [("name", 8, lambda r: r["name"]), ("aliases", 12, lambda r: ",".join(r["aliases"])),
                                  ("shared", 7, lambda r: "yes" if r["shared"] else "no"),
                                  ("description", 0, lambda r: r["description"])]))
    return 0


def _point_parent() -> argparse.ArgumentParser:
    """The options of one condition point (shared by ``run`` and ``export``)."""
    from core.icl.budget import DEFAULT_BUDGET
    from core.icl.selectors.base import DEMO_SELECTORS

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("condition point")
    g.add_argument("--target", default="proofnet", help="target benchmark (default proofnet: ProofNet test)")
    g.add_argument("--source", required=True,
                   help="demonstration source: a registered corpus (python -m core corpora list); never the test split")
    g.add_argument("--k", type=positive_int, required=True, help="most demonstrations per prompt (>= 1)")
    g.add_argument("--selector", required=True,
                   help=f"demonstration selector: {', '.join(DEMO_SELECTORS.names())} (python -m core icl selectors)")
    g.add_argument("--selector-param", action="append", default=[], metavar="K=V",
                   help="selector parameter, repeatable (e.g. --selector-param k1=1.2 for bm25)")
    g.add_argument("--seed", type=seed, default=0,
                   help="seed of the candidate sample, the random draw and score ties (default 0)")
    g.add_argument("--budget", type=positive_int, default=DEFAULT_BUDGET,
                   help=f"demonstration tokens per prompt, separators included, the same for every source "
                        f"(default {DEFAULT_BUDGET})")
    g.add_argument("--problems", type=positive_int, default=None,
                   help="a seeded subsample of this many target problems, the same for every source and seed "
                        "(ids recorded; default all)")
    g.add_argument("--max-candidates", type=positive_int, default=256,
                   help="candidate demonstrations drawn per source (default 256)")
    g.add_argument("--pool-seed", type=seed, default=None,
                   help="seed of the candidate sample (default: --seed); fix it to keep one sample per source "
                        "across seeds")
    g.add_argument("--window-tokens", type=positive_int, default=128,
                   help="tokens of a window demonstration with its separator, for non-pair sources (default 128)")
    return p


def add_commands(sub: Any) -> None:
    """Add ``icl run``, ``icl export`` and ``icl selectors`` to the ``python -m core`` parser."""
    p = command_parser(sub, "icl", epilog=RUN_EPILOG + EXPORT_EPILOG + SELECTORS_EPILOG,
                       help="the in-context (few-shot) condition: demonstrations from a source, scored by af-nll "
                            "on the target's problems")
    isub = p.add_subparsers(dest="icl_command", required=True)
    r = command_parser(isub, "run", epilog=RUN_EPILOG,
                       parents=[_point_parent(), model_parent(), device_parent(), precision_parent(), json_parent()],
                       help="score one condition point: af-nll of the reference formal statements given the "
                            "demonstrations, next to the zero-shot baseline (cached)")
    r.add_argument("--batch-size", type=positive_int, default=8, help="problems per forward pass (default 8)")
    r.set_defaults(func=cmd_run)
    e = command_parser(isub, "export", epilog=EXPORT_EPILOG,
                       parents=[_point_parent(), model_parent(), device_parent(), precision_parent(), json_parent()],
                       help="write the chosen prompts and references as JSONL (no scoring)")
    e.add_argument("--out", required=True, help="output JSONL file (its folder must exist)")
    e.set_defaults(func=cmd_export)
    s = command_parser(isub, "selectors", epilog=SELECTORS_EPILOG, parents=[json_parent()],
                       help="list the demonstration selectors")
    s.set_defaults(func=cmd_selectors)
