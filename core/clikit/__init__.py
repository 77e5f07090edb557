"""The shared command-line kit: parent parsers, flag parsing and error rendering (no commands).

Every command module imports it: :mod:`core.cli`'s commands and each feature package's own
``cli.py`` (``core.finetune.cli``, ``core.validation.cli``...), so it sits below all of them, as
lm-evaluation-harness's shared parsers do; :mod:`core.cli` is the dispatcher above them.
"""
