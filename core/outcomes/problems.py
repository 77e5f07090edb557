"""The problems of a target benchmark in pair format: a condition (the informal statement) and the
completion a model should produce from it (the formal statement).

A :class:`PairFormat` is the fixed template that turns a problem into text: the context is
``condition_template`` with ``{condition}`` filled in, the completion is ``completion_template``
with ``{completion}`` filled in, and ``context + completion`` is exactly one document of the
benchmark's pair-format corpus. For ProofNet that is the alignment paper's pair template
``"informal statement {nl} formal statement {fl}"`` (``core/corpora/demo``, corpus ``proofnet``), so
``condition_template = "informal statement {condition} formal statement"`` and
``completion_template = " {completion}"``. The format also carries the stop rule of generation
(ProofNet: a Lean 3 formal statement ends at ``:=``, where its proof would begin).

Pair formats are registered per evaluation corpus (:data:`PAIR_FORMATS`, keyed by the corpus of the
target's held-out split, :func:`core.corpora.benchmarks.heldout_split`), so ``proofnet`` and
``proofnet-af`` (same held-out split) share one, and another benchmark registers its own with
:func:`register_pair_format` (e.g. HumanEval: prompt -> canonical solution). Outcome code never
special-cases a benchmark.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from core.errors import CorpusError
from core.registry import Registry

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class PairFormat:
    """The fixed template of a pair outcome (every field enters :meth:`fingerprint`).

    Attributes:
        name: short name of the format (``"proofnet-lean3"``).
        condition_template: the context text, with one ``{condition}`` field.
        completion_template: the completion text, with one ``{completion}`` field; ``condition_template
            + completion_template`` is the pair corpus's document template.
        stop: strings that end a generated completion (greedy generation stops at the first one, or
            at EOS); empty: EOS and the length cap only.
        keep_stop: whether the stop string is part of the completion (ProofNet's references end with
            ``:=``, so it is kept).
        description: one line for listings (not part of the fingerprint).
    """

    name: str
    condition_template: str
    completion_template: str
    stop: tuple[str, ...] = ()
    keep_stop: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.condition_template.count("{condition}") != 1 or self.completion_template.count("{completion}") != 1:
            raise CorpusError(f"Pair format {self.name!r} must have exactly one {{condition}} in its condition "
                              "template and one {completion} in its completion template.",
                              fix="write e.g. condition_template='informal statement {condition} formal statement', "
                                  "completion_template=' {completion}'.")

    def fingerprint(self) -> str:
        """sha256 hex of the format's fields except ``description`` (:func:`core.fingerprint.fingerprint`)."""
        from core.fingerprint import fingerprint

        d = asdict(self)
        d.pop("description")
        d["stop"] = list(self.stop)
        return fingerprint({"pair_format": d})

    def context_text(self, problem: PairProblem) -> str:
        """The context text of ``problem``: the condition template filled in."""
        return self.condition_template.replace("{condition}", problem.condition)

    def completion_text(self, problem: PairProblem) -> str:
        """The completion text of ``problem`` (the reference): the completion template filled in."""
        return self.completion_template.replace("{completion}", problem.completion)

    def parse(self, text: str) -> tuple[str, str] | None:
        """``(condition, completion)`` of a pair-format document, or None when the text does not
        follow the template or splits in more than one way."""
        head, tail = self.condition_template.split("{condition}")
        mid, end = self.completion_template.split("{completion}")
        pattern = re.compile(re.escape(head) + "(.*?)" + re.escape(tail + mid) + "(.*)" + re.escape(end) + r"\Z", re.S)
        m = pattern.match(text)
        if m is None or text.count(tail + mid) != 1:
            return None
        return m.group(1), m.group(2)


@dataclass(frozen=True)
class PairProblem:
    """One target problem: its id (the pair corpus's document id), condition and reference completion."""

    problem_id: str
    condition: str
    completion: str


#: Evaluation corpus (of a target's held-out split) -> its :class:`PairFormat`.
PAIR_FORMATS = Registry("pair format", fix_hint="register one with core.outcomes.problems.register_pair_format.")

