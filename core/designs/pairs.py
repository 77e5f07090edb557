"""How a pair-format corpus splits into halves: an informal statement and a formal statement per document.

A pair document is ``head + first + mid + second + end`` for one fixed template (:class:`PairTemplate`),
or, for Metamath's comment -> statement pairs, ``"<comment> <label> $p|$a <statement>"`` where the
separator is the document's own label (:class:`LabelSplit`), or, for a pair format with a ``boundary``
(HumanEval's docstring prompt -> code), the document up to the boundary's last match
(:class:`BoundarySplit`). Each gives ``split(doc) -> (informal,
formal) | None`` and ``render(informal, formal) -> str`` (the inverse: ``render(*split(doc)) == doc.text``).

Where the templates come from (:func:`splitter_for`, ``splitter="auto"`` tries them in this order):

1. ``format``: the target's pair format (:func:`core.outcomes.problems.pair_format`; ProofNet:
   ``"informal statement {nl} formal statement {fl}"``, the demo corpora ``proofnet`` / ``proofnet-valid``),
   or any registered pair format (:data:`core.outcomes.problems.PAIR_FORMATS`) every document follows;
2. ``template``: a user corpus registered with a two-field ``template`` (``CorpusSpec.template``, e.g.
   a JSONL with ``"Q: {question} A: {lean}"``); the first field is the informal half unless
   ``informal_field`` names the second;
3. ``metamath``: documents whose id is a Metamath label (the demo corpus ``metamath``).

Every document must split (a corpus that is not in pair format is refused, naming its first
document that does not split).
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from core.errors import CorpusError, opt

if TYPE_CHECKING:
    from core.corpora.spec import Document
    from core.outcomes.problems import PairFormat

SPLITTERS = ("auto", "format", "template", "metamath")


class Splitter(Protocol):
    """What the kinds design needs of a pair layout."""

    name: str

    def split(self, doc: Document) -> tuple[str, str] | None: ...

    def render(self, informal: str, formal: str) -> str: ...


@dataclass(frozen=True)
class PairTemplate:
    """A fixed pair layout ``head + first + mid + second + end``.

    Attributes:
        name: where it comes from (``format:proofnet-lean3``, ``template:<corpus>``).
        head, mid, end: the literal text around and between the halves (``mid`` must not be empty).
        informal_first: the first half is the informal statement (else the formal one).
    """

    name: str
    head: str
    mid: str
    end: str
    informal_first: bool = True

    def __post_init__(self) -> None:
        if not self.mid:
            raise CorpusError(f"Pair layout {self.name!r} has no text between its halves, so a document cannot be split.",
                              fix="use a template with a literal separator between the two fields, e.g. "
                                  "'informal statement {nl} formal statement {fl}'.")

    @classmethod
    def from_format(cls, fmt: PairFormat) -> "PairTemplate":
        """The layout of a :class:`core.outcomes.problems.PairFormat` (condition = informal, completion = formal)."""
        head, tail = fmt.condition_template.split("{condition}")
        mid, end = fmt.completion_template.split("{completion}")
        return cls(name=f"format:{fmt.name}", head=head, mid=tail + mid, end=end)

    @classmethod
    def from_template(cls, template: str, *, name: str, informal_field: str | None = None) -> "PairTemplate":
        """The layout of a two-field ``str.format`` template (a corpus spec's ``template``).

        Raises:
            CorpusError: not exactly two distinct fields, or ``informal_field`` is neither.
        """
        parts = list(string.Formatter().parse(template))
        fields = [f for _, f, _, _ in parts if f is not None]
        if len(fields) != 2 or len(set(fields)) != 2:
            raise CorpusError(f"Template {template!r} of corpus {name!r} has fields {fields}; a pair needs exactly two "
                              "distinct fields (informal, formal).",
                              fix="register the corpus with a template such as 'informal statement {nl} formal statement {fl}'.")
        if informal_field is not None and informal_field not in fields:
            raise CorpusError(f"{opt('informal_field', informal_field)} is not a field of template {template!r}.",
                              fix=f"name one of {', '.join(fields)}.")
        lits = [""]                    # the literal text before, between and after the fields
        for lit, f, _, _ in parts:     # (parse has already unescaped {{ and }})
            lits[-1] += lit
            if f is not None:
                lits.append("")
        head, mid, end = lits
        return cls(name=f"template:{name}", head=head, mid=mid, end=end,
                   informal_first=informal_field in (None, fields[0]))

    def split(self, doc: Document) -> tuple[str, str] | None:
        """``(informal, formal)`` of ``doc``, or None when it does not follow the layout or ``mid``
        occurs more than once (ambiguous)."""
        text = doc.text
        if not (text.startswith(self.head) and text.endswith(self.end)) or text.count(self.mid) != 1:
            return None
        body = text[len(self.head):len(text) - len(self.end)]
        first, _, second = body.partition(self.mid)
        if not first.strip() or not second.strip():
            return None
        return (first, second) if self.informal_first else (second, first)

    def render(self, informal: str, formal: str) -> str:
        """The document of the halves (the inverse of :meth:`split`)."""
        first, second = (informal, formal) if self.informal_first else (formal, informal)
        return self.head + first + self.mid + second + self.end


_MM_KEYWORDS = ("$p", "$a")


@dataclass(frozen=True)
class LabelSplit:
    """Metamath comment -> statement pairs (``core.corpora.extract.metamath_document``):
    ``"<comment> <label> $p <statement>"`` with ``label`` = the document id; informal = the comment,
    formal = ``"<label> $p <statement>"``; :meth:`render` joins them with one space."""

    name: str = "metamath"

    def split(self, doc: Document) -> tuple[str, str] | None:
        for kw in _MM_KEYWORDS:
            marker = f" {doc.doc_id} {kw} "
            k = doc.text.rfind(marker)
            if k > 0:
                informal, formal = doc.text[:k], doc.text[k + 1:]
                if informal.strip() and "$" not in formal[len(doc.doc_id) + 4:]:
                    return informal, formal
        return None

    def render(self, informal: str, formal: str) -> str:
        return f"{informal} {formal}"


@dataclass(frozen=True)
class BoundarySplit:
    """A pair format split at a ``boundary`` rather than by a separator (HumanEval's docstring ->
    code layout, :attr:`core.outcomes.problems.PairFormat.boundary`): the condition is the informal
    half (the docstring prompt), the completion the formal one (the code); :meth:`render` joins them."""

    name: str
    fmt: PairFormat

    @classmethod
    def from_format(cls, fmt: PairFormat) -> BoundarySplit:
        return cls(name=f"format:{fmt.name}", fmt=fmt)

    @property
    def boundary(self) -> str:
        return self.fmt.boundary

    def split(self, doc: Document) -> tuple[str, str] | None:
        return self.fmt.parse(doc.text)                 # the format's own split (PairFormat.parse)

    def render(self, informal: str, formal: str) -> str:
        return informal + formal


def _first_unsplit(docs: Sequence[Document], splitter: Splitter) -> Document | None:
    for d in docs:
        if splitter.split(d) is None:
            return d
    return None


def splitter_for(corpus: Any, target: str, *, splitter: str = "auto", informal_field: str | None = None) -> Splitter:
    """The layout that splits every document of ``corpus`` (module docstring).

    Args:
        corpus: a :class:`core.corpora.Corpus` (its ``spec.template`` is read) or any corpus object.
        target: the target benchmark (its pair format is tried first).
        splitter: ``auto`` | ``format`` | ``template`` | ``metamath``.
        informal_field: ``template`` only: the template field holding the informal half.

    Raises:
        CorpusError: unknown ``splitter``; no layout splits every document (naming the first one that
            does not split and the layouts tried).
    """
    if splitter not in SPLITTERS:
        raise CorpusError(f"Unknown pair splitter {opt('splitter', splitter)}.", fix=f"use one of {', '.join(SPLITTERS)}.")
    docs = corpus.documents()
    if not docs:
        raise CorpusError(f"Corpus {corpus.name!r} has no documents.", fix="pick a pair-format corpus.")
    candidates: list[Splitter] = []
    if splitter in ("auto", "format"):
        candidates += _formats(target)
    template = getattr(getattr(corpus, "spec", None), "template", None)
    if splitter in ("auto", "template") and template:
        candidates.append(PairTemplate.from_template(template, name=corpus.name, informal_field=informal_field))
    if splitter in ("auto", "metamath"):
        candidates.append(LabelSplit())
    tried = []
    for c in candidates:
        bad = _first_unsplit(docs, c)
        if bad is None:
            return c
        tried.append(f"{c.name} (document {bad.doc_id!r} does not split)")
    raise CorpusError(f"Corpus {corpus.name!r} is not a pair-format corpus: no layout splits all of its {len(docs)} "
                      f"documents into an informal and a formal half; tried {'; '.join(tried) or 'none'}.",
                      fix="use a paired corpus (proofnet-valid, metamath), or register a JSONL with a two-field "
                          "template, e.g. python -m core corpora add NAME --path F.jsonl --template "
                          "'informal statement {nl} formal statement {fl}'.")


def _formats(target: str) -> list[Splitter]:
    """The target's pair format first (when it has one), then every other registered pair format."""
    from core.outcomes.problems import PAIR_FORMATS, pair_format

    def layout(fmt: PairFormat) -> Splitter:
        return BoundarySplit.from_format(fmt) if fmt.boundary else PairTemplate.from_format(fmt)

    out: list[Splitter] = []
    try:
        out.append(layout(pair_format(target)))
    except CorpusError:
        pass
    for name in PAIR_FORMATS.names():
        t = layout(PAIR_FORMATS.get(name))
        if t not in out:
            out.append(t)
    return out


def describe(splitter: Splitter) -> dict:
    """JSON-able description of a layout (enters the derivation's fingerprint)."""
    if isinstance(splitter, PairTemplate):
        return {"name": splitter.name, "head": splitter.head, "mid": splitter.mid, "end": splitter.end,
                "informal_first": splitter.informal_first}
    if isinstance(splitter, BoundarySplit):
        return {"name": splitter.name, "boundary": splitter.boundary}
    return {"name": splitter.name}

