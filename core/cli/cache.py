"""``python -m core cache [stats|clear|verify]``: the embedding and metric caches under ``cache/``.

Only the rebuildable caches are touched: ``cache/embeddings`` (batch embeddings, token batches, corpus
statistics, distance blocks) and ``cache/metrics`` (alignment-metric values). Registered corpora,
mixtures, fine-tune results and models live elsewhere and are never read or removed here.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from core.clikit.common import command_parser, emit, json_parent
from core.errors import AlignScopeError

EPILOG = """
  python -m core cache                       # entries, size and orphaned files
  python -m core cache verify                # check every entry; remove bad ones
  python -m core cache verify --keep         # only report bad entries
  python -m core cache clear                 # asks first; deletes every cached embedding and batch
  python -m core cache clear --yes           # no question (scripts, CI)
  python -m core cache clear --store all     # also the metric cache
"""

#: ``--store`` choices -> folders under the cache root.
STORES = {"embeddings": ("embeddings",), "metrics": ("metrics",), "all": ("embeddings", "metrics")}


def _stores(which: str) -> list:
    from core.paths import cache_dir
    from core.store import EmbeddingStore

    return [EmbeddingStore(cache_dir(name)) for name in STORES[which]]


def _confirm(args: argparse.Namespace, prompt: str) -> bool:
    """True when ``--yes`` or the user types y; non-interactive without ``--yes`` is an error."""
    if args.yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        raise AlignScopeError("python -m core cache clear asks for confirmation, but no terminal is attached.",
                              fix="pass --yes to clear without asking.")
    print(f"{prompt} [y/N]", end=" ", file=sys.stderr, flush=True)      # stderr: --json output stays clean
    try:
        answer = input()
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def cmd_cache(args: argparse.Namespace) -> int:
    """Show the caches' size, verify their entries, or clear them (after confirmation); returns the exit code."""
    stores = _stores(args.store)
    if args.action == "clear":
        stats = [s.stats(orphans=True) for s in stores]
        what = "; ".join(f"{st['entries']} entries and {st['orphans']} orphaned files "
                         f"({(st['bytes'] + st['orphan_bytes']) / 2 ** 20:.1f} MiB) in {st['directory']}"
                         for st in stats)
        if not _confirm(args, f"Delete {what}? Registered corpora, mixtures and results are kept."):
            emit(args, {"cleared": 0, "cancelled": True}, "cancelled; nothing deleted")
            return 1
        out = [{"directory": st["directory"], "entries": s.clear(), "orphans": st["orphans"]}
               for s, st in zip(stores, stats)]
        n = sum(o["entries"] for o in out)
        emit(args, {"cleared": n, "orphans_removed": sum(o["orphans"] for o in out), "stores": out},
             "\n".join(f"cleared {o['entries']} entries and {o['orphans']} orphaned files in {o['directory']}"
                       for o in out))
    elif args.action == "verify":
        reports = [s.verify(remove=not args.keep).to_dict() for s in stores]
        lines = []
        for r in reports:
            lines.append(f"{r['directory']}: {r['checked']} entries checked, {r['bad']} bad"
                         + (" (removed; they are recomputed when next needed)" if r["bad"] and r["removed"] else ""))
            lines += [f"  {p['key'][:60]}  {p['file']}: {p['reason']}" for p in r["problems"]]
        emit(args, {"stores": reports, "checked": sum(r["checked"] for r in reports),
                    "bad": sum(r["bad"] for r in reports)}, "\n".join(lines))
    else:
        stats = [s.stats(orphans=True) for s in stores]
        payload = dict(stats[0])
        if len(stats) > 1:
            payload["stores"] = stats
        emit(args, payload, "\n".join(f"{st['entries']} entries, {st['bytes'] / 2 ** 20:.1f} MiB in {st['directory']}"
                                      + (f" ({st['orphans']} orphaned files, {st['orphan_bytes'] / 2 ** 20:.1f} MiB:"
                                         " python -m core cache clear removes them)" if st["orphans"] else "")
                                      for st in stats))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``cache`` to the ``python -m core`` parser."""
    p = command_parser(sub, "cache", help="cache statistics, verification or clearing", epilog=EPILOG,
                       parents=[json_parent()])
    p.add_argument("action", nargs="?", choices=["stats", "clear", "verify"], default="stats",
                   help="stats (default): entries, size, orphaned files; verify: check every entry (decodable, "
                        "shape, dtype, finite) and remove bad ones; clear: delete every entry and orphaned file")
    p.add_argument("--store", choices=sorted(STORES), default="embeddings",
                   help="which cache: embeddings (default: batch embeddings, batches, statistics, distance "
                        "blocks), metrics (alignment-metric values) or all")
    p.add_argument("--yes", "-y", action="store_true", help="clear without asking for confirmation")
    p.add_argument("--keep", action="store_true", help="verify: report bad entries without removing them")
    p.set_defaults(func=cmd_cache)