PROOFNET_LEAN3 = PairFormat(
    name="proofnet-lean3",
    condition_template="informal statement {condition} formal statement",
    completion_template=" {completion}",
    stop=(":=",),
    keep_stop=True,
    description="ProofNet: informal statement (LaTeX) -> Lean 3 formal statement, ending at ':=' "
                "(the alignment paper's pair template).")


def register_pair_format(corpus: str, fmt: PairFormat) -> None:
    """Register ``fmt`` as the pair format of evaluation corpus ``corpus``.

    Raises:
        RegistryError: ``corpus`` already has another format.
    """
    PAIR_FORMATS.register(corpus, fmt)


register_pair_format("proofnet", PROOFNET_LEAN3)


def pair_format(target: str) -> PairFormat:
    """The pair format of ``target`` (a benchmark name or a target-benchmark corpus).

    Raises:
        CorpusError: unknown target, no held-out split, or no pair format registered for it.
    """
    from core.corpora.benchmarks import heldout_split

    corpus = heldout_split(target).corpus
    if corpus not in PAIR_FORMATS.names():
        raise CorpusError(f"Target {target!r} (held-out corpus {corpus!r}) has no pair format, so it has no "
                          f"condition -> completion problems.",
                          fix=f"use a target with one ({', '.join(PAIR_FORMATS.names())}), or register one with "
                              f"core.outcomes.problems.register_pair_format({corpus!r}, PairFormat(...)).")
    return PAIR_FORMATS.get(corpus)


def target_problems(target: str) -> tuple[PairFormat, list[PairProblem]]:
    """The pair format and the problems of ``target``'s held-out split, in corpus order.

    Every document of the held-out corpus is one problem (``problem_id`` = its document id), split
    by the format's template (:meth:`PairFormat.parse`). ProofNet: the test split's problems
    (``nl_statement`` -> ``formal_statement``), whether the target is named ``proofnet`` or ``proofnet-af``.

    Raises:
        CorpusError: unknown or uninstalled target, no pair format, a document that does not follow
            the template (naming it), or duplicate ids.
    """
    from core.corpora import get_corpus
    from core.corpora.benchmarks import heldout_split

    fmt = pair_format(target)
    corpus = heldout_split(target).corpus
    problems, seen = [], set()
    for doc in get_corpus(corpus).documents():
        parts = fmt.parse(doc.text)
        if parts is None:
            raise CorpusError(f"Document {doc.doc_id!r} of corpus {corpus!r} does not follow pair format "
                              f"{fmt.name!r} ({fmt.condition_template + fmt.completion_template!r}).",
                              fix="restore the corpus's documents, or register the right pair format for it.")
        if doc.doc_id in seen:
            raise CorpusError(f"Corpus {corpus!r} has two documents with id {doc.doc_id!r}.",
                              fix="give every problem a unique id.")
        seen.add(doc.doc_id)
        problems.append(PairProblem(problem_id=doc.doc_id, condition=parts[0], completion=parts[1]))
    if not problems:
        raise CorpusError(f"Corpus {corpus!r} of target {target!r} has no problems.", fix="reinstall the benchmark.")
    return fmt, problems


def problems_fingerprint(fmt: PairFormat, problems: list[PairProblem]) -> str:
    """sha256 hex of the format and the problems' content (ids, conditions, completions, in order)."""
    from core.fingerprint import fingerprint

    return fingerprint({"format": fmt.fingerprint(),
                        "problems": [[p.problem_id, p.condition, p.completion] for p in problems]})


def encode_problem(tokenizer: PreTrainedTokenizerBase, fmt: PairFormat, problem: PairProblem) -> tuple[list[int], list[int]]:
    """``(context_ids, completion_ids)`` of ``problem`` (no special tokens).

    The context and the completion are tokenised separately, so the completion's tokens are the
    ones scored (the completion template starts with a space, which byte-level BPE attaches to its
    first word, as in the joint text).

    Raises:
        CorpusError: the context or the completion tokenises to nothing (naming the problem).
    """
    context = tokenizer(fmt.context_text(problem), add_special_tokens=False)["input_ids"]
    completion = tokenizer(fmt.completion_text(problem), add_special_tokens=False)["input_ids"]
    if not context or not completion:
        raise CorpusError(f"Problem {problem.problem_id!r} has an empty {'context' if not context else 'completion'} "
                          "after tokenisation.", fix="check the problem's text and the pair format.")
    return list(context), list(completion)

