"""Contamination guard by content: does a source reproduce a target benchmark's held-out split?

The guard never trusts a corpus's *name*: it compares normalised document text with the held-out
split of every target benchmark, so ``corpora add pn-test-copy --path .../proofnet/test.jsonl``
is caught whatever it is called.

Held-out splits (:func:`heldout_splits`): every available corpus whose domain is ``"target
benchmark"`` is (part of) a held-out split; corpora are grouped by benchmark (``derived_from`` or
their own name), so ProofNet's test split is ``proofnet`` (pair format) plus ``proofnet-af``
(informal and formal statements as separate documents). Its *units* are all these documents.

Measures, after normalisation (:func:`core.corpora.normalise.normalise`: HTML markup dropped, Unicode NFKC, invisible characters
removed (format class Cf and the other default-ignorables), case folding, confusables folded to a
UTS #39 skeleton, whitespace collapsed)
and tokenisation into words and single punctuation marks (:func:`core.corpora.normalise.words`):

- ``exact``: source documents whose normalised text hashes (sha256) equal a held-out unit's.
- 13-gram overlap, as in contamination studies (Brown et al. 2020, "Language Models are Few-Shot
  Learners", arXiv 2005.14165, App. C: a benchmark example is dirty when it shares a 13-gram with
  the training data). Shared boilerplate (Lean binders such as ``{ g : type * } [ group g ]``) makes
  single shared 13-grams common between two splits of the same benchmark (ProofNet valid shares
  at least one with about half of the test rows), so a held-out unit counts as *reproduced* when
  at least :data:`NEAR_DUPLICATE_COVERAGE` of its distinct 13-grams occur in the source (or it
  matches exactly; units shorter than 13 words count only by exact match):

      reproduced(u) = exact(u) or |G13(u) & G13(S)| / |G13(u)| >= 0.8                      (1)

  and a source document counts as a near-duplicate when at least 0.8 of its 13-gram positions hold
  a held-out 13-gram.
- ``heldout_fraction`` = reproduced units / units; ``source_fraction`` = near-duplicate (or exact)
  source documents / source documents; ``shared_fraction`` = source documents that share at least
  one 13-gram with the split (reported, not used to refuse).

A source is **contaminated** when ``heldout_fraction > MAX_FRACTION`` or ``source_fraction >
MAX_FRACTION`` (:data:`MAX_FRACTION` = 1%), or when it is the hub dataset and split of a
benchmark's held-out split (``--hf hoskinson-center/proofnet --split test``). Training and mixtures
on a contaminated source are refused (:func:`check_sources`). A source is **derived from** a
benchmark (computed) when it is contaminated or when at least :data:`DERIVED_SHARED_UNITS` (5%) of
the held-out units share a 13-gram with it (another split or view of the same benchmark, e.g.
ProofNet's valid split); :func:`derived_from` merges this with the declared
``CorpusSpec.derived_from`` for the validation lab, without changing any fingerprint.

Measured on the demo pack (ProofNet test, 558 units; tests/core/corpora/test_contamination.py):
the formal statements of the test split reproduce 186 units (33%); ProofNet valid reproduces 0-1
(0.2%) but shares 13-grams with over 20% of the units; coq-stdlib and metamath share none.

Results are cached per source under ``cache/contamination/<key>.json`` keyed by
:func:`core.fingerprint.contamination_key` (source fingerprint, held-out fingerprints, parameters).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Iterable

from core.corpora.normalise import text_hash, words
from core.errors import AlignScopeError, CorpusError, opt

if TYPE_CHECKING:
    from core.corpora.registry import Corpus
    from core.corpora.spec import CorpusSpec

#: Words per n-gram (Brown et al. 2020, App. C).
NGRAM = 13
#: Share of a unit's distinct 13-grams found in the source that makes it reproduced, eq. (1).
NEAR_DUPLICATE_COVERAGE = 0.8
#: Largest share of reproduced held-out units (or near-duplicate source documents) that is allowed.
MAX_FRACTION = 0.01
#: Share of held-out units sharing at least one 13-gram with a source that marks it derived from the benchmark.
DERIVED_SHARED_UNITS = 0.05
#: Version of the algorithm (part of the cache key). 3 (issue 24): :func:`normalise` also drops
#: invisible characters (Unicode format class Cf and the other default-ignorables), folds confusables
#: to a UTS #39 skeleton and strips HTML markup, so every cached report is recomputed once.
VERSION = 3
BENCHMARK_DOMAIN = "target benchmark"


def _grams(tokens: list[str]) -> set[str]:
    return {" ".join(tokens[i:i + NGRAM]) for i in range(len(tokens) - NGRAM + 1)}


@dataclass
class HeldOutIndex:
    """The held-out split of one benchmark, indexed for the overlap measures.

    Attributes:
        benchmark: the benchmark's name (``"proofnet"``).
        corpora: the corpora holding the split, e.g. ``["proofnet", "proofnet-af"]``.
        fingerprints: their corpus fingerprints (in the order of ``corpora``).
        units: number of held-out documents.
        hashes: normalised-text hash -> unit indices.
        grams: 13-gram -> unit indices.  unit_grams: distinct 13-grams per unit (0 for short units).
        hub: ``(hf_id, split)`` pairs that name the split on the Hugging Face hub (lower case).
        ends: (first, last) words of every held-out 13-gram: a cheap pre-filter of a source's positions.
    """

    benchmark: str
    corpora: list[str]
    fingerprints: list[str]
    units: int = 0
    hashes: dict[str, list[int]] = field(default_factory=dict)
    grams: dict[str, list[int]] = field(default_factory=dict)
    unit_grams: list[int] = field(default_factory=list)
    hub: set[tuple[str, str]] = field(default_factory=set)
    ends: set[tuple[str, str]] = field(default_factory=set)

    def add(self, text: str) -> None:
        """Index one held-out document."""
        k = self.units
        self.units += 1
        self.hashes.setdefault(text_hash(text), []).append(k)
        toks = words(text)
        g = _grams(toks)
        self.unit_grams.append(len(g))
        for x in g:
            self.grams.setdefault(x, []).append(k)
        self.ends.update((toks[i], toks[i + NGRAM - 1]) for i in range(len(toks) - NGRAM + 1))


@dataclass
class Overlap:
    """Overlap of one source with one benchmark's held-out split (see the module docstring).

    Attributes:
        benchmark: the benchmark.  documents: source documents.  units: held-out units.
        exact: source documents equal (normalised) to a held-out unit.
        near_duplicates: source documents with >= 80% of their 13-grams in the split (exact included).
        shared: source documents sharing at least one 13-gram with the split.
        reproduced: held-out units reproduced by the source, eq. (1).
        units_shared: held-out units sharing at least one 13-gram with the source.
        hub_split: the source is the benchmark's held-out split on the hub (by hf_id and split).
        examples: up to 3 source document ids that are exact or near-duplicates.
    """

    benchmark: str
    documents: int
    units: int
    exact: int = 0
    near_duplicates: int = 0
    shared: int = 0
    reproduced: int = 0
    units_shared: int = 0
    hub_split: bool = False
    examples: list[str] = field(default_factory=list)

    @property
    def heldout_fraction(self) -> float:
        """Reproduced held-out units / units (0..1)."""
        return self.reproduced / self.units if self.units else 0.0

    @property
    def source_fraction(self) -> float:
        """Near-duplicate source documents / source documents (0..1)."""
        return self.near_duplicates / self.documents if self.documents else 0.0

    @property
    def shared_fraction(self) -> float:
        """Source documents sharing at least one 13-gram with the split / source documents (0..1)."""
        return self.shared / self.documents if self.documents else 0.0

    @property
    def contaminated(self) -> bool:
        """Above :data:`MAX_FRACTION`, or the hub's copy of the held-out split."""
        return self.hub_split or self.heldout_fraction > MAX_FRACTION or self.source_fraction > MAX_FRACTION

    @property
    def derived(self) -> bool:
        """Contaminated, or sharing 13-grams with at least :data:`DERIVED_SHARED_UNITS` of the units."""
        return self.contaminated or (self.units > 0 and self.units_shared / self.units >= DERIVED_SHARED_UNITS)

    def summary(self) -> str:
        """One line: ``"proofnet: 186/558 held-out documents reproduced (33.3%), 185/185 source documents ..."``."""
        if self.hub_split:
            return f"{self.benchmark}: the source is the benchmark's held-out split on the Hugging Face hub"
        return (f"{self.benchmark}: {self.reproduced}/{self.units} held-out documents reproduced "
                f"({self.heldout_fraction:.1%}), {self.near_duplicates}/{self.documents} source documents are "
                f"near-duplicates ({self.source_fraction:.1%}; {self.exact} exact), {self.shared} share a "
                f"{NGRAM}-gram")

    def to_dict(self) -> dict:
        """JSON-able, with the fractions and flags."""
        return {**asdict(self), "heldout_fraction": self.heldout_fraction, "source_fraction": self.source_fraction,
                "shared_fraction": self.shared_fraction, "contaminated": self.contaminated, "derived": self.derived}


