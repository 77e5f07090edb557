"""``python -m core.corpora.demo list|install``: the demo pack on the command line."""
from __future__ import annotations

import argparse
import json
import sys
import time

from core.corpora.demo.base import INSTALL_CMD
from core.corpora.demo.catalogue import DEMO_SOURCES, demo_names, install_demo_corpora
from core.errors import CorpusError


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def _cmd_list(as_json: bool) -> int:
    rows = []
    for name in demo_names():
        src = DEMO_SOURCES[name]
        available = src.available()
        try:
            docs = src.document_count() if available else None
        except CorpusError:
            docs = None
        rows.append({"name": name, "domain": src.domain, "available": available, "docs": docs,
                     "source": src.source, "license": src.current_license(),
                     "install_hint": None if available else src.install_hint()})
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    header = ("name", "domain", "available", "docs", "license", "source")
    table = [header] + [(r["name"], r["domain"], "yes" if r["available"] else "no",
                         "-" if r["docs"] is None else str(r["docs"]), r["license"][:24], r["source"])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    missing = [r["name"] for r in rows if not r["available"]]
    if missing:
        print(f"\nnot installed: {', '.join(missing)}; run: {INSTALL_CMD} {' '.join(missing)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m core.corpora.demo``; returns the exit code.

    ``list [--json]``: name, domain, available, docs, license and source of each demo corpus.
    ``install [NAME ...] [--quiet]``: install (all by default); exit 1 if any is not installed,
    2 on bad input.
    """
    parser = argparse.ArgumentParser(prog="python -m core.corpora.demo",
                                     description="List or install AlignScope's demo corpora.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="show the demo corpora and whether they are installed")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_inst = sub.add_parser("install", help="install demo corpora (all when no name is given)")
    p_inst.add_argument("names", nargs="*", metavar="NAME")
    p_inst.add_argument("--quiet", action="store_true", help="print only the final summary")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args.json)
        t0 = time.time()
        results = install_demo_corpora(args.names or None, progress=not args.quiet)
        for name, status in results.items():
            print(f"{name}: {status}")
        print(f"done in {time.time() - t0:.1f} s")
        return 0 if all(s in ("installed", "already installed") for s in results.values()) else 1
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
