"""``python -m core model [prepare|info]``: the probe network."""
from __future__ import annotations

import argparse
from typing import Any

from core.clikit.common import command_parser, device_parent, emit, json_parent, model_parent

EPILOG = """
  python -m core model prepare          # convert the embedded probe network once
  python -m core model info --json      # its identity: fingerprints, layers, parameters
"""


def cmd_model(args: argparse.Namespace) -> int:
    """Prepare the embedded probe network, or describe one; returns the exit code."""
    from core.probe import embedded_model_dir, load_probe

    if args.action == "prepare":
        folder = embedded_model_dir()
        emit(args, {"folder": str(folder)}, f"embedded probe network ready in {folder}")
        return 0
    p = load_probe(args.model, device=args.device)
    info = {"name": p.name, "source": p.source_path, "fingerprint": p.fingerprint,
            "tokenizer_fingerprint": p.tokenizer_fingerprint, "device": str(p.device), **p.info}
    emit(args, info, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``model`` to the ``python -m core`` parser."""
    p = command_parser(sub, "model", help="prepare or describe the probe network", epilog=EPILOG,
                       parents=[model_parent(), device_parent(threads=False), json_parent()])
    p.add_argument("action", nargs="?", choices=["prepare", "info"], default="info",
                   help="prepare: convert the embedded probe network; info: describe --model (default)")
    p.set_defaults(func=cmd_model)