@dataclass
class ContaminationReport:
    """A source's overlap with every benchmark's held-out split.

    Attributes:
        corpus: the source's name.  fingerprint: its corpus fingerprint.
        overlaps: one :class:`Overlap` per benchmark.  cached: read from the cache.
    """

    corpus: str
    fingerprint: str
    overlaps: list[Overlap]
    cached: bool = False

    @property
    def contaminated(self) -> list[Overlap]:
        """The overlaps above the threshold."""
        return [o for o in self.overlaps if o.contaminated]

    @property
    def derived_from(self) -> list[str]:
        """Benchmarks this source is derived from, by content."""
        return [o.benchmark for o in self.overlaps if o.derived]

    def note(self) -> str:
        """A short note for listings: ``""`` (clean), or the benchmarks it overlaps and how."""
        parts = []
        for o in self.overlaps:
            if o.contaminated:
                parts.append(f"CONTAMINATED: {o.summary()}")
            elif o.derived:
                parts.append(f"derived from {o.benchmark} ({o.units_shared}/{o.units} held-out documents share "
                             f"a {NGRAM}-gram; {o.reproduced} reproduced)")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"corpus": self.corpus, "fingerprint": self.fingerprint, "cached": self.cached,
                "overlaps": [o.to_dict() for o in self.overlaps]}


