"""Run the lab's fine-tunes on another machine (a GPU box) that has only torch and transformers.

The lab's outcomes need nothing but token ids: :func:`export_payload` writes every planned run's
packed training sequences (exactly those :func:`core.finetune.data.build_training_data` gives the
local launcher), its hyperparameters and the target's held-out evaluation windows to one JSON file.
On the other machine ``python -m core.validation.remote run PAYLOAD --model DIR --out OUT`` fine-tunes
a fresh copy of the model per run with the launcher's own training and perplexity code
(:func:`core.finetune.train.train`, :func:`core.finetune.perplexity.perplexity`), so the remote
side needs no corpora, cache or database. :func:`import_outcomes` turns its output into a lab results
file (:func:`core.validation.lab.write_results` format) next to the local one, marked with the
device it ran on; the metrics are data properties and are measured locally.

``--model`` takes a transformers folder or a GGUF file (dequantised to float32 on load, as
:func:`core.probe.embedded_model_dir` does). The weights' sha256 (over every tensor in name order)
is recorded on both sides, so a result says whether the remote model was bit-identical.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.paths import atomic_write

if TYPE_CHECKING:
    import torch

    from core.settings import EmbedSettings
    from core.validation.plan import LabPlan

PAYLOAD_VERSION = 1


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 hex of every parameter and buffer of ``model``, in name order, as float32 bytes."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def export_payload(plan: LabPlan, path: Path, *, settings: EmbedSettings | None = None) -> dict:
    """Write the plan's runs as token ids (see the module docstring); returns a summary.

    Dose mixtures are saved first (as the local lab does), so their materialisation is identical.

    Raises:
        AlignScopeError: a bad plan (:func:`core.validation.plan.validate_plan`).
    """
    from core.finetune.data import build_training_data, heldout_split
    from core.finetune.perplexity import corpus_windows
    from core.mixture import save_mixture
    from core.probe import load_probe
    from core.validation.plan import plan_runs, validate_plan

    validate_plan(plan)
    runs = plan_runs(plan, settings)
    probe = load_probe(plan.model, progress=False)
    tok = probe.tokenizer
    held = heldout_split(plan.target)
    seq_lens = sorted({r.config.seq_len for r in runs})
    evals = {str(L): corpus_windows(held.corpus, tok, L, tokenizer_fingerprint=probe.tokenizer_fingerprint)[0]
             for L in seq_lens}
    out_runs = []
    for r in runs:
        if r.mixture is not None:
            save_mixture(r.mixture)
        cfg = r.config.resolved() if hasattr(r.config, "resolved") else r.config
        data = build_training_data(cfg, tok)
        out_runs.append({"run_id": r.run_id, "regime": r.regime, "point": r.point, "seed": r.seed,
                         "pair": list(r.pair) if r.pair else None, "fraction": r.fraction,
                         "config": cfg.to_dict(), "sequences": data.sequences, "tokens_trained": data.tokens,
                         "documents_used": data.documents, "notes": data.notes})
    payload = {"version": PAYLOAD_VERSION, "plan": plan.to_dict(), "target": plan.target,
               "eval_corpus": held.corpus, "pad_id": tok.pad_token_id if tok.pad_token_id is not None else 0,
               "tokenizer": probe.tokenizer_fingerprint, "model_fingerprint": probe.fingerprint,
               "eval_windows": evals, "runs": out_runs}
    path = atomic_write(path, json.dumps(payload, separators=(",", ":")))
    return {"runs": len(out_runs), "bytes": path.stat().st_size, "eval_windows": {k: len(v) for k, v in evals.items()}}


def _load_model(model: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM

    p = Path(model)
    if p.is_file() and p.suffix == ".gguf":
        m = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, torch_dtype=torch.float32)
    else:
        m = AutoModelForCausalLM.from_pretrained(str(p), torch_dtype=torch.float32, local_files_only=True)
    if hasattr(m.config, "quantization_config"):   # dequantised float32 weights: a plain model
        del m.config.quantization_config
    m.hf_quantizer = None
    m.is_quantized = False
    return m.to(device).eval()


def run_payload(payload_path: Path, *, model: str, out: Path, device: str = "auto", eval_batch_size: int = 64,
                only: set[str] | None = None) -> dict:
    """Fine-tune and evaluate every run of a payload; writes ``out`` (JSON) after each run.

    Resumable: runs already in ``out`` are skipped. The base model's perplexity is measured once.
    ``eval_batch_size`` only changes speed (windows are evaluated independently, padding masked).

    Returns:
        ``{"device", "weights_sha256", "base": {...}, "runs": {run_id: {...}}}``.
    """
    import copy

    import torch

    from core.finetune.config import FinetuneConfig
    from core.finetune.perplexity import perplexity
    from core.finetune.train import train

    payload = json.loads(Path(payload_path).read_text())
    if payload.get("version") != PAYLOAD_VERSION:
        raise SystemExit(f"payload {payload_path}: unsupported version {payload.get('version')!r}")
    dev = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    out = Path(out)
    done = json.loads(out.read_text()) if out.is_file() else {}
    t_load = time.perf_counter()
    base_model = _load_model(model, dev)
    res = {"device": torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu", "torch": torch.__version__,
           "weights_sha256": weights_sha256(base_model), "load_seconds": time.perf_counter() - t_load,
           "base": done.get("base") or {}, "runs": done.get("runs") or {}}
    pad = int(payload["pad_id"])

    def save():
        atomic_write(out, json.dumps(res, indent=1))

    precisions = sorted({r["config"].get("precision") or "fp32" for r in payload["runs"]})
    for L, windows in payload["eval_windows"].items():
        for prec in precisions:
            key = L if prec == "fp32" else f"{L}:{prec}"      # fp32 keys as before
            if key not in res["base"]:
                t = time.perf_counter()
                p = perplexity(base_model, windows, batch_size=eval_batch_size, pad_id=pad, precision=prec).to_dict()
                res["base"][key] = {**p, "seconds": time.perf_counter() - t}
                print(f"base perplexity (seq_len {L}, {prec}): {p['perplexity']:.4f}", flush=True)
    save()
    todo = [r for r in payload["runs"] if r["run_id"] not in res["runs"] and (only is None or r["regime"] in only)]
    for k, r in enumerate(todo):
        t0 = time.perf_counter()
        cfg = FinetuneConfig.from_dict({**r["config"], "device": dev})
        model_k = copy.deepcopy(base_model).train()
        torch.manual_seed(cfg.seed)
        tr = train(model_k, r["sequences"], cfg, pad_id=pad)
        t_train = time.perf_counter() - t0
        prec = cfg.resolved_precision() if hasattr(cfg, "resolved_precision") else "fp32"
        after = perplexity(model_k, payload["eval_windows"][str(cfg.seq_len)], batch_size=eval_batch_size, pad_id=pad,
                           precision=prec)
        res["runs"][r["run_id"]] = {"ppl_after": after.perplexity, "nll_after": after.nll, "eval_tokens": after.tokens,
                                    "train_steps": tr.steps, "train_loss_first": tr.first_loss,
                                    "train_loss_last": tr.last_loss, "train_seconds": t_train, "precision": prec,
                                    "wall_seconds": time.perf_counter() - t0}
        del model_k
        if dev.startswith("cuda"):
            torch.cuda.empty_cache()
        save()
        print(f"[{k + 1}/{len(todo)}] {r['regime']} {r['point']} seed {r['seed']} ({prec}): "
              f"{res['base'][str(cfg.seq_len)]['perplexity']:.3f} -> {after.perplexity:.3f} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
    return res


def import_outcomes(plan: LabPlan, outcomes_path: Path, out: Path, *, local_results: dict | None = None,
                    settings: EmbedSettings | None = None) -> dict:
    """A lab results file from a remote run's outcomes (``device`` and ``weights_sha256`` recorded).

    The runs are matched to the plan by run id (:func:`core.validation.plan.plan_runs`); outcomes of
    runs not in the plan are ignored. Each run carries its results-database row (``record``), so
    ``validate run --resume-from`` treats the remote runs as done. The metric rows and source marks are taken from
    ``local_results`` (a results file of the same plan written here, where the metrics were
    measured), since metrics do not depend on where the fine-tunes ran.

    Raises:
        AlignScopeError: the outcomes file cannot be read.
    """
    from dataclasses import asdict

    from core.errors import AlignScopeError
    from core.validation.lab import RESULTS_VERSION, derived_from_target
    from core.validation.plan import plan_runs, regime_sources

    try:
        got = json.loads(Path(outcomes_path).read_text())
        got["runs"], got["base"], got["device"], got["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AlignScopeError(f"Cannot read remote outcomes from {str(outcomes_path)!r}: {exc}",
                              fix="give the --out file of python -m core.validation.remote run.") from None
    from core.corpora.benchmarks import heldout_split

    payload_eval = heldout_split(plan.target).corpus
    runs = []
    for r in plan_runs(plan, settings):
        o = got["runs"].get(r.run_id)
        if o is None:
            continue
        cfg = r.config.resolved() if hasattr(r.config, "resolved") else r.config
        base = got["base"][str(cfg.seq_len)]
        record = {"group_key": cfg.group_key(), "label": cfg.label, "source": cfg.source, "mixture": cfg.mixture,
                  "target": cfg.target, "eval_corpus": payload_eval, "model": cfg.model, "method": cfg.method,
                  "budget_tokens": cfg.budget_tokens, "tokens_trained": cfg.budget_tokens,
                  "tokens_seen": int(round(cfg.budget_tokens * cfg.epochs)), "hparams": cfg.to_dict(),
                  "ppl_before": base["perplexity"], "nll_before": base["nll"], "eval_tokens": o.get("eval_tokens"),
                  "ppl_after": o["ppl_after"], "nll_after": o["nll_after"], "train_steps": o.get("train_steps"),
                  "train_loss_first": o.get("train_loss_first"), "train_loss_last": o.get("train_loss_last"),
                  "train_seconds": o["train_seconds"], "wall_seconds": o["wall_seconds"], "device": got["device"],
                  "precision": o.get("precision") or cfg.precision, "status": "done", "error": None,
                  "notes": f"fine-tuned on {got['device']} (remote runner)"}
        runs.append({"run_id": r.run_id, "regime": r.regime, "point": r.point, "source": cfg.source,
                     "pair": list(r.pair) if r.pair else None, "fraction": r.fraction, "seed": r.seed,
                     "status": "done", "error": None, "ppl_before": base["perplexity"],
                     "ppl_after": o["ppl_after"], "nll_after": o["nll_after"], "tokens_trained": cfg.budget_tokens,
                     "wall_seconds": o["wall_seconds"], "train_seconds": o["train_seconds"],
                     "precision": record["precision"], "device": got["device"], "record": record})
    every = sorted({s for rg in plan.regimes for s in regime_sources(plan, rg)} | {s for p in plan.dose_pairs for s in p})
    local = local_results or {}
    first = plan.regimes[0]
    res = {"version": RESULTS_VERSION, "target": plan.target, "model": plan.model, "precision": plan.precision,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "wall_seconds": sum(o["wall_seconds"] for o in got["runs"].values()) + got.get("load_seconds", 0.0),
           "device": got["device"], "torch": got.get("torch"), "weights_sha256": got["weights_sha256"],
           "plan": plan.to_dict(),
           "regimes": {rg.name: {k: v for k, v in asdict(rg).items() if k != "name"} for rg in plan.regimes},
           "base": {k: got["base"][str(first.seq_len)][k] for k in ("perplexity", "nll", "tokens")},
           "sources": local.get("sources") or {s: {"derived_from_target": derived_from_target(s, plan.target)} for s in every},
           "runs": runs, "metrics": local.get("metrics", []), "metric_info": local.get("metric_info", {})}
    res["regimes"]["dose"] = {**res["regimes"][first.name], "seeds": list(plan.dose_seeds),
                              "pairs": [list(p) for p in plan.dose_pairs], "fractions": list(plan.dose_fractions)}
    atomic_write(out, json.dumps(res, indent=1))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.validation.remote", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="fine-tune every run of a payload (on this machine's GPU if any)")
    r.add_argument("payload", help="payload JSON written by export_payload")
    r.add_argument("--model", required=True, help="transformers folder or .gguf file of the lab's model")
    r.add_argument("--out", required=True, help="outcomes JSON (resumable)")
    r.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    r.add_argument("--eval-batch-size", type=int, default=64, help="windows per evaluation forward (speed only)")
    r.add_argument("--regimes", default=None, help="comma-separated regimes to run (default all)")
    args = p.parse_args(argv)
    only = {s for s in (args.regimes or "").split(",") if s} or None
    run_payload(Path(args.payload), model=args.model, out=Path(args.out), device=args.device,
                eval_batch_size=args.eval_batch_size, only=only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
