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

from core.errors import AlignScopeError


def _split(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def _hparam_args(p: argparse.ArgumentParser) -> None:
    from core.finetune import config as c
    from core.probe import DEFAULT_MODEL

    g = p.add_argument_group("fine-tuning")
    g.add_argument("--target", default=c.DEFAULT_TARGET, help="target benchmark; its held-out split is evaluated (default proofnet: the test split)")
    g.add_argument("--model", default=DEFAULT_MODEL, help=f"causal LM to fine-tune: {DEFAULT_MODEL} (embedded), a folder or a hub id")
    g.add_argument("--budget", type=int, default=c.DEFAULT_BUDGET, help=f"training tokens per source (default {c.DEFAULT_BUDGET})")
    g.add_argument("--epochs", type=float, default=c.DEFAULT_EPOCHS, help=f"epochs (default {c.DEFAULT_EPOCHS})")
    g.add_argument("--lr", type=float, default=None, help=f"learning rate (default {c.DEFAULT_LR:g} full, 1e-3 LoRA)")
    g.add_argument("--seq-len", type=int, default=c.DEFAULT_SEQ_LEN, help=f"tokens per sequence / evaluation window (default {c.DEFAULT_SEQ_LEN})")
    g.add_argument("--batch-size", type=int, default=c.DEFAULT_BATCH_SIZE, help=f"sequences per step (default {c.DEFAULT_BATCH_SIZE})")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--method", choices=["full", "lora"], default="full", help="full fine-tuning or LoRA adapters (peft)")
    g.add_argument("--lora-r", type=int, default=8)
    g.add_argument("--lora-alpha", type=int, default=16)
    g.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    a = p.add_argument_group("alignment (Task2Vec embedding settings)")
    a.add_argument("--probe", default=DEFAULT_MODEL, help="probe network for the alignment coefficient")
    a.add_argument("--estimator", default=None, help="Task2Vec estimator (default closed_form_head)")
    a.add_argument("--estimator-param", action="append", default=[], metavar="K=V")
    a.add_argument("--align-batch-size", type=int, default=None)
    a.add_argument("--align-seq-len", type=int, default=None)
    a.add_argument("--align-num-batches", type=int, default=None)
    a.add_argument("--align-seed", type=int, default=None)
    j = p.add_argument_group("job")
    j.add_argument("--detach", action="store_true", help="queue the job and return (follow it in the dashboard)")
    j.add_argument("--restart", action="store_true", help="run again even if an identical run finished")
    j.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of the worker (default: all cores; 1 can be faster on a busy machine)")
    j.add_argument("--json", action="store_true")


def _config_dict(args) -> dict:
    lr = args.lr if args.lr is not None else (1e-3 if args.method == "lora" else None)
    d = {"target": args.target, "model": args.model, "budget_tokens": args.budget, "epochs": args.epochs,
         "seq_len": args.seq_len, "batch_size": args.batch_size, "seed": args.seed, "method": args.method,
         "lora_r": args.lora_r, "lora_alpha": args.lora_alpha, "device": args.device}
    if lr is not None:
        d["learning_rate"] = lr
    return d


def _settings(args):
    from core.batches import BatchConfig
    from core.estimators import DEFAULT_ESTIMATOR, parse_params
    from core.pipeline import EmbedSettings

    d = BatchConfig()
    try:
        batch = BatchConfig(batch_size=args.align_batch_size or d.batch_size, seq_len=args.align_seq_len or d.seq_len,
                            num_batches=args.align_num_batches or d.num_batches,
                            seed=d.seed if args.align_seed is None else args.align_seed)
    except ValueError as exc:
        raise AlignScopeError(str(exc), fix="pass positive --align-batch-size, --align-seq-len, --align-num-batches.") from exc
    return EmbedSettings(model=args.probe, estimator=args.estimator or DEFAULT_ESTIMATOR,
                         estimator_params=tuple(sorted(parse_params(args.estimator_param).items())), batch=batch,
                         device=args.device)


def _follow(job_id: str, *, quiet: bool) -> str:
    """Print the job's progress until it ends; Ctrl-C cancels it. Returns the final state."""
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


def _fmt(v, nd=3):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def _table(rows: list[dict]) -> str:
    lines = [f"{'source':22s} {'status':9s} {'alignment [95% CI]':26s} {'familiarity':>11s} {'ppl before':>10s} "
             f"{'ppl after':>10s} {'tokens':>7s} {'wall s':>7s}"]
    for r in rows:
        ci = (f"{_fmt(r.get('alignment'), 4)} [{_fmt(r.get('align_ci_low'), 4)}, {_fmt(r.get('align_ci_high'), 4)}]"
              if r.get("alignment") is not None else "-")
        lines.append(f"{r['label'][:22]:22s} {r['status']:9s} {ci:26s} {_fmt(r.get('familiarity')):>11s} "
                     f"{_fmt(r.get('ppl_before')):>10s} {_fmt(r.get('ppl_after')):>10s} {_fmt(r.get('tokens_trained')):>7s} "
                     f"{_fmt(r.get('wall_seconds'), 0):>7s}")
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


def cmd_finetune(args) -> int:
    from core.finetune import results
    from core.finetune.config import FinetuneConfig
    from core.finetune.jobs import submit_finetune

    if bool(args.source) == bool(args.mixture):
        raise AlignScopeError("finetune needs exactly one of --source or --mixture.", fix="python -m core finetune --source proofnet-valid")
    config = FinetuneConfig(source=args.source, mixture=args.mixture, **_config_dict(args))
    _worker_env(args)
    sub = submit_finetune(config, _settings(args), restart=args.restart)
    if args.detach:
        print(json.dumps({"job_id": sub.job_id, "run_id": sub.run_ids[0], "reused": sub.reused}) if args.json
              else f"queued job {sub.job_id} (run {sub.run_ids[0]}){' (already done or under way)' if sub.reused else ''}")
        return 0
    state = _follow(sub.job_id, quiet=args.json) if not (sub.reused and results.get_run(sub.run_ids[0])["status"] == "done") else "done"
    row = results.get_run(sub.run_ids[0])
    if args.json:
        print(json.dumps(row, indent=2, default=str))
    else:
        print(_table([row]))
    return {"done": 0, "cancelled": 130}.get(row["status"] if row else state, 1)


def cmd_experiment(args) -> int:
    from core.finetune import results
    from core.finetune.experiment import default_sources
    from core.finetune.jobs import submit_experiment

    sources = _split(args.sources) or default_sources(args.target)
    settings = _settings(args)
    _worker_env(args)
    t0 = time.time()
    sub = submit_experiment(args.target, sources, _config_dict(args), settings, restart=args.restart)
    if args.detach:
        print(json.dumps({"job_id": sub.job_id, "run_ids": sub.run_ids}) if args.json
              else f"queued experiment job {sub.job_id} with {len(sources)} sources")
        return 0
    if not (sub.reused and all((results.get_run(r) or {}).get("status") == "done" for r in sub.run_ids)):
        _follow(sub.job_id, quiet=args.json)
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


def cmd_perplexity(args) -> int:
    from core.finetune.data import heldout_split
    from core.finetune.perplexity import model_perplexity_on_corpus

    if bool(args.corpus) == bool(args.target):
        raise AlignScopeError("perplexity needs exactly one of --corpus or --target.",
                              fix="python -m core perplexity --target proofnet")
    corpus = args.corpus or heldout_split(args.target).corpus
    res = model_perplexity_on_corpus(args.model, corpus, seq_len=args.seq_len, budget_tokens=args.budget,
                                     seed=args.seed, batch_size=args.batch_size, device=args.device)
    res = {"model": args.model, "corpus": corpus, "seq_len": args.seq_len, "budget_tokens": args.budget, **res}
    print(json.dumps(res, indent=2) if args.json else
          f"perplexity of {args.model} on {corpus}: {res['perplexity']:.4f} (nll {res['nll']:.4f} nats/token over "
          f"{res['tokens']} tokens in {res['windows']} windows{', cached' if res['cached'] else ''})")
    return 0


def cmd_results(args) -> int:
    from core.finetune import results

    rows = results.list_runs(target=args.target, experiment_id=args.experiment)
    action = args.action or "list"
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


def add_commands(sub) -> None:
    """Add ``finetune``, ``experiment``, ``perplexity`` and ``results`` to the ``python -m core`` parser."""
    import core.finetune.jobs  # noqa: F401  (registers the job kinds)

    p = sub.add_parser("finetune", help="fine-tune a causal LM on a source (or mixture) and evaluate it on the target")
    p.add_argument("--source", help="training corpus")
    p.add_argument("--mixture", help="saved mixture (core.mixture) instead of --source")
    _hparam_args(p)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("experiment", help="the preset: one fine-tune per source with identical settings, then the fit")
    p.add_argument("--sources", help="comma-separated corpora (default: the demo candidates that are installed)")
    p.add_argument("--plot", action="append", default=[], metavar="PATH", help="write the figure (.png/.svg/.html), repeatable")
    _hparam_args(p)
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("perplexity", help="perplexity of a model on a corpus or a target's held-out split")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--corpus")
    p.add_argument("--target")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--budget", type=int, default=None, help="sample and pack this many tokens (familiarity style)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perplexity)

    p = sub.add_parser("results", help="fine-tune results: list, groups, show, export (CSV), plot, delete")
    p.add_argument("action", nargs="?", choices=["list", "groups", "show", "export", "plot", "delete"], default="list")
    p.add_argument("--target")
    p.add_argument("--experiment", help="only the runs of this experiment job id")
    p.add_argument("--group", type=int, default=None, help="only group N of 'results groups'")
    p.add_argument("--run", help="run id (show, delete)")
    p.add_argument("--out", action="append", default=[], help="output file (export: .csv; plot: .png/.svg/.html)")
    p.add_argument("--familiarity", action="store_true", help="plot familiarity instead of alignment")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_results)
