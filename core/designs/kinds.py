"""Four kinds of data from one pair-format corpus, as registered corpora that fine-tune at one budget.

From the ``n`` pairs ``(informal_i, formal_i)`` of a pair-format corpus (:mod:`core.designs.pairs`):

- ``paired``: ``render(informal_i, formal_i)`` (the corpus itself, re-rendered: byte-identical for a
  fixed template);
- ``unpaired``: ``render(informal_i, formal_pi(i))`` with ``pi`` a seeded uniformly random
  **derangement** (a permutation without a fixed point, drawn by rejection from
  ``numpy.random.default_rng([seed, 0xAF5]).permutation``: ``P(no fixed point) -> 1/e``, so about
  e = 2.7 draws), so no informal statement meets its own formal statement (nor one whose text equals
  it). The same halves, the same template words, hence the same tokens up to BPE merges at the
  joins (< 1%), only the pairing differs: the control of the alignment paper's AF-split experiment
  (Chawla et al., "Quantifying the Importance of Data Alignment in Downstream Model Performance":
  informal and formal statements as separate documents had 21.7% lower alignment and 38.2% higher
  perplexity than the paired data). The paper's AF-split also drops the template words and
  separates the halves into documents; ``unpaired`` isolates the pairing itself;
- ``formal-only``: the formal halves, one document each;
- ``informal-only``: the informal halves, one document each.

Equal token budget: every variant is fine-tuned on exactly ``budget_tokens`` tokens
(:class:`core.finetune.config.FinetuneConfig`, packed by :mod:`core.finetune.data`), which the plan
checks against the smallest variant (``informal-only``, usually). ``max_pairs`` caps a large corpus
(Metamath: 40k pairs) at a seeded sample of pairs, the same sample for all four.

Storage: ``cache/designs/corpora/<name>.jsonl`` (field ``text``) + ``<name>.json`` (the derivation),
registered in the corpus registry as ``<source>.<kind>`` (a suffix of the derivation's fingerprint
when ``perm_seed`` or ``max_pairs`` is not the default). A file is rewritten only when its content
changes (a files corpus's fingerprint includes its mtime, and run ids include the data: rewriting
identical content would orphan finished runs). A variant of a target-derived corpus (e.g. of
``proofnet-valid``, ProofNet's valid split) is registered with ``derived_from`` = that benchmark, so the
lab's :func:`core.validation.lab.derived_from_target` and the contamination guard
(:func:`core.corpora.contamination.check_sources`, run on every variant by
:func:`core.finetune.data.check_training_sources`) see it. The source itself is refused when it is,
or reproduces, the target's test split.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.errors import AlignScopeError, CorpusError, opt
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    from core.corpora.spec import Document
    from core.designs.pairs import Splitter

KINDS = ("paired", "unpaired", "formal-only", "informal-only")
#: Version of the derivation (enters the fingerprint).
DERIVATION_VERSION = 1
#: Rejection draws before :func:`derangement` gives up (each succeeds with probability ~1/e).
MAX_DRAWS = 1000


@dataclass(frozen=True)
class KindsConfig:
    """How the four variants are derived.

    Attributes:
        source: the pair-format corpus (registry name).
        target: the target benchmark (its pair format is tried first; its test split is refused).
        perm_seed: seed of the ``unpaired`` derangement and of the ``max_pairs`` sample.
        max_pairs: at most this many pairs (a seeded sample, corpus order kept); None: all.
        splitter: ``auto`` | ``format`` | ``template`` | ``metamath`` (:func:`core.designs.pairs.splitter_for`).
        informal_field: ``template`` layouts only: the field holding the informal half.
        model: whose tokenizer counts the variants' tokens.
    """

    source: str
    target: str = "proofnet"
    perm_seed: int = 0
    max_pairs: int | None = None
    splitter: str = "auto"
    informal_field: str | None = None
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        if not isinstance(self.perm_seed, int) or isinstance(self.perm_seed, bool) or self.perm_seed < 0:
            raise AlignScopeError(f"{opt('perm_seed', self.perm_seed)} must be an integer >= 0.", fix=f"give {opt('perm_seed', 0)}.")
        if self.max_pairs is not None and (not isinstance(self.max_pairs, int) or self.max_pairs < 2):
            raise AlignScopeError(f"{opt('max_pairs', self.max_pairs)} must be an integer >= 2 (a derangement needs two pairs).",
                                  fix=f"give e.g. {opt('max_pairs', 2000)}, or leave it out for every pair.")


@dataclass
class Halves:
    """The pairs of a corpus, split: ``doc_ids``, ``informal``, ``formal`` (each ``[n]`` str)."""

    doc_ids: list[str]
    informal: list[str]
    formal: list[str]

    def __len__(self) -> int:
        return len(self.doc_ids)


@dataclass
class DerivedKinds:
    """The registered variants of one derivation.

    Attributes:
        config: the derivation.  splitter: the layout's description.  pairs: ``n``.
        corpora: kind -> registered corpus name.  tokens: kind -> tokens (probe tokenizer, no special
            tokens).  documents: kind -> documents.  derived_from: the benchmark the source (and so
            every variant) is derived from, or None.  permutation: int ``[n]``, ``unpaired``'s ``pi``.
        fingerprint: sha256 hex of the derivation's inputs (source content, layout, seed, cap, version).
    """

    config: KindsConfig
    splitter: dict
    pairs: int
    corpora: dict[str, str]
    tokens: dict[str, int]
    documents: dict[str, int]
    derived_from: str | None
    permutation: list[int]
    fingerprint: str
    source_fingerprint: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = asdict(self.config)
        return d


def derangement(n: int, seed: int, *, same: list[str] | None = None) -> np.ndarray:
    """A uniformly random permutation of ``n`` items without a fixed point, int64 ``[n]``.

    Rejection sampling (module docstring): draws ``default_rng([seed, 0xAF5]).permutation(n)`` until
    ``pi[i] != i`` for every ``i`` and, when ``same`` (``[n]`` texts) is given, ``same[pi[i]] != same[i]``
    (a duplicated formal statement must not meet its own informal statement either).

    Raises:
        AlignScopeError: ``n < 2``, or no such permutation in :data:`MAX_DRAWS` draws (too many duplicates).
    """
    if n < 2:
        raise AlignScopeError(f"A derangement needs at least 2 pairs; the corpus has {n}.",
                              fix="use a pair corpus with two or more pairs.")
    rng = np.random.default_rng([int(seed), 0xAF5])
    idx = np.arange(n)
    texts = np.asarray(same, dtype=object) if same is not None else None
    for _ in range(MAX_DRAWS):
        p = rng.permutation(n)
        if (p == idx).any():
            continue
        if texts is not None and (texts[p] == texts).any():
            continue
        return p.astype(np.int64)
    raise AlignScopeError(f"No re-pairing of the {n} pairs avoids every pair's own (or an identical) formal statement "
                          f"in {MAX_DRAWS} draws: most formal statements are duplicates.",
                          fix="deduplicate the corpus's formal statements.")


def split_documents(docs: Sequence[Document], splitter: Splitter) -> Halves:
    """The halves of every document (:meth:`Splitter.split`; documents that do not split raise).

    Raises:
        CorpusError: a document does not split (naming it).
    """
    ids, inf, form = [], [], []
    for d in docs:
        parts = splitter.split(d)
        if parts is None:
            raise CorpusError(f"Document {d.doc_id!r} does not split with layout {splitter.name!r}.",
                              fix="use a corpus whose every document is a pair.")
        ids.append(d.doc_id)
        inf.append(parts[0])
        form.append(parts[1])
    return Halves(ids, inf, form)


def kind_documents(halves: Halves, splitter: Splitter, perm: np.ndarray) -> dict[str, list[tuple[str, str]]]:
    """kind -> ``[(doc_id, text)]`` of the four variants (module docstring); ``perm`` is ``unpaired``'s
    derangement (int ``[n]``)."""
    n = len(halves)
    ids, inf, form = halves.doc_ids, halves.informal, halves.formal
    return {
        "paired": [(ids[i], splitter.render(inf[i], form[i])) for i in range(n)],
        "unpaired": [(f"{ids[i]}+{ids[int(perm[i])]}", splitter.render(inf[i], form[int(perm[i])])) for i in range(n)],
        "formal-only": [(f"{ids[i]}:formal", form[i].strip()) for i in range(n)],
        "informal-only": [(f"{ids[i]}:informal", inf[i].strip()) for i in range(n)],
    }


def _sample(n: int, max_pairs: int | None, seed: int) -> np.ndarray:
    """Indices of the pairs kept: all, or a seeded sample of ``max_pairs`` in corpus order."""
    if max_pairs is None or max_pairs >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([int(seed), 0x5A3]).choice(n, size=max_pairs, replace=False))


def corpus_name(config: KindsConfig, kind: str, fingerprint: str) -> str:
    """Registry name of a variant: ``<source>.<kind>`` (``.<fingerprint[:8]>`` appended when
    ``perm_seed``/``max_pairs`` are not the defaults)."""
    suffix = "" if (config.perm_seed == 0 and config.max_pairs is None) else f".{fingerprint[:8]}"
    return f"{config.source[:100 - len(kind) - len(suffix) - 1]}.{kind}{suffix}"


def corpora_dir() -> Path:
    """``cache/designs/corpora`` (created on demand)."""
    from core.paths import cache_dir

    return cache_dir("designs", "corpora")


def derive_kinds(config: KindsConfig, *, register: bool = True) -> DerivedKinds:
    """Derive and (by default) register the four variants of ``config.source`` (module docstring).

    Returns:
        :class:`DerivedKinds` with the corpora's names and token counts.

    Raises:
        CorpusError / AlignScopeError: unknown or uninstalled source, a source that is (or reproduces)
            the target's test split, a corpus not in pair format, fewer than 2 pairs, a variant name
            taken by another user corpus.
    """
    from core.corpora import get_corpus
    from core.finetune.data import check_training_sources

    src = get_corpus(config.source)
    if not src.available():
        raise CorpusError(f"Source {config.source!r} is not installed.", fix=f"run: {src.install_hint() or 'install it'}")
    check_training_sources([config.source], config.target)       # by name and by content: never the test split
    from core.designs.pairs import splitter_for

    splitter = splitter_for(src, config.target, splitter=config.splitter, informal_field=config.informal_field)
    return _compute_kinds(config, src, splitter, register=register)


def _compute_kinds(config: KindsConfig, src, splitter, *, register: bool) -> DerivedKinds:
    from core.designs.pairs import describe
    from core.fingerprint import fingerprint
    from core.probe import load_probe
    from core.validation.lab import derived_from_target

    docs = src.documents()
    keep = _sample(len(docs), config.max_pairs, config.perm_seed)
    halves = split_documents([docs[int(i)] for i in keep], splitter)
    perm = derangement(len(halves), config.perm_seed, same=[f.strip() for f in halves.formal])
    layout = describe(splitter)
    src_fp = src.fingerprint()
    fp = fingerprint({"what": "design kinds", "v": DERIVATION_VERSION, "source": src_fp, "layout": layout,
                      "perm_seed": config.perm_seed, "max_pairs": config.max_pairs})
    variants = kind_documents(halves, splitter, perm)
    declared = getattr(src.spec, "derived_from", None)
    derived = declared or (config.target if derived_from_target(config.source, config.target) else None)
    tok = load_probe(config.model, device="cpu", progress=False).tokenizer
    names, tokens, documents = {}, {}, {}
    for kind, rows in variants.items():
        names[kind] = corpus_name(config, kind, fp)
        tokens[kind] = sum(len(ids) for ids in tok([t for _, t in rows], add_special_tokens=False)["input_ids"])
        documents[kind] = len(rows)
    out = DerivedKinds(config=config, splitter=layout, pairs=len(halves), corpora=names, tokens=tokens,
                       documents=documents, derived_from=derived, permutation=[int(p) for p in perm], fingerprint=fp,
                       source_fingerprint=src_fp)
    if register:
        for kind, rows in variants.items():
            _register(out, kind, rows, src)
    return out


def _register(d: DerivedKinds, kind: str, rows: list[tuple[str, str]], src) -> None:
    """Write the variant's JSONL and metadata (only when changed) and register it (only when its spec changed)."""
    from core.corpora import get_corpus, register_corpus
    from core.corpora.spec import CorpusSpec
    from core.paths import atomic_write

    name = d.corpora[kind]
    path = corpora_dir() / f"{name}.jsonl"
    body = "".join(json.dumps({"text": t, "doc_id": i}, ensure_ascii=False) + "\n" for i, t in rows)
    if not path.is_file() or path.read_text(encoding="utf-8") != body:
        atomic_write(path, body)
    meta = json.dumps({**d.to_dict(), "kind": kind, "permutation": None}, indent=1)
    mp = corpora_dir() / f"{name}.json"
    if not mp.is_file() or mp.read_text(encoding="utf-8") != meta:
        atomic_write(mp, meta)
    domain = src.spec.domain
    if kind == "informal-only" and domain == "formal maths":
        domain = "informal maths"
    spec = CorpusSpec(name=name, kind="files", path=str(path), field="text", domain=domain,
                      description=f"design kinds: {kind} of {d.config.source} ({d.pairs} pairs, layout "
                                  f"{d.splitter['name']}, perm seed {d.config.perm_seed})",
                      source=f"python -m core design run kinds --source {d.config.source}", license=src.spec.license,
                      derived_from=d.derived_from)
    try:
        existing = get_corpus(name).spec
    except CorpusError:
        existing = None
    if existing is not None and existing.to_dict() == spec.to_dict():
        return
    if existing is not None and (existing.kind != "files" or Path(existing.path or "").parent != corpora_dir()):
        raise CorpusError(f"Corpus name {name!r} is taken by another corpus ({existing.path or existing.hf_id}).",
                          fix="rename that corpus, or derive with another perm seed.")
    register_corpus(spec, overwrite=True)
