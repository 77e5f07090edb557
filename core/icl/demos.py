"""Demonstration pools: the candidate in-context demonstrations a source offers for a target benchmark.

A source gives one of two kinds of demonstration (:func:`build_demo_pool`):

- **pair** demonstrations when every document of the source follows the target's pair format
  (:class:`core.outcomes.problems.PairFormat`; ProofNet: ``"informal statement {nl} formal
  statement {fl}"``). This is how the demo pack marks a pair corpus (catalogue ``mode = "pair"``:
  ``proofnet-valid``) and how a user corpus registered with that ``template`` reads; the check is by
  content (:meth:`PairFormat.parse` of every document), so a corpus is paired whatever its name. A
  pair is rendered in the target's format (``context_text + completion_text``), its retrieval key is
  its informal statement (KATE compares a test input with the demonstrations' *inputs*; Liu et al.
  2021, "What Makes Good In-Context Examples for GPT-3?", Sec. 2).
- **window** demonstrations otherwise: token windows of the source's text, drawn by
  :func:`core.selection.pool` 's window sampler (seeded, capped, provenance ``doc_id`` / token
  ``offset``) with ``window_tokens - separator tokens`` tokens each, so that a window and its
  separator take ``window_tokens`` (default 128) tokens of the budget. Its retrieval key is its text.

At most ``max_candidates`` demonstrations are kept per source (pairs: a seeded sample without
replacement, kept in corpus order; windows: the sampler's quota). Candidates whose normalised text
repeats another's are dropped (so the ``k`` demonstrations of a prompt are distinct texts), and so
are candidates that contain a target problem's condition or reference completion (normalised as in
:mod:`core.corpora.contamination`): a demonstration must never hand the model the answer.

The source itself is refused (:func:`check_demo_source`) when it is, or holds, a target's held-out
split: by name (:data:`core.corpora.benchmarks.BENCHMARKS`, :func:`~core.corpora.benchmarks.heldout_split`,
any corpus of domain ``target benchmark``) and by content (:func:`core.corpora.contamination.check_sources`).

Pools are cached in an :class:`core.store.EmbeddingStore` under ``cache/icl/demos`` keyed by
:func:`pool_key` (source content fingerprint, tokenizer, pair format, target problems, config).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.errors import CorpusError, opt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.outcomes.problems import PairFormat, PairProblem

#: Text between two demonstrations, and between the last one and the problem.
SEPARATOR = "\n\n"
#: Version of the pool construction (enters :func:`pool_key`).
POOL_VERSION = 1
#: Shortest normalised condition / completion whose containment in a candidate drops it (shorter
#: strings, e.g. ``"theorem foo : true :="``, occur by chance).
MIN_CONDITION_CHARS = 48
MIN_COMPLETION_CHARS = 24
KINDS = ("pair", "window")


@dataclass(frozen=True)
class DemoConfig:
    """How a source's candidate demonstrations are drawn (every field enters :func:`pool_key`).

    Attributes:
        max_candidates: at most this many candidates per source (>= 1).
        window_tokens: tokens of a window demonstration plus its separator (>= 8).
        min_tokens: shorter windows are dropped (>= 1).
        seed: sampling seed (pairs: which ``max_candidates`` documents; windows: the sampler's seed).
        separator: the text between demonstrations.
    """

    max_candidates: int = 256
    window_tokens: int = 128
    min_tokens: int = 16
    seed: int = 0
    separator: str = SEPARATOR

    def __post_init__(self) -> None:
        for name, low in (("max_candidates", 1), ("window_tokens", 8), ("min_tokens", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise CorpusError(f"Demonstration pool setting {opt(name, v)} must be an integer >= {low}.",
                                  fix=f"give {opt(name, asdict(DemoConfig())[name])}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise CorpusError(f"Demonstration pool {opt('seed', self.seed)} is not an integer.", fix=f"give {opt('seed', 0)}.")
        if not isinstance(self.separator, str) or not self.separator:
            raise CorpusError("The demonstration separator is empty.", fix=f"use the default {SEPARATOR!r}.")


@dataclass(frozen=True)
class Demonstration:
    """One candidate demonstration and its provenance.

    Attributes:
        demo_id: ``doc_id`` (pairs) or ``doc_id@offset`` (windows): unique in the pool.
        doc_id: the source document's ``Document.doc_id``.  offset: token offset of a window (0 for pairs).
        text: the demonstration as it enters the prompt (pairs: rendered in the target's format).
        key: the retrieval key text (pairs: the informal statement; windows: the window text).
        ids: token ids of ``text`` (no special tokens): what the prompt holds.
    """

    demo_id: str
    doc_id: str
    offset: int
    text: str
    key: str
    ids: tuple[int, ...]


@dataclass
class DemoPool:
    """The candidate demonstrations of one source for one target.

    Attributes:
        source: the source's name.  kind: ``pair`` or ``window``.  demos: the candidates, ``[N]``.
        separator_ids: token ids of the separator.  config: how it was drawn.
        fingerprint: :func:`pool_key` (identity of the pool).  source_fingerprint: the corpus's content fingerprint.
        dropped: candidates left out, by reason (``duplicate``, ``overlaps a target problem``, ``not sampled``).
        documents: documents in the source.
    """

    source: str
    kind: str
    demos: list[Demonstration]
    separator_ids: tuple[int, ...]
    config: DemoConfig
    fingerprint: str
    source_fingerprint: str
    dropped: dict[str, int] = field(default_factory=dict)
    documents: int = 0

    def __len__(self) -> int:
        return len(self.demos)

    @property
    def tokens(self) -> np.ndarray:
        """int64 ``[N]``: tokens of each candidate (without the separator)."""
        return np.array([len(d.ids) for d in self.demos], dtype=np.int64)

    @property
    def cost(self) -> np.ndarray:
        """int64 ``[N]``: budget tokens each candidate takes (its tokens plus one separator)."""
        return self.tokens + len(self.separator_ids)

    def keys(self) -> list[str]:
        """The retrieval key text of every candidate, ``[N]``."""
        return [d.key for d in self.demos]

    def describe(self) -> dict:
        """JSON-able summary (no texts)."""
        t = self.tokens
        return {"source": self.source, "kind": self.kind, "candidates": len(self), "documents": self.documents,
                "dropped": dict(self.dropped), "tokens_mean": float(t.mean()) if len(t) else 0.0,
                "tokens_max": int(t.max()) if len(t) else 0, "fingerprint": self.fingerprint,
                "config": asdict(self.config)}


def check_demo_source(source: str | Any, target: str) -> None:
    """Refuse a demonstration source that is, holds or reproduces a target's held-out (test) split.

    By name: the target itself, the corpora holding its held-out split
    (:func:`core.corpora.benchmarks.heldout_split`), the corpora of any benchmark's split
    (:data:`core.corpora.benchmarks.BENCHMARKS`), any corpus of domain ``target benchmark``. By
    content: :func:`core.corpora.contamination.check_sources` (exact and 13-gram near-duplicates of
    every benchmark's held-out split, cached under ``cache/contamination``).

    Args:
        source: a registry name or a corpus object (``name``, ``documents()``, ``fingerprint()``).
        target: the target benchmark.

    Raises:
        CorpusError: the source is refused (naming it, the split and the fix), or the target or source is unknown.
    """
    from core.corpora import get_corpus
    from core.corpora.benchmarks import BENCHMARKS, heldout_split
    from core.corpora.contamination import BENCHMARK_DOMAIN, check_sources

    held = heldout_split(target)
    name = source if isinstance(source, str) else getattr(source, "name", "?")
    forbidden = {target, held.corpus, *held.forbidden}
    for corpus, members in BENCHMARKS.values():
        forbidden |= {corpus, *members}
    corpus = get_corpus(source) if isinstance(source, str) else source
    domain = getattr(getattr(corpus, "spec", None), "domain", None)
    if name in forbidden or domain == BENCHMARK_DOMAIN:
        raise CorpusError(f"Demonstration source {name!r} is a target benchmark's held-out (test) split "
                          f"(target {target!r} evaluates corpus {held.corpus!r}): its problems would be shown to "
                          "the model as demonstrations of themselves.",
                          fix=f"pick another {opt('source')} disjoint from the test split, e.g. proofnet-valid.")
    check_sources([corpus], what="demonstration source")


def is_paired(documents: Sequence, fmt: PairFormat) -> bool:
    """Whether every document follows the target's pair format (:meth:`PairFormat.parse`), so the
    source gives (informal, formal) pair demonstrations; False for an empty source."""
    return bool(documents) and all(fmt.parse(d.text) is not None for d in documents)


def pool_key(*, source_fingerprint: str, tokenizer_fingerprint: str, fmt: PairFormat, problems_fingerprint: str,
             config: DemoConfig) -> str:
    """Identity of a pool: :func:`core.fingerprint.fingerprint` of the source content, tokenizer, pair
    format, the target problems (the overlap filter reads them), the config and :data:`POOL_VERSION`."""
    from core.fingerprint import fingerprint

    return fingerprint({"what": "icl-demos", "v": POOL_VERSION, "source": source_fingerprint,
                        "tok": tokenizer_fingerprint, "format": fmt.fingerprint(), "problems": problems_fingerprint,
                        "config": asdict(config)})


def build_demo_pool(source: str | Any, tokenizer: PreTrainedTokenizerBase, fmt: PairFormat,
                    problems: Sequence[PairProblem], *, config: DemoConfig | None = None,
                    tokenizer_fingerprint: str = "", use_cache: bool = True) -> DemoPool:
    """The candidate demonstrations of ``source`` for a target whose pair format is ``fmt``
    (module docstring). Call :func:`check_demo_source` first: this function does not refuse sources.

    Args:
        source: registry name or corpus object.  tokenizer: the model's tokenizer (``pad_token_id`` set).
        fmt: the target's pair format.  problems: every problem of the target (the overlap filter).
        config: :class:`DemoConfig` (default ``DemoConfig()``).
        tokenizer_fingerprint: enters the cache key (pass ``probe.tokenizer_fingerprint``).
        use_cache: read and write ``cache/icl/demos``.

    Returns:
        A :class:`DemoPool` of at most ``config.max_candidates`` candidates (``ids`` int token ids).

    Raises:
        CorpusError: unknown or uninstalled source, no document, or no candidate left (all too short or overlapping).
    """
    from core.corpora import get_corpus
    from core.outcomes.problems import problems_fingerprint

    config = config or DemoConfig()
    corpus = get_corpus(source) if isinstance(source, str) else source
    if hasattr(corpus, "available") and not corpus.available():
        hint = corpus.install_hint() if hasattr(corpus, "install_hint") else None
        raise CorpusError(f"Demonstration source {corpus.name!r} is not installed.", fix=f"run: {hint or 'install it'}")
    src_fp = corpus.fingerprint()
    key = "icl-demos:" + pool_key(source_fingerprint=src_fp, tokenizer_fingerprint=tokenizer_fingerprint, fmt=fmt,
                                  problems_fingerprint=problems_fingerprint(fmt, list(problems)), config=config)
    store = _store() if use_cache else None
    if store is not None:
        hit = store.get(key)
        if hit is not None:
            return _decode(hit, corpus.name, config, key, src_fp)
    pool = _compute_pool(corpus, tokenizer, fmt, problems, config, key, src_fp)
    if store is not None:
        store.put(key, *_encode(pool))
    return pool


def _compute_pool(corpus, tokenizer, fmt, problems, config: DemoConfig, key: str, src_fp: str) -> DemoPool:
    from core.corpora.normalise import normalise
    from core.outcomes.problems import PairProblem

    docs = corpus.documents()
    if not docs:
        raise CorpusError(f"Demonstration source {corpus.name!r} has no documents.", fix=f"pick another {opt('source')}.")
    sep_ids = tuple(tokenizer(config.separator, add_special_tokens=False)["input_ids"])
    dropped: dict[str, int] = {}
    if is_paired(docs, fmt):
        kind = "pair"
        rng = np.random.default_rng([config.seed, 0x1C1])
        keep = np.sort(rng.permutation(len(docs))[:config.max_candidates]) if len(docs) > config.max_candidates \
            else np.arange(len(docs))
        if len(docs) > len(keep):
            dropped["not sampled"] = len(docs) - len(keep)
        rows = []
        for i in keep.tolist():
            condition, completion = fmt.parse(docs[i].text)
            p = PairProblem(problem_id=docs[i].doc_id, condition=condition, completion=completion)
            rows.append((docs[i].doc_id, 0, fmt.context_text(p) + fmt.completion_text(p), condition.strip()))
        encoded = tokenizer([r[2] for r in rows], add_special_tokens=False)["input_ids"]
        cands = [Demonstration(demo_id=d, doc_id=d, offset=o, text=t, key=k, ids=tuple(ids))
                 for (d, o, t, k), ids in zip(rows, encoded)]
    else:
        from core.selection.pool import PoolConfig, _corpus_windows

        kind = "window"
        length = config.window_tokens - len(sep_ids)
        pc = PoolConfig(corpora=(corpus.name,), max_windows=config.max_candidates, seq_len=length, seed=config.seed,
                        include_derived=True, min_tokens=min(config.min_tokens, length))
        # the selection pool's per-corpus window sampler (seeded slots, provenance doc_id/offset)
        cands = []
        for w, ids in _corpus_windows(corpus, 0, config.max_candidates, tokenizer, pc):
            text = tokenizer.decode(ids)
            cands.append(Demonstration(demo_id=f"{w.doc_id}@{w.offset}", doc_id=w.doc_id, offset=w.offset,
                                       text=text, key=text, ids=tuple(int(t) for t in ids)))
    conditions = [c for c in (normalise(p.condition) for p in problems) if len(c) >= MIN_CONDITION_CHARS]
    completions = [c for c in (normalise(p.completion) for p in problems) if len(c) >= MIN_COMPLETION_CHARS]
    out, seen = [], set()
    for d in cands:
        norm = normalise(d.text)
        if not d.ids or not norm:
            dropped["empty"] = dropped.get("empty", 0) + 1
        elif norm in seen:
            dropped["duplicate"] = dropped.get("duplicate", 0) + 1
        elif any(c in norm for c in completions) or any(c in norm for c in conditions):
            dropped["overlaps a target problem"] = dropped.get("overlaps a target problem", 0) + 1
        else:
            seen.add(norm)
            out.append(d)
    if not out:
        raise CorpusError(f"Demonstration source {corpus.name!r} gives no candidate demonstration "
                          f"({', '.join(f'{v} {k}' for k, v in dropped.items()) or 'no window long enough'}).",
                          fix=f"pick another {opt('source')}, or lower {opt('min_tokens')}.")
    return DemoPool(source=corpus.name, kind=kind, demos=out, separator_ids=sep_ids, config=config, fingerprint=key,
                    source_fingerprint=src_fp, dropped=dropped, documents=len(docs))


def _store():
    from core.paths import cache_dir
    from core.store import EmbeddingStore

    return EmbeddingStore(cache_dir("icl", "demos"))


def _encode(pool: DemoPool) -> tuple[dict[str, np.ndarray], dict]:
    lengths = np.array([len(d.ids) for d in pool.demos], dtype=np.int64)
    flat = np.array([t for d in pool.demos for t in d.ids], dtype=np.int64)
    meta = {"kind": pool.kind, "sep": list(pool.separator_ids), "dropped": pool.dropped, "documents": pool.documents,
            "demos": [[d.demo_id, d.doc_id, d.offset, d.text, d.key] for d in pool.demos]}
    return {"ids": flat, "lengths": lengths}, meta


def _decode(hit: tuple[dict[str, np.ndarray], dict], source: str, config: DemoConfig, key: str, src_fp: str) -> DemoPool:
    arrays, meta = hit
    bounds = np.concatenate([[0], np.cumsum(arrays["lengths"])])
    flat = arrays["ids"].tolist()
    demos = [Demonstration(demo_id=m[0], doc_id=m[1], offset=int(m[2]), text=m[3], key=m[4],
                           ids=tuple(flat[bounds[i]:bounds[i + 1]])) for i, m in enumerate(meta["demos"])]
    return DemoPool(source=source, kind=meta["kind"], demos=demos, separator_ids=tuple(meta["sep"]), config=config,
                    fingerprint=key, source_fingerprint=src_fp, dropped=dict(meta["dropped"]),
                    documents=int(meta["documents"]))
