"""Training texts within a token budget, and the target benchmark's held-out evaluation split.

Training data of one run (:func:`build_training_data`):

1. The source's documents are put in a seeded random order (``numpy.random.default_rng([seed,
   7477]).permutation``); a mixture's documents come from ``core.mixture.materialize`` in its order.
2. Each document is tokenised (no special tokens) and cut into consecutive non-overlapping chunks
   of ``seq_len`` tokens; the chunks of a document start at a seeded random chunk (rotated), so the
   first round does not always take a file's licence header.
3. Round ``k`` takes chunk ``k`` of every document that has one (round 0 is one chunk per document,
   so a 4,000-token budget spreads over about 30 documents instead of one long file), each chunk
   followed by the EOS token, into one token stream, until the stream holds ``budget`` tokens.
4. The stream is packed into sequences of ``seq_len`` tokens (the last one right-padded; padding is
   masked out of the loss).

A source with fewer tokens than the budget is trained on everything it has; the shortfall is
recorded in the run's ``notes``.

The target benchmarks and their held-out splits live in :mod:`core.corpora.benchmarks` (re-exported here).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from core.corpora.benchmarks import BENCHMARKS, HeldOut, heldout_split  # noqa: F401  (re-exported)
from core.errors import AlignScopeError, CorpusError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.finetune.config import FinetuneConfig

def check_training_sources(sources: list[str], target: str) -> HeldOut:
    """Refuse training on the target's evaluation split, or on any benchmark's test split; returns
    :func:`heldout_split` of the target.

    Raises:
        AlignScopeError: a source holds the evaluation split (e.g. ``proofnet`` or ``proofnet-af``
            when evaluating on ProofNet's test split), or is another target benchmark's test split
            (``proofnet`` when evaluating on ``humaneval``; a corpus of domain ``target benchmark``); CorpusError: a source reproduces any
            benchmark's held-out split by content (:func:`core.corpora.contamination.check_sources`).
    """
    held = heldout_split(target)
    bad = [s for s in sources if s in held.forbidden]
    if bad:
        alt = " Use proofnet-valid or proofnet-informal (ProofNet's valid split) instead." if target in BENCHMARKS else ""
        raise AlignScopeError(
            f"Training source {', '.join(map(repr, bad))} holds the evaluation split of target {target!r} "
            f"(corpus {held.corpus!r}): training on the test data would make its perplexity meaningless.{alt}",
            fix="choose a source that is disjoint from the target's held-out split.")
    from core.corpora import get_corpus
    from core.corpora.contamination import BENCHMARK_DOMAIN, check_sources

    other = [s for s in sources if s in {c for _, members in BENCHMARKS.values() for c in members}
             or get_corpus(s).spec.domain == BENCHMARK_DOMAIN]         # another benchmark's test split
    if other:
        raise AlignScopeError(
            f"Training source {', '.join(map(repr, other))} is the held-out (test) split of a target benchmark: "
            "a test split is never trained on, whichever target is evaluated.",
            fix="choose a source that is not a benchmark's test split (e.g. proofnet-valid, or python-docstrings "
                "for code).")
    check_sources(sources)          # by content, whatever the corpus is called (core.corpora.contamination)
    return held


@dataclass
class TrainingData:
    """Packed training sequences.

    Attributes:
        sequences: token id lists of length ``seq_len`` (the last may be shorter; padded at collation).
        tokens: real tokens in the sequences (EOS separators included).
        requested: the budget asked for.  documents: how many documents contributed.
        sources: tokens per source (one entry for a corpus; several for a mixture).
        notes: human-readable remarks (e.g. the source is smaller than the budget).
        packed: ``(source, doc_id, tokens)`` of every document that contributed, in the order each
            first entered the stream; ``tokens`` counts its tokens in the stream (EOS separators
            included). ``doc_id`` is ``"#<position>"`` for documents given without an id.
    """

    sequences: list[list[int]]
    tokens: int
    requested: int
    documents: int
    seq_len: int
    sources: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    packed: list[tuple[str, str, int]] = field(default_factory=list)

    def fingerprint(self) -> str:
        """sha256 (hex) of ``seq_len`` and the packed token ids: what the model is trained on, exactly."""
        h = hashlib.sha256(str(self.seq_len).encode())
        for s in self.sequences:
            h.update(np.asarray(s, dtype=np.int64).tobytes())
            h.update(b"|")
        return h.hexdigest()


def pack_documents(docs: list[tuple[str, str] | tuple[str, str, str]], tokenizer: PreTrainedTokenizerBase, *, budget: int,
                   seq_len: int, seed: int, name: str) -> TrainingData:
    """Pack documents ``[(source, text)]`` or ``[(source, text, doc_id)]`` (already in sampling order)
    into training sequences.

    See the module docstring for the procedure. The document ids only label
    :attr:`TrainingData.packed`; they never change the packing.

    Raises:
        CorpusError: no document has any token.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        eos = tokenizer.pad_token_id
    encoded: list[list[int] | None] = [None] * len(docs)
    stream: list[int] = []
    per_source: dict[str, int] = {}
    used: set[int] = set()
    order: list[int] = []                  # documents in the order they first entered the stream
    taken: dict[int, int] = {}             # document -> its tokens in the stream

    def chunks(i: int) -> list[list[int]]:
        if encoded[i] is None:
            encoded[i] = tokenizer(docs[i][1], add_special_tokens=False)["input_ids"]
        ids = encoded[i]
        # a chunk plus its EOS fills at most seq_len tokens of the stream
        width = max(1, seq_len - 1)
        parts = [ids[k:k + width] for k in range(0, len(ids), width)]
        if len(parts) > 1:
            r = int(np.random.default_rng([seed, i, 104729]).integers(0, len(parts)))
            parts = parts[r:] + parts[:r]
        return parts

    cache: dict[int, list[list[int]]] = {}
    rnd = 0
    while len(stream) < budget:
        progressed = False
        for i in range(len(docs)):
            if i not in cache:
                cache[i] = chunks(i)
            if rnd < len(cache[i]):
                piece = cache[i][rnd] + [eos]
                take = piece[: budget - len(stream)]
                stream.extend(take)
                per_source[docs[i][0]] = per_source.get(docs[i][0], 0) + len(take)
                if i not in used:
                    order.append(i)
                used.add(i)
                taken[i] = taken.get(i, 0) + len(take)
                progressed = True
                if len(stream) >= budget:
                    break
        if not progressed:
            break
        rnd += 1
    if not stream:
        raise CorpusError(f"Source {name!r} has no tokens to train on.", fix="check that its documents contain text.")
    notes = []
    if len(stream) < budget:
        notes.append(f"{name} has only {len(stream)} tokens (budget {budget}); trained on all of them.")
    sequences = [stream[k:k + seq_len] for k in range(0, len(stream), seq_len)]
    packed = [(docs[i][0], str(docs[i][2]) if len(docs[i]) > 2 else f"#{i}", taken[i]) for i in order]
    return TrainingData(sequences=sequences, tokens=len(stream), requested=budget, documents=len(used),
                        seq_len=seq_len, sources=per_source, notes=notes, packed=packed)


def source_documents(source: str, seed: int) -> list[tuple[str, str, str]]:
    """The documents of registry corpus ``source`` as ``[(source, text, doc_id)]`` in seeded random order.

    Raises:
        CorpusError: unknown, not installed or empty corpus.
    """
    from core.corpora import get_corpus

    c = get_corpus(source) if isinstance(source, str) else source
    if not c.available():
        raise CorpusError(f"Training source {c.name!r} is not installed.", fix=f"run: {c.install_hint() or 'install it'}")
    docs = c.documents()
    if not docs:
        raise CorpusError(f"Training source {c.name!r} has no documents.", fix="add documents or pick another source.")
    perm = np.random.default_rng([seed, 7477]).permutation(len(docs))
    return [(c.name, docs[int(i)].text, docs[int(i)].doc_id) for i in perm]


def load_mixture_module() -> ModuleType:
    """``core.mixture`` (a plain import: the mixture layer sits below fine-tuning), or a clear error
    when the mixture feature is not installed."""
    import sys

    try:
        import core.mixture  # noqa: F401  (the module is read from sys.modules below, as Python binds it)
    except ModuleNotFoundError as exc:
        if exc.name in ("core.mixture",):
            raise AlignScopeError("Mixtures are not available: the package core.mixture is missing.",
                                  fix="fine-tune on a single --source, or update AlignScope.") from exc
        raise
    return sys.modules["core.mixture"]


def mixture_documents(name: str, tokenizer: PreTrainedTokenizerBase, *, mixture: object | None = None
                      ) -> tuple[list[dict], object]:
    """``core.mixture.materialize(load_mixture(name), tokenizer=...)`` -> (rows, mixture); ``mixture``: the
    (possibly unsaved) ``core.mixture.Mixture`` object to use instead of loading ``name``."""
    module = load_mixture_module()
    mix = mixture if mixture is not None else module.load_mixture(name)
    mixture = module
    rows = mixture.materialize(mix, tokenizer=tokenizer)
    if not rows:
        raise CorpusError(f"Mixture {name!r} produced no documents.", fix="check its sources and weights.")
    return rows, mix


#: Version of the packing procedure (:func:`pack_documents`, :func:`source_documents`,
#: :func:`build_training_data`). Bump it with any change of what they produce: it keys the memo of
#: :func:`core.finetune.identity.data_identity`, and ``tests/core/finetune/test_data.py`` pins the
#: packing of a fixed corpus and seed so that such a change cannot pass unnoticed.
PACKING_VERSION = 2


def build_training_data(config: FinetuneConfig, tokenizer: PreTrainedTokenizerBase, *,
                        mixture: object | None = None) -> TrainingData:
    """Training sequences of a run (:class:`~core.finetune.config.FinetuneConfig`): a source's
    documents in seeded order, or a mixture's materialised documents, packed within the budget.

    ``mixture``: the run's ``core.mixture.Mixture`` when it is not saved yet (the lab's dose points).
    """
    if config.mixture:
        rows, mix = mixture_documents(config.mixture, tokenizer, mixture=mixture)
        docs = [(str(r["source"]), str(r["text"]), str(r.get("doc_id", ""))) for r in rows]
        perm = np.random.default_rng([config.seed, 7477]).permutation(len(docs))   # rows come grouped by source
        docs = [docs[int(i)] for i in perm]
        budget = int(getattr(mix, "budget_tokens", 0) or config.budget_tokens)
        return pack_documents(docs, tokenizer, budget=budget, seq_len=config.seq_len, seed=config.seed,
                              name=f"mixture {config.mixture!r}")
    return pack_documents(source_documents(config.source, config.seed), tokenizer, budget=config.budget_tokens,
                          seq_len=config.seq_len, seed=config.seed, name=config.source)


def mixture_sources(name: str) -> list[str]:
    """The sources of a saved mixture with a positive weight."""
    mix = load_mixture_module().load_mixture(name)
    return [s for s, w in dict(mix.weights).items() if w and w > 0]
