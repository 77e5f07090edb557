"""Predicted vs actual time of real embedding jobs (issue 14: honest estimates).

Runs small real ``embed`` jobs (background workers, as the dashboard does) with the default probe
network on corpora and a seed that are not cached yet. One warm-up job first seeds this machine's
throughput history (core.throughput) if it has none for the settings; then for each of ``--jobs``
jobs: the estimate shown before it starts (a range), then the wall time from submission to done.
Prints both and saves JSON. Other work on the machine changes the actual times; run it niced.

    nice -n 5 .venv/bin/python bench/eta.py --seed 7 --num-batches 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench._result import save  # noqa: E402


def _run(names: list[str], settings) -> float:
    from core.jobs import FINAL_STATES, submit

    t0 = time.perf_counter()
    job = submit("embed", {"corpora": names, "settings": settings.to_dict()})
    while True:
        st = job.status()
        if st.get("state") in FINAL_STATES:
            if st["state"] != "done":
                raise RuntimeError(f"job {job.job_id} {st['state']}: {st.get('error')}")
            return time.perf_counter() - t0
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7, help="batch seed (choose one not cached)")
    ap.add_argument("--num-batches", type=int, default=2)
    ap.add_argument("--warmup", default="proofnet-informal", help="corpus of the warm-up job")
    ap.add_argument("--jobs", default="news;python-docstrings;champ,proofnet-valid",
                    help="';'-separated jobs, each a ','-separated list of corpora")
    ap.add_argument("--out", default=str(REPO / "bench" / "eta.json"))
    args = ap.parse_args()
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings
    from core.throughput import estimate

    settings = EmbedSettings(batch=BatchConfig(num_batches=args.num_batches, seed=args.seed))
    out = {"settings": settings.to_dict(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "jobs": []}
    if estimate(settings, 1).measured == 0:
        out["warmup_s"] = round(_run([args.warmup], settings), 2)
        print(f"warm-up job ({args.warmup}): {out['warmup_s']:.1f} s")
    for spec in args.jobs.split(";"):
        names = [n for n in spec.split(",") if n]
        batches = len(names) * args.num_batches
        est = estimate(settings, batches)
        actual = _run(names, settings)
        row = {"corpora": names, "batches": batches, "predicted_low_s": round(est.low_s, 1),
               "predicted_high_s": round(est.high_s, 1), "predicted_text": est.text(), "basis": est.basis,
               "actual_s": round(actual, 1), "inside": est.low_s <= actual <= est.high_s}
        out["jobs"].append(row)
        print(f"{'+'.join(names)} ({batches} batches): predicted {est.text()} [{est.low_s:.0f}-{est.high_s:.0f} s], "
              f"actual {actual:.1f} s, inside: {row['inside']}")
    return save(out, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
