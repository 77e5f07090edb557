"""The validation lab's in-context condition (issue 22): af-nll of ProofNet test given demonstrations
from each lab source, as a lab results file the report, leaderboard and ``predict`` read.

For each source of the committed lab (``docs/results/validation.json``: 16 sources, two derived from
the target) and each seed, one condition point of :func:`core.icl.run.run_icl`: ``k`` demonstrations
chosen by ``--selector`` (default ``random``: one seeded draw shared by every problem) within the
``--budget`` token budget, prepended to each of the 186 ProofNet test problems' prompts, scored by the
NLL of the reference formal statement (nats/token, token-weighted), next to the zero-shot baseline.
Nothing is trained; the test split is never a demonstration source (``run_icl`` refuses it).

The output has the lab's shape: ``runs`` rows with ``condition="icl"``, ``regime`` (e.g. ``icl-k4``),
``point``/``source``/``seed``, ``outcomes["af-nll"]`` = ``{"value", "ci_low", "ci_high", "before"
(zero-shot), "difference", "difference_ci"}`` (95% problem bootstrap, paired for the difference), and
the alignment metrics copied from the committed lab (they depend on the source and target only), so

    .venv/bin/python -m core predict --results docs/results/validation_icl_cpu.json --condition icl \\
        --outcome af-nll --regime icl-k4 --source wikipedia

answers with this condition. Every point is cached (``cache/icl/results``) and written to ``--out`` after
each point: a rerun, or a run after an interruption, resumes where it stopped, and a point already in
``--out`` (same regime, seed and source; e.g. the committed file on a fresh machine) is not run again.
A regime's ``seeds`` are the union of the seeds run into the file.

    nice -n 5 .venv/bin/python bench/icl_lab.py --seeds 0,1,2 --precision bf16 \\
        --out docs/results/validation_icl_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _row(res, regime: str) -> dict:
    """A lab run row of one :class:`core.icl.result.IclResult`."""
    icl, zero = res.to_outcome(), res.to_outcome("zero-shot")
    diff = icl.paired_difference(zero)
    return {"run_id": res.fingerprint, "regime": regime, "condition": "icl", "point": res.source,
            "source": res.source, "pair": None, "fraction": None, "seed": res.seed, "status": "done", "error": None,
            "ppl_before": res.zero_shot_perplexity, "ppl_after": res.perplexity, "precision": res.precision,
            "wall_seconds": res.seconds,
            "outcomes": {"af-nll": {"value": icl.value, "ci_low": icl.ci[0], "ci_high": icl.ci[1],
                                    "before": zero.value, "before_ci": list(zero.ci), "difference": diff.difference,
                                    "difference_ci": list(diff.ci), "n": icl.n, "unit": icl.unit}},
            "icl": {"selector": res.selector, "k": res.k, "budget_tokens": res.budget_tokens,
                    "fitted_mean": float(res.fitted.mean()), "demo_tokens_mean": float(res.demo_tokens.mean()),
                    "pool": res.pool, "cached": res.cached}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", default=str(REPO / "docs/results/validation.json"), help="committed lab results")
    ap.add_argument("--out", default=str(REPO / "docs/results/validation_icl_cpu.json"))
    ap.add_argument("--sources", default=None, help="comma-separated (default: every source of the lab)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--selector", default="random")
    ap.add_argument("--budget", type=int, default=512)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--problems", type=int, default=None, help="seeded subsample (default: all 186)")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    import torch

    from core.icl.run import run_icl

    lab = json.loads(Path(args.lab).read_text())
    sources = args.sources.split(",") if args.sources else list(lab["plan"]["sources"])
    seeds = [int(s) for s in args.seeds.split(",")]
    regime = f"icl-k{args.k}" + ("" if args.selector == "random" else f"-{args.selector}")
    out = Path(args.out)
    prior = json.loads(out.read_text()) if out.is_file() else {}
    runs = {r["run_id"]: r for r in prior.get("runs", [])}
    t0 = time.time()
    command = "nice -n 5 .venv/bin/python " + " ".join(
        [Path(sys.argv[0]).relative_to(REPO).as_posix() if Path(sys.argv[0]).is_absolute() else sys.argv[0]]
        + sys.argv[1:])
    prior_regime = prior.get("regimes", {}).get(regime, {})
    doc = {"version": 1, "what": "validation lab, in-context condition (core.icl): af-nll of the target's reference "
                                 "formal statements given k demonstrations from each source",
           "command": prior.get("command") or command,
           "target": lab["target"], "model": lab["model"], "precision": args.precision,
           "machine": {"cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
           "regimes": {**prior.get("regimes", {}),
                       regime: {"condition": "icl", "selector": args.selector, "k": args.k, "budget_tokens": args.budget,
                                "seeds": sorted(set(seeds) | set(prior_regime.get("seeds", []))),
                                "sources": sources, "problems": args.problems or "all",
                                "command": command}},
           "sources": lab["sources"], "metrics": lab["metrics"], "metric_info": lab["metric_info"],
           "note": "alignment metrics copied from the committed fine-tune lab (they depend on source and target "
                   "only); no Lean type-check (none installs offline)"}
    for seed in seeds:
        for src in sources:
            done = [r for r in runs.values() if r["regime"] == regime and r["seed"] == seed and r["source"] == src
                    and r.get("status") == "done"]
            if done:      # already in --out (e.g. the committed file on a fresh machine): not run again
                print(f"seed {seed} {src:18s} already in {out.name} ({done[0]['run_id']})", flush=True)
                continue
            t = time.time()
            res = run_icl(lab["target"], src, k=args.k, selector=args.selector, seed=seed, budget_tokens=args.budget,
                          model=lab["model"], precision=args.precision, problems=args.problems, device="cpu",
                          batch_size=args.batch_size)
            row = _row(res, regime)
            runs[row["run_id"]] = row
            a = row["outcomes"]["af-nll"]
            print(f"[{time.time() - t0:7.0f} s] seed {seed} {src:18s} af-nll {a['value']:.4f} "
                  f"(zero-shot {a['before']:.4f}, diff {a['difference']:+.4f} [{a['difference_ci'][0]:+.4f}, "
                  f"{a['difference_ci'][1]:+.4f}]) {time.time() - t:.0f} s" + (" cached" if res.cached else ""),
                  flush=True)
            doc["runs"] = sorted(runs.values(), key=lambda r: (r["regime"], r["seed"], r["source"]))
            doc["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=1))
            tmp.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
