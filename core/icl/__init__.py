"""The in-context (few-shot) condition: demonstrations from a source, then a target problem; outcome ``af-nll``.

- :mod:`core.icl.demos`: a source's candidate demonstrations (pairs in the target's format, or token
  windows), the test-split guard (:func:`~core.icl.demos.check_demo_source`).
- :mod:`core.icl.budget`: the fixed context budget in tokens (first fit over a ranking).
- :mod:`core.icl.selectors`: the ``DEMO_SELECTORS`` registry (``random``, ``t2v``, ``sbert``, ``bm25``, ``unigram``).
- :mod:`core.icl.prompts`: prompts as token ids and text.
- :mod:`core.icl.run`: :func:`~core.icl.run.run_icl` -> :class:`~core.icl.result.IclResult` (cached), ``plan_icl``.
- :mod:`core.icl.export`: the chosen prompts and references as JSONL.
- :mod:`core.icl.cli`: ``python -m core icl run|export|selectors``.

See docs/icl.md. Importing this package does not import torch.
"""
