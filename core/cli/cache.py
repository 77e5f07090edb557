"""``python -m core cache [stats|clear]``: the embedding cache under ``cache/``."""
from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import command_parser, emit, json_parent

EPILOG = """
  python -m core cache               # entries and size
  python -m core cache clear         # delete every cached embedding and batch
"""


def cmd_cache(args: argparse.Namespace) -> int:
    """Show the embedding cache's size, or clear it; returns the exit code."""
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    if args.action == "clear":
        n = store.clear()
        emit(args, {"cleared": n}, f"cleared {n} entries")
    else:
        s = store.stats()
        emit(args, s, f"{s['entries']} entries, {s['bytes'] / 2**20:.1f} MiB in {s['directory']}")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``cache`` to the ``python -m core`` parser."""
    p = command_parser(sub, "cache", help="embedding cache statistics or clearing", epilog=EPILOG,
                       parents=[json_parent()])
    p.add_argument("action", nargs="?", choices=["stats", "clear"], default="stats",
                   help="stats (default) or clear")
    p.set_defaults(func=cmd_cache)