# ----------------------------------------------------------------------------------------------
# Held-out splits
# ----------------------------------------------------------------------------------------------
_INDEX: dict[tuple, HeldOutIndex] = {}


def _benchmark_of(corpus) -> str:
    return corpus.spec.derived_from or corpus.name


def heldout_splits() -> list[HeldOutIndex]:
    """The indexed held-out split of every available target benchmark (memoised per process by content).

    Raises:
        CorpusError: the registry is damaged.
    """
    from core.corpora.registry import list_corpora

    groups: dict[str, list] = {}
    for c in list_corpora():
        if c.spec.domain != BENCHMARK_DOMAIN:
            continue
        try:
            if not c.available():
                continue
        except AlignScopeError:
            continue
        groups.setdefault(_benchmark_of(c), []).append(c)
    out = []
    for bench in sorted(groups):
        members = sorted(groups[bench], key=lambda c: c.name)
        try:
            fps = [c.fingerprint() for c in members]
        except AlignScopeError:
            continue
        key = (bench, tuple(c.name for c in members), tuple(fps))
        if key not in _INDEX:
            idx = HeldOutIndex(benchmark=bench, corpora=[c.name for c in members], fingerprints=fps,
                               hub=_hub_names(bench, members))
            for c in members:
                for d in c.documents():
                    idx.add(d.text)
            _INDEX[key] = idx
        out.append(_INDEX[key])
    return out


def _hub_names(bench: str, members: list) -> set[tuple[str, str]]:
    """``(hf_id, split)`` of the held-out split on the hub: from kind-``hf`` members, and from demo
    sources that declare a hub copy (``HF_ID`` and ``split``, e.g. ProofNet's ``test``)."""
    from core.corpora.demo import DEMO_SOURCES

    out = set()
    for c in members:
        if c.spec.kind == "hf" and c.spec.hf_id:
            out.add((c.spec.hf_id.lower(), (c.spec.split or "train").lower()))
        src = DEMO_SOURCES.get(c.name)
        hf_id, split = getattr(src, "HF_ID", None), getattr(src, "split", None)
        if hf_id and split:
            out.add((hf_id.lower(), split.lower()))
    return out


