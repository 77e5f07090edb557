"""``python -m core metrics score|list``: score sources against a target with the lab's alignment metrics.

``python -m core.metrics`` (:mod:`core.metrics.__main__`) is an alias of ``metrics score`` / ``metrics
list`` that calls the same code.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.clikit.common import command_parser, device_parent, json_parent, split
from core.errors import AlignScopeError

SCORE_EPILOG = """
  python -m core metrics score --target proofnet --sources coq-stdlib,wikipedia
  python -m core metrics score --target proofnet --sources metamath --metrics gzip,unigram-cos,sbert --json
"""
LIST_EPILOG = """
  python -m core metrics list
  python -m core metrics list --json
"""


def score_rows(sources: list[str], target: str, metrics: list[str] | None, *, progress: bool) -> list[dict]:
    """One row per (metric, source): ``{"metric", "source", "target", "value", "ci_low", "ci_high", "seconds",
    "n", "cached"}`` or ``{..., "error"}`` (a metric that fails does not stop the others).

    Raises:
        AlignScopeError: no source, a duplicate, or an unknown metric name (before any scoring).
    """
    from core.metrics import METRICS, score_all

    if not sources:
        raise AlignScopeError("No source given.", fix="pass --sources A,B (see python -m core corpora).")
    dup = sorted({s for s in sources if sources.count(s) > 1})
    if dup:
        raise AlignScopeError(f"Source(s) {', '.join(dup)} given twice.", fix="name each source once.")
    for m in metrics or []:
        METRICS.target(m)                     # unknown names fail here, listing the known ones
    out = []
    for s in sources:
        for name, v in score_all(metrics, s, target, progress=progress).items():
            row = {"metric": name, "source": s, "target": target}
            if isinstance(v, AlignScopeError):
                row["error"] = str(v)
            else:
                row.update({k: v.to_dict()[k] for k in ("value", "ci_low", "ci_high", "seconds", "n", "cached")})
            out.append(row)
    return out


def _row_text(row: dict) -> str:
    if "error" in row:
        return f"{row['metric']:<14} {row['source']:<18} ERROR {row['error']}"
    ci = f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]" if row.get("ci_low") is not None else "[no CI]"
    return (f"{row['metric']:<14} {row['source']:<18} {row['value']:9.4f} {ci:<20} {row['seconds']:8.1f} s"
            f"{'  (cached)' if row['cached'] else ''}")


def cmd_score(args: argparse.Namespace) -> int:
    """``metrics score``: every (metric, source) value with its CI and cost; exit 2 on bad input."""
    rows = score_rows(split(args.sources, "--sources"), args.target, split(args.metrics, "--metrics") or None, progress=not args.json)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print("\n".join(_row_text(r) for r in rows))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``metrics list``: the registered metrics, their cost and whether their packages are installed."""
    from core.metrics import metrics_table

    rows = metrics_table()
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
    else:
        for r in rows:
            print(f"{r['name']:<14} {r['cost']:<23} {'installed' if r['installed'] else r['install']}")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``metrics score`` and ``metrics list`` to the ``python -m core`` parser."""
    p = command_parser(sub, "metrics", epilog=SCORE_EPILOG + LIST_EPILOG,
                       help="alignment metrics of the validation lab: score sources against a target, or list them")
    msub = p.add_subparsers(dest="metrics_command", required=True)
    s = command_parser(msub, "score", epilog=SCORE_EPILOG, parents=[device_parent(), json_parent()],
                       help="score sources against a target with every (or some) alignment metric")
    s.add_argument("--sources", required=True, help="comma-separated source corpora")
    s.add_argument("--target", default="proofnet", help="target benchmark (default proofnet)")
    s.add_argument("--metrics", default=None, help="comma-separated metric names (default: all; see metrics list)")
    s.set_defaults(func=cmd_score)
    ls = command_parser(msub, "list", epilog=LIST_EPILOG, parents=[json_parent()], help="list the alignment metrics")
    ls.set_defaults(func=cmd_list)


def main(argv: list[str] | None = None) -> int:
    """``python -m core.metrics`` (the old entry point): ``--list`` -> ``metrics list``, else ``metrics score``."""
    from core.clikit.common import OneLineParser, run_command

    argv = list(sys.argv[1:] if argv is None else argv)
    args = ["metrics", "list", *[a for a in argv if a != "--list"]] if "--list" in argv else ["metrics", "score", *argv]
    parser = OneLineParser(prog="python -m core", description="AlignScope: the lab's alignment metrics.")
    add_commands(parser.add_subparsers(dest="command", required=True))
    try:
        return run_command(parser, args)
    except SystemExit as e:              # argparse's usage errors: the exit code, as the old entry point returned it
        return e.code if isinstance(e.code, int) else 2
