"""CLI subcommands of the fine-tune feature (added to ``python -m core`` by ``core.cli``).

  finetune --source S | --mixture M [--target proofnet]   fine-tune, evaluate, record a run
  experiment --target proofnet --sources a,b,c            the preset: one run per source, then the plot
  perplexity --model M --corpus C | --target T            perplexity of a model on a corpus / held-out split
  results [list|groups|show|export|plot|delete]           the results store (SQLite under cache/results)

``finetune`` and ``experiment`` run in a background worker (the same jobs as the dashboard's) and
follow it here, printing progress; Ctrl-C cancels the job (finished phases are kept). ``--detach``
returns at once with the job id.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from core.clikit.args import SEED_MAX, check_model_file, check_output, int_range, seed
from core.clikit.common import (FINETUNE_THREADS_HELP, batch_parent, command_parser, device_parent, engine_parent, estimator_parent, json_parent,
                             model_parent, precision_parent, settings_from_args, split)
from core.errors import AlignScopeError
from core.probe import DEFAULT_MODEL


FINETUNE_EPILOG = """
  python -m core finetune --source coq-stdlib --target proofnet
  python -m core finetune --mixture best-proofnet --method lora --detach
  python -m core finetune --source metamath --budget 20000 --epochs 2 --precision fp32 --json
  python -m core finetune --source metamath --seed 1 --explain      # what would be packed, and the run id
"""
EXPERIMENT_EPILOG = """
  python -m core experiment --target proofnet
  python -m core experiment --target proofnet --sources coq-stdlib,metamath,wikipedia --plot fig.png --plot fig.html
"""
PERPLEXITY_EPILOG = """
  python -m core perplexity --target proofnet
  python -m core perplexity --model path/to/model --corpus wikipedia --budget 20000 --json
"""
RESULTS_EPILOG = """
  python -m core results                         # every run, with the fits
  python -m core results groups
  python -m core results plot --group 0 --out fig.png --out fig.html
  python -m core results export --out runs.csv
  python -m core results show --run RUN_ID
"""


def _hparam_parent() -> argparse.ArgumentParser:
    """The fine-tuning hyperparameters (``--target`` ... ``--lora-alpha``)."""
    from core.finetune import config as c

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--target", default=c.DEFAULT_TARGET, help="target benchmark; its held-out split is evaluated (default proofnet: the test split)")
    g.add_argument("--budget", type=int, default=c.DEFAULT_BUDGET, help=f"training tokens per source (default {c.DEFAULT_BUDGET})")
    g.add_argument("--epochs", type=float, default=c.DEFAULT_EPOCHS, help=f"epochs (default {c.DEFAULT_EPOCHS})")
    g.add_argument("--lr", type=float, default=None, help=f"learning rate (default {c.DEFAULT_LR:g} full, 1e-3 LoRA)")
    g.add_argument("--seq-len", type=int, default=c.DEFAULT_SEQ_LEN, help=f"tokens per sequence / evaluation window (default {c.DEFAULT_SEQ_LEN})")
    g.add_argument("--batch-size", type=int, default=c.DEFAULT_BATCH_SIZE, help=f"sequences per step (default {c.DEFAULT_BATCH_SIZE})")
    g.add_argument("--seed", type=seed, default=0,
                   help=f"training seed: data order, initialisation of LoRA, 0 to {SEED_MAX} (default 0)")
    g.add_argument("--method", choices=["full", "lora"], default="full", help="full fine-tuning or LoRA adapters (peft)")
    g.add_argument("--lora-r", type=int_range(1, 4096), default=8, help="LoRA rank, 1 to 4096 (default 8)")
    g.add_argument("--lora-alpha", type=int_range(1, 1 << 20), default=16, help="LoRA scaling alpha, >= 1 (default 16)")
    g.add_argument("--outcomes", default="", metavar="NAMES",
                   help="comma-separated target outcomes measured before and after, beside the held-out perplexity "
                        "(e.g. af-nll; `python -m core outcomes list`; default none)")
    g.add_argument("--quick", action="store_true",
                   help=f"quick (live) run: the same training, evaluated on a fixed seeded subsample of about "
                        f"{c.QUICK_EVAL_TOKENS} held-out tokens with a 95%% bootstrap CI over its documents, in bf16 "
                        "where that is faster (--precision auto); quick runs are their own group, never fitted "
                        "with full runs")
    j = p.add_argument_group("job")
    j.add_argument("--detach", action="store_true", help="queue the job and return (follow it in the dashboard)")
    j.add_argument("--restart", action="store_true", help="run again even if an identical run finished")
    j.add_argument("--yes", action="store_true", help="start even if the budget exceeds the source or the estimated "
                                                      "time exceeds the limit (the estimate is printed first)")
    return p


def _finetune_parents() -> list[argparse.ArgumentParser]:
    """Fine-tuning hyperparameters, the model, device/precision and the alignment's embedding settings."""
    title = "alignment (Task2Vec embedding settings)"
    return [_hparam_parent(), model_parent(help=f"causal LM to fine-tune: {DEFAULT_MODEL} (embedded, default), a folder or a hub id"),
            device_parent(threads_help=FINETUNE_THREADS_HELP), precision_parent(),
            model_parent(flag="--probe", title=title, help="probe network for the alignment coefficient (default "
                                                           f"{DEFAULT_MODEL})"),
            estimator_parent(title=title), batch_parent(prefix="align-", title=title), engine_parent(), json_parent()]