def _hub_split(spec) -> tuple[str, str] | None:
    """``(hf_id, split)`` in lower case of a kind-``hf`` spec, else None."""
    if spec is None or spec.kind != "hf" or not spec.hf_id:
        return None
    return spec.hf_id.lower(), (spec.split or "train").lower()


def _overlap(idx: HeldOutIndex, corpus) -> Overlap:
    if _hub_split(getattr(corpus, "spec", None)) in idx.hub:
        return Overlap(benchmark=idx.benchmark, documents=0, units=idx.units, hub_split=True)
    docs = corpus.documents()
    ov = Overlap(benchmark=idx.benchmark, documents=len(docs), units=idx.units)
    found: dict[int, int] = {}       # unit -> distinct 13-grams of it found in the source
    seen: set[str] = set()
    reproduced: set[int] = set()
    ends, last = idx.ends, NGRAM - 1
    for d in docs:
        toks = words(d.text)
        h = text_hash(d.text)
        exact = h in idx.hashes
        if exact:
            ov.exact += 1
            reproduced.update(idx.hashes[h])
        positions = len(toks) - last
        # positions whose first and last words end a held-out 13-gram, then the 13-gram itself
        hits = [g for g in (" ".join(toks[i:i + NGRAM]) for i in range(max(positions, 0))
                            if (toks[i], toks[i + last]) in ends) if g in idx.grams]
        if hits:
            ov.shared += 1
        for g in hits:
            if g not in seen:
                seen.add(g)
                for u in idx.grams[g]:
                    found[u] = found.get(u, 0) + 1
        if exact or (positions > 0 and len(hits) >= NEAR_DUPLICATE_COVERAGE * positions):
            ov.near_duplicates += 1
            if len(ov.examples) < 3:
                ov.examples.append(d.doc_id)
    for u, n in found.items():
        if n >= NEAR_DUPLICATE_COVERAGE * idx.unit_grams[u]:
            reproduced.add(u)
    ov.reproduced = len(reproduced)
    ov.units_shared = len(found)
    return ov


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def contamination_report(corpus: str | Corpus, *, use_cache: bool = True, compute: bool = True,
                         splits: list[HeldOutIndex] | None = None) -> ContaminationReport | None:
    """Overlap of a corpus (name or :class:`~core.corpora.registry.Corpus`) with every held-out split.

    Held-out corpora of a benchmark are not compared with their own benchmark (they *are* it).

    Args:
        corpus: registry name or corpus object (anything with ``name``, ``spec``, ``documents()``,
            ``fingerprint()``).
        use_cache: read/write ``cache/contamination`` (keyed by :func:`core.fingerprint.contamination_key`).
        compute: False returns None instead of computing when nothing is cached (fast pages).
        splits: the held-out splits (default :func:`heldout_splits`; pass them when checking many corpora).

    Returns:
        A :class:`ContaminationReport`, or None (``compute=False`` and not cached).

    Raises:
        CorpusError: the corpus is unknown or unreadable.
    """
    from core.corpora.registry import get_corpus
    from core.fingerprint import contamination_key
    from core.paths import atomic_write, cache_dir

    c = get_corpus(corpus) if isinstance(corpus, str) else corpus
    hub = _hub_split(getattr(c, "spec", None))
    splits = [s for s in (heldout_splits() if splits is None else splits) if c.name not in s.corpora]
    fp = "hf-unavailable" if hub is not None and not c.available() else c.fingerprint()
    key = contamination_key(corpus_fingerprint=fp, heldout={s.benchmark: s.fingerprints for s in splits},
                            params={"v": VERSION, "n": NGRAM, "coverage": NEAR_DUPLICATE_COVERAGE, "hf": hub})
    path = cache_dir("contamination") / f"{key}.json"
    if use_cache and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            overlaps = [Overlap(**{k: v for k, v in o.items() if k in Overlap.__dataclass_fields__})
                        for o in data["overlaps"]]
            return ContaminationReport(c.name, fp, overlaps, cached=True)
        except (ValueError, KeyError, TypeError):
            pass                                   # damaged entry: recomputed and rewritten below
    if not compute:
        return None
    overlaps = []
    for s in splits:
        if fp == "hf-unavailable":             # an unreachable hub dataset: judged by its id and split only
            overlaps.append(Overlap(benchmark=s.benchmark, documents=0, units=s.units, hub_split=hub in s.hub))
            continue
        overlaps.append(_overlap(s, c))
    report = ContaminationReport(c.name, fp, overlaps)
    if use_cache and fp != "hf-unavailable":
        atomic_write(path, json.dumps(report.to_dict(), indent=1))
    return report


