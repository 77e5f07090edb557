"""``python -m core pretrain``: pre-train a small causal LM from scratch, and the pre-training grid.

Commands::

    pretrain configs                                   the named configs (cpu-small, gpu-base, tiny)
    pretrain run --corpus C [--budget-tokens N] [--seed S] [--eval A,B] [--json]
    pretrain grid plan [--sources A,B] [--eval ...] [--seeds 0,1] [--budget-tokens N]
    pretrain grid run --out FILE [plan flags] [--skip-metrics | --metrics-only]
    pretrain grid report --results FILE [--figure PATH.html|.png] [--write]

Bad input exits 2 with one line (:class:`core.errors.AlignScopeError`).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from core.clikit import args as cli_args
from core.clikit.common import command_parser, device_parent, emit, json_parent
from core.errors import AlignScopeError


def _config_parent() -> argparse.ArgumentParser:
    """``--config`` and the overrides of a :class:`~core.pretrain.config.PretrainConfig`."""
    float_range, int_range = cli_args.float_range, cli_args.int_range
    from core.pretrain.config import CONFIGS, DEFAULT_CONFIG

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("model and budget")
    g.add_argument("--config", default=DEFAULT_CONFIG, choices=list(CONFIGS),
                   help=f"named config (default {DEFAULT_CONFIG}; see pretrain configs)")
    g.add_argument("--budget-tokens", "--budget", dest="budget_tokens", type=int_range(1), default=None, metavar="N",
                   help="tokens to train on (default: the config's)")
    g.add_argument("--lr", dest="learning_rate", type=float_range(0.0, lo_open=True), default=None,
                   help="peak learning rate (default: the config's)")
    g.add_argument("--batch-size", type=int_range(1), default=None, help="windows per step (default: the config's)")
    g.add_argument("--seq-len", type=int_range(2), default=None, help="tokens per window (default: the config's)")
    g.add_argument("--eval-windows", type=int_range(1), default=None,
                   help="held-out windows per evaluation corpus (default: the config's)")
    g.add_argument("--eval-fraction", type=float_range(0.0, 1.0, lo_open=True), default=None,
                   help="share of each corpus's documents held out (default 0.1)")
    return p


def _config_from(args: argparse.Namespace):
    from core.pretrain.config import get_config

    return get_config(args.config, budget_tokens=args.budget_tokens, learning_rate=args.learning_rate,
                      batch_size=args.batch_size, seq_len=args.seq_len, eval_windows=args.eval_windows)


def _eval_fraction(args) -> float:
    from core.pretrain.data import EVAL_FRACTION

    return EVAL_FRACTION if args.eval_fraction is None else float(args.eval_fraction)


def _plan_parent() -> argparse.ArgumentParser:
    from core.pretrain.grid import DEFAULT_EVAL

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("grid")
    g.add_argument("--sources", default="wikipedia,python-stdlib",
                   help="pure training corpora; their 50/50 mixture is added (default wikipedia,python-stdlib)")
    g.add_argument("--eval", default=",".join(DEFAULT_EVAL), help=f"evaluation corpora (default {','.join(DEFAULT_EVAL)})")
    g.add_argument("--seeds", default="0,1", help="seeds of every training corpus (default 0,1)")
    g.add_argument("--metrics", default=None, help="alignment metrics (default: every registered metric)")
    g.add_argument("--no-mixture", action="store_true", help="do not add the mixture of the sources")
    return p


def _plan_from(args: argparse.Namespace):
    parse_list = cli_args.parse_list
    from core.pretrain.grid import GridPlan

    seeds = []
    for s in parse_list(args.seeds, option="--seeds", example="0,1"):
        try:
            seeds.append(int(s))
        except ValueError:
            raise AlignScopeError(f"--seeds {args.seeds!r}: {s!r} is not an integer.", fix="pass e.g. --seeds 0,1.") from None
    return GridPlan(sources=tuple(parse_list(args.sources, option="--sources", example="wikipedia,python-stdlib")),
                    eval_corpora=tuple(parse_list(args.eval, option="--eval", example="news,gcide")),
                    seeds=tuple(seeds), config=_config_from(args),
                    metrics=tuple(parse_list(args.metrics, option="--metrics", example="gzip,t2v-head")),
                    mixture=not args.no_mixture, eval_fraction=_eval_fraction(args))


def _command_line() -> str:
    return "python -m core " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def add_commands(sub: "argparse._SubParsersAction") -> None:
    """Register ``pretrain`` and its subcommands on ``sub`` (the ``python -m core`` subparsers)."""
    p = command_parser(sub, "pretrain", help="pre-train a small causal LM from random initialisation, and the grid",
                       epilog="  python -m core pretrain run --corpus wikipedia --budget-tokens 20000 --seed 0\n"
                              "  python -m core pretrain grid plan\n"
                              "  python -m core pretrain grid run --out grid.json\n"
                              "  python -m core pretrain grid report --results grid.json --figure grid.html")
    psub = p.add_subparsers(dest="pretrain_command", required=True)

    c = command_parser(psub, "configs", help="the named pre-training configs", parents=[json_parent()],
                       epilog="  python -m core pretrain configs --json")
    c.set_defaults(func=_configs)

    r = command_parser(psub, "run", help="one pre-training run: train from scratch, held-out cross-entropy",
                       parents=[_config_parent(), device_parent(), json_parent()],
                       epilog="  python -m core pretrain run --corpus wikipedia --budget-tokens 20000 --seed 0 --json\n"
                              "  python -m core pretrain run --corpus wikipedia+python-stdlib --eval news,gcide")
    r.add_argument("--corpus", required=True, help="training corpus: a registered corpus, or A+B (50/50 mixture)")
    r.add_argument("--seed", type=int, default=0, help="initialisation and data seed (default 0)")
    r.add_argument("--eval", default=None, help="evaluation corpora (default: the training corpus's sources)")
    r.add_argument("--out", default=None, help="also write the run record (JSON) to this file")
    r.add_argument("--save", default=None, metavar="DIR", help="save the trained model and tokenizer to DIR")
    r.set_defaults(func=_run)

    g = command_parser(psub, "grid", help="the pre-training grid: plan, run (resumable), report",
                       epilog="  python -m core pretrain grid plan\n  python -m core pretrain grid run --out grid.json")
    gsub = g.add_subparsers(dest="grid_command", required=True)
    gp = command_parser(gsub, "plan", help="list the grid's runs and their expected time",
                        parents=[_plan_parent(), _config_parent(), json_parent()],
                        epilog="  python -m core pretrain grid plan --budget-tokens 49152")
    gp.add_argument("--tokens-per-second", type=float, default=200.0,
                    help="training rate for the estimate (default 200: cpu-small on this loaded 2-core machine)")
    gp.set_defaults(func=_grid_plan)
    gr = command_parser(gsub, "run", help="run what is missing of the grid into --out (resumable)",
                        parents=[_plan_parent(), _config_parent(), device_parent(), json_parent()],
                        epilog="  python -m core pretrain grid run --out docs/results/pretrain_grid_cpu.json")
    gr.add_argument("--out", required=True, help="results file (JSON), rewritten after each run and metric")
    part = gr.add_mutually_exclusive_group()
    part.add_argument("--skip-metrics", action="store_true", help="train and evaluate only")
    part.add_argument("--metrics-only", action="store_true", help="score the metrics only (no training)")
    gr.set_defaults(func=_grid_run)
    gt = command_parser(gsub, "report", help="r^2 of alignment vs cross-entropy with a nested bootstrap, the figure",
                        parents=[json_parent()],
                        epilog="  python -m core pretrain grid report --results grid.json --figure grid.html --write")
    gt.add_argument("--results", required=True, help="the results file of grid run")
    gt.add_argument("--figure", default=None, help="write the grid figure (.html, .png, .svg)")
    gt.add_argument("--metric", default=None, help="the figure's metric (default t2v-head, else the first measured)")
    gt.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    gt.add_argument("--write", action="store_true", help="store the report in the results file")
    gt.set_defaults(func=_grid_report)


def _configs(args) -> int:
    from core.pretrain.config import CONFIGS

    rows = {n: c.to_dict() for n, c in CONFIGS.items()}
    text = "\n".join(f"{n:10s} {c.n_layer} layers, width {c.n_embd}, {c.n_head} heads, seq {c.seq_len}, batch "
                     f"{c.batch_size}, budget {c.budget_tokens:,} tokens, lr {c.learning_rate:g}" for n, c in CONFIGS.items())
    emit(args, rows, text)
    return 0


def _run(args) -> int:
    check_output, parse_list = cli_args.check_output, cli_args.parse_list
    from core.pretrain.run import pretrain

    cfg = _config_from(args)
    if args.seed < 0:
        raise AlignScopeError(f"--seed must be >= 0, got {args.seed}.", fix="pass e.g. --seed 0.")
    if args.out:
        check_output(args.out, option="--out", suffixes=(".json",))
    evals = parse_list(args.eval, option="--eval", example="news,gcide")
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    rec = pretrain(args.corpus, config=cfg, seed=args.seed, eval_corpora=evals, device=args.device,
                   eval_fraction=_eval_fraction(args), say=say, save_dir=args.save)
    rec["command"] = _command_line()
    if args.out:
        from core.paths import atomic_write

        atomic_write(args.out, json.dumps(rec, indent=1) + "\n")
    lines = [f"{rec['corpus']} seed {rec['seed']}: {rec['tokens_trained']:,} tokens in {rec['train_seconds']:.0f} s; "
             f"loss {rec['loss']['first']:.3f} -> {rec['loss']['last']:.3f} nats/token"]
    lines += [f"  {e}: {v['nats_per_token']:.4f} nats/token (ppl {v['ppl']:.1f}, {v['windows']} windows)"
              for e, v in rec["eval"].items()]
    emit(args, rec, "\n".join(lines))
    return 0


def _grid_plan(args) -> int:
    from core.pretrain.grid import check_plan, estimate_seconds, plan_runs

    plan = _plan_from(args)
    check_plan(plan)
    runs = plan_runs(plan)
    est = estimate_seconds(plan, tokens_per_second=args.tokens_per_second)
    payload = {"plan": plan.to_dict(), "runs": [r.__dict__ for r in runs], "estimate": est}
    text = "\n".join([f"{len(runs)} runs x {plan.config.tokens_trained:,} tokens ({plan.config.name}), "
                      f"{len(plan.eval_corpora)} evaluation corpora; expected {est['seconds'] / 60:.0f} min at "
                      f"{args.tokens_per_second:g} tokens/s"] + [f"  {r.corpus:40s} seed {r.seed}  {r.run_id}" for r in runs])
    emit(args, payload, text)
    return 0


def _grid_run(args) -> int:
    check_output = cli_args.check_output
    from core.pretrain.grid import run_grid

    plan = _plan_from(args)
    check_output(args.out, option="--out", suffixes=(".json",))
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    stats = run_grid(plan, out=args.out, device=args.device, say=say, metrics=not args.skip_metrics,
                     runs=not args.metrics_only, command=_command_line())
    emit(args, stats, f"{stats['computed_runs']} runs computed, {stats['skipped_runs']} already done; "
                      f"{stats['computed_metrics']} metric values computed, {stats['skipped_metrics']} already done "
                      f"({stats['seconds']:.0f} s); results in {args.out}")
    return 0


def _grid_report(args) -> int:
    from core.pretrain.grid import load_results, save_results
    from core.pretrain.stats import grid_report, report_text

    if args.n_boot < 100:
        raise AlignScopeError(f"--n-boot must be at least 100, got {args.n_boot}.", fix="pass e.g. --n-boot 2000.")
    if args.figure:
        check_output = cli_args.check_output

        check_output(args.figure, option="--figure", suffixes=(".html", ".png", ".svg"))
    results = load_results(args.results)
    rep = grid_report(results, n_boot=args.n_boot)
    if args.figure:
        from core.charts import save_figure
        from core.pretrain.figure import grid_figure

        save_figure(grid_figure(results, rep, metric=args.metric), args.figure)
        rep["figure"] = args.figure
    if args.write:
        results["report"] = rep
        save_results(args.results, results)
    emit(args, rep, report_text(rep))
    return 0
