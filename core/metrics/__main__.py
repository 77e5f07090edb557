"""``python -m core.metrics``: score sources against a target with every (or some) alignment metric.

    .venv/bin/python -m core.metrics --sources coq-stdlib,wikipedia --target proofnet [--metrics gzip,sbert]
        [--threads 1] [--json]
    .venv/bin/python -m core.metrics --list

Prints one line per (metric, source): value [95% CI], seconds (the metric's cost), cached or not,
or the error (a missing package names its install command). Exit code 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from core.errors import AlignScopeError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("--sources", default="", help="comma-separated source corpora")
    p.add_argument("--target", default="proofnet", help="target benchmark (default proofnet)")
    p.add_argument("--metrics", default="", help="comma-separated metric names (default: all)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("ALIGNSCOPE_TORCH_THREADS", "0") or 0),
                   help="torch threads (default $ALIGNSCOPE_TORCH_THREADS, else torch's default)")
    p.add_argument("--list", action="store_true", help="list the metrics and exit")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    from core.metrics import metrics_table, score_all

    if args.list:
        rows = metrics_table()
        if args.json:
            print(json.dumps(rows, indent=1, default=str))
        else:
            for r in rows:
                print(f"{r['name']:<14} {r['cost']:<23} {'installed' if r['installed'] else r['install']}")
        return 0
    sources = [s for s in args.sources.split(",") if s]
    if not sources:
        print("error: no source given. Fix: pass --sources A,B (see python -m core corpora).", file=sys.stderr)
        return 2
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    names = [m for m in args.metrics.split(",") if m] or None
    out = []
    try:
        for s in sources:
            for name, v in score_all(names, s, args.target, progress=not args.json).items():
                row = {"metric": name, "source": s, "target": args.target}
                if isinstance(v, AlignScopeError):
                    row["error"] = str(v)
                else:
                    row.update({k: v.to_dict()[k] for k in ("value", "ci_low", "ci_high", "seconds", "n", "cached")})
                out.append(row)
                if not args.json:
                    if "error" in row:
                        print(f"{name:<14} {s:<14} ERROR {row['error']}", flush=True)
                    else:
                        ci = f"[{v.ci_low:.4f}, {v.ci_high:.4f}]" if v.ci_low is not None else "[no CI]"
                        print(f"{name:<14} {s:<14} {v.value:9.4f} {ci:<20} {v.seconds:8.1f} s"
                              f"{'  (cached)' if v.cached else ''}", flush=True)
    except AlignScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
