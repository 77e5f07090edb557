"""AlignScope command line: ``python -m core <command>``.

Commands (one module per group, each exposing ``add_commands(subparsers)``):

  corpora [list|install|add|remove|show]   the corpus registry              core.cli.corpora
  model prepare|info                       the probe network                core.cli.model
  embed / diversity / align                embeddings and coefficients      core.cli.coefficients
  cache stats|clear                        the embedding cache              core.cli.cache
  finetune / experiment / perplexity / results                              core.finetune.cli
  mix predict|suggest|save|list|show|export|verify                          core.mixture.cli
  validate plan|run|report|metrics                                          core.validation.cli
  jobs [list|cancel|log]                   background (detached) jobs       core.cli.jobs
  select run|methods|embed|compare|list    window-level data selection      core.cli.select
  report                                   HTML/PDF report of an analysis   core.cli.report
  metrics score|list                       the lab's alignment metrics      core.metrics.cli
  outcomes list|measure                    target-benchmark outcomes        core.outcomes.cli
  icl run|export                           the in-context (few-shot) condition  core.icl.cli
  predict                                  predicted outcome with an interval   core.validation.predict_cli
  deck list|show|add|remove|export         saved views for a talk       core.cli.deck
  design plan|run|report NAME              the lab's other designs (kinds, budget curves)  core.designs.cli
  pretrain                                 a small causal LM from random initialisation    core.pretrain.cli

The groups are the :data:`COMMANDS` registry (:class:`core.registry.Registry`); a feature package
adds its own with :func:`register_command_group` (or a line here) and is loaded lazily; a group
whose own module is absent is skipped. Shared options come from the parent parsers of
:mod:`core.clikit.common`. Every command takes ``--json``. Bad input exits with code 2 and one line
naming the input and the fix.
"""
from __future__ import annotations

import argparse
import importlib

from core.registry import Registry

#: Command groups: name -> ``"module:add_commands"``; ``order`` is their place in ``--help``.
COMMANDS = Registry("command group")
for _k, (_name, _target) in enumerate((("corpora", "core.cli.corpora:add_commands"),
                                       ("model", "core.cli.model:add_commands"),
                                       ("embed", "core.cli.coefficients:add_commands"),
                                       ("cache", "core.cli.cache:add_commands"),
                                       ("finetune", "core.finetune.cli:add_commands"),
                                       ("mix", "core.mixture.cli:add_commands"),
                                       ("validate", "core.validation.cli:add_commands"),
                                       ("jobs", "core.cli.jobs:add_commands"),
                                       ("select", "core.cli.select:add_commands"),
                                       ("report", "core.cli.report:add_commands"),
                                       ("metrics", "core.metrics.cli:add_commands"),
                                       ("outcomes", "core.outcomes.cli:add_commands"),
                                       ("icl", "core.icl.cli:add_commands"),
                                       ("predict", "core.validation.predict_cli:add_commands"),
                                       ("deck", "core.cli.deck:add_commands"),
                                       ("design", "core.designs.cli:add_commands"),
                                       ("pretrain", "core.pretrain.cli:add_commands"))):
    COMMANDS.register(_name, _target, order=_k)


def register_command_group(name: str, target: str) -> None:
    """Add a command group: ``target`` is ``"module:add_commands"``, called with the subparsers."""
    COMMANDS.register(name, target, order=len(COMMANDS))


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core`` parser with every registered command group."""
    from core.clikit.common import OneLineParser

    parser = OneLineParser(prog="python -m core",
                           description="AlignScope: Task2Vec diversity and alignment of corpora.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in sorted(COMMANDS.names(), key=lambda n: COMMANDS.meta(n)["order"]):
        module_name = COMMANDS.target(name).partition(":")[0]
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as exc:   # an optional feature package that is not there
            if exc.name not in (module_name, module_name.rsplit(".", 1)[0]):
                raise
            continue
        COMMANDS.get(name)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    from core.clikit.common import run_command

    return run_command(build_parser(), argv)
