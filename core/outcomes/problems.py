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

A benchmark whose documents have no separator text between condition and completion (HumanEval: the
prompt, a signature and docstring, is followed directly by the canonical solution) sets
``boundary``, a regular expression: the condition is the document up to the end of its **last**
match, the completion the rest (templates ``"{condition}"`` and ``"{completion}"``).

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
        boundary: a regular expression that ends the condition at its last match, for documents with
            no separator text (HumanEval: the docstring's closing quotes and newline); empty: the
            templates split the document. Part of the fingerprint only when set, so a format without
            one keeps its key.
    """

    name: str
    condition_template: str
    completion_template: str
    stop: tuple[str, ...] = ()
    keep_stop: bool = True
    description: str = ""
    boundary: str = ""

    def __post_init__(self) -> None:
        if self.condition_template.count("{condition}") != 1 or self.completion_template.count("{completion}") != 1:
            raise CorpusError(f"Pair format {self.name!r} must have exactly one {{condition}} in its condition "
                              "template and one {completion} in its completion template.",
                              fix="write e.g. condition_template='informal statement {condition} formal statement', "
                                  "completion_template=' {completion}'.")
        if self.boundary:
            if (self.condition_template, self.completion_template) != ("{condition}", "{completion}"):
                raise CorpusError(f"Pair format {self.name!r} sets a boundary, so its templates must be plain.",
                                  fix="use condition_template='{condition}' and completion_template='{completion}'.")
            try:
                re.compile(self.boundary)
            except re.error as exc:
                raise CorpusError(f"Pair format {self.name!r}: boundary {self.boundary!r} is not a regular "
                                  f"expression ({exc}).", fix="write a valid Python regular expression.") from None

    def fingerprint(self) -> str:
        """sha256 hex of the format's fields except ``description`` (:func:`core.fingerprint.fingerprint`)."""
        from core.fingerprint import fingerprint

        d = asdict(self)
        d.pop("description")
        if not d["boundary"]:
            d.pop("boundary")        # defaults never change a key (ProofNet's format keeps its fingerprint)
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
        follow the template or splits in more than one way (with a ``boundary``: None when it never
        matches, or leaves an empty condition or completion)."""
        if self.boundary:
            ends = [m.end() for m in re.finditer(self.boundary, text)]
            if not ends or not text[:ends[-1]].strip() or not text[ends[-1]:].strip():
                return None
            return text[:ends[-1]], text[ends[-1]:]
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


HUMANEVAL_PYTHON = PairFormat(
    name="humaneval-python",
    condition_template="{condition}",
    completion_template="{completion}",
    stop=("\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#"),
    keep_stop=False,
    boundary=r"(?:\"\"\"|''')[ \t]*\n",
    description="HumanEval: prompt (signature + docstring) -> canonical solution (the body), ending at the next "
                "top-level statement (HumanEval's stop sequences).")


def register_pair_format(corpus: str, fmt: PairFormat) -> None:
    """Register ``fmt`` as the pair format of evaluation corpus ``corpus``.

    Raises:
        RegistryError: ``corpus`` already has another format.
    """
    PAIR_FORMATS.register(corpus, fmt)


register_pair_format("proofnet", PROOFNET_LEAN3)
register_pair_format("humaneval", HUMANEVAL_PYTHON)


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
    """``(context_ids, completion_ids)`` of ``problem`` (no special tokens), so that
    ``context_ids + completion_ids`` is the tokenisation of the joint text whenever the tokenizer
    allows it; only the completion's tokens are scored.

    As lm-evaluation-harness's ``_encode_pair``: trailing whitespace of the context moves to the
    completion (HumanEval's prompt ends with a newline, which byte-level BPE merges with the solution's
    indentation), then the joint text is tokenised and the completion is what follows the context's
    own tokens. Where the joint tokens do not start with the context's (a merge across the seam), the
    completion is tokenised on its own. ProofNet's completion starts with a space, which BPE attaches
    to its first word, so there both ways give the same ids (tested on every test problem).

    Raises:
        CorpusError: the context or the completion tokenises to nothing (naming the problem).
    """
    context_text, completion_text = fmt.context_text(problem), fmt.completion_text(problem)
    stripped = context_text.rstrip()
    if stripped and stripped != context_text:
        context_text, completion_text = stripped, context_text[len(stripped):] + completion_text
    context = list(tokenizer(context_text, add_special_tokens=False)["input_ids"])
    joint = list(tokenizer(context_text + completion_text, add_special_tokens=False)["input_ids"])
    if joint[:len(context)] == context:
        completion = joint[len(context):]
    else:
        completion = list(tokenizer(completion_text, add_special_tokens=False)["input_ids"])
    if not context or not completion:
        raise CorpusError(f"Problem {problem.problem_id!r} has an empty {'context' if not context else 'completion'} "
                          "after tokenisation.", fix="check the problem's text and the pair format.")
    return context, completion

