"""Prompts of the in-context condition: demonstrations, a fixed separator, then the problem's context.

For problem ``i`` with demonstrations ``d_1 .. d_m`` (prompt order, best-ranked last) the scored
sequence is, as token ids,

    prefix_i     = ids(d_1) + sep + ids(d_2) + sep + ... + ids(d_m) + sep
    context_i    = ids(condition_template(informal statement))        (the target's pair format)
    completion_i = ids(completion_template(reference formal statement))

and only ``completion_i`` is scored (:func:`core.outcomes.nll.completion_nll`). Each piece is
tokenised on its own (no special tokens), so the prompt a model sees is exactly these ids; the text
of a prompt (:func:`prompt_text`) is the pieces joined, ``sep.join(texts) + sep + context``
(re-tokenising that text may merge a token across a boundary, which is why the export also carries
the ids). ``m = 0`` (zero-shot) gives an empty prefix: the ``af-nll`` outcome itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.icl.budget import DemoChoice
    from core.icl.demos import DemoPool
    from core.outcomes.problems import PairFormat, PairProblem


@dataclass(frozen=True)
class IclPrompt:
    """One problem's prompt as token ids.

    Attributes:
        problem_id: the target problem.  rows: pool rows of its demonstrations, prompt order.
        demo_ids: their ``Demonstration.demo_id``.  demo_tokens: budget tokens they take (with separators).
        prefix: int token ids of the demonstrations and separators.  context, completion: the problem's
            ids (``core.outcomes.problems.encode_problem``); only ``completion`` is scored.
    """

    problem_id: str
    rows: tuple[int, ...]
    demo_ids: tuple[str, ...]
    demo_tokens: int
    prefix: tuple[int, ...]
    context: tuple[int, ...]
    completion: tuple[int, ...]

    @property
    def length(self) -> int:
        """Tokens of the whole scored sequence (prefix + context + completion)."""
        return len(self.prefix) + len(self.context) + len(self.completion)


def build_prompts(pool: DemoPool, choices: Sequence[DemoChoice], problems: Sequence[PairProblem], fmt: PairFormat,
                  tokenizer: PreTrainedTokenizerBase) -> list[IclPrompt]:
    """The :class:`IclPrompt` of every problem (``choices[i]`` belongs to ``problems[i]``).

    Raises:
        AlignScopeError: ``choices`` and ``problems`` differ in length.  CorpusError: a problem whose
            context or completion tokenises to nothing.
    """
    from core.errors import AlignScopeError
    from core.outcomes.problems import encode_problem

    if len(choices) != len(problems):
        raise AlignScopeError(f"{len(choices)} demonstration choices for {len(problems)} problems.",
                              fix="pass one choice per problem.")
    sep = list(pool.separator_ids)
    out = []
    for choice, p in zip(choices, problems):
        prefix: list[int] = []
        for r in choice.rows:
            prefix += list(pool.demos[r].ids) + sep
        context, completion = encode_problem(tokenizer, fmt, p)
        out.append(IclPrompt(problem_id=p.problem_id, rows=tuple(choice.rows),
                             demo_ids=tuple(pool.demos[r].demo_id for r in choice.rows), demo_tokens=len(prefix),
                             prefix=tuple(prefix), context=tuple(context), completion=tuple(completion)))
    return out


def prompt_text(pool: DemoPool, prompt: IclPrompt, fmt: PairFormat, problem: PairProblem) -> str:
    """The prompt's text: the demonstrations' texts and the problem's context, each followed by or
    joined with the pool's separator (module docstring)."""
    sep = pool.config.separator
    return "".join(pool.demos[r].text + sep for r in prompt.rows) + fmt.context_text(problem)
