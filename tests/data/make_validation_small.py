"""Writes tests/data/validation_small.json: a small, synthetic, realistically shaped lab result.

Shape (see /work/coord/VALIDATION_CONTRACT.md): 6 sources x 3 seeds in regime 4k (one seed failed,
one killed), 6 sources x 1 seed in regime long, 2 dose pairs x 3 interior fractions x 3 seeds;
3 metrics (t2v-head, unigram-cos, gzip) on every source and dose point. Perplexities follow a
latent "true alignment" of each source (base perplexity 33.9, 4k runs end at 22-33 as in the
issue's 9-source experiment) plus seed noise; proofnet-valid is derived from the target.

Run: ``.venv/bin/python tests/data/make_validation_small.py`` (deterministic).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("validation_small.json")
SOURCES = {  # latent alignment in [0, 1], derived_from_target
    "proofnet-valid": (0.95, True), "coq-stdlib": (0.62, False), "metamath": (0.55, False),
    "humaneval": (0.35, False), "wikipedia": (0.2, False), "news": (0.1, False)}
PAIRS = [("proofnet-valid", "wikipedia"), ("coq-stdlib", "news")]
FRACTIONS = (0.25, 0.5, 0.75)
BASE_PPL = 33.9


def main() -> None:
    rng = np.random.default_rng(11)
    latent = {s: a for s, (a, _) in SOURCES.items()}

    def metrics_of(a: float) -> dict[str, float]:
        return {"t2v-head": 0.55 + 0.35 * a + rng.normal(0, 0.04),
                "unigram-cos": 0.3 + 0.6 * a + rng.normal(0, 0.03),
                "gzip": 0.05 + 0.12 * a + rng.normal(0, 0.025)}

    runs, metrics = [], []
    cost = {"t2v-head": 4.2, "unigram-cos": 0.35, "gzip": 1.8}

    def add_metrics(point: str, a: float) -> None:
        for m, v in metrics_of(a).items():
            ci = 0.02 if m == "t2v-head" else None
            metrics.append({"metric": m, "point": point, "value": round(v, 4),
                            "ci_low": round(v - ci, 4) if ci else None, "ci_high": round(v + ci, 4) if ci else None,
                            "seconds": round(cost[m] * (1 + 0.1 * rng.random()), 3)})

    point_offset = {s: rng.normal(0, 1.0) for s in SOURCES}       # source effect not explained by alignment
    for s, a in latent.items():
        add_metrics(s, a)
        for seed in (0, 1, 2):
            run = {"run_id": f"4k-{s}-s{seed}", "regime": "4k", "point": s, "source": s, "pair": None,
                   "fraction": None, "seed": seed, "status": "done", "error": None, "ppl_before": BASE_PPL,
                   "ppl_after": round(BASE_PPL - 10.0 * a + point_offset[s] + rng.normal(0, 0.6), 3),
                   "tokens_trained": 8000, "wall_seconds": 61.0 + rng.random() * 5, "train_seconds": 38.0}
            if s == "humaneval" and seed == 2:
                run.update(status="failed", error="RuntimeError: loss is NaN at step 3", ppl_after=None)
            if s == "news" and seed == 1:
                run.update(status="killed", error="worker killed (signal 9)", ppl_after=None)
            run["nll_after"] = None if run["ppl_after"] is None else round(float(np.log(run["ppl_after"])), 4)
            runs.append(run)
        ppl_long = round(BASE_PPL - 18.0 * a + 0.5 * point_offset[s] + rng.normal(0, 0.4), 3)
        runs.append({"run_id": f"long-{s}-s0", "regime": "long", "point": s, "source": s, "pair": None,
                     "fraction": None, "seed": 0, "status": "done", "error": None, "ppl_before": BASE_PPL,
                     "ppl_after": ppl_long, "nll_after": round(float(np.log(ppl_long)), 4),
                     "tokens_trained": 64000, "wall_seconds": 420.0 + rng.random() * 30, "train_seconds": 390.0})
    for a_src, b_src in PAIRS:
        for f in FRACTIONS:
            point = f"{a_src}+{b_src}@{f:g}"
            a = f * latent[a_src] + (1 - f) * latent[b_src]
            add_metrics(point, a)
            off = f * point_offset[a_src] + (1 - f) * point_offset[b_src]
            for seed in (0, 1, 2):
                p = round(BASE_PPL - 10.0 * a + off + rng.normal(0, 0.6), 3)
                runs.append({"run_id": f"dose-{point}-s{seed}", "regime": "dose", "point": point, "source": None,
                             "pair": [a_src, b_src], "fraction": f, "seed": seed, "status": "done", "error": None,
                             "ppl_before": BASE_PPL, "ppl_after": p, "nll_after": round(float(np.log(p)), 4),
                             "tokens_trained": 8000, "wall_seconds": 62.0 + rng.random() * 5, "train_seconds": 38.0})
    data = {
        "version": 1, "target": "proofnet", "model": "smollm2-135m", "precision": "fp32",
        "created": "2026-11-26T14:00:00+00:00", "wall_seconds": 3912.5,
        "regimes": {"4k": {"budget_tokens": 4000, "epochs": 2, "learning_rate": 1e-4, "batch_size": 8,
                           "seq_len": 128, "seeds": [0, 1, 2]},
                    "long": {"budget_tokens": 32000, "epochs": 2, "learning_rate": 1e-4, "batch_size": 8,
                             "seq_len": 128, "seeds": [0]},
                    "dose": {"budget_tokens": 4000, "epochs": 2, "learning_rate": 1e-4, "batch_size": 8,
                             "seq_len": 128, "seeds": [0, 1, 2], "fractions": [0, *FRACTIONS, 1],
                             "pairs": [list(p) for p in PAIRS]}},
        "base": {"perplexity": BASE_PPL, "nll": round(float(np.log(BASE_PPL)), 4), "tokens": 21000},
        "sources": {s: {"derived_from_target": d} for s, (_, d) in SOURCES.items()},
        "runs": runs, "metrics": metrics,
        "metric_info": {"t2v-head": {"description": "Task2Vec alignment, closed-form head FIM", "cost": "probe forward"},
                        "unigram-cos": {"description": "cosine of token-unigram distributions", "cost": "model-free"},
                        "gzip": {"description": "GZIP-Align: mean 1 - NCD over document pairs", "cost": "model-free"}},
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT} ({len(runs)} runs, {len(metrics)} metric values)")


if __name__ == "__main__":
    main()