def check_sources(sources: Iterable, *, what: str = "training source") -> list[ContaminationReport]:
    """Refuse sources that reproduce a benchmark's held-out split (see the module docstring).

    Args:
        sources: registry names or corpus objects.
        what: how the sources are called in the message (``"training source"``, ``"mixture source"``).

    Returns:
        The reports of every source (all clean).

    Raises:
        CorpusError: a contaminated source; the message names it, the benchmark, the overlap and the
            fix (with :func:`core.errors.opt` placeholders: each surface names its own option).
    """
    reports = []
    for s in sources:
        r = contamination_report(s)
        bad = r.contaminated
        if bad:
            where = (f"remove it from the mixture ({opt('weights')})" if what.startswith("mixture")
                     else f"pick another {opt('source')}")
            raise CorpusError(
                f"{what.capitalize()} {r.corpus!r} overlaps the held-out split of target benchmark "
                + " and ".join(repr(o.benchmark) for o in bad) + " by content ("
                + "; ".join(o.summary() for o in bad)
                + f"; the limit is {MAX_FRACTION:.0%}): training on test data would make its perplexity meaningless.",
                fix=f"{where} that is disjoint from the test split (e.g. proofnet-valid), or remove the test "
                    "documents from the corpus.")
        reports.append(r)
    return reports


def check_registration(spec: CorpusSpec) -> None:
    """Refuse registering a benchmark's held-out split from the hub (``--hf hoskinson-center/proofnet
    --split test``) as anything but a target benchmark, before anything is downloaded.

    Raises:
        CorpusError: naming the dataset, split and benchmark, and the fix.
    """
    hub = _hub_split(spec)
    if hub is None or spec.domain == BENCHMARK_DOMAIN:
        return
    for idx in heldout_splits():
        if hub in idx.hub:
            raise CorpusError(
                f"Dataset {spec.hf_id!r} split {hub[1]!r} is the held-out split of target benchmark "
                f"{idx.benchmark!r}: as a {spec.domain!r} corpus it could be trained on.",
                fix=f"register it with {opt('domain', BENCHMARK_DOMAIN)} (an evaluation set, never a training "
                    f"source), or use another {opt('split')} (e.g. validation).")


def contamination_notes(names: Iterable[str], *, compute: bool = False) -> dict[str, str | None]:
    """``{corpus: note}`` for listings (:meth:`ContaminationReport.note`: ``""`` when clean, None when
    not checked yet). ``compute=False`` (pages) reads only cached reports and never loads a hub dataset.
    A corpus that cannot be read gets None."""
    from core.corpora.registry import get_corpus

    out: dict[str, str | None] = {}
    splits = heldout_splits()
    for name in names:
        try:
            c = get_corpus(name)
            if not compute and c.spec.kind == "hf":
                out[name] = None
                continue
            r = contamination_report(c, compute=compute, splits=splits)
        except AlignScopeError:
            r = None
        out[name] = None if r is None else r.note()
    return out


def derived_from(corpus: str | Corpus, *, compute: bool = True) -> set[str]:
    """Benchmarks corpus ``corpus`` is derived from: the declared ``spec.derived_from`` merged with
    the content check (:attr:`Overlap.derived`). Never changes a fingerprint.

    Args:
        compute: False uses only a cached content check (declared value otherwise).
    """
    from core.corpora.registry import get_corpus

    try:
        c = get_corpus(corpus) if isinstance(corpus, str) else corpus
    except AlignScopeError:
        return set()
    declared = getattr(getattr(c, "spec", None), "derived_from", None)
    out = {declared} if declared else set()
    try:
        r = contamination_report(c, compute=compute)
    except AlignScopeError:
        return out
    return out | set(r.derived_from if r else ())
