"""``python -m core outcomes list|measure``: target-benchmark outcomes of the base model."""
from __future__ import annotations

import argparse
from typing import Any

from core.clikit.common import (command_parser, device_parent, emit, json_parent, model_parent, positive_int,
                             precision_parent, table)

LIST_EPILOG = """
  python -m core outcomes list
  python -m core outcomes list --json
"""
MEASURE_EPILOG = """
  python -m core outcomes measure --target proofnet                      # text-ppl and af-nll, all problems
  python -m core outcomes measure --target proofnet --outcomes af-nll --json
  python -m core outcomes measure --target proofnet --outcomes af-gen --limit 20 --json
  python -m core outcomes measure --target proofnet --model ./my-model --precision fp32 --batch-size 4
"""


def cmd_list(args: argparse.Namespace) -> int:
    """Print every registered outcome; returns 0."""
    from core.outcomes.base import list_outcomes

    rows = list_outcomes()
    emit(args, rows, table(rows, [("name", 10, lambda r: r["name"]), ("aliases", 18, lambda r: ",".join(r["aliases"])),
                                  ("better", 7, lambda r: r["direction"]), ("unit", 12, lambda r: r["unit"]),
                                  ("description", 0, lambda r: r["description"])]))
    return 0


def subsample(target: str, limit: int | None, seed: int) -> list[str] | None:
    """``limit`` problem ids of ``target``'s held-out split drawn without replacement (numpy
    ``default_rng(seed)``), in corpus order; None (every problem) when ``limit`` is None or covers them all.

    Raises:
        CorpusError: bad target.
    """
    import numpy as np

    from core.corpora import get_corpus
    from core.corpora.benchmarks import heldout_split

    if limit is None:
        return None
    ids = [d.doc_id for d in get_corpus(heldout_split(target).corpus).documents()]
    if limit >= len(ids):
        return None
    pick = np.sort(np.random.default_rng(seed).choice(len(ids), size=limit, replace=False))
    return [ids[i] for i in pick]


def cmd_measure(args: argparse.Namespace) -> int:
    """Measure outcomes of the base model on a target (cached); returns 0."""
    from core.outcomes.base import get_outcome
    from core.outcomes.measure import base_outcomes, parse_names
    from core.precision import resolve_precision
    from core.probe import load_probe

    names = parse_names(args.outcomes)
    for n in names:                                  # validate before any weights load
        get_outcome(n).check(args.target)
    ids = subsample(args.target, args.limit, args.seed)
    probe = load_probe(args.model, device=args.device)
    precision = resolve_precision(args.precision, probe.device)
    results = base_outcomes(probe, args.target, names, precision=precision, batch_size=args.batch_size,
                            problem_ids=ids)
    payload = {"target": args.target, "model": args.model, "precision": precision, "limit": args.limit,
               "seed": args.seed if args.limit else None, "problem_ids": ids,
               "outcomes": {n: r.to_dict() for n, r in results.items()}}
    lines = [f"target {args.target}, model {args.model}, precision {precision}"
             + (f", {len(ids)} problems (seed {args.seed})" if ids else "")]
    for n, r in results.items():
        lines.append(f"{n:9s} {r.value:.4f} [{r.ci[0]:.4f}, {r.ci[1]:.4f}] {r.unit} ({r.direction} is better), "
                     f"{r.n} problems, {r.extra.get('seconds', 0):.1f} s" + (" (cached)" if r.extra.get("cached") else ""))
        if "perplexity" in r.extra:
            lines.append(f"{'':9s} perplexity {r.extra['perplexity']:.3f} "
                         f"[{r.extra['perplexity_ci'][0]:.3f}, {r.extra['perplexity_ci'][1]:.3f}]")
        if "corpus_bleu" in r.extra:
            lines.append(f"{'':9s} corpus chrF {r.extra['corpus_chrf']:.2f}, corpus BLEU {r.extra['corpus_bleu']:.2f}, "
                         f"exact match {r.extra['exact_match']:.3f} (surface scores: no Lean type-check)")
    emit(args, payload, "\n".join(lines))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``outcomes list`` and ``outcomes measure`` to the ``python -m core`` parser."""
    p = command_parser(sub, "outcomes", epilog=LIST_EPILOG + MEASURE_EPILOG,
                       help="target-benchmark outcomes (perplexity, autoformalization NLL and generation), per problem")
    osub = p.add_subparsers(dest="outcomes_command", required=True)
    ls = command_parser(osub, "list", epilog=LIST_EPILOG, parents=[json_parent()],
                        help="list the registered outcomes")
    ls.set_defaults(func=cmd_list)
    m = command_parser(osub, "measure", epilog=MEASURE_EPILOG,
                       parents=[model_parent(), device_parent(), precision_parent(), json_parent()],
                       help="measure outcomes of the base model on a target's held-out problems (cached), with "
                            "95%% bootstrap CIs over problems")
    m.add_argument("--target", default="proofnet", help="target benchmark (default proofnet)")
    m.add_argument("--outcomes", default="text-ppl,af-nll",
                   help="comma-separated outcome names or aliases (default text-ppl,af-nll; see outcomes list)")
    m.add_argument("--limit", type=positive_int, default=None,
                   help="measure a seeded random subsample of this many problems (ids recorded; default all)")
    m.add_argument("--seed", type=int, default=0, help="seed of the --limit subsample (default 0)")
    m.add_argument("--batch-size", type=positive_int, default=8, help="items per forward pass (default 8)")
    m.set_defaults(func=cmd_measure)
