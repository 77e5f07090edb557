"""``python -m core corpora [list|install|add|remove|show|count]``: the corpus registry."""
from __future__ import annotations

import argparse
from typing import Any

from core.clikit.args import int_range
from core.clikit.common import command_parser, emit, json_parent, model_parent
from core.errors import AlignScopeError

EPILOG = """
  python -m core corpora                                   # list, with documents and tokens
  python -m core corpora install                           # the demo pack
  python -m core corpora add notes --path 'data/notes/*.md' --domain maths
  python -m core corpora add gsm --hf openai/gsm8k --config main --split test --template '{question} {answer}'
  python -m core corpora show proofnet --samples 2
  python -m core corpora count                             # exact token counts, cached (setup runs it)
  python -m core corpora remove notes
"""


def cmd_corpora(args: argparse.Namespace) -> int:
    """List, install, add, remove, show or count corpora; returns the exit code."""
    from core.corpora import install_demo_corpora

    action = args.action or "list"
    if action == "install":
        result = install_demo_corpora(args.names or None, progress=not args.json)
        emit(args, result, "\n".join(f"{k:20s} {v}" for k, v in result.items()))
        return 0 if all(not v.startswith("not installed") for v in result.values()) or args.allow_missing else 1
    return {"add": _add, "remove": _remove, "show": _show, "list": _list, "count": _count}[action](args)


def _add(args: argparse.Namespace) -> int:
    from core.corpora import CorpusSpec, register_corpus

    if not args.names:
        raise AlignScopeError("corpora add needs a NAME.", fix="python -m core corpora add NAME --path 'data/*.txt'")
    if bool(args.path) == bool(args.hf):
        raise AlignScopeError("corpora add needs exactly one of --path or --hf.",
                              fix="give a local file/folder/glob with --path, or a dataset id with --hf.")
    if args.derived_from is not None:
        _check_benchmark(args.derived_from)
    spec = CorpusSpec(name=args.names[0], kind="files" if args.path else "hf", path=args.path, field=args.field,
                      template=args.template, hf_id=args.hf, hf_config=args.config, split=args.split,
                      domain=args.domain, description=args.description or "", license=args.license or "unknown",
                      source=args.path or args.hf, derived_from=args.derived_from)
    c = register_corpus(spec, overwrite=args.overwrite)
    docs = c.documents()
    if not args.json:
        import sys

        for w in c.warnings:                   # skipped files, files resolving outside the folder given...
            print(f"warning: {w}", file=sys.stderr)
    emit(args, {"added": c.name, "documents": len(docs), "warnings": list(c.warnings)},
         f"added {c.name}: {len(docs)} documents")
    return 0


def _check_benchmark(name: str) -> None:
    """``--derived-from``: a target benchmark that is registered (a corpus of domain ``target benchmark``,
    or the benchmark such a corpus declares it belongs to).

    Raises:
        AlignScopeError: naming the value and the benchmarks there are.
    """
    from core.corpora import list_corpora

    benches = sorted({c.spec.derived_from or c.name for c in list_corpora() if c.spec.domain == "target benchmark"})
    if name not in benches:
        raise AlignScopeError(f"--derived-from {name!r} is not a registered target benchmark.",
                              fix=f"use one of: {', '.join(benches) or '(none registered)'}.")


def _remove(args: argparse.Namespace) -> int:
    from core.corpora import unregister_corpus

    for n in args.names:
        unregister_corpus(n)
    emit(args, {"removed": args.names}, "removed " + ", ".join(args.names))
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.corpora import get_corpus

    if not args.names:
        raise AlignScopeError("corpora show needs a NAME.", fix="python -m core corpora show proofnet")
    from core.corpora.contamination import MAX_FRACTION, NGRAM, contamination_report

    corpus = get_corpus(args.names[0])
    docs = corpus.documents()[: args.samples]
    report = contamination_report(corpus)
    lines = [f"contamination check ({NGRAM}-gram overlap and exact normalised matches with every benchmark's "
             f"held-out split; refused above {MAX_FRACTION:.0%}):"]
    tag = {(True, True): "CONTAMINATED ", (False, True): "derived from the benchmark by content: "}
    lines += [f"  {tag.get((o.contaminated, o.derived), '')}{o.summary()}"
              + (f" (e.g. {', '.join(o.examples)})" if o.examples else "") for o in report.overlaps]
    if not report.overlaps:
        lines.append("  no other benchmark to compare with (it is a held-out split itself)"
                     if corpus.spec.domain == "target benchmark" else "  no benchmark held-out split installed")
    emit(args, {"documents": [{"doc_id": d.doc_id, "text": d.text[:1000]} for d in docs],
                "contamination": report.to_dict()},
         "\n".join(lines) + "\n\n" + "\n\n".join(f"--- {d.doc_id}\n{d.text[:600]}" for d in docs))
    return 0


