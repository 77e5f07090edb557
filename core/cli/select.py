"""``python -m core select run|methods|embed|compare|list``: window-level data selection (core.selection).

select run      choose the windows of a pool most useful for a target within a token budget
select methods  list the selection methods
select embed    compute (and cache) the per-window Task2Vec embeddings of a pool
select compare  head-to-head: every method x seed selected, fine-tuned and evaluated (resumable)
select list     saved selections (each is a corpus: python -m core finetune --source NAME)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core.clikit.args import seed
from core.clikit.common import (command_parser, device_parent, emit, engine_parent, json_parent, model_parent,
                             positive_int, split)

EPILOG_RUN = """
  python -m core select run --target proofnet --pool coq-stdlib,wikipedia,python-stdlib --budget 4000 --method t2v-greedy
  python -m core select run --target proofnet --pool coq-stdlib,news --budget 2000 --method dsir --export sel.jsonl --json
  python -m core select run --target proofnet --pool coq-stdlib,news --budget 4000 --method t2v-topk --save my-sel
  python -m core finetune --source my-sel --target proofnet
"""
EPILOG_COMPARE = """
  python -m core select compare                       # the committed experiment (resumable)
  python -m core select compare --methods random,dsir,t2v-greedy --seeds 0 --limit 2
  python -m core select compare --report              # print the table of docs/results/selection_compare.json
"""
DEFAULT_OUT = "docs/results/selection_compare.json"


def _pool_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = p.add_argument_group("pool")
    g.add_argument("--target", default="proofnet", help="target benchmark (default proofnet; its test split is never selected)")
    g.add_argument("--pool", required=required, help="comma-separated registered corpora to select windows from")
    g.add_argument("--max-windows", type=positive_int, default=None,
                   help="cap on the pool's windows, all corpora together (default 2400)")
    g.add_argument("--seq-len", type=positive_int, default=128, help="tokens per window (default 128)")
    g.add_argument("--pool-seed", type=seed, default=0, help="pool sampling seed (default 0)")
    g.add_argument("--include-derived", action="store_true",
                   help="keep corpora derived from the target benchmark (e.g. proofnet-valid); left out by default")


def _pool_config(args):
    from core.selection.pool import DEFAULT_MAX_WINDOWS, PoolConfig

    return PoolConfig(corpora=tuple(split(args.pool, "--pool")), target=args.target,
                      max_windows=args.max_windows or DEFAULT_MAX_WINDOWS, seq_len=args.seq_len, seed=args.pool_seed,
                      include_derived=args.include_derived)


def _settings(args):
    from core.settings import EmbedSettings

    return EmbedSettings(model=args.model, device=args.device)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``select`` and its subcommands to the ``python -m core`` parser."""
    p = subparsers.add_parser("select", help="window-level data selection from a pool (Task2Vec, DSIR, ZIP-FIT, ...)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="examples:\n" + EPILOG_RUN.strip("\n"))
    sub = p.add_subparsers(dest="select_cmd", metavar="run|methods|embed|compare|list", required=True)
    common = [json_parent(), model_parent(title="probe network"), device_parent(), engine_parent()]

    r = command_parser(sub, "run", help="select the windows of a pool most useful for a target, within a token budget",
                       epilog=EPILOG_RUN, parents=common)
    _pool_args(r)
    r.add_argument("--budget", type=int, required=True, help="tokens to select")
    r.add_argument("--method", default="t2v-greedy", help="selection method (python -m core select methods; default t2v-greedy)")
    r.add_argument("--seed", type=seed, default=0, help="method seed (random order, DSIR noise; default 0)")
    r.add_argument("--max-share", type=float, default=None, help="cap on one corpus's share of the budget, in (0, 1]")
    r.add_argument("--save", default=None, metavar="NAME", help="save the selection as corpus NAME (fine-tune it with --source NAME)")
    r.add_argument("--export", default=None, metavar="FILE", help="write the selection as JSONL (provenance, score, text)")
    r.add_argument("--show", type=int, default=10, help="windows listed in text output (default 10)")
    r.set_defaults(func=cmd_run)

    m = command_parser(sub, "methods", help="list the selection methods", parents=[json_parent()],
                       epilog="  python -m core select methods\n")
    m.set_defaults(func=cmd_methods)

    e = command_parser(sub, "embed", help="compute and cache the per-window Task2Vec embeddings of a pool",
                       epilog="  python -m core select embed --pool coq-stdlib,wikipedia --max-windows 800\n", parents=common)
    _pool_args(e)
    e.set_defaults(func=cmd_embed)

    c = command_parser(sub, "compare", help="head-to-head of selection methods: select, fine-tune, evaluate (resumable)",
                       epilog=EPILOG_COMPARE, parents=[json_parent(), engine_parent()])
    c.add_argument("--methods", default=None, help="comma-separated methods (default: all seven)")
    c.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    c.add_argument("--pool", default=None, help="pool corpora (default: the 16 demo corpora but the target's test split)")
    c.add_argument("--max-windows", type=positive_int, default=None, help="pool cap (default 1600)")
    c.add_argument("--budget", type=positive_int, default=None, help="tokens per selection (default 4000, the lab's 4k regime)")
    c.add_argument("--limit", type=positive_int, default=None, help="run at most N new fine-tunes, then stop")
    c.add_argument("--out", default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})")
    c.add_argument("--report", action="store_true", help="print the table of an existing results file, run nothing")
    c.add_argument("--select-only", action="store_true",
                   help="make and save every selection (alignment, composition, time) without fine-tuning; may run "
                        "beside a fine-tuning comparison")
    c.add_argument("--figure", default=None, metavar="FILE", help="also write the comparison figure (.png/.html)")
    c.set_defaults(func=cmd_compare)

    ls = command_parser(sub, "list", help="saved selections", parents=[json_parent()],
                        epilog="  python -m core select list\n")
    ls.set_defaults(func=cmd_list)


