"""Quick (live) fine-tunes (issue 26): their wall time, and their agreement with full runs.

    .venv/bin/python bench/finetune_quick.py --out docs/results/finetune_quick_cpu.json

Run it on an otherwise idle machine (the times are the figures the issue asks for). Every step runs
the real command line in a subprocess, on a temporary cache folder whose ``models``, ``corpora``,
``contamination``, ``precision`` and ``embeddings`` link to those of ``$ALIGNSCOPE_CACHE`` (default
``cache/``, set up by ``scripts/setup.sh``): the results store is new at every bench run, so every
fine-tune is measured (none is reused), and the user's own store is never touched:

1. ``warm-up``: ``python -m core align --target proofnet --sources <preset>``: the Task2Vec
   embeddings the dashboard's default view computes before a meeting; timed, not part of the
   preset's figure;
2. ``preset``: ``python -m core experiment --quick --sources <preset> --json --restart``: one quick fine-tune per
   source (4,000 tokens x 2 epochs, the full run's training), each evaluated on the fixed seeded
   subsample of ProofNet test (``core.finetune.quick``); the first run computes the base model's
   quick evaluation, the others reuse it;
3. ``single``: ``python -m core finetune --source news --quick --json --restart`` with everything
   cached (the issue's acceptance command).

Agreement with full runs: the committed lab (``docs/results/validation.json``, regime ``4k``, fp32,
every held-out token, seeds 0-2) fine-tuned the same sources on the same packed data (same seed 0).
For each source the quick perplexity after fine-tuning is compared with the lab's: Spearman's rho
(scipy.stats) against the seed-0 value and against the mean over seeds, and the coverage of the
full seed-0 value by the quick 95% CI (a bootstrap over the subsample's documents, so it covers the
subsampling only: the quick run also trains in bf16 where that is faster, and the full run in fp32).
For the base model, the same coverage of the full-split perplexity by the quick base CI (no training:
subsampling alone).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRESET = ["proofnet-valid", "proofnet-informal", "coq-stdlib", "metamath", "hol-light", "python-docstrings",
          "python-stdlib", "wikipedia", "news"]


def _cli(args: list[str], cache: Path) -> tuple[float, dict | None, str]:
    """Run ``python -m core ARGS`` from the repository root on cache root ``cache``; ``(wall seconds,
    parsed JSON stdout, stderr tail)``."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "ALIGNSCOPE_CACHE": str(cache)})
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"python -m core {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = None
    return wall, out, p.stderr[-2000:]


