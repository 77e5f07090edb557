"""Value types of the corpus registry: :class:`Document` and :class:`CorpusSpec`.

A :class:`CorpusSpec` is the declarative, JSON-serialisable description of a corpus (what a user
registers, or what the demo pack defines); a :class:`~core.corpora.registry.Corpus` is built from
one and reads its documents.
"""
from __future__ import annotations

import dataclasses
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import CorpusError, opt

KINDS = ("files", "hf", "demo")
DOMAINS = (
    "target benchmark",
    "formal maths",
    "informal maths",
    "code",
    "technical prose",
    "general prose",
    "custom",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Spec fields that define *what text comes out* (they enter the fingerprint); the others
# (name, domain, description, source, license) are metadata only.
CONTENT_FIELDS = ("kind", "path", "field", "template", "hf_id", "hf_config", "split", "max_documents")


#: A template field's format spec: ``[[fill]align][sign][#][0][width][,|_][.precision][type]``
#: (https://docs.python.org/3/library/string.html#format-specification-mini-language).
_SPEC_RE = re.compile(r"^(?:.?[<>=^])?[+\- ]?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?$", re.S)


def template_fields(template: str, *, where: str = "template") -> list[str]:
    """Return the column names a ``str.format`` template uses (in order, deduplicated).

    Only plain ``{column}`` references are allowed (with an optional conversion ``!s``/``!r`` and a
    format spec such as ``{text:>20}``): no attribute or index access (``{text.__class__}``,
    ``{row[0]}``), no nested fields in a format spec, and a width or precision of at most
    ``$ALIGNSCOPE_MAX_TEMPLATE_WIDTH`` characters (:mod:`core.limits`, default 1000).

    Raises:
        CorpusError: the template does not parse, uses positional fields (``{}``/``{0}``), attribute
            or index access, a nested or too wide format spec, or no field at all.
    """
    from core.limits import limit

    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise CorpusError(f"Template of {where} does not parse: {exc} ({template!r}).",
                          fix="write fields as {column}; double literal braces as {{ and }}.") from exc
    width_cap = limit("ALIGNSCOPE_MAX_TEMPLATE_WIDTH")
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root == "" or root.isdigit():
            raise CorpusError(f"Template of {where} uses a positional field {{{name}}} ({template!r}).",
                              fix="name the column, e.g. {nl_statement}.")
        if name != root:                      # {a.b} / {a[0]}: attribute or index access in str.format
            raise CorpusError(f"Template of {where} uses {{{name}}}: only plain {{column}} references are allowed "
                              f"(no attribute or index access) ({template!r}).",
                              fix=f"write {{{root}}}, naming the column itself.")
        if conversion not in (None, "s", "r"):
            raise CorpusError(f"Template of {where} uses the conversion !{conversion} in {{{name}}} ({template!r}).",
                              fix="leave the conversion out (or use !s).")
        if spec:
            m = _SPEC_RE.match(spec)
            if "{" in spec or m is None:
                raise CorpusError(f"Template of {where} has the format spec {spec!r} in {{{name}}}, which is not a "
                                  f"plain width/alignment ({template!r}).", fix=f"write {{{name}}} or e.g. {{{name}:>20}}.")
            for part in ("width", "precision"):
                if m.group(part) and int(m.group(part)) > width_cap:
                    raise CorpusError(f"Template of {where} pads {{{name}}} to {int(m.group(part)):,} characters, over the "
                                      f"{width_cap:,} allowed ($ALIGNSCOPE_MAX_TEMPLATE_WIDTH) ({template[:80]!r}).",
                                      fix=f"use a {part} of at most {width_cap}, or leave the format spec out.")
        if root not in names:
            names.append(root)
    if not names:
        raise CorpusError(f"Template of {where} uses no column ({template!r}).",
                          fix="include at least one {column}, or use field instead.")
    return names


@dataclass(frozen=True)
class Document:
    """One text of a corpus.

    Attributes:
        doc_id: stable id inside the corpus, e.g. ``"test.jsonl:17"`` (file and 1-based line),
            ``"Init/Logic.v"`` (relative path) or ``"test/Rudin|exercise_1_1a:formal"``.
        text: the document text (never empty or whitespace-only).
    """

    doc_id: str
    text: str


@dataclass(frozen=True)
class CorpusSpec:
    """Declarative, JSON-serialisable description of a corpus (what the user registers).

    Attributes:
        name: unique corpus name: letters, digits, ``.``, ``_``, ``-`` (at most 100 characters,
            starting with a letter or digit).
        kind: ``"files"`` (local file, folder or glob), ``"hf"`` (Hugging Face ``datasets``) or
            ``"demo"`` (built-in demo pack; cannot be registered by users).
        path: files only: a file, a folder (read recursively) or a glob (``**`` supported).
            Relative paths are resolved against the current directory at registration time and
            stored absolute.
        field: row formats (.jsonl/.json/.csv/.parquet) and hf: the column holding the text.
        template: row formats and hf, instead of ``field``: a ``str.format`` template over the
            row's columns, e.g. ``"informal statement {nl_statement} formal statement
            {formal_statement}"``.
        hf_id: hf only: dataset id on the hub (``"owner/name"``) or a local dataset folder.
        hf_config: hf only: the dataset configuration (``None`` for the default).
        split: hf only: the split to read (``None`` means ``"train"``).
        domain: one of :data:`DOMAINS`.
        description, source, license: free text shown in listings.
        max_documents: optional cap; the first N documents in the corpus' deterministic order.
        derived_from: the target benchmark this corpus is derived from (another split or view of
            it, e.g. ProofNet's valid split), or None. Not a content field: it never changes a
            fingerprint. The validation lab reports statistics with and without such corpora.
    """

    name: str
    kind: str
    path: str | None = None
    field: str | None = None
    template: str | None = None
    hf_id: str | None = None
    hf_config: str | None = None
    split: str | None = None
    domain: str = "custom"
    description: str = ""
    source: str = ""
    license: str = "unknown"
    max_documents: int | None = None
    derived_from: str | None = None

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a plain JSON-serialisable ``dict``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CorpusSpec":
        """Build a spec from :meth:`to_dict` output.

        Raises:
            CorpusError: ``data`` is not a mapping, lacks ``name``/``kind`` or has unknown keys.
        """
        if not isinstance(data, dict):
            raise CorpusError(f"Corpus spec must be a JSON object, got {type(data).__name__}.",
                              fix="pass a dict with at least 'name' and 'kind'.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CorpusError(
                f"Corpus spec {data.get('name', '?')!r} has unknown keys: {', '.join(unknown)}.",
                fix=f"use only: {', '.join(sorted(known))}.")
        missing = [k for k in ("name", "kind") if k not in data]
        if missing:
            raise CorpusError(f"Corpus spec is missing {', '.join(missing)}.",
                              fix="give every corpus a 'name' and a 'kind' (files, hf or demo).")
        return cls(**data)

    def content_dict(self) -> dict[str, Any]:
        """Return only the spec fields that define the documents (see :data:`CONTENT_FIELDS`)."""
        return {k: getattr(self, k) for k in CONTENT_FIELDS}


def validate_spec(spec: CorpusSpec, *, allow_demo: bool = False) -> CorpusSpec:
    """Check a spec's fields and return it with ``path`` made absolute (files kind).

    Args:
        spec: the spec to check.
        allow_demo: accept ``kind="demo"`` (only the built-in demo pack uses it).

    Returns:
        The same spec, or a copy whose ``path`` is absolute.

    Raises:
        CorpusError: bad name, kind, domain, missing ``path``/``hf_id``, both ``field`` and
            ``template`` given, a template that does not parse, or a non-positive
            ``max_documents``.
    """
    if not isinstance(spec, CorpusSpec):
        raise CorpusError(f"Expected a CorpusSpec, got {type(spec).__name__}.",
                          fix="build one with CorpusSpec(name=..., kind=...).")
    if not isinstance(spec.name, str) or not _NAME_RE.match(spec.name):
        raise CorpusError(
            f"Corpus name {spec.name!r} is not valid.",
            fix="use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    kinds = KINDS if allow_demo else ("files", "hf")
    if spec.kind not in kinds:
        raise CorpusError(
            f"Corpus {spec.name!r} has kind {spec.kind!r}.",
            fix=f"use one of: {', '.join(kinds)}" + (
                " (kind 'demo' is reserved for the built-in demo pack)." if spec.kind == "demo" else "."))
    # None metadata (e.g. from unset command-line options) means "use the default"
    defaults = {"domain": "custom", "description": "", "source": "", "license": "unknown"}
    fixes = {k: v for k, v in defaults.items() if getattr(spec, k) is None}
    if fixes:
        spec = dataclasses.replace(spec, **fixes)
    if spec.domain not in DOMAINS:
        raise CorpusError(f"Corpus {spec.name!r} has domain {spec.domain!r}.",
                          fix=f"use one of: {', '.join(repr(d) for d in DOMAINS)}.")
    if spec.field is not None and spec.template is not None:
        raise CorpusError(f"Corpus {spec.name!r} sets both {opt('field', spec.field)} and {opt('template', spec.template)}.",
                          fix=f"give either {opt('field')} (one column) or {opt('template')} (several columns), not both.")
    if spec.template is not None:
        template_fields(spec.template, where=f"corpus {spec.name!r}")
    if spec.max_documents is not None and (
            not isinstance(spec.max_documents, int) or isinstance(spec.max_documents, bool)
            or spec.max_documents < 1):
        raise CorpusError(f"Corpus {spec.name!r} has max_documents={spec.max_documents!r}.",
                          fix="use a positive integer, or None for no cap.")
    if spec.kind == "files":
        if not spec.path:
            raise CorpusError(f"Corpus {spec.name!r} reads local files but has no {opt('path')}.",
                              fix=f"give a file, a folder or a glob such as {opt('path', 'data/**/*.v')}.")
        if spec.hf_id or spec.hf_config or spec.split:
            raise CorpusError(f"Corpus {spec.name!r} reads local files but sets {opt('hf_id')}/{opt('hf_config')}/"
                              f"{opt('split')}.", fix=f"drop them, or read a dataset with {opt('hf_id')} instead of {opt('path')}.")
        absolute = str(Path(spec.path).expanduser().absolute())
        if absolute != spec.path:
            spec = dataclasses.replace(spec, path=absolute)
    elif spec.kind == "hf":
        if not spec.hf_id:
            raise CorpusError(f"Corpus {spec.name!r} reads a Hugging Face dataset but has no {opt('hf_id')}.",
                              fix=f"give a dataset id such as {opt('hf_id', 'hoskinson-center/proofnet')}.")
        if spec.path:
            raise CorpusError(f"Corpus {spec.name!r} reads a Hugging Face dataset but also sets {opt('path')}.",
                              fix=f"give either {opt('path')} (local files) or {opt('hf_id')} (a dataset), not both.")
    return spec