def _config_dict(args) -> dict:
    lr = args.lr if args.lr is not None else (1e-3 if args.method == "lora" else None)
    d = {"target": args.target, "model": args.model, "budget_tokens": args.budget, "epochs": args.epochs,
         "seq_len": args.seq_len, "batch_size": args.batch_size, "seed": args.seed, "method": args.method,
         "lora_r": args.lora_r, "lora_alpha": args.lora_alpha, "device": args.device, "precision": args.precision}
    if lr is not None:
        d["learning_rate"] = lr
    if args.outcomes.strip():
        d["outcomes"] = [n.strip() for n in args.outcomes.split(",") if n.strip()]
    if args.quick:
        from core.finetune.config import QUICK_EVAL_TOKENS

        d["eval_subsample_tokens"] = QUICK_EVAL_TOKENS
    return d


def _settings(args):
    return settings_from_args(args, prefix="align_", model_flag="probe")


def _explain(config, args: argparse.Namespace) -> int:
    """``finetune --explain``: the packed documents and the run's identity, nothing trained."""
    from core.finetune.data import build_training_data
    from core.finetune.identity import data_identity, run_id_for
    from core.probe import load_probe

    data = build_training_data(config, load_probe(config.model, device=config.device, progress=False).tokenizer)
    ident = data_identity(config)
    out = {"run_id": run_id_for(config, _settings(args), data=ident), "label": config.label, "seed": config.seed,
           "tokens": data.tokens, "requested": data.requested, "documents": data.documents,
           "sequences": len(data.sequences), "train_data_fp": ident["train"], "eval_fp": ident["eval"],
           "notes": data.notes,
           "packed": [{"source": s, "doc_id": d, "tokens": n} for s, d, n in data.packed]}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"run {out['run_id']}: {config.label}, seed {config.seed}: {data.tokens} of {data.requested} tokens from "
          f"{data.documents} documents in {len(data.sequences)} sequences of {config.seq_len}")
    print(f"packed data sha256 {ident['train']}\nevaluation windows sha256 {ident['eval']}")
    for n in data.notes:
        print(f"note: {n}")
    print(f"{'source':22s} {'document':50s} {'tokens':>7s}")
    for s_, d, n in data.packed:
        print(f"{s_[:22]:22s} {d[:50]:50s} {n:>7d}")
    return 0


def _follow(job_id: str, *, quiet: bool) -> str:
    """Print the job's progress (to stderr) until it ends; Ctrl-C cancels it. Returns the final state."""
    from core.jobs import FINAL_STATES, get_job

    job = get_job(job_id)
    last = None
    log_pos = len(job.log(tail=10 ** 9))
    try:
        while True:
            st = job.status()
            if not quiet:
                text = job.log(tail=10 ** 9)
                if len(text) > log_pos:
                    sys.stderr.write(text[log_pos:])
                    log_pos = len(text)
                line = f"[{st.get('state')}] {st.get('done', 0)}/{st.get('total', 0)} {st.get('message', '')}"
                eta = st.get("eta_s")
                if eta:
                    line += f" (ETA {int(eta) // 60} min {int(eta) % 60:02d} s)"
                if line != last:
                    print(line, file=sys.stderr, flush=True)
                    last = line
            if st.get("state") in FINAL_STATES:
                return st["state"]
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("cancelling the job (finished phases are kept)...", file=sys.stderr, flush=True)
        job.cancel(kill_after=60)
        return job.status().get("state", "cancelled")


