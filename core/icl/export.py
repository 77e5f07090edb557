"""Export a condition point's prompts and references as JSONL, to take the chosen demonstrations to any model.

One JSON object per line and problem (:func:`prompt_rows`):

- ``problem_id``, ``prompt`` (text: demonstrations and separators, then the problem's context),
  ``reference`` (the completion text that ``af-nll`` scores, with its leading space);
- ``demonstrations``: ``[{"demo_id", "doc_id", "offset"}]`` in prompt order (provenance in the source);
- ``demo_tokens`` (budget tokens taken, separators included), ``fitted`` (how many);
- ``prompt_ids`` / ``reference_ids``: the exact token ids scored here (each piece tokenised on its
  own, :mod:`core.icl.prompts`), with the ``tokenizer`` fingerprint they belong to;
- the condition point: ``target``, ``source``, ``selector``, ``k``, ``budget_tokens``, ``seed``, ``format``.

The output path is checked (:func:`check_out_path`) before any work and written atomically.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import AlignScopeError, opt

if TYPE_CHECKING:
    from core.icl.run import IclPlan


def check_out_path(path: str | Path) -> Path:
    """Validate an output file path before any work: its folder exists and is writable, and the path
    is not a folder.

    Returns:
        The path.

    Raises:
        AlignScopeError: a folder stands at the path, the parent folder is missing (or is a file), or
            a probe file cannot be created in it.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise AlignScopeError(f"Output {opt('out', str(path))} is a folder.", fix=f"give a file name, e.g. {opt('out', 'prompts.jsonl')}.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise AlignScopeError(f"The folder of output {opt('out', str(path))} does not exist (or is a file).",
                              fix=f"create {parent} first, or write elsewhere.")
    probe = parent / f".{p.name}.{os.getpid()}.probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise AlignScopeError(f"Output {opt('out', str(path))} cannot be written ({exc.strerror or exc}).",
                              fix="write to a folder you can write to.") from None
    return p


def prompt_rows(plan: IclPlan, *, tokenizer_fingerprint: str = "") -> list[dict]:
    """One JSON-able dict per problem of ``plan`` (module docstring), in the plan's order."""
    from core.icl.prompts import prompt_text

    rows = []
    for prompt, problem in zip(plan.prompts, plan.problems):
        demos = [plan.pool.demos[r] for r in prompt.rows]
        rows.append({"problem_id": problem.problem_id, "prompt": prompt_text(plan.pool, prompt, plan.fmt, problem),
                     "reference": plan.fmt.completion_text(problem),
                     "demonstrations": [{"demo_id": d.demo_id, "doc_id": d.doc_id, "offset": d.offset} for d in demos],
                     "demo_tokens": prompt.demo_tokens, "fitted": len(prompt.rows),
                     "prompt_ids": list(prompt.prefix + prompt.context), "reference_ids": list(prompt.completion),
                     "tokenizer": tokenizer_fingerprint, "target": plan.target, "source": plan.source,
                     "selector": plan.selector.name, "k": plan.k, "budget_tokens": plan.budget_tokens,
                     "seed": plan.seed, "format": plan.fmt.name})
    return rows


def write_prompts(plan: IclPlan, path: str | Path, *, tokenizer_fingerprint: str = "") -> int:
    """Write :func:`prompt_rows` of ``plan`` to ``path`` as JSONL (atomically); returns the rows written.

    Raises:
        AlignScopeError: the path cannot be written (:func:`check_out_path`).
    """
    from core.paths import atomic_write

    p = check_out_path(path)
    rows = prompt_rows(plan, tokenizer_fingerprint=tokenizer_fingerprint)
    atomic_write(p, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)
