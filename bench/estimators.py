"""Benchmark of the Task2Vec estimators: speed, memory and fidelity to the reference recipe.

    .venv/bin/python bench/estimators.py                       # defaults below, ~30-50 min on 2 cores
    .venv/bin/python bench/estimators.py --quick               # 4 corpora x 1 batch, smoke run
    .venv/bin/python bench/estimators.py --corpora coq-stdlib,wikipedia --batches 1 \
        --estimators closed_form_head --out bench/precision.json   # the precision column only

For each estimator and each precision (``--precisions fp32,bf16``: both side by side in one run,
:mod:`core.precision`), on the same real batches (``--batches`` per corpus, 16 x 128 tokens by
default, SmolLM2-135M), it prints and saves to ``bench/results.json``:

- median seconds per batch embedding, and its ratio to the forward-pass floor *of the same
  precision* (a no-grad forward over the same batch, under bf16 autocast for bf16, timed right
  before each embedding in the same process, so the ratio is measured side by side); for bf16 also
  the bf16/fp32 time ratio per batch, and the Task2Vec distance of each bf16 embedding to the fp32
  one of the same batch (issue 10: < 1e-3) and the largest change of an alignment coefficient;
- the ratio to the reference recipe on the same batches, and the reference's cost extrapolated to its
  published settings (E = 10 epochs, 512 x 128 tokens) from the measured per-minibatch costs;
- peak resident memory of the process that ran the estimator (each estimator runs in its own
  process, so peaks do not mix);
- fidelity: Spearman and Pearson correlation of the alignment coefficients over all corpus pairs
  against the reference, plus the reference's own Monte-Carlo noise (two independent label draws);
- ``auto``: what ``--precision auto`` decides on this machine and why (:func:`core.precision.auto_decision`:
  one real ``closed_form_head`` step timed in fp32 and bf16, alternated, median; bf16 only when
  >= 1.25x faster), a fresh measurement of that step in the same run (``--auto-repeats``), the
  matrix-product microbenchmark beside it, the CPU model and flags, and the load (``uptime``).

    .venv/bin/python bench/estimators.py --estimators closed_form_head --corpora coq-stdlib,wikipedia \
        --batches 2 --out docs/results/estimators_precision_cpu.json      # issue 20's precision figures
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CORPORA = ["proofnet", "proofnet-valid", "coq-stdlib", "metamath", "hol-light", "humaneval",
                   "python-stdlib", "wikipedia", "news"]


def _batches(corpora, batch_size, seq_len, n):
    from core.batches import BatchConfig, sample_batches
    from core.corpora import get_corpus
    from core.probe import load_probe

    tok = load_probe("smollm2-135m", device="cpu").tokenizer
    cfg = BatchConfig(batch_size=batch_size, seq_len=seq_len, num_batches=n, seed=0)
    return {c: sample_batches(get_corpus(c), tok, cfg) for c in corpora}


def _worker(job, queue):
    """Run one estimator over all batches in this (fresh) process; report times, embeddings, peak RSS."""
    import numpy as np
    import torch

    torch.set_num_threads(job["threads"])
    from core.estimators import get_estimator
    from core.probe import load_probe

    from core.precision import autocast

    probe = load_probe("smollm2-135m", device="cpu")
    model = probe.model
    est = get_estimator(job["estimator"], **job["params"])
    batches = _batches(job["corpora"], job["batch_size"], job["seq_len"], job["n"])
    precisions = job["precisions"]
    # warm-up (first calls allocate and pick kernels), in every precision
    first = batches[job["corpora"][0]][0]
    for prec in precisions:
        with torch.no_grad(), autocast(prec, "cpu"):
            model(*[t for t in first.to_torch()])
    out = {prec: {"times": [], "floor": [], "embeddings": {}} for prec in precisions}
    for name, bs in batches.items():
        rows = {prec: [] for prec in precisions}
        for b in bs:
            ids, mask = b.to_torch()
            for prec in precisions:       # side by side: both precisions on this batch, one after the other
                t = time.perf_counter()
                with torch.no_grad(), autocast(prec, "cpu"):
                    model(input_ids=ids, attention_mask=mask)
                out[prec]["floor"].append(time.perf_counter() - t)
                t = time.perf_counter()
                rows[prec].append(est.embed(probe, b, precision=prec))
                out[prec]["times"].append(time.perf_counter() - t)
        for prec in precisions:
            out[prec]["embeddings"][name] = np.stack(rows[prec]).tolist()
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["dim"] = len(rows[precisions[0]][0])
    if job.get("cost_model"):
        out["cost_model"] = _reference_cost_model(job["threads"], job["seq_len"])
    out["loadavg"] = os.getloadavg()
    queue.put(out)


def _run(job):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker, args=(job, q))
    p.start()
    res = q.get()
    p.join()
    return res


def _auto_worker(job, queue):
    """In a fresh process: ``auto``'s stored decision, and a fresh alternated measurement of the step."""
    import torch

    torch.set_num_threads(job["threads"])
    from core import precision as P
    from core.probe import load_probe

    probe = load_probe("smollm2-135m", device="cpu")
    probe.model
    fresh = P.measure_step_speedup(probe, repeats=job["repeats"])
    forced = os.environ.get("ALIGNSCOPE_FAST_BF16", "").strip() or None
    decision = P.auto_decision("cpu", probe)
    queue.put({"decision": decision, "resolves_to": P.resolve_precision("auto", "cpu", probe=probe),
               "pinned_by_ALIGNSCOPE_FAST_BF16": forced, "fresh_step_measurement": fresh,
               "fresh_step_decision": "bf16" if fresh["speedup"] >= P.MIN_STEP_SPEEDUP else "fp32",
               "threshold": P.MIN_STEP_SPEEDUP, "cpu_bf16_matmul_speedup": P.cpu_bf16_speedup(),
               "threads": job["threads"]})