def _num(v, nd=3):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def _table(rows: list[dict]) -> str:
    lines = [f"{'source':22s} {'status':9s} {'alignment [95% CI]':26s} {'familiarity':>11s} {'ppl before':>10s} "
             f"{'ppl after':>10s} {'tokens':>7s} {'wall s':>7s}"]
    for r in rows:
        ci = (f"{_num(r.get('alignment'), 4)} [{_num(r.get('align_ci_low'), 4)}, {_num(r.get('align_ci_high'), 4)}]"
              if r.get("alignment") is not None else "-")
        lines.append(f"{r['label'][:22]:22s} {r['status']:9s} {ci:26s} {_num(r.get('familiarity')):>11s} "
                     f"{_num(r.get('ppl_before')):>10s} {_num(r.get('ppl_after')):>10s} {_num(r.get('tokens_trained')):>7s} "
                     f"{_num(r.get('wall_seconds'), 0):>7s}")
        if r.get("quick"):
            docs = len(r.get("eval_documents") or [])
            lines.append(f"{'':22s} quick: perplexity after 95% CI [{_num(r.get('ppl_ci_low'))}, "
                         f"{_num(r.get('ppl_ci_high'))}] over a seeded subsample of {docs} held-out documents "
                         f"({_num(r.get('eval_tokens'))} tokens)")
        if r.get("error"):
            lines.append(f"{'':22s} error: {r['error']}")
        elif r.get("notes"):
            lines.append(f"{'':22s} note: {r['notes']}")
    return "\n".join(lines)


def _fit_lines(rows: list[dict]) -> list[str]:
    from core.finetune.plots import fit_rows, fit_text

    return [f"alignment vs perplexity: {fit_text(fit_rows(rows, 'alignment'))}",
            f"familiarity vs perplexity: {fit_text(fit_rows(rows, 'familiarity'))}"]


def _worker_env(args) -> None:
    import os

    if getattr(args, "threads", None):
        os.environ["ALIGNSCOPE_TORCH_THREADS"] = str(args.threads)


def cmd_finetune(args: argparse.Namespace) -> int:
    """``finetune``: queue one fine-tune and follow it (Ctrl-C cancels); returns the exit code."""
    from core.finetune import results
    from core.finetune.config import FinetuneConfig
    from core.finetune.jobs import submit_finetune

    if getattr(args, "selection", None):            # a saved window selection is a registered corpus
        if args.source or args.mixture:
            raise AlignScopeError("--selection replaces --source and --mixture.", fix="pass only --selection NAME.")
        from core.selection.export import load_selection

        load_selection(args.selection)             # a clear error when no selection has that name
        args.source = args.selection
    if bool(args.source) == bool(args.mixture):
        raise AlignScopeError("finetune needs exactly one of --source or --mixture.", fix="python -m core finetune --source proofnet-valid")
    check_model_file(args.model)
    config = FinetuneConfig(source=args.source, mixture=args.mixture, **_config_dict(args))
    from core.finetune.estimate import check_finetune
    from core.finetune.identity import validate

    validate(config)                                      # bad input first (target, sources, contamination)
    if args.explain:
        return _explain(config, args)
    estimate = check_finetune(config, yes=args.yes)      # bounds on the work, before anything is queued
    if not args.json:
        print(f"estimate: {estimate.text()}", file=sys.stderr, flush=True)
    _worker_env(args)
    sub = submit_finetune(config, _settings(args), restart=args.restart)
    if args.detach:
        print(json.dumps({"job_id": sub.job_id, "run_id": sub.run_ids[0], "reused": sub.reused}) if args.json
              else f"queued job {sub.job_id} (run {sub.run_ids[0]}){' (already done or under way)' if sub.reused else ''}")
        return 0
    state = _follow(sub.job_id, quiet=False) if not (sub.reused and results.get_run(sub.run_ids[0])["status"] == "done") else "done"
    row = results.get_run(sub.run_ids[0])
    if args.json:
        print(json.dumps(row, indent=2, default=str))
    else:
        print(_table([row]))
    return {"done": 0, "cancelled": 130}.get(row["status"] if row else state, 1)


