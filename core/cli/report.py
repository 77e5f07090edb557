"""``python -m core report``: the one-click report (self-contained HTML, optional PDF) from the cache."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from core.clikit.common import command_parser, embedding_parents, emit, json_parent, settings_from_args, split

EPILOG = """
  python -m core report --target proofnet --sources coq-stdlib,metamath,wikipedia
  python -m core report --target proofnet --sources coq-stdlib,metamath --out meeting.html --pdf
  python -m core report --target proofnet --sources metamath,news --mixture my-mix --no-lab --json
"""


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report of ``--target`` and ``--sources`` (cached embeddings, saved mixture,
    fine-tune runs, validation lab) to ``--out`` (HTML) and, with ``--pdf``, next to it as PDF."""
    from core.corpora import get_corpus
    from core.errors import AlignScopeError
    from core.paths import atomic_write
    from core.report import collect, html_to_pdf, render_html

    from core.clikit.args import check_output

    # every input and the output first, before any work (embeddings, the lab, the PDF)
    out = check_output(args.out if args.out is not None else f"alignscope-report-{args.target}.html", option="--out",
                       suffixes=(".html", ".htm"))
    if args.pdf:
        check_output(out.with_suffix(".pdf"), option="--pdf (beside --out)")
    settings = settings_from_args(args)
    sources = split(args.sources, "--sources")
    if not sources:
        raise AlignScopeError("--sources names no corpus.", fix="pass --sources a,b (comma-separated corpus names).")
    if args.target in sources:
        raise AlignScopeError(f"--sources names the target {args.target!r}: a benchmark is not a candidate source "
                              "for itself.", fix="leave it out of --sources.")
    for name in [args.target, *sources]:
        get_corpus(name)                                   # unknown names fail here, before any work
    t0 = time.perf_counter()
    data = collect(args.target, sources, settings, mixture=args.mixture, lab=not args.no_lab)
    atomic_write(out, render_html(data))
    pdf = html_to_pdf(out, out.with_suffix(".pdf")) if args.pdf else None
    seconds = time.perf_counter() - t0
    payload = {"html": str(out), "pdf": str(pdf) if pdf else None, "seconds": round(seconds, 2),
               "missing": data.missing, "notes": data.notes, "ranking": [r["source"] for r in data.ranking],
               "mixture": (data.mixture or {}).get("name"), "runs": len(data.runs),
               "leaderboard": len(data.leaderboard)}
    text = [f"report: {out}" + (f" and {pdf}" if pdf else "") + f" ({seconds:.1f} s)"]
    text += [f"note: {n}" for n in data.notes]
    emit(args, payload, "\n".join(text))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``report`` to the ``python -m core`` parser."""
    p = command_parser(sub, "report", help="self-contained HTML (and PDF) report of an analysis, from the cache",
                       epilog=EPILOG, parents=[*embedding_parents(), json_parent()])
    p.add_argument("--target", required=True, help="target benchmark corpus (e.g. proofnet)")
    p.add_argument("--sources", required=True, help="comma-separated candidate corpora")
    p.add_argument("--out", help="HTML file to write (default alignscope-report-TARGET.html)")
    p.add_argument("--pdf", action="store_true", help="also print it to PDF beside the HTML (Chromium)")
    p.add_argument("--mixture", help="saved mixture to report (default: the newest one saved for the target)")
    p.add_argument("--no-lab", action="store_true", help="leave out the validation-lab leaderboard")
    p.set_defaults(func=cmd_report)