def _auto_section(threads: int, repeats: int) -> dict:
    """What ``auto`` decides here and why, with the machine: CPU model/flags, torch, load before and after."""
    import platform
    import subprocess

    import torch

    from core.precision import _cpu_bf16_flag, _cpu_identity

    def uptime():
        try:
            return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return str(os.getloadavg())

    model, flags = (_cpu_identity().split("|") + ["", ""])[:2]
    before = uptime()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_auto_worker, args=({"threads": threads, "repeats": repeats}, q))
    proc.start()
    out = q.get()
    proc.join()
    bf16_flags = sorted({f for f in flags.split() if "bf16" in f or f.startswith("amx") or f == "avx512f"})
    return {**out, "machine": {"cpu_model": model, "cpu_bf16_flags": bf16_flags, "cpu_flags": flags,
                               "onednn_bf16": _cpu_bf16_flag(), "cores": os.cpu_count(), "torch": torch.__version__,
                               "python": platform.python_version(), "uptime_before": before, "uptime_after": uptime()}}


def _print_auto(auto: dict) -> None:
    m, d = auto["fresh_step_measurement"], auto["decision"]
    print(f"auto on {auto['machine']['cpu_model']} ({' '.join(auto['machine']['cpu_bf16_flags'])}): "
          f"{auto['resolves_to']} -- {d['reason']}"
          + (f" [pinned by ALIGNSCOPE_FAST_BF16={auto['pinned_by_ALIGNSCOPE_FAST_BF16']}]"
             if auto["pinned_by_ALIGNSCOPE_FAST_BF16"] else ""))
    print(f"  fresh step, this run: fp32 {m['fp32_median_s']:.3f} s, bf16 {m['bf16_median_s']:.3f} s "
          f"(fp32 {['%.3f' % x for x in m['fp32_s']]}, bf16 {['%.3f' % x for x in m['bf16_s']]}): "
          f"{m['speedup']:.2f}x -> {auto['fresh_step_decision']}; matmul microbenchmark {auto['cpu_bf16_matmul_speedup']:.2f}x")
    print(f"  load: {auto['machine']['uptime_before']} / {auto['machine']['uptime_after']}")