def cmd_experiment(args: argparse.Namespace) -> int:
    """``experiment``: the preset, one fine-tune per source, then the table and the fit; returns the exit code."""
    from core.finetune import results
    from core.finetune.experiment import default_sources
    from core.finetune.jobs import submit_experiment

    sources = split(args.sources, "--sources") or default_sources(args.target)
    for path in args.plot:
        check_output(path, option="--plot", suffixes=(".png", ".svg", ".html", ".pdf"))
    check_model_file(args.model)
    settings = _settings(args)
    from core.finetune.estimate import check_finetune
    from core.finetune.experiment import experiment_configs
    from core.finetune.identity import validate

    total = 0.0
    for c in experiment_configs(args.target, sources, _config_dict(args)):
        validate(c)                                       # bad input first (sources, contamination)
        total += check_finetune(c, yes=args.yes).seconds  # each run within its source and the time limit
    if not args.json:
        print(f"estimate: {len(sources)} fine-tunes, about {total / 60:.0f} min in all", file=sys.stderr, flush=True)
    _worker_env(args)
    t0 = time.time()
    sub = submit_experiment(args.target, sources, _config_dict(args), settings, restart=args.restart)
    if args.detach:
        print(json.dumps({"job_id": sub.job_id, "run_ids": sub.run_ids}) if args.json
              else f"queued experiment job {sub.job_id} with {len(sources)} sources")
        return 0
    if not (sub.reused and all((results.get_run(r) or {}).get("status") == "done" for r in sub.run_ids)):
        _follow(sub.job_id, quiet=False)               # progress on stderr; with --json stdout stays JSON
    rows = [results.get_run(r) for r in sub.run_ids]
    rows = [r for r in rows if r]
    wall = time.time() - t0
    if args.plot:
        from core.finetune.plots import alignment_figure

        fig, _ = alignment_figure(rows, target=args.target)
        for path in args.plot:
            from core.finetune.plots import save_figure

            save_figure(fig, path, plotlyjs="cdn" if path.endswith(".html") else True)
    if args.json:
        from core.finetune.plots import fit_rows

        fit = fit_rows(rows)
        print(json.dumps({"job_id": sub.job_id, "wall_seconds": wall, "runs": rows,
                          "fit": fit.to_dict() if fit else None}, indent=2, default=str))
    else:
        print(_table(rows))
        print("\n".join(_fit_lines(rows)))
        print(f"experiment {sub.job_id}: {sum(r['status'] == 'done' for r in rows)}/{len(rows)} runs done, "
              f"wall time {wall / 60:.1f} min")
    return 0 if all(r["status"] == "done" for r in rows) else 1


def cmd_perplexity(args: argparse.Namespace) -> int:
    """``perplexity``: a model's perplexity on a corpus or a target's held-out split; returns the exit code."""
    from core.corpora.benchmarks import heldout_split
    from core.finetune.perplexity import model_perplexity_on_corpus

    if bool(args.corpus) == bool(args.target):
        raise AlignScopeError("perplexity needs exactly one of --corpus or --target.",
                              fix="python -m core perplexity --target proofnet")
    from core.probe import check_limits

    check_model_file(args.model)
    check_limits(args.model, seq_len=args.seq_len)           # before any weights load
    if args.batch_size < 1 or (args.budget is not None and args.budget < 1):
        raise AlignScopeError(f"perplexity needs --batch-size >= 1 and --budget >= 1 (got {args.batch_size}, "
                              f"{args.budget}).", fix="python -m core perplexity --target proofnet --batch-size 16")
    corpus = args.corpus or heldout_split(args.target).corpus
    res = model_perplexity_on_corpus(args.model, corpus, seq_len=args.seq_len, budget_tokens=args.budget,
                                     seed=args.seed, batch_size=args.batch_size, device=args.device,
                                     precision=args.precision)
    res = {"model": args.model, "corpus": corpus, "seq_len": args.seq_len, "budget_tokens": args.budget, **res}
    print(json.dumps(res, indent=2) if args.json else
          f"perplexity of {args.model} on {corpus}: {res['perplexity']:.4f} (nll {res['nll']:.4f} nats/token over "
          f"{res['tokens']} tokens in {res['windows']} windows{', cached' if res['cached'] else ''})")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """``results``: list, group, show, export, plot or delete fine-tune runs; returns the exit code."""
    from core.finetune import results

    action = args.action or "list"
    for path in args.out if action in ("export", "plot") else ():
        check_output(path, option="--out", suffixes=(".csv",) if action == "export" else (".png", ".svg", ".html", ".pdf"))
    rows = results.list_runs(target=args.target, experiment_id=args.experiment)
    if action == "groups":
        gs = results.groups(rows)
        if args.json:
            print(json.dumps(gs, indent=2, default=str))
        else:
            for k, g in enumerate(gs):
                print(f"{k}: {g['title']}")
        return 0
    if action == "show":
        if not args.run:
            raise AlignScopeError("results show needs --run RUN_ID.", fix="see python -m core results list")
        row = results.get_run(args.run)
        if row is None:
            raise AlignScopeError(f"No run {args.run!r}.", fix="see python -m core results list")
        print(json.dumps(row, indent=2, default=str))
        return 0
    if action == "delete":
        if not args.run:
            raise AlignScopeError("results delete needs --run RUN_ID.", fix="see python -m core results list")
        ok = results.delete_run(args.run)
        print("deleted" if ok else "no such run")
        return 0 if ok else 2
    if args.group is not None:
        gs = results.groups(rows)
        if not 0 <= args.group < len(gs):
            raise AlignScopeError(f"No group {args.group}.", fix="see python -m core results groups")
        rows = [r for r in rows if r.get("group_key") == gs[args.group]["group_key"]]
    if action == "list":
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
        else:
            print(_table(rows) if rows else "no runs yet")
            if rows:
                print("\n".join(_fit_lines(rows)))
        return 0
    if action == "export":
        if not args.out:
            raise AlignScopeError("results export needs --out FILE.csv.", fix="python -m core results export --out runs.csv")
        for path in args.out:
            results.to_frame(rows).to_csv(path, index=False)
            print(f"wrote {path}")
        return 0
    if action == "plot":
        from core.finetune.plots import alignment_figure, familiarity_figure, save_figure

        if not args.out:
            raise AlignScopeError("results plot needs --out FILE.png|.svg|.html.", fix="python -m core results plot --group 0 --out fig.png")
        if args.group is None:
            gs = results.groups(rows)
            if gs:
                rows = [r for r in rows if r.get("group_key") == gs[0]["group_key"]]
        target = rows[0]["target"] if rows else ""
        make = familiarity_figure if args.familiarity else alignment_figure
        fig, fit = make(rows, target=target)
        for path in args.out:
            save_figure(fig, path, plotlyjs="cdn" if path.endswith(".html") else True)
            print(f"wrote {path}")
        print("\n".join(_fit_lines(rows)))
        return 0
    raise AlignScopeError(f"Unknown results action {action!r}.", fix="use list, groups, show, export, plot or delete.")