def bench_cache(user: Path) -> Path:
    """A new temporary cache root whose shared, read-mostly folders link to ``user``'s."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="alignscope-quick-bench-"))
    for name in ("models", "corpora", "contamination", "precision", "embeddings"):
        (user / name).mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(user / name, target_is_directory=True)
    return root


def agreement(quick_rows: list[dict], lab: dict, *, regime: str = "4k") -> dict:
    """Quick vs full perplexity per source, Spearman's rho and the CI coverage (see the module doc).

    Args:
        quick_rows: results-store rows of quick runs (``ppl_after``, ``ppl_ci_low/high``, ``outcomes["text-ppl"]``).
        lab: the committed lab results (``runs`` with ``regime``, ``source``, ``seed``, ``ppl_after``, ``ppl_before``).

    Returns:
        ``{"per_source": [...], "n", "spearman_seed0", "spearman_mean", "coverage_after", "coverage_base"}``
        (rho with its two-sided p-value; coverage as a fraction of sources).
    """
    import numpy as np
    from scipy.stats import spearmanr

    full = {}
    for r in lab["runs"]:
        if r.get("regime") == regime and r.get("status") == "done" and r.get("fraction") is None:
            full.setdefault(r["source"], {})[int(r["seed"])] = r
    per = []
    for q in quick_rows:
        f = full.get(q["label"]) or {}
        if 0 not in f:
            continue
        tp = (q.get("outcomes") or {}).get("text-ppl") or {}
        seeds = [f[s]["ppl_after"] for s in sorted(f)]
        per.append({"source": q["label"], "quick_after": q["ppl_after"], "quick_ci": [q["ppl_ci_low"], q["ppl_ci_high"]],
                    "full_after_seed0": f[0]["ppl_after"], "full_after_mean": float(np.mean(seeds)), "full_seeds": len(seeds),
                    "covered": bool(q["ppl_ci_low"] <= f[0]["ppl_after"] <= q["ppl_ci_high"]),
                    "quick_before": q["ppl_before"], "quick_before_ci": tp.get("before_ci"),
                    "full_before": f[0]["ppl_before"],
                    "base_covered": bool(tp.get("before_ci") and tp["before_ci"][0] <= f[0]["ppl_before"] <= tp["before_ci"][1]),
                    "precision": q.get("precision"), "wall_seconds": q.get("wall_seconds"),
                    "train_seconds": q.get("train_seconds")})
    out = {"per_source": per, "n": len(per)}
    if len(per) >= 3:
        qv = [p["quick_after"] for p in per]
        for name, key in (("spearman_seed0", "full_after_seed0"), ("spearman_mean", "full_after_mean")):
            rho, pv = spearmanr(qv, [p[key] for p in per])
            out[name] = {"rho": float(rho), "p": float(pv)}
    out["coverage_after"] = sum(p["covered"] for p in per) / len(per) if per else None
    out["coverage_base"] = sum(p["base_covered"] for p in per) / len(per) if per else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", default=",".join(PRESET), help="the preset's sources (default: the experiment preset)")
    ap.add_argument("--single", default="news", help="source of the single-run timing (default news)")
    ap.add_argument("--lab", default=str(ROOT / "docs/results/validation.json"))
    ap.add_argument("--out", default=str(ROOT / "docs/results/finetune_quick_cpu.json"))
    args = ap.parse_args()
    sources = [s for s in args.sources.split(",") if s]
    cache = bench_cache(Path(os.environ.get("ALIGNSCOPE_CACHE") or ROOT / "cache").resolve())

    import torch

    res = {"what": "quick (live) fine-tunes vs full ones (issue 26)", "command": " ".join(sys.argv),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cores": os.cpu_count(), "torch": torch.__version__,
                       "cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                                    if ln.startswith("model name")), "?") if Path("/proc/cpuinfo").is_file() else "?"},
           "sources": sources}
    w, _, _ = _cli(["align", "--target", "proofnet", "--sources", ",".join(sources), "--json"], cache)
    res["warmup_align_seconds"] = w
    print(f"warm-up (alignment embeddings): {w:.0f} s", flush=True)
    w, out, _ = _cli(["experiment", "--quick", "--target", "proofnet", "--sources", ",".join(sources), "--json",
                      "--restart"], cache)
    rows = out["runs"]
    res["preset"] = {"wall_seconds": w, "runs": len(rows), "seconds_per_run": w / max(len(rows), 1),
                     "fit": out.get("fit"),
                     "per_run": [{k: r.get(k) for k in ("label", "wall_seconds", "train_seconds", "precision",
                                                        "eval_tokens", "ppl_before", "ppl_after", "ppl_ci_low",
                                                        "ppl_ci_high", "alignment")} for r in rows]}
    print(f"preset: {len(rows)} quick fine-tunes in {w:.0f} s ({w / 60:.1f} min)", flush=True)
    w, row, _ = _cli(["finetune", "--source", args.single, "--target", "proofnet", "--quick", "--json", "--restart"], cache)
    res["single"] = {"command": f"python -m core finetune --source {args.single} --quick --json --restart",
                     "wall_seconds": w, "run_wall_seconds": row.get("wall_seconds"), "train_seconds": row.get("train_seconds"),
                     "precision": row.get("precision"), "ppl_after": row.get("ppl_after"),
                     "ppl_ci": [row.get("ppl_ci_low"), row.get("ppl_ci_high")], "quick": row.get("quick"),
                     "eval_documents": len(row.get("eval_documents") or []), "eval_tokens": row.get("eval_tokens")}
    print(f"single: {args.single} --quick in {w:.0f} s (run {row.get('wall_seconds'):.0f} s, "
          f"training {row.get('train_seconds'):.0f} s, {row.get('precision')})", flush=True)
    res["agreement"] = agreement(rows, json.loads(Path(args.lab).read_text()))
    a = res["agreement"]
    print(f"agreement on {a['n']} sources: Spearman vs full seed 0 {a.get('spearman_seed0')}, vs mean "
          f"{a.get('spearman_mean')}; coverage after {a['coverage_after']}, base {a['coverage_base']}", flush=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