def _reference_cost_model(threads, seq_len):
    """Measured per-minibatch costs (8 x seq_len) of the reference's steps, for extrapolation."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    from core.batches import BatchConfig, sample_batches
    from core.corpora import get_corpus
    from core.estimators import get_estimator
    from core.estimators.reference import final_hidden_states
    from core.probe import load_probe

    probe = load_probe("smollm2-135m", device="cpu")
    b = sample_batches(get_corpus("proofnet"), probe.tokenizer, BatchConfig(batch_size=8, seq_len=seq_len, num_batches=1))[0]
    ids, mask = b.to_torch()
    est = get_estimator("reference", epochs=1)
    w = probe.lm_head.weight.detach().clone()
    fwd, fb, head = [], [], []
    for _ in range(3):
        t = time.perf_counter()
        with torch.no_grad():
            h = final_hidden_states(probe, ids, mask)
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        with torch.enable_grad():
            est.minibatch_fim(probe, ids, mask, w, None, generator=torch.Generator().manual_seed(0))
        fb.append(time.perf_counter() - t)
        wp = w.clone().requires_grad_(True)
        opt = torch.optim.AdamW([wp], lr=5e-5)
        t = time.perf_counter()
        valid = (mask[:, 1:] * mask[:, :-1]).bool()
        loss = F.cross_entropy(h[:, :-1][valid] @ wp.T, ids[:, 1:][valid])
        loss.backward(); opt.step()
        head.append(time.perf_counter() - t)
    return {"forward_s": statistics.median(fwd), "forward_backward_s": statistics.median(fb),
            "head_step_s": statistics.median(head)}


def _alignments(emb, unit_sum=False):
    """Alignment coefficient of every corpus pair; ``unit_sum`` rescales each batch embedding to sum 1 first."""
    import numpy as np

    from core.coefficients import alignment_coefficient

    def prep(x):
        x = np.array(x, dtype=np.float64)
        return x / x.sum(1, keepdims=True) if unit_sum else x

    names = sorted(emb)
    return {f"{a}|{b}": alignment_coefficient(prep(emb[a]), prep(emb[b])).value for a, b in combinations(names, 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default=",".join(DEFAULT_CORPORA))
    ap.add_argument("--batches", type=int, default=2, help="batches per corpus")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--ref-epochs", type=int, default=1, help="E for the reference fidelity runs (published: 10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precisions", default="fp32,bf16", help="precisions measured side by side (fp32 first)")
    ap.add_argument("--estimators", default="reference,closed_form_head,closed_form_blocks",
                    help="which estimators to run (the reference is needed for the fidelity columns)")
    ap.add_argument("--auto-repeats", type=int, default=5,
                    help="alternated repeats of the fresh closed_form_head step measurement for the auto section (0: skip)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = ap.parse_args(argv)
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    if args.quick:
        corpora, args.batches = corpora[:4], 1
    from scipy import stats

    from core.precision import check_precision, cpu_bf16_speedup

    precisions = [check_precision(p.strip()) for p in args.precisions.split(",") if p.strip()]
    if not precisions or "auto" in precisions or precisions[0] != "fp32":
        ap.error("--precisions must start with fp32 and name fp32/bf16 only (e.g. fp32,bf16)")
    wanted = [e.strip() for e in args.estimators.split(",") if e.strip()]
    base = {"corpora": corpora, "n": args.batches, "batch_size": args.batch_size, "seq_len": args.seq_len,
            "threads": args.threads, "precisions": precisions}
    runs = {
        "reference": {"estimator": "reference", "params": {"epochs": args.ref_epochs, "seed": 42}},
        "reference_draw2": {"estimator": "reference", "params": {"epochs": args.ref_epochs, "seed": 43},
                            "precisions": ["fp32"]},
        "closed_form_head": {"estimator": "closed_form_head", "params": {}, "cost_model": "reference" in wanted},
        "closed_form_blocks": {"estimator": "closed_form_blocks", "params": {"k": 2}},
    }
    runs = {k: v for k, v in runs.items() if v["estimator"] in wanted}
    results = {}
    t_all = time.perf_counter()
    for name, spec in runs.items():
        print(f"[bench] {name} on {len(corpora)} corpora x {args.batches} batches, {spec.get('precisions', precisions)} ...",
              flush=True)
        results[name] = _run({**base, **spec})
        for prec in spec.get("precisions", precisions):
            print(f"[bench]   {prec}: median {statistics.median(results[name][prec]['times']):.2f} s/batch, "
                  f"floor {statistics.median(results[name][prec]['floor']):.2f} s", flush=True)
    auto = _auto_section(args.threads, args.auto_repeats) if args.auto_repeats > 0 else None
    if "reference" not in results:
        _precision_only(args, corpora, precisions, results, t_all, auto)
        return
    cost = results["closed_form_head"]["cost_model"]  # measured in the same process, right after it
    # Reference at its published settings: 512 x 128 = 64 minibatches of 8; E=10.
    mb = 64
    original = mb * (10 + 1) * cost["forward_backward_s"]        # the original code: full fwd+bwd per step
    ours = mb * cost["forward_s"] + mb * 10 * cost["head_step_s"] + mb * cost["forward_backward_s"]
    scale = 512 / args.batch_size
    ref_align = _alignments(results["reference"]["fp32"]["embeddings"])
    ref_unit = _alignments(results["reference"]["fp32"]["embeddings"], unit_sum=True)
    keys = sorted(ref_align)
    import numpy as np

    np.savez_compressed(Path(args.out).with_suffix(".embeddings.npz"),
                        **{f"{run}/{prec}/{c}": np.array(e) for run, r in results.items() for prec in precisions
                           if prec in r for c, e in r[prec]["embeddings"].items()})
    table = []
    ref_med = statistics.median(results["reference"]["fp32"]["times"])
    for name, r in results.items():
        for row in _precision_rows(name, r, precisions):
            al = _alignments(r[row["precision"]]["embeddings"])
            med = row["median_s_per_batch"]
            row.update({
                "ratio_to_reference_same_batches": med / ref_med,
                "speedup_vs_reference_published_E10_512x128": original / (med * scale),
                "spearman_vs_reference": stats.spearmanr([al[k] for k in keys], [ref_align[k] for k in keys])[0],
                "pearson_vs_reference": stats.pearsonr([al[k] for k in keys], [ref_align[k] for k in keys])[0],
                "alignment_range": [min(al.values()), max(al.values())],
                "spearman_vs_reference_unit_sum": stats.spearmanr(
                    [_alignments(r[row["precision"]]["embeddings"], unit_sum=True)[k] for k in keys],
                    [ref_unit[k] for k in keys])[0]})
            table.append(row)
    noise = max(abs(a - b) for a, b in zip([ref_align[k] for k in keys],
                                           [_alignments(results["reference_draw2"]["fp32"]["embeddings"])[k] for k in keys]))
    summary = {"settings": {**base, "ref_epochs": args.ref_epochs, "model": "smollm2-135m", "device": "cpu",
                            "cpu_bf16_matmul_speedup": cpu_bf16_speedup()},
               "pairs": len(keys), "table": table, "reference_cost_model": cost,
               "reference_published_seconds_per_512x128_batch": {"original_code": original, "this_reference": ours},
               "reference_mc_noise_max_abs_alignment_diff": noise, "auto": auto,
               "wall_seconds": time.perf_counter() - t_all}
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(f"\n{len(corpora)} corpora, {len(keys)} pairs, {args.batches} batches of {args.batch_size}x{args.seq_len} "
          f"per corpus, {args.threads} threads, reference E={args.ref_epochs}")
    hdr = (f"{'estimator':20s} {'prec':5s} {'dim':>7s} {'s/batch':>8s} {'x floor':>8s} {'x fp32':>7s} {'x ref':>7s} "
           f"{'speedup@E10,512':>15s} {'peak MiB':>9s} {'spearman':>9s} {'pearson':>8s} {'spearman(unit-sum)':>19s}")
    print(hdr)
    for r in table:
        print(f"{r['estimator']:20s} {r['precision']:5s} {r['dim']:7d} {r['median_s_per_batch']:8.2f} "
              f"{r['ratio_to_floor']:8.2f} {r['ratio_to_fp32_same_batches']:7.2f} "
              f"{r['ratio_to_reference_same_batches']:7.3f} {r['speedup_vs_reference_published_E10_512x128']:15.1f} "
              f"{r['peak_rss_mib']:9.0f} {r['spearman_vs_reference']:9.3f} {r['pearson_vs_reference']:8.3f} "
              f"{r['spearman_vs_reference_unit_sum']:19.3f}")
    _print_tolerance(table)
    print(f"reference at E=10, 512x128 (extrapolated): original code {original:.0f} s/batch, ours {ours:.0f} s/batch")
    print(f"reference Monte-Carlo noise (two draws): max |delta alignment| = {noise:.4f}")
    if auto:
        _print_auto(auto)
    print(f"saved {args.out} ({summary['wall_seconds']:.0f} s)")


def _precision_rows(name: str, r: dict, precisions: list[str]) -> list[dict]:
    """One table row per precision measured for estimator run ``name`` (speed, floor, tolerance vs fp32)."""
    import numpy as np

    from core.distance import task2vec_distance

    rows = []
    fp = r["fp32"]
    for prec in precisions:
        if prec not in r:
            continue
        x = r[prec]
        row = {"estimator": name, "precision": prec, "dim": r["dim"],
               "median_s_per_batch": statistics.median(x["times"]),
               "median_floor_s": statistics.median(x["floor"]),
               "ratio_to_floor": statistics.median([t / f for t, f in zip(x["times"], x["floor"])]),
               "ratio_to_fp32_same_batches": statistics.median([t / f for t, f in zip(x["times"], fp["times"])]),
               "floor_ratio_to_fp32_floor": statistics.median([t / f for t, f in zip(x["floor"], fp["floor"])]),
               "peak_rss_mib": r["peak_rss_mib"], "loadavg_1_5_15": r["loadavg"]}
        if prec != "fp32":
            d = [task2vec_distance(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
                 for c in fp["embeddings"] for a, b in zip(fp["embeddings"][c], x["embeddings"][c])]
            row["task2vec_distance_to_fp32_max"] = max(d)
            row["task2vec_distance_to_fp32_median"] = statistics.median(d)
            pairs = [(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
                     for c in fp["embeddings"] for a, b in zip(fp["embeddings"][c], x["embeddings"][c])]
            cos = [float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in pairs]
            rel = [float(np.linalg.norm(b - a) / np.linalg.norm(a)) for a, b in pairs]
            row["cosine_to_fp32_min"] = min(cos)
            row["relative_l2_error_to_fp32_max"] = max(rel)
            row["relative_l2_error_to_fp32_median"] = statistics.median(rel)
            row["per_batch_time_ratio_to_fp32"] = [t / f for t, f in zip(x["times"], fp["times"])]
            row["times_s"], row["fp32_times_s"] = list(x["times"]), list(fp["times"])
            row["time_spread_s"] = [min(x["times"]), max(x["times"])]
            row["fp32_time_spread_s"] = [min(fp["times"]), max(fp["times"])]
            if len(fp["embeddings"]) > 1:
                a32, a16 = _alignments(fp["embeddings"]), _alignments(x["embeddings"])
                row["max_abs_alignment_change_vs_fp32"] = max(abs(a32[k] - a16[k]) for k in a32)
        rows.append(row)
    return rows


def _print_tolerance(table: list[dict]) -> None:
    for r in table:
        if "task2vec_distance_to_fp32_max" in r:
            al = r.get("max_abs_alignment_change_vs_fp32")
            print(f"{r['estimator']} {r['precision']}: Task2Vec distance to fp32 max {r['task2vec_distance_to_fp32_max']:.2e} "
                  f"(median {r['task2vec_distance_to_fp32_median']:.2e})"
                  + (f", max |delta alignment| {al:.5f}" if al is not None else "")
                  + f"; time {r['ratio_to_fp32_same_batches']:.2f}x fp32, {r['ratio_to_floor']:.2f}x its floor, "
                    f"floor {r['floor_ratio_to_fp32_floor']:.2f}x the fp32 floor")


def _precision_only(args, corpora, precisions, results, t_all, auto=None) -> None:
    """Without the reference: speed and fp32 tolerance per precision only (``--estimators`` subset)."""
    from core.precision import cpu_bf16_speedup

    table = [row for name, r in results.items() for row in _precision_rows(name, r, precisions)]
    summary = {"settings": {"corpora": corpora, "n": args.batches, "batch_size": args.batch_size,
                            "seq_len": args.seq_len, "threads": args.threads, "precisions": precisions,
                            "model": "smollm2-135m", "device": "cpu", "cpu_bf16_matmul_speedup": cpu_bf16_speedup()},
               "table": table, "auto": auto, "wall_seconds": time.perf_counter() - t_all}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(f"\n{len(corpora)} corpora, {args.batches} batches of {args.batch_size}x{args.seq_len} per corpus, "
          f"{args.threads} threads; bf16 matmul speed-up measured on this CPU {cpu_bf16_speedup():.2f}x")
    print(f"{'estimator':20s} {'prec':5s} {'s/batch':>8s} {'floor s':>8s} {'x floor':>8s} {'x fp32':>7s} {'peak MiB':>9s}")
    for r in table:
        print(f"{r['estimator']:20s} {r['precision']:5s} {r['median_s_per_batch']:8.2f} {r['median_floor_s']:8.2f} "
              f"{r['ratio_to_floor']:8.2f} {r['ratio_to_fp32_same_batches']:7.2f} {r['peak_rss_mib']:9.0f}")
    _print_tolerance(table)
    if auto:
        _print_auto(auto)
    print(f"saved {args.out} ({summary['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
