"""Benchmark of one fine-tune run's phases, fp32 and bf16 side by side, and the bf16 tolerance check.

    ALIGNSCOPE_TORCH_THREADS=2 .venv/bin/python bench/finetune.py                  # 3 sources, ~20-40 min on 2 cores
    ALIGNSCOPE_TORCH_THREADS=2 .venv/bin/python bench/finetune.py --quick          # 1 source, 1,000 tokens

For every source and every precision (``--precisions fp32,bf16``, run one after the other for the
same source, same seed, so the two columns are measured side by side), in this process, with the
same functions as :func:`core.finetune.runner.run_finetune` (alignment left out: its embeddings are
cached):

- ``load``: a fresh copy of the model (``ProbeNetwork.fresh_model``);
- ``tokenise``: the held-out split's evaluation windows (memo cleared first, so this is the cold
  cost a process pays once; later runs of a process pay nothing) and the packed training data;
- ``base``: the base model's perplexity on the held-out split (timed for the first source only: a
  run reuses it from the results store after the first);
- ``familiarity``: the base model's perplexity on the training sequences;
- ``train``: :func:`core.finetune.train.train` (the Trainer; ``bf16=True`` for bf16);
- ``evaluate``: the fine-tuned model's perplexity on the held-out split.

Each phase has wall seconds and process CPU seconds (CPU time is less sensitive to other jobs on a
shared machine; with N torch threads it is up to N x wall). Also printed and saved (``--out``,
default ``bench/finetune.json``): per-run totals without ``base`` (a run after the first), the
bf16/fp32 ratios, and the relative perplexity differences bf16 vs fp32 (fine-tuned, base,
familiarity) per source, the issue-10 tolerance being 1%.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SOURCES = ["coq-stdlib", "wikipedia", "proofnet-valid"]
PHASES = ("load", "tokenise", "base", "familiarity", "train", "evaluate")


class _Clock:
    """Wall and process-CPU seconds of named phases."""

    def __init__(self):
        self.phases: dict[str, dict] = {}

    def __call__(self, name):
        clock = self

        class _Ctx:
            def __enter__(self):
                self.w, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                clock.phases[name] = {"wall_s": round(time.perf_counter() - self.w, 2),
                                      "cpu_s": round(time.process_time() - self.c, 2)}
        return _Ctx()


def one_run(source: str, precision: str, args, *, with_base: bool) -> dict:
    """All phases of one run of ``source`` in ``precision``; returns timings and perplexities."""
    import gc

    from core.finetune import perplexity as P
    from core.finetune.config import FinetuneConfig
    from core.finetune.data import build_training_data, heldout_split
    from core.finetune.train import train
    from core.probe import load_probe

    cfg = FinetuneConfig(source=source, target=args.target, budget_tokens=args.budget, seed=args.seed,
                         precision=precision, device="cpu", eval_batch_size=args.eval_batch_size)
    probe = load_probe(cfg.model, device="cpu", progress=False)
    tok = probe.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    held = heldout_split(cfg.target)
    clock = _Clock()
    out: dict = {"source": source, "precision": precision, "loadavg_before": os.getloadavg()}
    with clock("load"):
        model = probe.fresh_model()
    with clock("tokenise"):
        P._WINDOWS.clear()
        windows, _ = P.corpus_windows(held.corpus, tok, cfg.seq_len, tokenizer_fingerprint=probe.tokenizer_fingerprint)
        data = build_training_data(cfg, tok)
    out["eval_tokens_windows"] = [sum(len(w) - 1 for w in windows), len(windows)]
    if with_base:
        with clock("base"):
            out["ppl_base"] = P.perplexity(model, windows, batch_size=cfg.eval_batch_size, pad_id=pad,
                                           precision=precision).perplexity
    with clock("familiarity"):
        out["familiarity"] = P.perplexity(model, data.sequences, batch_size=cfg.eval_batch_size, pad_id=pad,
                                          precision=precision).perplexity
    with clock("train"):
        tr = train(model, data.sequences, cfg, pad_id=pad)
    out["train_steps"], out["train_loss_last"] = tr.steps, tr.last_loss
    with clock("evaluate"):
        out["ppl_after"] = P.perplexity(model, windows, batch_size=cfg.eval_batch_size, pad_id=pad,
                                        precision=precision).perplexity
    del model
    gc.collect()
    out["phases"] = clock.phases
    per_run = [p for p in PHASES if p != "base" and p in clock.phases]
    out["run_wall_s"] = round(sum(clock.phases[p]["wall_s"] for p in per_run), 2)
    out["run_cpu_s"] = round(sum(clock.phases[p]["cpu_s"] for p in per_run), 2)
    out["loadavg_after"] = os.getloadavg()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default=",".join(DEFAULT_SOURCES))
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--target", default="proofnet")
    ap.add_argument("--budget", type=int, default=4000, help="training tokens (default 4000, the run default)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("ALIGNSCOPE_TORCH_THREADS", "2") or 2))
    ap.add_argument("--no-base", action="store_true",
                    help="skip the base-model evaluation (a run reuses it from the results store after the first)")
    ap.add_argument("--quick", action="store_true", help="first source only, 1,000 training tokens")
    ap.add_argument("--out", default=str(ROOT / "bench" / "finetune.json"))
    args = ap.parse_args(argv)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if args.quick:
        sources, args.budget = sources[:1], 1000
    import torch

    from core.precision import check_precision, cpu_bf16_speedup, fast_bf16

    for p in precisions:
        check_precision(p)
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    runs = []
    for k, src in enumerate(sources):
        for prec in precisions:
            print(f"[bench] {src} {prec} ...", flush=True)
            r = one_run(src, prec, args, with_base=k == 0 and not args.no_base)
            runs.append(r)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)      # partial results survive an interruption
            Path(args.out).write_text(json.dumps({"partial": True, "runs": runs}, indent=2))
            ph = "  ".join(f"{n} {v['wall_s']:.1f}/{v['cpu_s']:.1f}" for n, v in r["phases"].items())
            print(f"[bench]   wall/cpu s: {ph}; run (no base) {r['run_wall_s']:.1f}/{r['run_cpu_s']:.1f}; "
                  f"ppl after {r['ppl_after']:.3f}; load {r['loadavg_before'][0]:.1f}", flush=True)
    by = {(r["source"], r["precision"]): r for r in runs}
    compare = []
    if {"fp32", "bf16"} <= set(precisions):
        for src in sources:
            a, b = by[(src, "fp32")], by[(src, "bf16")]
            row = {"source": src,
                   "ppl_after_fp32": a["ppl_after"], "ppl_after_bf16": b["ppl_after"],
                   "ppl_after_rel_diff": b["ppl_after"] / a["ppl_after"] - 1,
                   "familiarity_rel_diff": b["familiarity"] / a["familiarity"] - 1,
                   "run_wall_ratio_bf16_over_fp32": b["run_wall_s"] / a["run_wall_s"],
                   "run_cpu_ratio_bf16_over_fp32": b["run_cpu_s"] / a["run_cpu_s"],
                   "phase_cpu_ratio_bf16_over_fp32": {p: b["phases"][p]["cpu_s"] / max(a["phases"][p]["cpu_s"], 1e-9)
                                                      for p in a["phases"] if p in b["phases"]}}
            if "ppl_base" in a and "ppl_base" in b:
                row["ppl_base_rel_diff"] = b["ppl_base"] / a["ppl_base"] - 1
            compare.append(row)
    summary = {"settings": {"sources": sources, "precisions": precisions, "target": args.target,
                            "budget_tokens": args.budget, "seed": args.seed, "threads": args.threads,
                            "eval_batch_size": args.eval_batch_size, "model": "smollm2-135m", "device": "cpu",
                            "cpu_bf16_matmul_speedup": cpu_bf16_speedup(), "auto_resolves_to":
                                "bf16" if fast_bf16("cpu") else "fp32"},
               "runs": runs, "compare": compare, "wall_seconds": round(time.perf_counter() - t_all, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(f"\n{len(sources)} source(s), budget {args.budget} tokens, seed {args.seed}, {args.threads} threads; "
          f"bf16 matmul speed-up measured on this CPU: {summary['settings']['cpu_bf16_matmul_speedup']:.2f}x "
          f"(auto -> {summary['settings']['auto_resolves_to']})")
    print(f"{'source':16s} {'prec':5s} " + " ".join(f"{p:>13s}" for p in PHASES) + f" {'run (no base)':>14s} {'ppl after':>9s}")
    for r in runs:
        cells = " ".join(f"{r['phases'][p]['wall_s']:6.1f}/{r['phases'][p]['cpu_s']:6.1f}" if p in r["phases"] else f"{'-':>13s}"
                         for p in PHASES)
        print(f"{r['source']:16s} {r['precision']:5s} {cells} {r['run_wall_s']:6.1f}/{r['run_cpu_s']:6.1f} {r['ppl_after']:9.3f}")
    for c in compare:
        base = f", base {100 * c['ppl_base_rel_diff']:+.3f}%" if "ppl_base_rel_diff" in c else ""
        print(f"{c['source']}: bf16 vs fp32 perplexity after {100 * c['ppl_after_rel_diff']:+.3f}%, familiarity "
              f"{100 * c['familiarity_rel_diff']:+.3f}%{base}; run time bf16/fp32 wall "
              f"{c['run_wall_ratio_bf16_over_fp32']:.2f}x, cpu {c['run_cpu_ratio_bf16_over_fp32']:.2f}x")
    print(f"(cells: wall/cpu seconds)  saved {args.out} ({summary['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