def _seed_items(items: list[str]) -> list[int]:
    """``["0", "1"]`` -> ``[0, 1]``: the items of ``--seeds``, each an integer seed in ``[0, 2**32-1]``.

    Raises:
        AlignScopeError: an item that is not such an integer, naming ``--seeds``.
    """
    from core.clikit.args import SEED_MAX
    from core.errors import AlignScopeError

    out = []
    for s in items:
        try:
            v = int(s)
        except ValueError:
            v = None
        if v is None or not 0 <= v <= SEED_MAX:
            raise AlignScopeError(f"--seeds item {s!r} is not an integer seed in [0, {SEED_MAX}].",
                                  fix="pass --seeds 0,1,2.")
        out.append(v)
    return out


def cmd_methods(args: argparse.Namespace) -> int:
    from core.selection.base import SELECTION_METHODS

    rows = []
    for name in SELECTION_METHODS.names():
        cls = SELECTION_METHODS.get(name)
        rows.append({"name": name, "needs": cls.needs, "score": cls.score_name, "description": cls.description,
                     "aliases": SELECTION_METHODS.aliases(name)})
    text = "\n".join(f"{r['name']:<12} [{r['needs']}] {r['description']}" for r in rows)
    emit(args, rows, text)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from core.probe import load_probe
    from core.selection.export import save_selection, write_jsonl
    from core.selection.pool import load_pool
    from core.selection.select import run_selection, validate_request, with_texts

    from core.clikit.args import check_output

    cfg = _pool_config(args)
    validate_request(method=args.method, budget=args.budget, pool_config=cfg, max_share=args.max_share)
    if args.export is not None:
        check_output(args.export, option="--export")          # writable, before the work
    if args.save:
        from core.corpora.spec import CorpusSpec, validate_spec

        validate_spec(CorpusSpec(name=args.save, kind="files", path="."))     # bad --save name: before the work
    settings = _settings(args)
    probe = load_probe(settings.model, device=settings.device, progress=False)
    pool = load_pool(cfg, probe)
    res = run_selection(method=args.method, target=args.target, pool_config=cfg, budget=args.budget, settings=settings,
                        seed=args.seed, max_share=args.max_share, pool=pool)
    res = with_texts(res, pool, probe.tokenizer)
    saved = str(save_selection(res, args.save).name) if args.save else None
    exported = str(write_jsonl(res, args.export)) if args.export else None
    payload = {**res.to_dict(), "saved": saved, "exported": exported}
    a = res.alignment
    ci = f" [{a['ci_low']:.4f}, {a['ci_high']:.4f}]" if a.get("ci_low") is not None else ""
    lines = [f"{res.method}: {len(res.windows)} windows, {res.tokens} tokens of {res.pool['windows']} pool windows "
             f"({res.pool['tokens']:,} tokens); alignment with {res.target} {a['value']:.4f}{ci}; {res.seconds:.1f} s",
             "composition: " + ", ".join(f"{c} {t}" for c, t in sorted(res.composition.items(), key=lambda kv: -kv[1]))]
    for w in res.windows[:args.show]:
        lines.append(f"  {w['score']:.4f}  {w['corpus']}:{w['doc_id']}@{w['offset']}  {w['text'][:60]!r}")
    if saved:
        lines.append(f"saved as corpus {saved!r}: python -m core finetune --source {saved} --target {res.target}")
    if exported:
        lines.append(f"exported to {exported}")
    emit(args, payload, "\n".join(lines))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from core.probe import load_probe
    from core.selection.embed import embed_windows
    from core.selection.pool import load_pool
    from core.selection.select import validate_request

    cfg = _pool_config(args)
    validate_request(method="t2v-topk", budget=1, pool_config=cfg)
    settings = _settings(args)
    pool = load_pool(cfg, load_probe(settings.model, device=settings.device, progress=False))
    we = embed_windows(pool, settings, progress=None if args.json else
                       (lambda d, n, m: print(f"{d}/{n} windows: {m}", flush=True)))
    payload = {"windows": len(pool), "computed": we.computed, "cached": we.cached, "seconds": we.seconds,
               "tokens": int(pool.tokens.sum()), "dims": int(we.embeddings.shape[1])}
    emit(args, payload, f"{len(pool)} windows: {we.computed} computed, {we.cached} cached in {we.seconds:.0f} s")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from core.finetune.compare import CompareConfig, load_results, run_compare
    from core.selection.report import compare_table, save_compare_figure

    from core.clikit.args import check_output

    if args.report:
        out = Path(args.out)
    else:
        out = check_output(args.out, option="--out")
    if args.figure is not None:
        check_output(args.figure, option="--figure")
    if not args.report:
        d = CompareConfig()
        seeds = tuple(_seed_items(split(args.seeds, "--seeds")))
        cfg = CompareConfig(methods=tuple(split(args.methods, "--methods")) or d.methods, seeds=seeds or d.seeds,
                            pool=tuple(split(args.pool, "--pool")) or d.pool, max_windows=args.max_windows or d.max_windows,
                            budget=args.budget or d.budget)
        run_compare(cfg, out=out, limit=args.limit, say=(lambda m: None) if args.json else print,
                    select_only=args.select_only)
    res = load_results(out)
    if args.figure:
        save_compare_figure(res, args.figure)
    emit(args, res, compare_table(res))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from core.selection.export import list_selections, load_selection

    rows = []
    for n in list_selections():
        s = load_selection(n)
        rows.append({"name": n, "method": s.get("method"), "tokens": s.get("tokens"), "target": s.get("target"),
                     "alignment": (s.get("alignment") or {}).get("value")})
    text = "\n".join(f"{r['name']:<40} {r['method']:<12} {r['tokens']:>6} tokens  alignment {r['alignment']}"
                     for r in rows) or "no saved selection (python -m core select run ... --save NAME)"
    emit(args, rows, text)
    return 0
