"""A pool of candidate windows: registered corpora cut into ``seq_len``-token windows, sampled and capped.

A pool (:class:`PoolConfig` -> :class:`Pool`) is what window-level selection chooses from. Sampling
(:func:`build_pool`), per corpus:

1. The corpus gets ``max_windows / n_corpora`` windows (equal allocation, so one huge corpus such
   as hol-light, 16M tokens, does not fill the pool; the remainder goes to the first corpora).
2. Every document is given ``slots = max(1, chars // (seq_len * CHARS_PER_TOKEN))`` candidate
   window slots, an estimate of how many non-overlapping windows it holds without tokenising the
   whole corpus. ``quota`` slots are drawn without replacement (``numpy.random.default_rng([seed,
   corpus index])``), so long documents give many windows and short ones at most one.
3. Only the documents drawn are tokenised (no special tokens). A document of more than ``seq_len``
   tokens is cut into non-overlapping windows starting at a seeded random shift in ``[0,
   seq_len)``; a document drawn for ``m`` slots gives ``m`` of its windows in a seeded random order.
   Windows with fewer than ``min_tokens`` tokens are dropped. When the drawn documents hold more
   windows than the character estimate said (dense text: two long ``.lean`` files) and the corpus
   is short of its quota, the quota is topped up with their other windows, chosen at random.

Every window keeps its provenance: corpus, ``Document.doc_id`` and token offset in the document.
Corpora derived from the target benchmark (``CorpusSpec.derived_from``) are left out unless
``include_derived``; the target itself, or a corpus holding its held-out split, is refused.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from core.errors import AlignScopeError, CorpusError, opt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.probe import ProbeNetwork
    from core.store import EmbeddingStore

#: Characters per token used to estimate a document's windows before tokenising (SmolLM2's BPE
#: averages 3.5-4.5 characters per token on the demo corpora; only the sampling weights depend on it).
CHARS_PER_TOKEN = 4
#: Default cap on the pool (see docs/selection.md "Selecting windows": 2,400 windows x 128 tokens, about 307k
#: tokens, is a 10-15 minute per-window Task2Vec pass on 2 CPU cores).
DEFAULT_MAX_WINDOWS = 2400


class PoolError(AlignScopeError):
    """A pool that cannot be built: empty, containing the target, unknown corpora."""


@dataclass(frozen=True)
class PoolConfig:
    """What goes into a pool.

    Attributes:
        corpora: registered corpus names (the pool's sources).
        target: target benchmark; it and the corpora holding its held-out split are refused.
        max_windows: cap on the pool's windows (all corpora together).
        seq_len: tokens per window.
        seed: sampling seed (same seed, corpora and tokenizer -> the same pool).
        include_derived: keep corpora whose ``derived_from`` is the target (default: leave them out).
        min_tokens: shorter windows are dropped.
    """

    corpora: tuple[str, ...]
    target: str | None = None
    max_windows: int = DEFAULT_MAX_WINDOWS
    seq_len: int = 128
    seed: int = 0
    include_derived: bool = False
    min_tokens: int = 16

    def to_dict(self) -> dict:
        """JSON-able dict (the pool's identity together with the corpora's content fingerprints)."""
        d = asdict(self)
        d["corpora"] = list(self.corpora)
        return d


@dataclass(frozen=True)
class Window:
    """One candidate window and its provenance.

    Attributes:
        corpus: registry name.  doc_id: ``Document.doc_id``.  offset: token offset in the document.
        tokens: real tokens in the window (<= seq_len).
    """

    corpus: str
    doc_id: str
    offset: int
    tokens: int


@dataclass
class Pool:
    """A sampled pool of windows.

    Attributes:
        config: how it was drawn.  windows: provenance, one per row.
        input_ids: int64 [N, seq_len], right-padded with the tokenizer's pad id.
        attention_mask: int64 [N, seq_len], 1 on real tokens.
        excluded: corpora left out and why (e.g. derived from the target).
        fingerprint: identity of the pool (config, corpora contents, tokenizer).
    """

    config: PoolConfig
    windows: list[Window]
    input_ids: np.ndarray
    attention_mask: np.ndarray
    excluded: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def tokens(self) -> np.ndarray:
        """int64 [N]: real tokens of each window."""
        return self.attention_mask.sum(1)

    def corpus_of(self) -> np.ndarray:
        """object array [N] of corpus names."""
        return np.array([w.corpus for w in self.windows], dtype=object)

    def texts(self, tokenizer: PreTrainedTokenizerBase, rows: Sequence[int] | None = None) -> list[str]:
        """Decoded text of the windows ``rows`` (default all), in that order."""
        rows = range(len(self)) if rows is None else rows
        return [tokenizer.decode(self.input_ids[r][self.attention_mask[r].astype(bool)]) for r in rows]

    def composition(self, rows: Sequence[int] | None = None) -> dict[str, int]:
        """Tokens per corpus among ``rows`` (default the whole pool)."""
        rows = range(len(self)) if rows is None else rows
        out: dict[str, int] = {}
        for r in rows:
            w = self.windows[int(r)]
            out[w.corpus] = out.get(w.corpus, 0) + w.tokens
        return out


def pool_corpora(config: PoolConfig) -> tuple[list, dict[str, str]]:
    """Validate the pool's corpora (fast, no tokenising): ``(corpora, excluded)``.

    Raises:
        PoolError: no corpus; a corpus listed twice; the target or a corpus holding its held-out
            split in the pool; every corpus excluded.  CorpusError: unknown or not installed corpus.
    """
    from core.corpora import get_corpus

    names = [n.strip() for n in config.corpora if n and n.strip()]
    if not names:
        raise PoolError("The pool is empty: no corpus given.", fix=f"choose registered corpora in {opt('pool')} "
                                                                  "(python -m core corpora list).")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PoolError(f"Pool corpora listed twice: {', '.join(dup)}.", fix=f"list each corpus once in {opt('pool')}.")
    forbidden = _forbidden(config.target)
    bad = [n for n in names if n in forbidden]
    if bad:
        raise PoolError(f"The pool contains the target {config.target!r} (or its held-out split): {', '.join(bad)}.",
                        fix=f"remove it from {opt('pool')}: selecting the evaluation data would make the target perplexity "
                            "meaningless.")
    corpora, excluded = [], {}
    for n in names:
        c = get_corpus(n)
        if not c.available():
            raise CorpusError(f"Pool corpus {n!r} is not installed.", fix=f"run: {c.install_hint() or 'install it'}")
        derived = getattr(getattr(c, "spec", None), "derived_from", None)
        if derived and not config.include_derived and (config.target is None or derived == config.target
                                                       or derived in forbidden):
            excluded[n] = f"derived from the target benchmark {derived!r}"
            continue
        corpora.append(c)
    if not corpora:
        raise PoolError("The pool is empty: every corpus is derived from the target benchmark "
                        f"({', '.join(excluded)}).", fix=f"add other corpora to {opt('pool')}, or set {opt('include_derived', True)}.")
    return corpora, excluded


def _forbidden(target: str | None) -> set[str]:
    if not target:
        return set()
    from core.corpora.benchmarks import BENCHMARKS

    out = {target}
    if target in BENCHMARKS:
        out |= set(BENCHMARKS[target][1])
    return out


def build_pool(config: PoolConfig, tokenizer: PreTrainedTokenizerBase, *, tokenizer_fingerprint: str = "",
               progress: Callable[[int, int, str], None] | None = None) -> Pool:
    """Sample the pool described by ``config`` (module docstring).

    Args:
        config: the pool.  tokenizer: a Hugging Face tokenizer with ``pad_token_id`` set.
        tokenizer_fingerprint: enters :attr:`Pool.fingerprint`.
        progress: ``(corpora done, corpora, message)``.

    Returns:
        A :class:`Pool` of at most ``config.max_windows`` windows, int64 [N, seq_len] ids and mask.

    Raises:
        PoolError: see :func:`pool_corpora`; the pool holds no window of ``min_tokens`` tokens;
            ``max_windows`` < 1.
    """
    from core.fingerprint import fingerprint

    if not isinstance(config.max_windows, int) or config.max_windows < 1:
        raise PoolError(f"{opt('max_windows', config.max_windows)} is not a positive integer.", fix=f"use e.g. {opt('max_windows', 2400)}.")
    if config.seq_len < 2:
        raise PoolError(f"Window length {opt('seq_len', config.seq_len)} is below 2 tokens.", fix=f"use {opt('seq_len', 128)}.")
    corpora, excluded = pool_corpora(config)
    quotas = [config.max_windows // len(corpora) + (1 if k < config.max_windows % len(corpora) else 0)
              for k in range(len(corpora))]
    windows: list[Window] = []
    rows: list[list[int]] = []
    for k, (corpus, quota) in enumerate(zip(corpora, quotas)):
        if progress:
            progress(k, len(corpora), f"windows of {corpus.name}")
        for w, ids in _corpus_windows(corpus, k, quota, tokenizer, config):
            windows.append(w)
            rows.append(ids)
    if not windows:
        raise PoolError(f"The pool of {', '.join(c.name for c in corpora)} has no window of {config.min_tokens} tokens or more.",
                        fix=f"add corpora with text to {opt('pool')}.")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = np.full((len(rows), config.seq_len), pad, dtype=np.int64)
    mask = np.zeros((len(rows), config.seq_len), dtype=np.int64)
    for r, toks in enumerate(rows):
        ids[r, :len(toks)] = toks
        mask[r, :len(toks)] = 1
    fp = fingerprint({"pool": config.to_dict(), "corpora": {c.name: c.fingerprint() for c in corpora},
                      "tok": tokenizer_fingerprint, "v": 2})
    if progress:
        progress(len(corpora), len(corpora), f"{len(windows)} windows")
    return Pool(config=config, windows=windows, input_ids=ids, attention_mask=mask, excluded=excluded, fingerprint=fp)


def _corpus_windows(corpus, k: int, quota: int, tokenizer, config: PoolConfig):
    """``(Window, ids)`` sampled from one corpus (steps 2-3 of the module docstring)."""
    docs = corpus.documents()
    if not docs or quota <= 0:
        return []
    seq_len = config.seq_len
    slots = np.array([max(1, len(d.text) // (seq_len * CHARS_PER_TOKEN)) for d in docs], dtype=np.int64)
    total = int(slots.sum())
    rng = np.random.default_rng([config.seed, k, 2718281])
    picked = np.sort(rng.choice(total, size=min(quota, total), replace=False))
    bounds = np.cumsum(slots)
    doc_of = np.searchsorted(bounds, picked, side="right")
    slot_in_doc = picked - (bounds[doc_of] - slots[doc_of])
    wanted: dict[int, list[int]] = {}
    for d, j in zip(doc_of.tolist(), slot_in_doc.tolist()):
        wanted.setdefault(d, []).append(j)
    order = sorted(wanted)
    encoded = tokenizer([docs[d].text for d in order], add_special_tokens=False)["input_ids"]
    picked_out, spare = [], []
    for d, toks in zip(order, encoded):
        toks = list(toks)
        if len(toks) <= seq_len:
            starts = [0]
        else:
            shift = int(np.random.default_rng([config.seed, k, d, 31337]).integers(0, min(seq_len, len(toks) - seq_len + 1)))
            starts = list(range(shift, len(toks) - config.min_tokens + 1, seq_len)) or [shift]
        chosen = np.random.default_rng([config.seed, k, d, 161803]).permutation(len(starts))
        m = len(wanted[d])
        for rank, j in enumerate(chosen.tolist()):
            piece = toks[starts[j]:starts[j] + seq_len]
            if len(piece) < config.min_tokens:
                continue
            item = (Window(corpus.name, docs[d].doc_id, int(starts[j]), len(piece)), piece)
            (picked_out if rank < m else spare).append(item)
    if len(picked_out) < quota and spare:        # the character estimate was low: top up from the same documents
        extra = np.random.default_rng([config.seed, k, 57721]).permutation(len(spare))[:quota - len(picked_out)]
        picked_out += [spare[int(i)] for i in np.sort(extra)]
    return picked_out


def subset(pool: Pool, rows: Sequence[int]) -> Pool:
    """The pool restricted to ``rows`` (in that order), same config; its fingerprint names the rows."""
    from core.fingerprint import fingerprint

    rows = [int(r) for r in rows]
    return Pool(config=pool.config, windows=[pool.windows[r] for r in rows], input_ids=pool.input_ids[rows],
                attention_mask=pool.attention_mask[rows], excluded=dict(pool.excluded),
                fingerprint=fingerprint({"subset_of": pool.fingerprint, "rows": rows}))


def load_pool(config: PoolConfig, probe: ProbeNetwork, *, store: EmbeddingStore | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> Pool:
    """:func:`build_pool`, cached in the embedding store under ``"pool:" + fingerprint(config,
    corpora content fingerprints, tokenizer)`` (a corrupted entry is rebuilt by the store's checks).

    Raises:
        PoolError, CorpusError: as :func:`build_pool` (validation happens before any tokenising).
    """
    from core.fingerprint import fingerprint
    from core.store import EmbeddingStore

    corpora, _ = pool_corpora(config)
    store = store or EmbeddingStore()
    key = "pool:" + fingerprint({"pool": config.to_dict(), "corpora": {c.name: c.fingerprint() for c in corpora},
                                 "tok": probe.tokenizer_fingerprint, "v": 2})
    hit = store.get(key)
    if hit is not None:
        arrays, meta = hit
        windows = [Window(*w) for w in meta["windows"]]
        return Pool(config=config, windows=windows, input_ids=arrays["input_ids"], attention_mask=arrays["attention_mask"],
                    excluded=meta["excluded"], fingerprint=meta["fingerprint"])
    pool = build_pool(config, probe.tokenizer, tokenizer_fingerprint=probe.tokenizer_fingerprint, progress=progress)
    store.put(key, {"input_ids": pool.input_ids, "attention_mask": pool.attention_mask},
              {"windows": [[w.corpus, w.doc_id, w.offset, w.tokens] for w in pool.windows], "excluded": pool.excluded,
               "fingerprint": pool.fingerprint})
    return pool