def _list(args: argparse.Namespace) -> int:
    from core.corpus_counts import format_tokens, listing

    rows, _ = listing(args.names or None, model=args.model, tokens=not args.no_tokens, background=False,
                      progress=not args.json)
    lines = [f"{'name':20s} {'domain':16s} {'avail':5s} {'docs':>7s} {'tokens':>12s}  license / source"]
    for r in rows:
        size = (f"{r['documents'] or '':>7} {format_tokens(r):>12}" if r["available"] else f"{'-':>7} {'-':>12}")
        extra = f"{r['license']} / {r['source']}" if r["available"] else f"NOT INSTALLED: {r['install']}"
        lines.append(f"{r['name']:20s} {r['domain'][:16]:16s} {'yes' if r['available'] else 'no':5s} {size}  {extra}"
                     + (f"  ({r['error']})" if r.get("error") else ""))
    if any(r.get("tokens_estimated") for r in rows):
        lines.append("≈: estimated from a sample (± its relative standard error); "
                     "python -m core corpora count gives exact counts.")
    emit(args, rows, "\n".join(lines))
    return 0


def _count(args: argparse.Namespace) -> int:
    from core.corpus_counts import count_corpora

    out = count_corpora(args.names or None, model=args.model, progress=not args.json)
    emit(args, out, "\n".join(f"{n:20s} " + (v["error"] if "error" in v else f"{v['documents']:>7,} documents "
                                                f"{v['tokens']:>12,} tokens") for n, v in out.items()))
    return 1 if any("error" in v for v in out.values()) else 0


def add_commands(sub: Any) -> None:
    """Add ``corpora`` to the ``python -m core`` parser."""
    p = command_parser(sub, "corpora", help="list / install / add / remove / show / count corpora", epilog=EPILOG,
                       parents=[model_parent(help="probe network whose tokenizer counts the tokens in the listing"),
                                json_parent()])
    p.add_argument("action", nargs="?", choices=["list", "install", "add", "remove", "show", "count"], default="list",
                   help="what to do (default list)")
    p.add_argument("names", nargs="*", help="corpus names (install: demo corpora, default all; list/count: default all; add/show: one)")
    a = p.add_argument_group("add")
    a.add_argument("--path", help="local file, folder or glob (.txt, .md, .jsonl, .json, .csv, .parquet...)")
    a.add_argument("--hf", help="Hugging Face dataset id (instead of --path)")
    a.add_argument("--config", help="dataset configuration (with --hf)")
    a.add_argument("--split", help="dataset split (with --hf)")
    a.add_argument("--field", help="column/key holding the text in tabular or JSON files and datasets")
    a.add_argument("--template", help="Python format string over columns, e.g. '{question} {answer}' (instead of --field)")
    a.add_argument("--domain", default="custom", help="domain label shown in the dashboard (default custom)")
    a.add_argument("--description", help="one-line description")
    a.add_argument("--derived-from", metavar="BENCHMARK",
                   help="the target benchmark this corpus is derived from (another split or view of it); the "
                        "validation lab reports its statistics with and without such corpora")
    a.add_argument("--license", help="license of the data (default unknown)")
    a.add_argument("--overwrite", action="store_true", help="replace a registered corpus of the same name")
    p.add_argument("--samples", type=int_range(0, 10_000), default=3,
                   help="show: how many documents to print, 0 to 10000 (default 3)")
    p.add_argument("--no-tokens", action="store_true", help="skip token counting in the listing")
    p.add_argument("--allow-missing", action="store_true", help="install: exit 0 even if some corpora could not be installed")
    p.set_defaults(func=cmd_corpora)
