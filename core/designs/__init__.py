"""Lab designs beyond the validation lab's alignment-vs-outcome fit (issue 23).

Each design is a plan of fine-tunes (and in-context points) run through the product's own launcher
(:func:`core.finetune.runner.run_finetune`, :func:`core.icl.run.run_icl`), resumable, with an atomic
results JSON written after every run, a summary with bootstrap CIs and a plotly figure:

- ``kinds`` (:mod:`core.designs.kinds`): from one pair-format corpus, four kinds of data at one token
  budget: ``paired``, ``unpaired`` (the same halves re-paired by a seeded derangement: the alignment
  paper's AF-split control), ``formal-only``, ``informal-only``.
- ``budget`` (:mod:`core.designs.budget_curves`): outcome vs training tokens per source, and "how many
  tokens of source B match N tokens of source A?" by interpolation on the curves.

Modules: :mod:`~core.designs.pairs` (how a pair document splits into halves), :mod:`~core.designs.kinds`
(the four variants as registered derived corpora), :mod:`~core.designs.budget_curves` (curve maths,
interpolation, bootstrap), :mod:`~core.designs.outcomes` (per-problem outcomes of runs: capture,
storage, pooling over seeds), :mod:`~core.designs.plan` (the designs, their runs, expected time),
:mod:`~core.designs.run` (resumable execution), :mod:`~core.designs.report` (summary and figures),
:mod:`~core.designs.cli` (``python -m core design plan|run|report kinds|budget``).

Source of both designs: Chawla et al., "Quantifying the Importance of Data Alignment in Downstream
Model Performance" (AF-split: paired vs unpaired statements; size vs alignment: a small aligned
dataset vs a larger misaligned one).
"""