def add_commands(sub: Any) -> None:
    """Add ``finetune``, ``experiment``, ``perplexity`` and ``results`` to the ``python -m core`` parser."""
    p = command_parser(sub, "finetune", epilog=FINETUNE_EPILOG, parents=_finetune_parents(),
                       help="fine-tune a causal LM on a source (or mixture) and evaluate it on the target")
    p.add_argument("--source", help="training corpus")
    p.add_argument("--mixture", help="saved mixture (core.mixture) instead of --source")
    p.add_argument("--selection", help="saved window selection (python -m core select run ... --save NAME) instead of --source")
    p.add_argument("--explain", action="store_true",
                   help="print the documents this run would pack (source, document id, tokens) and the run's identity "
                        "(packed-data and evaluation fingerprints, run id); trains nothing")
    p.set_defaults(func=cmd_finetune)

    p = command_parser(sub, "experiment", epilog=EXPERIMENT_EPILOG, parents=_finetune_parents(),
                       help="the preset: one fine-tune per source with identical settings, then the fit")
    p.add_argument("--sources", help="comma-separated corpora (default: the demo candidates that are installed)")
    p.add_argument("--plot", action="append", default=[], metavar="PATH", help="write the figure (.png/.svg/.html), repeatable")
    p.set_defaults(func=cmd_experiment)

    p = command_parser(sub, "perplexity", epilog=PERPLEXITY_EPILOG,
                       parents=[model_parent(help=f"causal LM: {DEFAULT_MODEL} (embedded, default), a folder or a hub id"),
                                device_parent(threads=False), precision_parent(), json_parent()],
                       help="perplexity of a model on a corpus or a target's held-out split")
    p.add_argument("--corpus", help="registry corpus to measure on")
    p.add_argument("--target", help="target benchmark: measure on its held-out split (instead of --corpus)")
    p.add_argument("--seq-len", type=int, default=128, help="tokens per evaluation window (default 128)")
    p.add_argument("--budget", type=int, default=None, help="sample and pack this many tokens (familiarity style)")
    p.add_argument("--seed", type=seed, default=0, help="sampling seed with --budget (default 0)")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16; does not change the result)")
    p.set_defaults(func=cmd_perplexity)

    p = command_parser(sub, "results", epilog=RESULTS_EPILOG, parents=[json_parent()],
                       help="fine-tune results: list, groups, show, export (CSV), plot, delete")
    p.add_argument("action", nargs="?", choices=["list", "groups", "show", "export", "plot", "delete"], default="list",
                   help="what to do (default list)")
    p.add_argument("--target", help="only the runs with this target benchmark")
    p.add_argument("--experiment", help="only the runs of this experiment job id")
    p.add_argument("--group", type=int, default=None, help="only group N of 'results groups'")
    p.add_argument("--run", help="run id (show, delete)")
    p.add_argument("--out", action="append", default=[], help="output file (export: .csv; plot: .png/.svg/.html)")
    p.add_argument("--familiarity", action="store_true", help="plot familiarity instead of alignment")
    p.set_defaults(func=cmd_results)
